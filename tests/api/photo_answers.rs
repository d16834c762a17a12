//! Photo answers made before (`graphql::photo_answers`), with the response cache off: reused only while all they
//! show is the same.

use serde_json::{Value, json};

use crate::both_modes;
use crate::helpers::TestApp;

both_modes!(flags = &["--query-cache-millis", "0", "--admin-key-sha256", crate::owners::ADMIN_HASH];
    photo_answers_made_before_follow_every_change, kept_answers_are_whole_where_answers_merge_and_over_the_socket);

/// With no response cache, a photo's answer made before for the same document is reused only while all it
/// shows is the same: a comment page past the kept first comments, other variables, another field of the
/// document, and an edit are each answered anew.
async fn photo_answers_made_before_follow_every_change(app: TestApp) {
    let admin = app.with_key(Some(crate::owners::ADMIN));
    let photo = app.upload_photo("reused").await;
    app.ready(&photo["id"]).await;
    let mut comments: Vec<Value> = Vec::new();
    for n in 1..=4 {
        comments.push(app.add_comment(&photo["id"], &format!("c{n}")).await);
    }
    let timeline = "query($id: ID!, $first: Int!) { photo(id: $id) { commentCount comments(first: $first) {
        nodes { body } } } }";
    let bodies = |answer: Value| -> Vec<String> {
        let nodes = answer["photo"]["comments"]["nodes"].as_array().cloned().unwrap_or_default();
        nodes.iter().map(|node| node["body"].as_str().unwrap_or_default().to_string()).collect()
    };
    let ask = |first: i64| app.data(timeline, json!({ "id": photo["id"], "first": first }));
    // Asked twice: a document is kept (and so are its photo answers) from the second time it comes.
    for _ in 0..2 {
        assert_eq!(bodies(ask(10).await), ["c1", "c2", "c3", "c4"]);
    }

    // The count and the first three comments stay the same; the fourth is another.
    let delete = "mutation($p: ID!, $c: ID!) { deleteComment(photoId: $p, commentId: $c) }";
    admin.data(delete, json!({ "p": photo["id"], "c": comments[3]["id"] })).await;
    app.add_comment(&photo["id"], "c5").await;
    assert_eq!(bodies(ask(10).await), ["c1", "c2", "c3", "c5"], "past the kept comments, read again");
    assert_eq!(bodies(ask(2).await), ["c1", "c2"]);
    assert_eq!(bodies(ask(3).await), ["c1", "c2", "c3"], "other variables, another answer");
    assert_eq!(bodies(ask(2).await), ["c1", "c2"]);

    let two_ways = "query($id: ID!) { a: photo(id: $id) { name } b: photo(id: $id) { commentCount } }";
    let expected = json!({ "a": { "name": "reused" }, "b": { "commentCount": 4 } });
    for _ in 0..3 {
        assert_eq!(app.data(two_ways, json!({ "id": photo["id"] })).await, expected, "each field its own selection");
    }
    let edit = "mutation($id: ID!) { updatePhoto(input: { id: $id, name: \"renamed\" }) { name } }";
    admin.data(edit, json!({ "id": photo["id"] })).await;
    let renamed = app.data(two_ways, json!({ "id": photo["id"] })).await;
    assert_eq!(renamed["a"]["name"], "renamed", "an edited record, a new answer");
}

/// A photo answer kept is written into each answer as it was made. Where a document selects a photo twice
/// under one response key (a Relay-style fragment of the connection next to the page's own fields), its
/// answers are merged into one object, with every field of both, however often it is asked; and a query
/// over the WebSocket gets the same objects as over HTTP.
async fn kept_answers_are_whole_where_answers_merge_and_over_the_socket(app: TestApp) {
    let photo = app.upload_photo("merged").await;
    app.ready(&photo["id"]).await;
    app.add_comment(&photo["id"], "first").await;
    let merged = "query { photos(first: 5) { edges { node { id name } } ...More } }
        fragment More on PhotoConnection { edges { node { commentCount comments(first: 1) { nodes { body } } } } }";
    let node = json!({ "id": photo["id"], "name": "merged", "commentCount": 1,
        "comments": { "nodes": [{ "body": "first" }] } });
    let expected = json!({ "photos": { "edges": [{ "node": node }] } });
    for n in 0..3 {
        assert_eq!(app.data(merged, json!({})).await, expected, "asked {} times", n + 1);
    }

    let page = "query($first: Int) { photos(first: $first) { edges { cursor node { id name commentCount } } } }";
    let over_http = app.data(page, json!({ "first": 5 })).await;
    assert_eq!(app.data(page, json!({ "first": 5 })).await, over_http, "kept answers, spliced in");
    assert_eq!(over_http["photos"]["edges"][0]["node"]["name"], "merged");
    let mut socket = crate::ws::Subscription::start(&app.address, page, json!({ "first": 5 })).await;
    match socket.receive(std::time::Duration::from_secs(5)).await {
        crate::ws::Received::Data(data) => assert_eq!(data, over_http, "the same answer over the WebSocket"),
        other => panic!("no answer over the WebSocket: {other:?}"),
    }
}
