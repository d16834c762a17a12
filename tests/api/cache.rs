//! The response cache: a read-only query asked again is answered without the table until a photo it holds,
//! or which photos a list holds, changes through the instance; a write through another instance shows
//! within the cache's lifetime.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use photoshare::domain::freshness::Freshness;

use crate::both_modes;
use crate::helpers::{Mode, TestApp};
use crate::process::Instance;
use crate::ws::Subscription;

both_modes!(a_repeated_query_reads_nothing_until_something_is_written, a_change_ends_only_the_answers_holding_it);

const GALLERY: &str = "query($first: Int!) { photos(first: $first) {
    nodes { id name commentCount comments(first: 3) { nodes { body } } } } }";
const PHOTO: &str = "query($id: ID!) { photo(id: $id) { name commentCount comments { nodes { body } } } }";
const CACHED: &str = "photoshare_graphql_cached_answers_total";

async fn a_repeated_query_reads_nothing_until_something_is_written(app: TestApp) {
    let photo = app.upload_photo("first light").await;
    // Processed first: its processing's table calls would be counted below.
    app.ready(&photo["id"]).await;
    let first = app.data(GALLERY, json!({ "first": 10 })).await;
    assert_eq!(first["photos"]["nodes"][0]["id"], photo["id"]);
    let (calls, cached) = (app.table_calls(), app.metric(CACHED).await);
    assert_eq!(app.data(GALLERY, json!({ "first": 10 })).await, first, "the same answer");
    assert_eq!(app.table_calls() - calls, 0, "answered without the table");
    assert_eq!(app.metric(CACHED).await - cached, 1, "counted as a cached answer");

    let calls = app.table_calls();
    app.data(GALLERY, json!({ "first": 5 })).await;
    assert_eq!(app.table_calls() - calls, 2, "other variables are another request (the index, then the photos)");
    app.data(PHOTO, json!({ "id": photo["id"] })).await;

    // A comment through this instance shows at once, in the gallery and on the photo's page.
    app.add_comment(&photo["id"], "lovely light").await;
    let gallery = app.data(GALLERY, json!({ "first": 10 })).await;
    let node = &gallery["photos"]["nodes"][0];
    assert_eq!((&node["commentCount"], &node["comments"]["nodes"][0]["body"]), (&json!(1), &json!("lovely light")));
    let page = app.data(PHOTO, json!({ "id": photo["id"] })).await;
    assert_eq!(page["photo"]["commentCount"], 1);

    // So does a new photo.
    let newer = app.upload_photo("second light").await;
    let gallery = app.data(GALLERY, json!({ "first": 10 })).await;
    assert_eq!(gallery["photos"]["nodes"][0]["id"], newer["id"]);

    // Mutations and other roots are never answered from the cache.
    let share = "mutation($id: ID!) { createShareLink(photoId: $id) { token } }";
    let (one, two) =
        (app.data(share, json!({ "id": photo["id"] })).await, app.data(share, json!({ "id": photo["id"] })).await);
    assert_ne!(one["createShareLink"]["token"], two["createShareLink"]["token"]);

    // Turned off, every request reads.
    let uncached = TestApp::spawn(app.mode, &["--query-cache-millis", "0"]).await;
    let photo = uncached.upload_photo("no cache").await;
    uncached.ready(&photo["id"]).await;
    for _ in 0..2 {
        let calls = uncached.table_calls();
        uncached.data(GALLERY, json!({ "first": 10 })).await;
        assert_eq!(uncached.table_calls() - calls, 2, "read every time");
    }
    assert_eq!(uncached.metric(CACHED).await, 0);
}

/// Two processed photos uploaded through `app` whose changes never end each other's answers (they are in
/// different slots of `Freshness`: two in one slot, 1 time in 4,096, would; the second is uploaded again).
async fn two_photos_apart(app: &TestApp, one: &str, other: &str) -> (Value, Value) {
    let id = |photo: &Value| uuid::Uuid::parse_str(photo["id"].as_str().expect("an id")).expect("a uuid");
    let first = app.upload_photo(one).await;
    let mut second = app.upload_photo(other).await;
    while Freshness::share_a_slot(id(&first), id(&second)) {
        second = app.upload_photo(other).await;
    }
    for photo in [&first, &second] {
        app.ready(&photo["id"]).await;
    }
    (first, second)
}

/// A comment on one photo ends the answers that hold it and leaves the others; a new, renamed or deleted
/// photo ends every answer (a list or a search may now hold other photos).
async fn a_change_ends_only_the_answers_holding_it(app: TestApp) {
    let owner = app.with_key(Some("owner-key-of-the-cache-tests-0123456789"));
    let (a, b) = two_photos_apart(&owner, "harbour", "lighthouse").await;
    let photo = |photo: &Value| app.data(PHOTO, json!({ "id": photo["id"] }));
    let gallery = || app.data(GALLERY, json!({ "first": 10 }));
    let (kept_b, _, _) = (photo(&b).await, photo(&a).await, gallery().await);

    app.add_comment(&a["id"], "on the harbour").await;
    let calls = app.table_calls();
    assert_eq!(photo(&b).await, kept_b, "the same answer");
    assert_eq!(app.table_calls() - calls, 0, "a comment on another photo leaves the answer of this one");
    assert_eq!(photo(&a).await["photo"]["commentCount"], 1, "the answer holding it shows it at once");
    let nodes = gallery().await["photos"]["nodes"].clone();
    let shown =
        nodes.as_array().expect("nodes").iter().find(|node| node["id"] == a["id"]).expect("a is listed").clone();
    assert_eq!(shown["comments"]["nodes"][0]["body"], "on the harbour", "in the gallery too");

    // A search holding no photo yet ends when a rename may bring one in.
    let search = "query($name: String!) { photos(filter: { name: $name }) { nodes { id } } }";
    assert_eq!(app.data(search, json!({ "name": "old" })).await["photos"]["nodes"], json!([]));
    let rename = "mutation($input: UpdatePhotoInput!) { updatePhoto(input: $input) { name } }";
    owner.data(rename, json!({ "input": { "id": b["id"], "name": "old lighthouse" } })).await;
    assert_eq!(app.data(search, json!({ "name": "old" })).await["photos"]["nodes"], json!([{ "id": b["id"] }]));
    assert_eq!(photo(&b).await["photo"]["name"], "old lighthouse");
    let nodes = gallery().await["photos"]["nodes"].clone();
    assert!(nodes.as_array().expect("nodes").iter().any(|node| node["name"] == "old lighthouse"), "{nodes}");

    owner.data("mutation($id: ID!) { deletePhoto(id: $id) }", json!({ "id": b["id"] })).await;
    assert_eq!(photo(&b).await["photo"], Value::Null, "a deleted photo is gone at once");
    assert!(!gallery().await["photos"]["nodes"].to_string().contains(b["id"].as_str().expect("an id")));
    assert_eq!(app.data(search, json!({ "name": "old" })).await["photos"]["nodes"], json!([]), "and from search");
}

/// Two instances share a table: what one caches may miss a write through the other for at most the
/// cache's lifetime.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_through_another_instance_shows_within_the_cache_lifetime() {
    let lifetime = Duration::from_millis(500);
    let app = TestApp::spawn(Mode::Aws, &["--query-cache-millis", "500"]).await;
    let other = Instance::start(&app, &[]).await;
    let photo = app.upload_photo("shared").await;
    let comments = |page: &Value| page["photo"]["commentCount"].as_i64().expect("a count");
    assert_eq!(comments(&app.data(PHOTO, json!({ "id": photo["id"] })).await), 0);

    let written = Instant::now();
    app.at(&other.address()).add_comment(&photo["id"], "from the other instance").await;
    let write_took = written.elapsed();
    loop {
        let started = Instant::now();
        let page = app.data(PHOTO, json!({ "id": photo["id"] })).await;
        if comments(&page) == 1 {
            break;
        }
        // A stale answer must come from before the lifetime ran out (a query takes up to a second on moto).
        assert!(
            started.duration_since(written) < lifetime + write_took,
            "still no comment {:?} after it was written (lifetime {lifetime:?})",
            started.duration_since(written)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A subscriber hears of another instance's comment; what it then reads here, however long answers are
/// cached, has the comment.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_comment_a_subscriber_heard_of_is_in_what_it_reads_next() {
    let app = TestApp::spawn(Mode::Aws, &["--query-cache-millis", "60000"]).await;
    let other = Instance::start(&app, &[]).await;
    let photo = app.upload_photo("shared").await;
    let query = "subscription($id: ID) { commentAdded(photoId: $id) { id } }";
    let mut subscriber = Subscription::start(&app.address, query, json!({ "id": photo["id"] })).await;
    for n in 1..=3 {
        let before = app.data(PHOTO, json!({ "id": photo["id"] })).await;
        assert_eq!(before["photo"]["commentCount"], n - 1);
        let comment = app.at(&other.address()).add_comment(&photo["id"], &format!("comment {n}")).await;
        let heard = subscriber.next(Duration::from_secs(5)).await.expect("the comment is delivered");
        assert_eq!(heard["commentAdded"]["id"], comment["id"]);
        let after = app.data(PHOTO, json!({ "id": photo["id"] })).await;
        assert_eq!(after["photo"]["commentCount"], n, "not the answer cached before the comment");
    }
}

/// Through the events engine, another instance's comment ends what this one kept holding that photo, before a
/// subscriber here hears of it, however long answers are kept; the answers of other photos stay.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_comment_through_the_engine_ends_only_what_holds_its_photo() {
    let url = crate::engine::engine_url();
    let app = TestApp::spawn(Mode::Aws, &["--events-url", &url]).await;
    let here = Instance::start(&app, &["--events-url", &url, "--query-cache-millis", "60000"]).await;
    let on_here = app.at(&here.address());
    let (commented, other) = two_photos_apart(&app, "commented", "other").await;
    let query = "subscription($id: ID) { commentAdded(photoId: $id) { id } }";
    let mut subscriber = Subscription::start(&here.address(), query, json!({ "id": commented["id"] })).await;
    let kept_other = on_here.data(PHOTO, json!({ "id": other["id"] })).await;
    assert_eq!(on_here.data(PHOTO, json!({ "id": commented["id"] })).await["photo"]["commentCount"], 0);

    let comment = app.add_comment(&commented["id"], "through the engine").await;
    let heard = subscriber.next(Duration::from_secs(5)).await.expect("the comment is delivered");
    assert_eq!(heard["commentAdded"]["id"], comment["id"]);
    let after = on_here.data(PHOTO, json!({ "id": commented["id"] })).await;
    assert_eq!(after["photo"]["commentCount"], 1, "not the answer kept before the comment");
    let cached = on_here.metric(CACHED).await;
    assert_eq!(on_here.data(PHOTO, json!({ "id": other["id"] })).await, kept_other);
    assert_eq!(on_here.metric(CACHED).await - cached, 1, "the other photo's answer is still kept");
}
