//! What the embedded store keeps on disk: a deleted photo leaves no file behind, not even the object store's
//! sidecars (s3s-fs keeps each object's headers and MD5 beside it: enough to prove a file was uploaded).

use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::json;

use crate::helpers::{Mode, TestApp};

/// The files under `dir` (recursively) whose name, or whose sidecar's encoded object key, mentions `id`.
fn files_of(dir: &Path, id: &str) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).expect("read the data dir") {
        let entry = entry.expect("a directory entry");
        let name = entry.file_name().to_string_lossy().into_owned();
        if entry.file_type().unwrap().is_dir() {
            found.extend(files_of(&entry.path(), id));
            continue;
        }
        let key = name.split(".object-").nth(1).and_then(|rest| rest.split('.').next());
        let decoded =
            key.and_then(|key| URL_SAFE_NO_PAD.decode(key).ok()).map(|key| String::from_utf8_lossy(&key).into_owned());
        if name.contains(id) || decoded.is_some_and(|key| key.contains(id)) {
            found.push(entry.path().display().to_string());
        }
    }
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_photo_leaves_no_file_nor_sidecar() {
    let app = TestApp::spawn(Mode::Embedded, &[]).await;
    let owner = app.with_key(Some("owner-key-of-the-embedded-store-test-01"));
    let id = owner.upload_photo("Harbour at dusk").await["id"].as_str().unwrap().to_string();
    let data_dir = app.data_dir().expect("embedded mode has a data dir").to_path_buf();
    let before = files_of(&data_dir, &id);
    assert!(before.iter().any(|file| file.ends_with(".metadata.json")), "sidecars while it exists: {before:?}");

    let delete = "mutation($id: ID!) { deletePhoto(id: $id) }";
    assert_eq!(owner.data(delete, json!({ "id": id })).await["deletePhoto"], true);
    assert_eq!(files_of(&data_dir, &id), Vec::<String>::new(), "nothing of the deleted photo on disk");
}
