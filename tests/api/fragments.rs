//! Photo answers made before (`graphql::fragments`), with the response cache off: reused only while all they
//! show is the same.

use serde_json::{Value, json};

use crate::both_modes;
use crate::helpers::TestApp;

both_modes!(flags = &["--query-cache-millis", "0", "--admin-key-sha256", crate::owners::ADMIN_HASH];
    photo_answers_made_before_follow_every_change);

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
