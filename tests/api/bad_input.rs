//! Every argument a client can get wrong, in one table: each bad request gets its code and a message naming the
//! field; a malformed one costs no backend call at all, an unknown id writes nothing, and afterwards the data
//! is exactly as before.

use serde_json::{Value, json};
use uuid::Uuid;

use crate::both_modes;
use crate::helpers::TestApp;

both_modes!(every_bad_argument_is_refused_by_name_and_writes_nothing, text_loses_bidi_controls, names_stay_on_one_line);

const CREATE_UPLOAD: &str = "mutation($input: CreateUploadInput!) { createUpload(input: $input) { uploadId } }";
const COMPLETE_UPLOAD: &str = "mutation($id: ID!) { completeUpload(uploadId: $id) { id } }";
const ADD_COMMENT: &str = "mutation($input: AddCommentInput!) { addComment(input: $input) { id } }";
const SHARE: &str = "mutation($id: ID!, $s: Int) { createShareLink(photoId: $id, expiresInSeconds: $s) { url } }";
const PHOTOS: &str = "query($first: Int, $after: String, $filter: PhotoFilter) {
    photos(first: $first, after: $after, filter: $filter) { nodes { id } } }";
const PHOTO: &str = "query($id: ID!) { photo(id: $id) { id } }";
const COMMENTS: &str = "query($id: ID!, $first: Int, $after: String) {
    photo(id: $id) { comments(first: $first, after: $after) { nodes { id } } } }";

async fn every_bad_argument_is_refused_by_name_and_writes_nothing(app: TestApp) {
    let photo = app.upload_photo("pier").await;
    let id = photo["id"].as_str().unwrap().to_string();
    let unknown = Uuid::new_v4().to_string();
    let upload = |input: Value| {
        let mut fields = json!({ "fileName": "pier.jpg", "contentType": "image/jpeg" });
        fields.as_object_mut().unwrap().extend(input.as_object().unwrap().clone());
        json!({ "input": fields })
    };
    let comment = |photo_id: &str, body: &str, extra: Value| {
        let mut input = json!({ "photoId": photo_id, "body": body });
        input.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        json!({ "input": input })
    };
    let bad = "BAD_USER_INPUT";
    let cases: Vec<(&str, &str, Value, &str, &str)> = vec![
        // (what, query, variables, code, the message names)
        ("empty file name", CREATE_UPLOAD, upload(json!({ "fileName": " " })), bad, "fileName"),
        (
            "long file name",
            CREATE_UPLOAD,
            upload(json!({ "fileName": format!("{}.jpg", "a".repeat(300)) })),
            bad,
            "fileName",
        ),
        ("gif", CREATE_UPLOAD, upload(json!({ "contentType": "image/gif" })), bad, "contentType"),
        ("long name", CREATE_UPLOAD, upload(json!({ "name": "n".repeat(201) })), bad, "name"),
        ("invisible name", CREATE_UPLOAD, upload(json!({ "name": "\u{200b}\u{200d} \u{3164}" })), bad, "name"),
        (
            "invisible description",
            CREATE_UPLOAD,
            upload(json!({ "description": "\u{feff}\u{2060}" })),
            bad,
            "description",
        ),
        (
            "name of format characters only",
            CREATE_UPLOAD,
            upload(json!({ "name": "\u{1d173}\u{1d17a}\u{1bca0}\u{fff9}\u{fffb}\u{13430}\u{1343f}" })),
            bad,
            "name",
        ),
        (
            "description of format characters only",
            CREATE_UPLOAD,
            upload(json!({ "description": "\u{1bca3}\u{13438}\n\u{fffa}" })),
            bad,
            "description",
        ),
        ("invisible file name", CREATE_UPLOAD, upload(json!({ "fileName": "\u{200b}" })), bad, "fileName"),
        ("long description", CREATE_UPLOAD, upload(json!({ "description": "d".repeat(5_001) })), bad, "description"),
        ("malformed upload id", COMPLETE_UPLOAD, json!({ "id": "upload-1" }), bad, "uploadId"),
        ("unknown upload", COMPLETE_UPLOAD, json!({ "id": unknown }), "NOT_FOUND", "upload"),
        ("malformed photo id", ADD_COMMENT, comment("photo-1", "hi", json!({})), bad, "photoId"),
        ("blank body", ADD_COMMENT, comment(&id, " \n\t ", json!({})), bad, "body"),
        ("invisible body", ADD_COMMENT, comment(&id, "\u{200b}\u{200c}\u{200d}\n\u{feff}", json!({})), bad, "body"),
        ("long body", ADD_COMMENT, comment(&id, &"é".repeat(2_001), json!({})), bad, "body"),
        ("bad client id", ADD_COMMENT, comment(&id, "hi", json!({ "clientId": "no spaces!" })), bad, "clientId"),
        ("unknown photo", ADD_COMMENT, comment(&unknown, "hi", json!({})), "NOT_FOUND", "photo"),
        ("zero seconds", SHARE, json!({ "id": id, "s": 0 }), bad, "expiresInSeconds"),
        ("over 7 days", SHARE, json!({ "id": id, "s": 604_801 }), bad, "expiresInSeconds"),
        ("malformed share photo", SHARE, json!({ "id": "x", "s": 60 }), bad, "photoId"),
        ("unknown share photo", SHARE, json!({ "id": unknown, "s": 60 }), "NOT_FOUND", "photo"),
        ("first 0", PHOTOS, json!({ "first": 0 }), bad, "first"),
        ("first 101", PHOTOS, json!({ "first": 101 }), bad, "first"),
        ("first not a number", PHOTOS, json!({ "first": "two" }), bad, "first"),
        ("bad cursor", PHOTOS, json!({ "after": "not-a-cursor" }), bad, "after"),
        ("long search", PHOTOS, json!({ "filter": { "name": "w".repeat(201) } }), bad, "name"),
        ("nine words", PHOTOS, json!({ "filter": { "name": "a b c d e f g h i" } }), bad, "name"),
        ("not a time", PHOTOS, json!({ "filter": { "uploadedFrom": "yesterday" } }), bad, "uploadedFrom"),
        (
            "inverted range",
            PHOTOS,
            json!({ "filter": { "uploadedFrom": "2026-02-01T00:00:00Z", "uploadedTo": "2026-01-01T00:00:00Z" } }),
            bad,
            "uploadedFrom",
        ),
        ("malformed photo", PHOTO, json!({ "id": "photo-1" }), bad, "id"),
        ("5,000-character id", PHOTO, json!({ "id": "x".repeat(5_000) }), bad, "id"),
        ("long content type", CREATE_UPLOAD, upload(json!({ "contentType": "t".repeat(5_000) })), bad, "contentType"),
        ("comments first 0", COMMENTS, json!({ "id": id, "first": 0 }), bad, "first"),
        ("comments bad cursor", COMMENTS, json!({ "id": id, "after": "zzz" }), bad, "after"),
    ];
    // Three rounds: from the third, a request already validated once runs without validation's rules
    // (`graphql::validated`), and each must still be refused the same way.
    for (round, (what, query, variables, code, names)) in
        (1..=3).flat_map(|round| cases.iter().map(move |c| (round, c)))
    {
        let (what, code, names) = (format!("{what} (round {round})"), *code, *names);
        let (calls, writes) = (app.table_calls(), app.table_writes());
        let body = app.graphql(query, variables.clone()).await;
        let error = &body["errors"][0];
        assert_eq!(error["extensions"]["code"], code, "{what}: {body}");
        let message = error["message"].as_str().unwrap();
        assert!(message.contains(names), "{what}: the message names `{names}`: {message}");
        // What the client sent is quoted, at most 80 characters of it.
        assert!(message.chars().count() < 250, "{what}: a short message: {message}");
        if code == bad {
            // A bad argument of `comments` is found once its photo is read.
            let reads = if *query == COMMENTS { 1 } else { 0 };
            assert_eq!(app.table_calls() - calls, reads, "{what}: refused before any other backend call");
        } else {
            // An unknown id may be found out by a conditional write that did not happen.
            assert!(app.table_writes() - writes <= 1, "{what}");
        }
    }

    let after = app.data("{ photos { nodes { id commentCount comments { nodes { id } } } } }", json!({})).await;
    assert_eq!(
        after["photos"]["nodes"],
        json!([{ "id": id, "commentCount": 0, "comments": { "nodes": [] } }]),
        "nothing was written"
    );
}

/// Bidirectional overrides and isolates are removed from names, descriptions and comments: "hi \u{202e}evil"
/// would show as "hi live".
async fn text_loses_bidi_controls(app: TestApp) {
    let name = "hi \u{202e}evil\u{202c} \u{2067}x\u{2069}";
    let photo = app.upload_bytes(name, "image/jpeg", crate::helpers::JPEG).await;
    assert_eq!(photo["name"], "hi evil x", "{photo}");
    let comment = app.add_comment(&photo["id"], "\u{202d}look\u{202c} \u{2066}here\u{2069}").await;
    assert_eq!(comment["body"], "look here");
    let search = app.data("{ photos(filter: {name: \"evil\"}) { nodes { name } } }", json!({})).await;
    assert_eq!(search["photos"]["nodes"][0]["name"], "hi evil x", "indexed as shown");
}

/// A name is one line: U+2028 LINE SEPARATOR and U+2029 PARAGRAPH SEPARATOR break it as a newline would,
/// so they become spaces like newlines do.
async fn names_stay_on_one_line(app: TestApp) {
    let photo = app.upload_bytes("sun\u{2028}set\u{2029}pier", "image/jpeg", crate::helpers::JPEG).await;
    assert_eq!(photo["name"], "sun set pier", "{photo}");
}
