//! Abusive requests: too deep, too complex, too many aliases, batched, too large, too many mutations. Each is
//! refused with a coded error (or an HTTP status for what is not GraphQL) and costs no backend call.

use photoshare::graphql::{INTROSPECTION_QUERY as INTROSPECTION, fragment_bomb};
use serde_json::json;

use crate::both_modes;
use crate::helpers::TestApp;

both_modes!(
    over_limit_queries_are_refused_before_any_backend_call,
    fragment_bombs_are_refused_before_validation,
    mutations_are_rate_limited_per_address,
    an_ipv6_network_is_one_address_to_the_rate_limit
);

async fn over_limit_queries_are_refused_before_any_backend_call(app: TestApp) {
    let deep =
        format!("{{ photos {{ nodes {{ {} id {} }} }} }}", "comments { nodes { photo { ".repeat(5), "} } } ".repeat(5));
    let complex = "{ photos(first: 100) { nodes { id comments(first: 100) { nodes { id body } } } } }";
    let aliases = format!(
        "{{ {} }}",
        (0..31).map(|i| format!("a{i}: photos(first: 1) {{ nodes {{ id }} }}")).collect::<Vec<_>>().join(" ")
    );
    let calls = app.table_calls();
    // Twice each: the second time the parsed document comes from the service's cache, and is checked the same.
    let refused = [("depth", deep.as_str()), ("complexity", complex), ("aliases", aliases.as_str())];
    for (what, query) in refused.into_iter().chain(refused) {
        let body = app.graphql(query, json!({})).await;
        assert_eq!(body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT", "{what}: {body}");
        assert!(body["data"].is_null(), "{what}: nothing executed");
    }
    assert_eq!(app.table_calls(), calls, "refused queries cost no backend calls");

    // Refused before parsing a query: still GraphQL errors with a code, and an HTTP status that says why.
    let url = format!("{}/graphql", app.address);
    let padded = |bytes: usize| json!({ "query": "{ __typename }", "variables": { "pad": "x".repeat(bytes) } });
    let refusals = [
        (
            "batched",
            json!([{ "query": "{ photos { nodes { id } } }" }, { "query": "{ __typename }" }]).to_string(),
            400,
            "batched",
        ),
        ("not JSON", "{ photos { nodes { id } } }".to_string(), 400, "not JSON"),
        ("over 1 MiB", padded(1024 * 1024).to_string(), 413, "over 1048576 bytes"),
    ];
    let refused_so_far =
        || app.metric(r#"photoshare_graphql_requests_total{operation="invalid",outcome="BAD_USER_INPUT"}"#);
    let counted = refused_so_far().await;
    for (what, body, status, says) in refusals {
        let response =
            app.client.post(&url).header("content-type", "application/json").body(body).send().await.unwrap();
        assert_eq!(response.status(), status, "{what}");
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT", "{what}: {body}");
        assert!(body["errors"][0]["message"].as_str().unwrap().contains(says), "{what}: {body}");
    }
    assert_eq!(refused_so_far().await - counted, 3, "refused bodies are counted in the metrics");
    let just_under = app.client.post(&url).json(&padded(1024 * 1024 - 100)).send().await.unwrap();
    let just_under: serde_json::Value = just_under.json().await.unwrap();
    assert_eq!(just_under["data"]["__typename"], "Query", "a body under 1 MiB is served: {just_under}");
    assert_eq!(app.table_calls(), calls);

    // Within the limits: GraphiQL's introspection, and a normal gallery page with comments.
    let schema = app.data(INTROSPECTION, json!({})).await;
    assert!(schema["__schema"]["types"].as_array().unwrap().len() > 10);
    app.data(
        "{ photos(first: 20) { nodes { id url commentCount comments(first: 3) { nodes { body } } } } }",
        json!({}),
    )
    .await;

    let closed = TestApp::spawn(app.mode, &["--introspection", "false", "--field-suggestions", "false"]).await;
    let body = closed.graphql(INTROSPECTION, json!({})).await;
    assert!(body.get("errors").is_some() || body["data"]["__schema"].is_null(), "introspection off: {body}");
    let typo = closed.graphql("{ photoz { nodes { id } } }", json!({})).await;
    assert!(!typo["errors"][0]["message"].as_str().unwrap().contains("Did you mean"), "{typo}");
}

async fn fragment_bombs_are_refused_before_validation(app: TestApp) {
    assert_eq!(fragment_bomb(24).len(), 984);
    let wide = format!(
        "{{ ...A ...A ...A }} fragment A on Query {{ ...B ...B ...B }} fragment B on Query {{ {} }}",
        "__typename ".repeat(120)
    );
    let aliased = format!(
        "{{ ...A ...A }} fragment A on Query {{ {} }}",
        (0..20).map(|i| format!("a{i}: __typename")).collect::<Vec<_>>().join(" ")
    );
    let long = format!("{{ {} }}", "__typename ".repeat(2_000));
    let refusals = [
        ("the 984-byte bomb", fragment_bomb(24), "fragment spreads"),
        ("a 60-level bomb", fragment_bomb(60), "fragment spreads"),
        ("fields by fragments", wide, "1080 fields once its fragments are expanded; at most 1000"),
        ("aliases by fragments", aliased, "40 aliases; at most 30"),
        ("a cycle", "{ ...A } fragment A on Query { ...A }".to_string(), "fragment \"A\" spreads itself"),
        ("22 KB of text", long, "bytes; at most 16384 are allowed"),
    ];
    let calls = app.table_calls();
    // Twice each: nothing refused is kept in the document cache.
    for (what, query, says) in refusals.iter().chain(&refusals) {
        let started = std::time::Instant::now();
        let body = app.graphql(query, json!({})).await;
        assert_eq!(body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT", "{what}: {body}");
        let message = body["errors"][0]["message"].as_str().unwrap();
        assert!(message.contains(says), "{what}: {message}");
        assert!(body["data"].is_null(), "{what}: nothing ran: {body}");
        // Today's code answered the 984-byte bomb after 11 s (release build); this bound is far above the
        // refusal's microseconds and far below that, even for a debug build on a loaded machine.
        assert!(started.elapsed() < std::time::Duration::from_secs(2), "{what}: {:?}", started.elapsed());
    }
    assert_eq!(app.table_calls(), calls, "refusals cost no backend call");
    // Within the limits, fragments still work, and a heavy document (run on the blocking pool) is answered.
    let fine =
        app.data("{ ...A ...A } fragment A on Query { ...B ...B } fragment B on Query { __typename }", json!({})).await;
    assert_eq!(fine["__typename"], "Query");
    let heavy = format!("{{ {} }}", "__typename ".repeat(500));
    assert_eq!(app.data(&heavy, json!({})).await["__typename"], "Query");
}

async fn mutations_are_rate_limited_per_address(app: TestApp) {
    // Three at once, then one every 30 s: slow enough that a loaded machine cannot refill it mid-test.
    let limited = TestApp::spawn(app.mode, &["--mutations-per-minute", "2", "--mutation-burst", "3"]).await;
    let query = "mutation($input: AddCommentInput!) { addComment(input: $input) { id } }";
    let photo = limited.upload_photo("pier").await; // createUpload + completeUpload: two of the three
    let ok = limited.graphql(query, json!({ "input": { "photoId": photo["id"], "body": "third" } })).await;
    assert!(ok.get("errors").is_none(), "{ok}");
    let refused = limited.graphql(query, json!({ "input": { "photoId": photo["id"], "body": "fourth" } })).await;
    assert_eq!(refused["errors"][0]["extensions"]["code"], "RATE_LIMITED", "{refused}");
    let retry_after = refused["errors"][0]["extensions"]["retryAfter"].as_u64().unwrap();
    assert!((1..=31).contains(&retry_after), "{retry_after}");
    let count = limited.data("query($id: ID!) { photo(id: $id) { commentCount } }", json!({ "id": photo["id"] })).await;
    assert_eq!(count["photo"]["commentCount"], 1, "the refused comment was not written");
    // Queries are not limited, and other servers (addresses) have their own budget.
    for _ in 0..5 {
        limited.data("{ photos { nodes { id } } }", json!({})).await;
    }
    app.add_comment(&app.upload_photo("elsewhere").await["id"], "unlimited").await;
}

/// A /64 holds 2^64 addresses: an IPv6 client is limited by its /64, not by each address it can take.
async fn an_ipv6_network_is_one_address_to_the_rate_limit(app: TestApp) {
    let flags = ["--mutations-per-minute", "1", "--mutation-burst", "1", "--trusted-proxies", "127.0.0.1"];
    let limited = TestApp::spawn(app.mode, &flags).await;
    let query = "mutation { createUpload(input: {fileName: \"a.jpg\", contentType: \"image/jpeg\"}) { uploadId } }";
    let from = |address: &str| {
        let request = limited.client.post(format!("{}/graphql", limited.address)).header("x-forwarded-for", address);
        async move {
            request.json(&json!({ "query": query })).send().await.unwrap().json::<serde_json::Value>().await.unwrap()
        }
    };
    let first = from("2001:db8:1:2::1").await;
    assert!(first.get("errors").is_none(), "{first}");
    let same_network = from("2001:db8:1:2:ffff::9").await;
    assert_eq!(same_network["errors"][0]["extensions"]["code"], "RATE_LIMITED", "{same_network}");
    let other_network = from("2001:db8:1:3::1").await;
    assert!(other_network.get("errors").is_none(), "another /64 has its own budget: {other_network}");
}
