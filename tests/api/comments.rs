//! Comments: the timeline, validation, idempotent retries, concurrency, the cost of a gallery with comments,
//! and live delivery over WebSocket with resume.

use std::collections::HashSet;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::both_modes;
use crate::helpers::TestApp;
use crate::ws::Subscription;

both_modes!(
    the_timeline_is_oldest_first_in_pages_and_counts_agree,
    bad_comments_are_refused_and_write_nothing,
    a_retried_comment_with_a_client_id_is_stored_once,
    a_client_id_belongs_to_its_caller,
    concurrent_commenters_lose_nothing,
    a_gallery_with_comments_costs_a_bounded_number_of_calls,
    subscribers_get_new_comments_and_photos_live,
    a_resumed_subscription_misses_nothing,
    a_new_subscriber_gets_only_what_is_posted_after_it_subscribed,
    quiet_subscriptions_are_kept_alive_with_pings,
);

const TIMELINE: &str = "query($id: ID!, $first: Int, $after: String) { photo(id: $id) { commentCount
    comments(first: $first, after: $after) { edges { cursor node { id body createdAt authorIp photoId } }
    pageInfo { hasNextPage endCursor } } } }";

async fn timeline(app: &TestApp, photo_id: &Value) -> (i64, Vec<Value>) {
    let pages = app.walk(TIMELINE, json!({ "id": photo_id, "first": 100 }), &["photo", "comments"]).pages().await;
    let count = pages.last().unwrap().data["photo"]["commentCount"].as_i64().unwrap();
    (count, pages.iter().flat_map(|page| page.nodes()).collect())
}

async fn the_timeline_is_oldest_first_in_pages_and_counts_agree(app: TestApp) {
    let photo = app.upload_photo("pier").await;
    let before = Utc::now();
    let mut posted = Vec::new();
    for body in ["first!", "  lovely light  ", "日落真美", "4", "5", "6", "seventh"] {
        posted.push(app.add_comment(&photo["id"], body).await);
    }
    assert_eq!(posted[1]["body"], "lovely light", "bodies are trimmed");
    assert_eq!(posted[2]["body"], "日落真美");
    assert_eq!(posted[0]["authorIp"], "127.0.0.1");
    assert_eq!(posted[0]["photoId"], photo["id"]);
    let at: DateTime<Utc> = posted[0]["createdAt"].as_str().unwrap().parse().unwrap();
    assert!(at >= before && at <= Utc::now());

    let (mut pages, mut seen) = (Vec::new(), Vec::new());
    for page in app.walk(TIMELINE, json!({ "id": photo["id"], "first": 3 }), &["photo", "comments"]).pages().await {
        assert_eq!(page.data["photo"]["commentCount"], 7);
        let nodes = page.nodes();
        pages.push(nodes.len());
        seen.extend(nodes.iter().map(|node| node["id"].clone()));
    }
    assert_eq!(pages, [3, 3, 1]);
    let posted_ids: Vec<Value> = posted.iter().map(|c| c["id"].clone()).collect();
    assert_eq!(seen, posted_ids, "oldest first, each once");

    // A comment cursor belongs to its photo.
    let other = app.upload_photo("other").await;
    let code = app.error_code(TIMELINE, json!({ "id": other["id"], "first": 3, "after": posted[0]["cursor"] })).await;
    assert_eq!(code, "BAD_USER_INPUT");
}

async fn bad_comments_are_refused_and_write_nothing(app: TestApp) {
    let photo = app.upload_photo("pier").await;
    app.add_comment(&photo["id"], "keep me").await;
    let query = "mutation($input: AddCommentInput!) { addComment(input: $input) { id } }";
    let long = "长".repeat(2001);
    let cases = [
        (json!({ "photoId": photo["id"], "body": "" }), "BAD_USER_INPUT"),
        (json!({ "photoId": photo["id"], "body": " \n\t " }), "BAD_USER_INPUT"),
        (json!({ "photoId": photo["id"], "body": long }), "BAD_USER_INPUT"),
        (json!({ "photoId": photo["id"], "body": "hi", "clientId": "has spaces" }), "BAD_USER_INPUT"),
        (json!({ "photoId": "not-an-id", "body": "hi" }), "BAD_USER_INPUT"),
        (json!({ "photoId": uuid::Uuid::new_v4().to_string(), "body": "hi" }), "NOT_FOUND"),
    ];
    for (input, code) in cases {
        let body = app.graphql(query, json!({ "input": input })).await;
        assert_eq!(body["errors"][0]["extensions"]["code"], code, "{input} → {body}");
    }
    let (count, comments) = timeline(&app, &photo["id"]).await;
    assert_eq!((count, comments.len()), (1, 1), "nothing written by refused comments");
    // 2,000 characters of Chinese are fine.
    app.add_comment(&photo["id"], &"长".repeat(2000)).await;
}

async fn a_retried_comment_with_a_client_id_is_stored_once(app: TestApp) {
    let photo = app.upload_photo("pier").await;
    let query = "mutation($input: AddCommentInput!) { addComment(input: $input) { id body } }";
    let input = json!({ "input": { "photoId": photo["id"], "body": "only once", "clientId": "c-42" } });
    let (a, b) = tokio::join!(app.data(query, input.clone()), app.data(query, input.clone()));
    let c = app.data(query, input).await;
    assert_eq!(a["addComment"]["id"], b["addComment"]["id"]);
    assert_eq!(a["addComment"]["id"], c["addComment"]["id"]);
    // The same client id on another photo is another comment.
    let other = app.upload_photo("other").await;
    let elsewhere =
        app.data(query, json!({ "input": { "photoId": other["id"], "body": "x", "clientId": "c-42" } })).await;
    assert_ne!(elsewhere["addComment"]["id"], a["addComment"]["id"]);
    let (count, comments) = timeline(&app, &photo["id"]).await;
    assert_eq!((count, comments.len()), (1, 1));
}

/// `addComment` from `client`, with `authorization` if given; the whole response body.
async fn comment_as(app: &TestApp, client: &reqwest::Client, authorization: Option<&str>, input: Value) -> Value {
    let query = "mutation($input: AddCommentInput!) { addComment(input: $input) { id body authorIp } }";
    let mut request = client
        .post(format!("{}/graphql", app.address))
        .json(&json!({ "query": query, "variables": { "input": input } }));
    if let Some(value) = authorization {
        request = request.header("authorization", value);
    }
    request.send().await.unwrap().json().await.unwrap()
}

async fn a_client_id_belongs_to_its_caller(app: TestApp) {
    let photo = app.upload_photo("pier").await;
    let from = |address: &str| reqwest::Client::builder().local_address(address.parse().ok()).build().unwrap();
    let (here, there) = (from("127.0.0.1"), from("127.0.0.2"));
    let input = |body: &str| json!({ "photoId": photo["id"], "body": body, "clientId": "same-id" });
    let id = |body: &Value| body["data"]["addComment"]["id"].as_str().map(str::to_string);

    // Two addresses, no key: two comments, each with its own text.
    let first = comment_as(&app, &here, None, input("from one client")).await;
    let second = comment_as(&app, &there, None, input("from another client")).await;
    assert_eq!(second["data"]["addComment"]["body"], "from another client", "{second}");
    assert_eq!(second["data"]["addComment"]["authorIp"], "127.0.0.2");
    assert_ne!(id(&first), id(&second));
    // Each one's retry still finds its own.
    assert_eq!(id(&comment_as(&app, &there, None, input("retry")).await), id(&second));

    // Owner keys scope it instead: two keys from one address are two callers; one key from two addresses is one.
    let (alice, bob) = (format!("Bearer {}", "a".repeat(40)), format!("Bearer {}", "b".repeat(40)));
    let by_alice = comment_as(&app, &here, Some(&alice), input("alice")).await;
    let by_bob = comment_as(&app, &here, Some(&bob), input("bob")).await;
    assert_ne!(id(&by_alice), id(&by_bob), "{by_alice} {by_bob}");
    assert_ne!(id(&by_alice), id(&first), "a key is not its address");
    assert_eq!(id(&comment_as(&app, &there, Some(&alice), input("alice again")).await), id(&by_alice));

    // A malformed key is refused, and nothing is written.
    let refused = comment_as(&app, &here, Some("Bearer short"), input("never stored")).await;
    assert_eq!(refused["errors"][0]["extensions"]["code"], "UNAUTHENTICATED", "{refused}");
    let (count, comments) = timeline(&app, &photo["id"]).await;
    assert_eq!((count, comments.len()), (4, 4));
}

async fn concurrent_commenters_lose_nothing(app: TestApp) {
    let photo = app.upload_photo("busy").await;
    let clients = (0..50).map(|client| {
        let (app, photo_id) = (&app, photo["id"].clone());
        async move {
            let mut acknowledged = Vec::new();
            for n in 0..20 {
                let comment = app.add_comment(&photo_id, &format!("client {client} comment {n}")).await;
                acknowledged.push(comment["id"].as_str().unwrap().to_string());
            }
            acknowledged
        }
    });
    let acknowledged: Vec<String> = futures_util::future::join_all(clients).await.into_iter().flatten().collect();
    let (count, comments) = timeline(&app, &photo["id"]).await;
    let stored: Vec<&str> = comments.iter().map(|c| c["id"].as_str().unwrap()).collect();
    assert_eq!(count, 1000);
    assert_eq!(stored.len(), 1000);
    assert_eq!(
        stored.iter().collect::<HashSet<_>>(),
        acknowledged.iter().map(String::as_str).collect::<HashSet<_>>().iter().collect()
    );
    let times: Vec<&str> = comments.iter().map(|c| c["createdAt"].as_str().unwrap()).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "a timeline");
    // The first comments kept on the photo item are the timeline's first, though 50 raced for them.
    let kept = app.data("{ photos(first: 1) { nodes { comments(first: 3) { nodes { id } } } } }", json!({})).await;
    let kept: Vec<&str> = kept["photos"]["nodes"][0]["comments"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(kept, stored[..3]);
}

async fn a_gallery_with_comments_costs_a_bounded_number_of_calls(app: TestApp) {
    for i in 0..20 {
        let photo = app.upload_photo(&format!("p{i}")).await;
        for n in 0..4 {
            app.add_comment(&photo["id"], &format!("c{n}")).await;
        }
    }
    let calls = app.table_calls();
    let query = "{ photos(first: 20) { nodes { id name url commentCount
        comments(first: 3) { nodes { body photo { name } } pageInfo { hasNextPage } } } } }";
    let data = app.data(query, json!({})).await;
    let used = app.table_calls() - calls;
    let nodes = data["photos"]["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 20);
    for photo in nodes {
        let bodies: Vec<&str> =
            photo["comments"]["nodes"].as_array().unwrap().iter().map(|c| c["body"].as_str().unwrap()).collect();
        assert_eq!((&photo["commentCount"], bodies), (&json!(4), vec!["c0", "c1", "c2"]), "the first three");
        assert_eq!(photo["comments"]["pageInfo"]["hasNextPage"], true);
    }
    // The index, then the photos in one batch: the first comments come with each photo item, and the 60
    // `photo` fields from the page's photos.
    assert_eq!(used, 2, "table calls for a gallery page with comments");
    // More than the photo keeps: one timeline query.
    let calls = app.table_calls();
    let query = "query($id: ID!) { photo(id: $id) { comments(first: 4) { nodes { body } } } }";
    let data = app.data(query, json!({ "id": nodes[0]["id"] })).await;
    assert_eq!(data["photo"]["comments"]["nodes"].as_array().unwrap().len(), 4);
    assert_eq!(app.table_calls() - calls, 2, "the photo, then its timeline");
}

async fn subscribers_get_new_comments_and_photos_live(app: TestApp) {
    let photo = app.upload_photo("pier").await;
    let other = app.upload_photo("other").await;
    let query = "subscription($id: ID) { commentAdded(photoId: $id) { id body authorIp createdAt photoId } }";
    let mut one_photo = Subscription::start(&app.address, query, json!({ "id": photo["id"] })).await;
    let mut all_photos = Subscription::start(&app.address, query, json!({ "id": null })).await;
    let mut photos =
        Subscription::start(&app.address, "subscription { photoAdded { id name uploaderIp } }", json!({})).await;

    let on_other = app.add_comment(&other["id"], "elsewhere").await;
    let on_photo = app.add_comment(&photo["id"], "live!").await;
    let received = one_photo.next(Duration::from_secs(3)).await.expect("a comment");
    assert_eq!(received["commentAdded"]["id"], on_photo["id"], "only this photo's comments");
    assert_eq!(received["commentAdded"]["authorIp"], "127.0.0.1");
    let first = all_photos.next(Duration::from_secs(3)).await.expect("a comment");
    let second = all_photos.next(Duration::from_secs(3)).await.expect("another comment");
    assert_eq!([&first["commentAdded"]["id"], &second["commentAdded"]["id"]], [&on_other["id"], &on_photo["id"]]);
    assert!(one_photo.next(Duration::from_millis(600)).await.is_none(), "no duplicate, nothing else");

    let added = app.upload_photo("brand new").await;
    let announced = photos.next(Duration::from_secs(3)).await.expect("a photo");
    assert_eq!(announced["photoAdded"]["id"], added["id"]);
    assert_eq!(announced["photoAdded"]["name"], "brand new");

    let mut missing = Subscription::start(&app.address, query, json!({ "id": uuid::Uuid::new_v4().to_string() })).await;
    // Resolver errors arrive as a `next` with errors (graphql-transport-ws keeps `error` for invalid operations).
    let refused = missing.raw(Duration::from_secs(3)).await.expect("an error");
    assert_eq!(refused["payload"]["errors"][0]["extensions"]["code"], "NOT_FOUND", "{refused}");
}

async fn a_resumed_subscription_misses_nothing(app: TestApp) {
    let photo = app.upload_photo("pier").await;
    let query = "subscription($id: ID, $after: String) { commentAdded(photoId: $id, after: $after) { id cursor } }";
    let mut subscription = Subscription::start(&app.address, query, json!({ "id": photo["id"] })).await;
    let seen = app.add_comment(&photo["id"], "seen live").await;
    let received = subscription.next(Duration::from_secs(3)).await.expect("live comment");
    assert_eq!(received["commentAdded"]["id"], seen["id"]);
    subscription.close().await;

    let mut missed = Vec::new();
    for n in 0..3 {
        missed.push(app.add_comment(&photo["id"], &format!("while away {n}")).await["id"].clone());
    }
    let cursor = received["commentAdded"]["cursor"].clone();
    let mut resumed = Subscription::start(&app.address, query, json!({ "id": photo["id"], "after": cursor })).await;
    let later = app.add_comment(&photo["id"], "after resuming").await;
    let mut got = Vec::new();
    while let Some(data) = resumed.next(Duration::from_secs(2)).await {
        got.push(data["commentAdded"]["id"].clone());
    }
    missed.push(later["id"].clone());
    assert_eq!(got, missed, "the missed comments in order, then live ones, none twice");
}

async fn a_new_subscriber_gets_only_what_is_posted_after_it_subscribed(app: TestApp) {
    let photo = app.upload_photo("pier").await;
    let old = app.add_comment(&photo["id"], "before subscribing").await;
    let comments = "subscription($id: ID, $after: String) { commentAdded(photoId: $id, after: $after) { id } }";
    // All at once, while the event feed (AWS mode) still holds what was just posted: it re-reads the last 2 s.
    let (mut on_photo, mut everywhere, mut resumed, mut photos) = tokio::join!(
        Subscription::start(&app.address, comments, json!({ "id": photo["id"] })),
        Subscription::start(&app.address, comments, json!({ "id": null })),
        Subscription::start(&app.address, comments, json!({ "id": photo["id"], "after": old["cursor"] })),
        Subscription::start(&app.address, "subscription { photoAdded { id } }", json!({})),
    );
    let new = app.add_comment(&photo["id"], "after subscribing").await;
    let added = app.upload_photo("after subscribing").await;
    for (what, subscription) in
        [("one photo", &mut on_photo), ("all photos", &mut everywhere), ("resumed", &mut resumed)]
    {
        let first = subscription.next(Duration::from_secs(3)).await.expect(what);
        assert_eq!(first["commentAdded"]["id"], new["id"], "{what}: nothing from before it subscribed");
    }
    let first = photos.next(Duration::from_secs(3)).await.expect("a photo");
    assert_eq!(first["photoAdded"]["id"], added["id"], "no photo from before it subscribed");
}

async fn quiet_subscriptions_are_kept_alive_with_pings(app: TestApp) {
    let pinging = TestApp::spawn(app.mode, &["--ws-ping-seconds", "1"]).await;
    let mut quiet = Subscription::start(&pinging.address, "subscription { photoAdded { id } }", json!({})).await;
    assert!(quiet.ping(Duration::from_secs(3)).await, "a ping within the interval");
    let mut default = Subscription::start(&app.address, "subscription { photoAdded { id } }", json!({})).await;
    assert!(!default.ping(Duration::from_secs(2)).await, "the default interval is longer");
}
