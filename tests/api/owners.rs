//! Owners and deletion (issue 17): the owner key sent with `createUpload` owns the photo; its owner or an
//! admin deletes it and everyone else is refused with a code that says why, changing nothing; a deleted photo
//! is gone from every read at once, no link handed out before serves it, subscribers hear `photoRemoved`, and
//! its comments, name-index entries and counts are swept from the table (listed to be sure). Edits move the
//! search entries with the name; comments are deleted by their author, the photo's owner or an admin, with
//! the count and the gallery's first comments right.

use std::time::Duration;

use photoshare::table::{ItemExt, Query};
use serde_json::{Value, json};

use crate::helpers::TestApp;
use crate::ws::Subscription;

/// The owner-key SHA-256 of `ADMIN`, as an operator configures it: `printf %s "$ADMIN" | sha256sum`.
pub const ADMIN_HASH: &str = "74307e0ab64c42110e3d309c6d8f25a7e7c44c34518150d88b69792cb5ae82ce";
pub const ADMIN: &str = "admin-key-for-the-owner-tests-0123456789";
const OWNER: &str = "owner-key-of-the-harbour-photos-0123456";
const OTHER: &str = "someone-elses-key-0123456789-abcdefghij";

crate::both_modes!(
    flags = &["--admin-key-sha256", crate::owners::ADMIN_HASH];
    an_owner_deletes_and_nobody_else_may,
    a_deleted_photo_leaves_nothing_served_or_stored,
    an_owner_renames_and_search_follows,
    comments_are_deleted_by_their_author_the_photos_owner_or_an_admin,
    a_sweep_cut_midway_is_finished_later_without_counting_twice,
);

const DELETE: &str = "mutation($id: ID!) { deletePhoto(id: $id) }";
const CAN_EDIT: &str = "query($id: ID!) { photo(id: $id) { viewerCanEdit } }";

async fn can_edit(app: &TestApp, id: &Value) -> bool {
    app.data(CAN_EDIT, json!({ "id": id })).await["photo"]["viewerCanEdit"].as_bool().expect("viewerCanEdit")
}

/// The error of a request that must fail: its code and message.
async fn refusal(app: &TestApp, query: &str, variables: Value) -> (String, String) {
    let body = app.graphql(query, variables).await;
    let error = &body["errors"][0];
    let code = error["extensions"]["code"].as_str().unwrap_or_else(|| panic!("a coded error: {body}"));
    (code.to_string(), error["message"].as_str().unwrap_or_default().to_string())
}

async fn an_owner_deletes_and_nobody_else_may(app: TestApp) {
    let (owner, other, admin, anonymous) =
        (app.with_key(Some(OWNER)), app.with_key(Some(OTHER)), app.with_key(Some(ADMIN)), app.with_key(None));
    let photo = owner.upload_photo("Harbour at dusk").await;
    let id = photo["id"].clone();
    assert!(can_edit(&owner, &id).await, "the key it was uploaded with");
    assert!(can_edit(&admin, &id).await, "an admin");
    assert!(!can_edit(&other, &id).await && !can_edit(&anonymous, &id).await);

    let subscriber = Subscription::start(&app.address, "subscription { photoRemoved }", json!({}));
    let mut subscriber = subscriber.await;
    let (code, message) = refusal(&anonymous, DELETE, json!({ "id": id })).await;
    assert_eq!(code, "UNAUTHENTICATED");
    assert!(message.contains("Authorization: Bearer"), "{message}");
    let (code, message) = refusal(&other, DELETE, json!({ "id": id })).await;
    assert_eq!(code, "FORBIDDEN");
    assert!(message.contains("owner"), "{message}");
    let malformed = app.with_key(Some("short"));
    assert_eq!(refusal(&malformed, DELETE, json!({ "id": id })).await.0, "UNAUTHENTICATED");
    assert_eq!(app.data(CAN_EDIT, json!({ "id": id })).await["photo"]["viewerCanEdit"], false, "still there");

    assert_eq!(owner.data(DELETE, json!({ "id": id })).await["deletePhoto"], true);
    let heard = subscriber.next(Duration::from_secs(5)).await.expect("photoRemoved arrives");
    assert_eq!(heard["photoRemoved"], id);
    assert_eq!(refusal(&owner, DELETE, json!({ "id": id })).await.0, "NOT_FOUND", "deleting again");

    // A photo uploaded without a key has no owner: only an admin deletes it.
    let ownerless = anonymous.upload_photo("Ownerless").await["id"].clone();
    let (code, message) = refusal(&owner, DELETE, json!({ "id": ownerless })).await;
    assert_eq!(code, "FORBIDDEN");
    assert!(message.contains("only an admin"), "{message}");
    assert_eq!(admin.data(DELETE, json!({ "id": ownerless })).await["deletePhoto"], true);
}

/// The status of GET `url`, following a `/s/` link's redirect (the test client follows none).
async fn status_of(app: &TestApp, url: &str) -> u16 {
    let response = app.client.get(url).send().await.expect("GET");
    match response.headers().get("location").and_then(|l| l.to_str().ok()) {
        Some(location) if response.status().is_redirection() => {
            app.client.get(location).send().await.expect("GET").status().as_u16()
        }
        _ => response.status().as_u16(),
    }
}

/// Every item of partition `pk`.
async fn partition(app: &TestApp, pk: String) -> Vec<photoshare::table::Item> {
    app.state.services.catalog.table().query(&Query::partition(pk, 1000)).await.expect("query")
}

async fn a_deleted_photo_leaves_nothing_served_or_stored(app: TestApp) {
    let owner = app.with_key(Some(OWNER));
    let photo = owner.upload_photo("Harbour lights").await;
    let id = photo["id"].clone();
    let photo_id = uuid::Uuid::parse_str(id.as_str().unwrap()).unwrap();
    for n in 0..500 {
        let body = photoshare::text::CommentText::parse(&format!("comment {n}")).unwrap();
        let new = photoshare::catalog::NewComment {
            photo_id,
            body,
            author_ip: "192.0.2.1".into(),
            author: None,
            retry: None,
        };
        app.state.services.catalog.add_comment(new).await.expect("comment stored").expect("the photo exists");
    }
    let links = "query($id: ID!) { photo(id: $id) { url commentCount images { url } } }";
    let before = app.data(links, json!({ "id": id })).await["photo"].clone();
    assert_eq!(before["commentCount"], 500);
    let mut urls: Vec<String> =
        before["images"].as_array().unwrap().iter().map(|i| i["url"].as_str().unwrap().into()).collect();
    urls.push(before["url"].as_str().unwrap().into());
    let share = "mutation($id: ID!) { createShareLink(photoId: $id, expiresInSeconds: 600) { url serviceUrl } }";
    let share = owner.data(share, json!({ "id": id })).await["createShareLink"].clone();
    urls.extend([share["url"].as_str().unwrap().into(), share["serviceUrl"].as_str().unwrap().into()]);
    for url in &urls {
        assert_eq!(status_of(&app, url).await, 200, "{url} serves before");
    }
    let search = "{ photos(first: 10, filter: { name: \"harbour\" }) { nodes { id } } }";
    assert_eq!(app.data(search, json!({})).await["photos"]["nodes"][0]["id"], id);

    assert_eq!(owner.data(DELETE, json!({ "id": id })).await["deletePhoto"], true);
    // At once: no read has it, no link serves it.
    assert_eq!(app.data("query($id: ID!) { photo(id: $id) { id } }", json!({ "id": id })).await["photo"], Value::Null);
    let gallery = app.data("{ photos(first: 100) { nodes { id } } }", json!({})).await;
    assert!(gallery["photos"]["nodes"].as_array().unwrap().iter().all(|p| p["id"] != id), "{gallery}");
    assert_eq!(app.data(search, json!({})).await["photos"]["nodes"], json!([]));
    for url in &urls {
        assert_ne!(status_of(&app, url).await, 200, "{url} serves nothing after");
    }

    // The sweeper removes the rest: the photo's partition (500 comments), its name-index entries and counts.
    let id_text = photo_id.to_string();
    let mut left = usize::MAX;
    for _ in 0..200 {
        let comments = partition(&app, format!("PHOTO#{photo_id}")).await.len();
        let trash = partition(&app, "TRASH".into()).await.len();
        left = comments + trash;
        if left == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(left, 0, "the photo's partition and its trash item are gone");
    let token = share["serviceUrl"].as_str().unwrap().rsplit('/').next().unwrap().to_string();
    let token_hash = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(token.as_bytes()));
    let share_items = partition(&app, format!("SHARE#{token_hash}")).await;
    assert!(share_items.len() <= 1, "at most its share link's own record, until its TTL, so /s/ answers 410");
    assert_eq!(status_of(&app, share["serviceUrl"].as_str().unwrap()).await, 410);
    for token in ["harbour", "ha", "lights", "li"] {
        let entries = partition(&app, format!("W#{token}")).await;
        assert!(
            entries.iter().all(|item| !item.opt_string("sk").unwrap_or_default().ends_with(&id_text)),
            "W#{token} has no entry of the photo"
        );
        let count = entries.iter().find(|item| item.opt_string("sk") == Some("#COUNT"));
        assert_eq!(count.and_then(|item| item.opt_number("count")), Some(0), "W#{token}'s count is exact");
    }
}

/// The count item of name token `token`.
async fn token_count(app: &TestApp, token: &str) -> Option<i64> {
    let entries = partition(app, format!("W#{token}")).await;
    entries.iter().find(|item| item.opt_string("sk") == Some("#COUNT")).and_then(|item| item.opt_number("count"))
}

async fn found_by(app: &TestApp, words: &str) -> Vec<Value> {
    let query = "query($name: String!) { photos(first: 10, filter: { name: $name }) { nodes { id name } } }";
    let page = app.data(query, json!({ "name": words })).await;
    page["photos"]["nodes"].as_array().unwrap().clone()
}

async fn an_owner_renames_and_search_follows(app: TestApp) {
    let (owner, other) = (app.with_key(Some(OWNER)), app.with_key(Some(OTHER)));
    let id = owner.upload_photo("IMG 2041").await["id"].clone();
    assert_eq!(found_by(&app, "img").await.len(), 1);
    let update = "mutation($input: UpdatePhotoInput!) { updatePhoto(input: $input) { id name description } }";
    let input =
        |name: Value, description: Value| json!({ "input": { "id": id, "name": name, "description": description } });

    let (code, _) = refusal(&other, update, input(json!("Mine now"), Value::Null)).await;
    assert_eq!(code, "FORBIDDEN");
    assert_eq!(refusal(&app.with_key(None), update, input(json!("Mine"), Value::Null)).await.0, "UNAUTHENTICATED");
    let (code, message) = refusal(&owner, update, input(json!("   "), Value::Null)).await;
    assert_eq!(code, "BAD_USER_INPUT", "{message}");
    assert_eq!(found_by(&app, "img").await.len(), 1, "refusals change nothing");

    let mut subscriber = Subscription::start(
        &app.address,
        "subscription($id: ID) { photoUpdated(id: $id) { name } }",
        json!({ "id": id }),
    )
    .await;
    let edited = owner.data(update, input(json!("Sunset at the pier"), json!("Long exposure"))).await;
    assert_eq!(edited["updatePhoto"]["name"], "Sunset at the pier");
    assert_eq!(edited["updatePhoto"]["description"], "Long exposure");
    // (Following the table's feed, a new subscriber may first hear the READY of a moment before.)
    let mut heard = Vec::new();
    while let Some(update) = subscriber.next(Duration::from_secs(5)).await {
        heard.push(update["photoUpdated"]["name"].clone());
        if heard.last() == Some(&json!("Sunset at the pier")) {
            break;
        }
    }
    assert_eq!(heard.last(), Some(&json!("Sunset at the pier")), "photoUpdated arrives for an edit: {heard:?}");

    assert!(found_by(&app, "img").await.is_empty(), "the old name finds nothing");
    assert!(found_by(&app, "2041").await.is_empty());
    assert_eq!(found_by(&app, "sunset pier").await[0]["id"], id, "the new name finds it");
    assert_eq!(token_count(&app, "img").await, Some(0), "the old word's count is exact");
    assert_eq!(token_count(&app, "sunset").await, Some(1), "the new word's count is exact");

    // The description alone, then cleared; the name stays.
    let cleared = owner.data(update, input(Value::Null, json!(""))).await["updatePhoto"].clone();
    assert_eq!((cleared["name"].clone(), cleared["description"].clone()), (json!("Sunset at the pier"), Value::Null));
    assert_eq!(token_count(&app, "sunset").await, Some(1), "the same name counts once");
}

const COMMENT: &str = "mutation($input: AddCommentInput!) { addComment(input: $input) { id viewerCanDelete } }";
const DELETE_COMMENT: &str = "mutation($p: ID!, $c: ID!) { deleteComment(photoId: $p, commentId: $c) }";

async fn comments_are_deleted_by_their_author_the_photos_owner_or_an_admin(app: TestApp) {
    let (owner, other, admin) = (app.with_key(Some(OWNER)), app.with_key(Some(OTHER)), app.with_key(Some(ADMIN)));
    let photo = owner.upload_photo("Harbour").await["id"].clone();
    let mut ids = Vec::new();
    for (who, body) in [(&other, "first"), (&other, "second"), (&owner, "third"), (&app, "fourth"), (&other, "fifth")] {
        let comment =
            who.data(COMMENT, json!({ "input": { "photoId": photo, "body": body } })).await["addComment"].clone();
        ids.push(comment["id"].clone());
    }
    let can_delete = "query($id: ID!) { photo(id: $id) { comments(first: 10) { nodes { viewerCanDelete } } } }";
    let flags = |page: Value| -> Vec<bool> {
        page["photo"]["comments"]["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["viewerCanDelete"].as_bool().unwrap())
            .collect()
    };
    assert_eq!(
        flags(other.data(can_delete, json!({ "id": photo })).await),
        [true, true, false, false, true],
        "its own"
    );
    assert_eq!(flags(owner.data(can_delete, json!({ "id": photo })).await), [true; 5], "the photo's owner: all");
    assert_eq!(flags(app.data(can_delete, json!({ "id": photo })).await), [false; 5], "no key: none");

    let mut removed = Subscription::start(
        &app.address,
        "subscription($p: ID) { commentRemoved(photoId: $p) }",
        json!({ "p": photo }),
    )
    .await;
    // Over the WebSocket, the key comes in connection_init (browsers cannot set headers there).
    let live = "subscription($p: ID) { commentAdded(photoId: $p) { body viewerCanDelete } }";
    let init = json!({ "authorization": format!("Bearer {OTHER}") });
    let mut added = Subscription::start_with(&app.address, init, live, json!({ "p": photo })).await;
    other.data(COMMENT, json!({ "input": { "photoId": photo, "body": "live" } })).await;
    let heard = added.next(Duration::from_secs(5)).await.expect("commentAdded");
    assert_eq!(
        heard["commentAdded"],
        json!({ "body": "live", "viewerCanDelete": true }),
        "its author, over the socket"
    );
    let live_id = app
        .data(
            "query($id: ID!) { photo(id: $id) { comments(first: 10) { nodes { id body } } } }",
            json!({ "id": photo }),
        )
        .await["photo"]["comments"]["nodes"][5]["id"]
        .clone();
    assert_eq!(other.data(DELETE_COMMENT, json!({ "p": photo, "c": live_id })).await["deleteComment"], true);
    assert_eq!(removed.next(Duration::from_secs(5)).await.expect("commentRemoved")["commentRemoved"], live_id);

    let vars = |n: usize| json!({ "p": photo, "c": ids[n] });
    assert_eq!(refusal(&other, DELETE_COMMENT, vars(2)).await.0, "FORBIDDEN", "another's comment");
    assert_eq!(refusal(&app, DELETE_COMMENT, vars(0)).await.0, "UNAUTHENTICATED");
    assert_eq!(other.data(DELETE_COMMENT, vars(0)).await["deleteComment"], true, "its author");
    assert_eq!(removed.next(Duration::from_secs(5)).await.expect("commentRemoved")["commentRemoved"], ids[0]);
    assert_eq!(owner.data(DELETE_COMMENT, vars(4)).await["deleteComment"], true, "the photo's owner");
    assert_eq!(admin.data(DELETE_COMMENT, vars(3)).await["deleteComment"], true, "an admin, a comment without a key");
    assert_eq!(refusal(&other, DELETE_COMMENT, vars(0)).await.0, "NOT_FOUND", "deleting again");

    // The count is the timeline's length, and the gallery's first comments are the timeline's first.
    let timeline = "query($id: ID!) { photo(id: $id) { commentCount comments(first: 10) { nodes { body } } } }";
    let photo_page = app.data(timeline, json!({ "id": photo })).await["photo"].clone();
    assert_eq!(photo_page["commentCount"], 2);
    assert_eq!(photo_page["comments"]["nodes"], json!([{ "body": "second" }, { "body": "third" }]));
    let gallery = app.data("{ photos(first: 1) { nodes { comments(first: 3) { nodes { body } } } } }", json!({})).await;
    assert_eq!(gallery["photos"]["nodes"][0]["comments"]["nodes"], json!([{ "body": "second" }, { "body": "third" }]));
    assert_eq!(app.add_comment(&photo, "sixth").await["body"], "sixth", "commenting goes on");
    let photo_page = app.data(timeline, json!({ "id": photo })).await["photo"].clone();
    assert_eq!(photo_page["commentCount"], 3);
    let gallery = app.data("{ photos(first: 1) { nodes { comments(first: 3) { nodes { body } } } } }", json!({})).await;
    let bodies = json!([{ "body": "second" }, { "body": "third" }, { "body": "sixth" }]);
    assert_eq!(gallery["photos"]["nodes"][0]["comments"]["nodes"], bodies);
}

/// A deletion whose sweep stopped after its first step (the instance died): the trash item in the table is
/// all another look needs (AWS: a new instance starting; embedded: this one looking again), and the counts the
/// first step moved are not moved again.
async fn a_sweep_cut_midway_is_finished_later_without_counting_twice(app: TestApp) {
    let photo = app.upload_photo("Lighthouse").await;
    let id = uuid::Uuid::parse_str(photo["id"].as_str().unwrap()).unwrap();
    for n in 0..120 {
        app.add_comment(&photo["id"], &format!("comment {n}")).await;
    }
    let catalog = &app.state.services.catalog;
    let stored = catalog.photo(id).await.unwrap().expect("the photo");
    assert!(catalog.remove_photo(&stored).await.unwrap(), "deleted at once");
    let mut trashed = catalog.trashed(10).await.unwrap().into_iter().find(|t| t.photo_id == id).expect("trashed");
    assert_eq!(catalog.sweep_step(&mut trashed).await.unwrap(), photoshare::catalog::Swept::More);
    assert_eq!(token_count(&app, "lighthouse").await, Some(0), "the first step moved the counts");
    assert!(!partition(&app, format!("PHOTO#{id}")).await.is_empty(), "and stopped there");

    let _second = match app.mode {
        crate::helpers::Mode::Aws => Some(crate::process::Instance::start(&app, &[]).await),
        crate::helpers::Mode::Embedded => {
            app.state.services.deletion.wake.notify_one();
            None
        }
    };
    let mut left = usize::MAX;
    for _ in 0..200 {
        left = partition(&app, format!("PHOTO#{id}")).await.len() + partition(&app, "TRASH".into()).await.len();
        if left == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(left, 0, "another look finished the sweep");
    assert_eq!(token_count(&app, "lighthouse").await, Some(0), "no count moved twice");
    assert_eq!(token_count(&app, "li").await, Some(0));
}
