//! The checked-in `schema.graphql` is the contract clients build against: it must equal the code's schema.
//! Regenerate it with `UPDATE_SCHEMA=1 cargo test schema`.

#[test]
fn checked_in_schema_matches_the_code() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("schema.graphql");
    let sdl = photoshare::graphql::sdl();
    if std::env::var_os("UPDATE_SCHEMA").is_some() {
        std::fs::write(&path, &sdl).expect("write schema.graphql");
    }
    let checked_in = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        checked_in == sdl,
        "schema.graphql differs from the code: run `UPDATE_SCHEMA=1 cargo test schema` and review the diff"
    );
}
