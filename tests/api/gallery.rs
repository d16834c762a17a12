//! The gallery: every photo, newest first, in pages that follow cursors without gaps or repeats.

use std::collections::HashSet;

use serde_json::json;

use crate::both_modes;
use crate::helpers::TestApp;

both_modes!(pages_walk_every_photo_newest_first_without_gaps, bad_paging_arguments_are_refused, unknown_photo_is_null);

async fn pages_walk_every_photo_newest_first_without_gaps(app: TestApp) {
    walk_every_photo(app, 1).await
}

/// The gallery index over 4 partitions (`--gallery-shards 4`): pages merge the shards, cursors go on across
/// them, and a page costs a query per shard.
mod sharded {
    crate::both_modes!(flags = &["--gallery-shards", "4"]; pages_walk_every_photo_newest_first_without_gaps);

    async fn pages_walk_every_photo_newest_first_without_gaps(app: crate::helpers::TestApp) {
        super::walk_every_photo(app, 4).await
    }
}

async fn walk_every_photo(app: TestApp, shards: u64) {
    let mut uploaded = Vec::new();
    for i in 0..45 {
        uploaded.push(app.upload_photo(&format!("photo {i}")).await["id"].as_str().unwrap().to_string());
    }
    let query = "query($after: String) { photos(first: 20, after: $after) {
        edges { cursor node { id uploadedAt } } pageInfo { hasNextPage endCursor } } }";
    let (mut seen, mut pages) = (Vec::new(), Vec::new());
    for page in app.walk(query, json!({}), &["photos"]).pages().await {
        let edges = page.connection["edges"].as_array().unwrap();
        assert_eq!(page.connection["pageInfo"]["endCursor"], edges.last().unwrap()["cursor"]);
        pages.push(edges.len());
        seen.extend(page.nodes());
    }
    assert_eq!(pages, [20, 20, 5]);
    let ids: Vec<&str> = seen.iter().map(|p| p["id"].as_str().unwrap()).collect();
    assert_eq!(ids.iter().collect::<HashSet<_>>().len(), 45, "no photo twice");
    let newest_first: Vec<&str> = uploaded.iter().rev().map(String::as_str).collect();
    assert_eq!(ids, newest_first, "every photo, newest first");
    let times: Vec<&str> = seen.iter().map(|p| p["uploadedAt"].as_str().unwrap()).collect();
    assert!(times.windows(2).all(|w| w[0] >= w[1]));

    let calls = app.table_calls();
    app.data("{ photos(first: 20) { nodes { id name commentCount } } }", json!({})).await;
    assert_eq!(app.table_calls() - calls, shards + 1, "a gallery page is a query per index shard and one batch read");

    // Photos looked up one by one in a request are read in one batch (DataLoader + BatchGetItem).
    let lookups: Vec<String> =
        uploaded.iter().take(5).enumerate().map(|(i, id)| format!("p{i}: photo(id: \"{id}\") {{ name }}")).collect();
    let calls = app.table_calls();
    let data = app.data(&format!("{{ {} }}", lookups.join(" ")), json!({})).await;
    assert_eq!(data["p4"]["name"], "photo 4");
    assert_eq!(app.table_calls() - calls, 1, "five lookups, one batched read");
}

async fn bad_paging_arguments_are_refused(app: TestApp) {
    app.upload_photo("only").await;
    for (first, after) in
        [(0, None), (101, None), (-1, None), (20, Some("garbage")), (20, Some("cDE6bm90LWEtdGltZSN4"))]
    {
        let code = app
            .error_code(
                "query($f: Int!, $a: String) { photos(first: $f, after: $a) { nodes { id } } }",
                json!({ "f": first, "a": after }),
            )
            .await;
        assert_eq!(code, "BAD_USER_INPUT", "first {first}, after {after:?}");
    }
}

async fn unknown_photo_is_null(app: TestApp) {
    let data =
        app.data("query($id: ID!) { photo(id: $id) { id } }", json!({ "id": uuid::Uuid::new_v4().to_string() })).await;
    assert!(data["photo"].is_null());
    assert_eq!(app.error_code("{ photo(id: \"nope\") { id } }", json!({})).await, "BAD_USER_INPUT");
}
