//! GraphQL over HTTP by the spec's rules (graphql.github.io/graphql-over-http): the media type follows
//! `Accept`, request errors have no `data` (and a 4xx under `application/graphql-response+json`), malformed
//! requests are 400, GET runs queries only, no request a browser sends cross-site without a preflight changes
//! anything, automatic persisted queries work over GET and POST, and GET reads of photos are cacheable.

use reqwest::header::HeaderMap;
use serde_json::{Value, json};
use sha2::Digest;

use crate::both_modes;
use crate::helpers::TestApp;

both_modes!(
    the_answer_type_follows_accept,
    request_errors_have_no_data_and_a_status_under_the_graphql_response_type,
    malformed_requests_are_400,
    no_simple_cross_site_request_changes_anything,
    get_reads_of_photos_are_cacheable_and_nothing_else_is,
    persisted_queries_work_over_get_and_post,
    a_malformed_key_refuses_every_operation,
);

const GRAPHQL_RESPONSE: &str = "application/graphql-response+json";

struct Answer {
    status: u16,
    headers: HeaderMap,
    body: Value,
}

impl Answer {
    async fn from(response: reqwest::Response) -> Self {
        let (status, headers) = (response.status().as_u16(), response.headers().clone());
        let text = response.text().await.unwrap();
        let body = serde_json::from_str(&text).unwrap_or_else(|_| panic!("a JSON answer, not {text:?}"));
        Self { status, headers, body }
    }

    /// Every value of the header `name`, joined as one list.
    fn header(&self, name: &str) -> String {
        let values: Vec<&str> = self.headers.get_all(name).iter().map(|value| value.to_str().unwrap()).collect();
        values.join(", ")
    }

    fn code(&self) -> &str {
        self.body["errors"][0]["extensions"]["code"].as_str().unwrap_or_else(|| panic!("a coded error: {}", self.body))
    }
}

/// POST `body` (as given) with `content_type` and `accept` headers, each left out when `None`.
async fn post(app: &TestApp, content_type: Option<&str>, accept: Option<&str>, body: String) -> Answer {
    let mut request = app.client.post(format!("{}/graphql", app.address)).body(body);
    if let Some(content_type) = content_type {
        request = request.header("content-type", content_type);
    }
    if let Some(accept) = accept {
        request = request.header("accept", accept);
    }
    Answer::from(request.send().await.unwrap()).await
}

async fn post_json(app: &TestApp, accept: Option<&str>, body: Value) -> Answer {
    post(app, Some("application/json"), accept, body.to_string()).await
}

/// GET with these query-string parameters.
async fn get(app: &TestApp, accept: Option<&str>, parameters: &[(&str, String)]) -> Answer {
    let mut request = app.client.get(format!("{}/graphql", app.address)).query(parameters);
    if let Some(accept) = accept {
        request = request.header("accept", accept);
    }
    Answer::from(request.send().await.unwrap()).await
}

async fn the_answer_type_follows_accept(app: TestApp) {
    let typename = json!({ "query": "{ __typename }" });
    for (accept, expected) in [
        (None, "application/json"),
        (Some("application/json"), "application/json"),
        (Some("*/*"), "application/json"),
        (Some("application/graphql-response+json"), GRAPHQL_RESPONSE),
        (Some("application/graphql-response+json, application/json;q=0.9"), GRAPHQL_RESPONSE),
        (Some("application/json, application/graphql-response+json;q=0.5"), "application/json"),
    ] {
        let answer = post_json(&app, accept, typename.clone()).await;
        assert_eq!(answer.status, 200, "{accept:?}");
        assert_eq!(answer.header("content-type"), format!("{expected}; charset=utf-8"), "Accept {accept:?}");
        assert_eq!(answer.body["data"]["__typename"], "Query");
    }
    let refused = post_json(&app, Some("text/html"), typename).await;
    assert_eq!(refused.status, 406, "neither JSON type is acceptable");
    assert_eq!(refused.code(), "BAD_USER_INPUT");
    assert!(refused.body["errors"][0]["message"].as_str().unwrap().contains("application/json"));
}

async fn request_errors_have_no_data_and_a_status_under_the_graphql_response_type(app: TestApp) {
    for (what, query) in [
        ("a syntax error", "{ photos { nodes { id }"),
        ("an unknown field", "{ photos { nodes { nope } } }"),
        ("a missing variable", "query($id: ID!) { photo(id: $id) { name } }"),
        ("an unknown operation", "query A { __typename }"),
    ] {
        let body = if what == "an unknown operation" {
            json!({ "query": query, "operationName": "B" })
        } else {
            json!({ "query": query })
        };
        let legacy = post_json(&app, Some("application/json"), body.clone()).await;
        assert_eq!(legacy.status, 200, "{what}: application/json keeps 200");
        assert!(legacy.body.get("data").is_none(), "{what}: no data before execution: {}", legacy.body);
        assert_eq!(legacy.code(), "BAD_USER_INPUT", "{what}");
        let modern = post_json(&app, Some(GRAPHQL_RESPONSE), body).await;
        assert_eq!(modern.status, 400, "{what}: a request error is 4xx under {GRAPHQL_RESPONSE}");
        assert!(modern.body.get("data").is_none(), "{what}: {}", modern.body);
        assert_eq!(modern.code(), "BAD_USER_INPUT", "{what}");
    }
    // A field's error during execution is not a request error: `data` is there (null: async-graphql nulls the
    // whole answer for a root field's error), and the status 200.
    let field_error = json!({ "query": "{ photo(id: \"not-an-id\") { name } }" });
    let executed = post_json(&app, Some(GRAPHQL_RESPONSE), field_error).await;
    assert_eq!(executed.status, 200, "{}", executed.body);
    assert!(executed.body.get("data").is_some(), "execution began: {}", executed.body);
    assert_eq!(executed.code(), "BAD_USER_INPUT");
}

async fn malformed_requests_are_400(app: TestApp) {
    for accept in [None, Some(GRAPHQL_RESPONSE)] {
        for (what, body) in [
            ("not JSON", "{ \"query\": ".to_string()),
            ("not an object", "\"{ __typename }\"".to_string()),
            ("a batch", json!([{ "query": "{ __typename }" }]).to_string()),
            ("no query", json!({ "variables": {} }).to_string()),
            ("a query that is not a string", json!({ "query": 5 }).to_string()),
            (
                "an operationName that is not a string",
                json!({ "query": "{ __typename }", "operationName": 1 }).to_string(),
            ),
            ("variables that are a list", json!({ "query": "{ __typename }", "variables": [1] }).to_string()),
            ("variables that are a string", json!({ "query": "{ __typename }", "variables": "{}" }).to_string()),
            ("extensions that are a number", json!({ "query": "{ __typename }", "extensions": 3 }).to_string()),
        ] {
            let answer = post(&app, Some("application/json"), accept, body).await;
            assert_eq!(answer.status, 400, "{what} (Accept {accept:?}): {}", answer.body);
            assert_eq!(answer.code(), "BAD_USER_INPUT", "{what}");
            assert!(answer.body.get("data").is_none(), "{what}");
        }
        let nulls = json!({ "query": "{ __typename }", "operationName": null, "variables": null, "extensions": null });
        let answer = post_json(&app, accept, nulls).await;
        assert_eq!((answer.status, &answer.body["data"]["__typename"]), (200, &json!("Query")), "nulls are absent");

        let query = ("query", "{ __typename }".to_string());
        for (what, parameter) in [
            ("variables that are not JSON", ("variables", "{first: 1}".to_string())),
            ("variables that are a list", ("variables", "[1]".to_string())),
            ("extensions that are not JSON", ("extensions", "persistedQuery".to_string())),
        ] {
            let answer = get(&app, accept, &[query.clone(), parameter]).await;
            assert_eq!(answer.status, 400, "GET with {what}");
            assert_eq!(answer.code(), "BAD_USER_INPUT");
        }
    }
}

async fn no_simple_cross_site_request_changes_anything(app: TestApp) {
    let photo = app.upload_photo("target").await;
    let id = photo["id"].as_str().unwrap();
    let mutation =
        format!("mutation {{ addComment(input: {{photoId: \"{id}\", body: \"from elsewhere\"}}) {{ id }} }}");
    let json_body = json!({ "query": mutation }).to_string();
    let (writes, calls) = (app.table_writes(), app.table_calls());

    // What a page on any site can make a browser send without a CORS preflight.
    let url = format!("{}/graphql", app.address);
    let image_tag = Answer::from(app.client.get(&url).query(&[("query", &mutation)]).send().await.unwrap()).await;
    assert_eq!(image_tag.status, 405, "a mutation over GET: {}", image_tag.body);
    assert_eq!(image_tag.header("allow"), "POST");
    assert_eq!(image_tag.code(), "BAD_USER_INPUT");
    assert!(image_tag.body["errors"][0]["message"].as_str().unwrap().contains("POST"));
    let subscription = get(&app, None, &[("query", "subscription { photoAdded { id } }".to_string())]).await;
    assert_eq!((subscription.status, subscription.header("allow").as_str()), (405, "POST"), "a subscription over GET");
    for (what, content_type) in [
        ("text/plain", Some("text/plain;charset=UTF-8")),
        ("a form", Some("application/x-www-form-urlencoded")),
        ("no content type", None),
        ("JSON in another charset", Some("application/json; charset=iso-8859-1")),
    ] {
        let answer = post(&app, content_type, None, json_body.clone()).await;
        assert_eq!(answer.status, 415, "{what}: {}", answer.body);
        assert_eq!(answer.code(), "BAD_USER_INPUT", "{what}");
        assert!(answer.body["errors"][0]["message"].as_str().unwrap().contains("application/json"), "{what}");
    }
    let form = reqwest::multipart::Form::new().text("operations", json_body.clone()).text("map", "{}");
    let multipart = Answer::from(app.client.post(&url).multipart(form).send().await.unwrap()).await;
    assert_eq!(multipart.status, 415, "multipart: {}", multipart.body);
    let urlencoded = post(&app, Some("application/x-www-form-urlencoded"), None, format!("query={mutation}")).await;
    assert_eq!(urlencoded.status, 415);

    assert_eq!((app.table_writes(), app.table_calls()), (writes, calls), "nothing written, nothing read");
    let count = app.data("query($id: ID!) { photo(id: $id) { commentCount } }", json!({ "id": id })).await;
    assert_eq!(count["photo"]["commentCount"], 0, "no comment was posted");
    // The same mutation as JSON (which a cross-site page can send only after a preflight) is served.
    assert!(post(&app, Some("application/json"), None, json_body).await.body["data"]["addComment"]["id"].is_string());
}

async fn get_reads_of_photos_are_cacheable_and_nothing_else_is(app: TestApp) {
    app.upload_photo("cached").await;
    let gallery = "{ photos(first: 5) { nodes { id name url } } }";
    let read = get(&app, None, &[("query", gallery.to_string())]).await;
    assert_eq!(read.status, 200, "{}", read.body);
    let cache_control = read.header("cache-control");
    let max_age: i64 = cache_control.strip_prefix("public, max-age=").expect("public").parse().unwrap();
    assert!((1..=10).contains(&max_age), "{cache_control}");
    assert!(read.header("vary").to_ascii_lowercase().contains("accept"), "the type depends on Accept");
    let head = app.client.head(format!("{}/graphql", app.address)).query(&[("query", gallery)]).send().await.unwrap();
    assert_eq!(head.status(), 200, "HEAD is GET without the body");
    assert!(head.headers()["cache-control"].to_str().unwrap().starts_with("public"));
    // No cached answer may outlive the links in it.
    let link = url_query(read.body["data"]["photos"]["nodes"][0]["url"].as_str().unwrap());
    let signed = chrono::NaiveDateTime::parse_from_str(&link["X-Amz-Date"], "%Y%m%dT%H%M%SZ").unwrap().and_utc();
    let expires = signed + chrono::Duration::seconds(link["X-Amz-Expires"].parse().unwrap());
    assert!(expires > chrono::Utc::now() + chrono::Duration::seconds(max_age), "the link outlives the answer");

    let uncacheable = [
        ("a share link's opens", get(&app, None, &[("query", "{ shareLink(token: \"x\") { opens } }".into())]).await),
        ("an answer with errors", get(&app, None, &[("query", "{ photo(id: \"bad\") { name } }".into())]).await),
        ("a POST", post_json(&app, None, json!({ "query": gallery })).await),
        (
            "a mutation refused over GET",
            get(&app, None, &[("query", "mutation { revokeShareLink(token: \"x\") }".into())]).await,
        ),
    ];
    for (what, answer) in uncacheable {
        assert_eq!(answer.header("cache-control"), "no-store", "{what}");
    }
}

fn url_query(url: &str) -> std::collections::HashMap<String, String> {
    let query = url.split_once('?').expect("a presigned URL").1;
    query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .map(|(key, value)| (key.to_string(), value.to_string()))
        .collect()
}

async fn persisted_queries_work_over_get_and_post(app: TestApp) {
    app.upload_photo("persisted").await;
    let query = "query Gallery($first: Int!) { photos(first: $first) { nodes { name } } }";
    let hash = hex::encode(sha2::Sha256::digest(query));
    let extensions = json!({ "persistedQuery": { "version": 1, "sha256Hash": hash } });
    let variables = json!({ "first": 5 });
    let by_hash =
        |extensions: &Value| vec![("extensions", extensions.to_string()), ("variables", variables.to_string())];

    // Unknown at first, over GET and POST; under the graphql-response type it is a 4xx (no data).
    let unknown = get(&app, Some("application/json"), &by_hash(&extensions)).await;
    assert_eq!(unknown.status, 200);
    assert_eq!(unknown.code(), "PERSISTED_QUERY_NOT_FOUND");
    assert_eq!(unknown.body["errors"][0]["message"], "PersistedQueryNotFound", "the message clients look for");
    let unknown =
        post_json(&app, Some(GRAPHQL_RESPONSE), json!({ "extensions": extensions, "variables": variables })).await;
    assert_eq!((unknown.status, unknown.code()), (400, "PERSISTED_QUERY_NOT_FOUND"));
    assert_eq!(unknown.header("cache-control"), "no-store", "a miss must not be cached by a CDN");

    // A hash that is not the query's is refused, and registers nothing.
    let wrong = json!({ "persistedQuery": { "version": 1, "sha256Hash": "0".repeat(64) } });
    let mismatch = post_json(&app, None, json!({ "query": query, "variables": variables, "extensions": wrong })).await;
    assert_eq!(mismatch.code(), "BAD_USER_INPUT");
    assert!(mismatch.body["errors"][0]["message"].as_str().unwrap().contains("sha256Hash"));
    assert_eq!(get(&app, None, &by_hash(&wrong)).await.code(), "PERSISTED_QUERY_NOT_FOUND");
    let version = json!({ "persistedQuery": { "version": 2, "sha256Hash": hash } });
    assert_eq!(get(&app, None, &by_hash(&version)).await.code(), "BAD_USER_INPUT", "only version 1");

    // Sent once with its query (POST), it then runs by hash alone, over GET too, cacheably.
    let registered =
        post_json(&app, None, json!({ "query": query, "variables": variables, "extensions": extensions })).await;
    assert_eq!(registered.body["data"]["photos"]["nodes"][0]["name"], "persisted", "{}", registered.body);
    let by_get = get(&app, Some(GRAPHQL_RESPONSE), &by_hash(&extensions)).await;
    assert_eq!(by_get.status, 200, "{}", by_get.body);
    assert_eq!(by_get.body["data"]["photos"]["nodes"][0]["name"], "persisted");
    assert!(by_get.header("cache-control").starts_with("public, max-age="));
    let by_post = post_json(&app, None, json!({ "extensions": extensions, "variables": variables })).await;
    assert_eq!(by_post.body["data"]["photos"]["nodes"][0]["name"], "persisted");

    // A persisted mutation still needs POST.
    let mutation = "mutation { revokeShareLink(token: \"x\") }";
    let mutation_hash =
        json!({ "persistedQuery": { "version": 1, "sha256Hash": hex::encode(sha2::Sha256::digest(mutation)) } });
    post_json(&app, None, json!({ "query": mutation, "extensions": mutation_hash })).await;
    let over_get = get(&app, None, &[("extensions", mutation_hash.to_string())]).await;
    assert_eq!((over_get.status, over_get.header("allow").as_str()), (405, "POST"));
}

/// An `Authorization` that is not an owner key refuses every operation, queries included (before, only the
/// operations that need a key noticed it): a client with a broken key finds out at once.
async fn a_malformed_key_refuses_every_operation(app: TestApp) {
    let photo = app.upload_photo("keyed").await;
    let query = json!({ "query": "query($id: ID!) { photo(id: $id) { name } }", "variables": { "id": photo["id"] } });
    let send = |authorization: Option<&'static str>, accept: Option<&'static str>| {
        let mut request = app.client.post(format!("{}/graphql", app.address)).json(&query);
        if let Some(authorization) = authorization {
            request = request.header("authorization", authorization);
        }
        if let Some(accept) = accept {
            request = request.header("accept", accept);
        }
        async move { Answer::from(request.send().await.unwrap()).await }
    };
    for malformed in ["Bearer short", "Basic dXNlcjpwYXNz", "Bearer"] {
        let answer = send(Some(malformed), Some(GRAPHQL_RESPONSE)).await;
        assert_eq!(answer.status, 401, "{malformed}: {}", answer.body);
        assert_eq!(answer.header("www-authenticate"), "Bearer error=\"invalid_token\"", "{malformed}");
        assert_eq!(answer.code(), "UNAUTHENTICATED", "{malformed}");
        let message = answer.body["errors"][0]["message"].as_str().unwrap();
        assert!(message.contains("Bearer <key>"), "says what to send: {message}");
        assert!(answer.body.get("data").is_none(), "{malformed}: refused before it ran");

        let answer = send(Some(malformed), None).await;
        assert_eq!((answer.status, answer.code()), (200, "UNAUTHENTICATED"), "{malformed} under application/json");
    }
    let key = "Bearer a-well-formed-owner-key-0123456789";
    for authorization in [None, Some(key)] {
        let answer = send(authorization, Some(GRAPHQL_RESPONSE)).await;
        assert_eq!(answer.status, 200, "{authorization:?}: {}", answer.body);
        assert_eq!(answer.body["data"]["photo"]["name"], "keyed", "{authorization:?}");
        assert_eq!(answer.header("www-authenticate"), "");
    }

    // Over the WebSocket, a malformed key in connection_init refuses each operation the same way.
    let init = json!({ "authorization": "Bearer short" });
    let mut socket =
        crate::ws::Subscription::start_with(&app.address, init, "subscription { photoAdded { id } }", json!({})).await;
    let refused = socket.raw(std::time::Duration::from_secs(5)).await.expect("an answer");
    assert!(refused.to_string().contains("UNAUTHENTICATED"), "{refused}");
}
