//! What operations over a WebSocket read: the stored photo as it is now, as over HTTP. A socket lives for
//! hours; nothing it read once may answer for the photo later (a rename, a delete).

use std::time::Duration;

use serde_json::json;

use crate::helpers::TestApp;
use crate::ws::Subscription;

crate::both_modes!(a_socket_reads_a_renamed_or_deleted_photo_as_it_is_now);

const OWNER: &str = "owner-key-of-the-socket-read-tests-0123";
const PHOTO: &str = "query($id: ID!) { photo(id: $id) { name uploaderIp url } }";
const RENAME: &str = "mutation($id: ID!, $name: String) { updatePhoto(input: { id: $id, name: $name }) { name } }";
const DELETE: &str = "mutation($id: ID!) { deletePhoto(id: $id) }";
const COMMENTS: &str = "subscription($id: ID!) { commentAdded(photoId: $id) { body photo { name } } }";

async fn a_socket_reads_a_renamed_or_deleted_photo_as_it_is_now(app: TestApp) {
    let owner = app.with_key(Some(OWNER));
    let id = owner.upload_photo("Harbour at dawn").await["id"].clone();
    let mut socket = Subscription::connect(&app.address).await;
    let mut comments = Subscription::start(&app.address, COMMENTS, json!({ "id": id })).await;

    let first = socket.request("1", PHOTO, json!({ "id": id })).await;
    assert_eq!(first["data"]["photo"]["name"], "Harbour at dawn", "{first}");
    app.add_comment(&id, "lovely light").await;
    let heard = comments.next(Duration::from_secs(5)).await.expect("commentAdded");
    assert_eq!(heard["commentAdded"]["photo"]["name"], "Harbour at dawn");

    owner.data(RENAME, json!({ "id": id, "name": "Harbour at noon" })).await;
    app.add_comment(&id, "even better now").await;
    let heard = comments.next(Duration::from_secs(5)).await.expect("commentAdded");
    assert_eq!(heard["commentAdded"]["body"], "even better now");
    assert_eq!(heard["commentAdded"]["photo"]["name"], "Harbour at noon", "the next event reads the photo afresh");
    let renamed = socket.request("2", PHOTO, json!({ "id": id })).await;
    assert_eq!(renamed["data"]["photo"]["name"], "Harbour at noon", "the same socket, after the rename: {renamed}");

    assert_eq!(owner.data(DELETE, json!({ "id": id })).await["deletePhoto"], true);
    let deleted = socket.request("3", PHOTO, json!({ "id": id })).await;
    assert!(deleted.get("errors").is_none(), "{deleted}");
    assert_eq!(deleted["data"]["photo"], json!(null), "the same socket, after the delete: {deleted}");
    socket.close().await;
    comments.close().await;
}
