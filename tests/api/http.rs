//! The HTTP surface besides GraphQL: health, GraphiQL and the playground app, both served offline.

use crate::both_modes;
use crate::helpers::TestApp;
use crate::process::Instance;

both_modes!(
    health_and_graphiql_are_served,
    the_playground_is_served_at_the_root,
    the_playground_limits_lengths_as_the_api_does,
    metrics_count_requests_and_backend_calls,
    every_response_carries_a_request_id
);

async fn health_and_graphiql_are_served(app: TestApp) {
    let get = |path: &str| app.client.get(format!("{}{path}", app.address)).send();
    let health = get("/healthz").await.unwrap();
    assert_eq!(health.status(), 200);

    let graphiql = get("/graphiql").await.unwrap();
    assert_eq!(graphiql.status(), 200);
    let policy = graphiql.headers()["content-security-policy"].to_str().unwrap().to_owned();
    for rule in ["default-src 'none'", "script-src 'self'", "connect-src 'self'", "frame-ancestors 'none'"] {
        assert!(policy.contains(rule), "GraphiQL's CSP has {rule}: {policy}");
    }
    let page = graphiql.text().await.unwrap();
    assert!(page.contains("/graphiql/assets/graphiql.min.js"), "GraphiQL loads its own assets");
    assert!(!page.contains("<script>") && !page.contains("<style>"), "nothing inline for the CSP to allow");
    assert!(!page.contains("https://"), "no CDN: the page works offline");
    for asset in
        ["graphiql.min.js", "graphiql.min.css", "react.production.min.js", "react-dom.production.min.js", "start.js"]
    {
        let response = get(&format!("/graphiql/assets/{asset}")).await.unwrap();
        assert_eq!(response.status(), 200, "{asset}");
        assert!(response.bytes().await.unwrap().len() > 1000, "{asset} has content");
    }
    assert_eq!(get("/graphiql/assets/missing.js").await.unwrap().status(), 404);
}

async fn the_playground_is_served_at_the_root(app: TestApp) {
    let get = |path: &str| app.client.get(format!("{}{path}", app.address)).send();

    let root = get("/").await.unwrap();
    assert_eq!(root.status(), 200);
    assert_eq!(root.headers()["content-type"], "text/html; charset=utf-8");
    let policy = root.headers()["content-security-policy"].to_str().unwrap().to_owned();
    assert!(policy.contains("script-src 'self'"), "scripts only from this server: {policy}");
    let page = root.text().await.unwrap();
    assert!(page.contains(r#"src="/app/app.js""#), "the page loads the app");
    assert!(page.contains(r#"href="/graphiql""#), "the page links to GraphiQL");
    assert!(!page.contains("https://"), "no CDN: the page works offline");

    // Every file of playground/app/ is served, byte for byte, with its type (so every module import resolves).
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("playground/app");
    let mut served = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_owned();
        let content_type = match path.extension().and_then(|e| e.to_str()) {
            Some("js") => "text/javascript; charset=utf-8",
            Some("css") => "text/css; charset=utf-8",
            _ => continue, // index.html is the page at `/`; README.md is for people
        };
        if name == "index.html" {
            continue;
        }
        let response = get(&format!("/app/{name}")).await.unwrap();
        assert_eq!(response.status(), 200, "/app/{name} is served (listed in src/http/playground.rs)");
        assert_eq!(response.headers()["content-type"], content_type, "{name}");
        assert_eq!(response.bytes().await.unwrap(), std::fs::read(&path).unwrap(), "{name} is the file in the tree");
        served += 1;
    }
    assert!(served >= 3, "the app has its script, modules and style");
    assert_eq!(get("/app/missing.js").await.unwrap().status(), 404);
}

async fn the_playground_limits_lengths_as_the_api_does(app: TestApp) {
    use photoshare::text::{CommentText, PhotoDescription, PhotoName};

    let limits = app.client.get(format!("{}/app/limits.js", app.address)).send().await.unwrap();
    assert_eq!(limits.status(), 200, "the forms' lengths are served");
    assert_eq!(limits.headers()["content-type"], "text/javascript; charset=utf-8");
    let limits = limits.text().await.unwrap();
    for (constant, chars) in [
        ("NAME_MAX_CHARS", PhotoName::MAX_CHARS),
        ("DESCRIPTION_MAX_CHARS", PhotoDescription::MAX_CHARS),
        ("COMMENT_MAX_CHARS", CommentText::MAX_CHARS),
    ] {
        assert!(limits.contains(&format!("export const {constant} = {chars};")), "{constant}: {limits}");
    }
    // The app's files take their lengths from there: none spells a number of its own.
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("playground/app");
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        for (at, _) in text.match_indices("maxlength") {
            let value = text[at..].trim_start_matches(|c: char| c.is_alphabetic() || "'\": =".contains(c));
            assert!(!value.starts_with(|c: char| c.is_ascii_digit()), "{}: a length of its own", path.display());
        }
    }
}

async fn metrics_count_requests_and_backend_calls(app: TestApp) {
    app.upload_photo("pier").await;
    app.data("{ photos(first: 5) { nodes { id } } }", serde_json::json!({})).await;
    app.graphql("{ photo(id: \"nope\") { id } }", serde_json::json!({})).await;
    let text = app.client.get(format!("{}/metrics", app.address)).send().await.unwrap().text().await.unwrap();
    for expected in [
        "photoshare_graphql_requests_total{operation=\"photos\",outcome=\"ok\"} 1\n",
        "photoshare_graphql_requests_total{operation=\"photo\",outcome=\"BAD_USER_INPUT\"} 1\n",
        "photoshare_graphql_requests_total{operation=\"completeUpload\",outcome=\"ok\"} 1\n",
        "photoshare_graphql_request_seconds_count{operation=\"photos\"} 1\n",
        "photoshare_subscriptions 0\n",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in\n{text}");
    }
    let queries = text.lines().find(|l| l.starts_with("photoshare_table_calls_total{operation=\"Query\"}")).unwrap();
    assert!(!queries.ends_with(" 0"), "{queries}");
}

async fn every_response_carries_a_request_id(app: TestApp) {
    let url = format!("{}/graphql", app.address);
    let body = serde_json::json!({ "query": "{ __typename }" });
    let given = app.client.post(&url).header("x-request-id", "client-42").json(&body).send().await.unwrap();
    assert_eq!(given.headers()["x-request-id"], "client-42");
    let made = app.client.post(&url).json(&body).send().await.unwrap();
    assert!(uuid::Uuid::try_parse(made.headers()["x-request-id"].to_str().unwrap()).is_ok());
    let unsafe_id = app.client.post(&url).header("x-request-id", "a b\tc").json(&body).send().await.unwrap();
    assert_ne!(unsafe_id.headers()["x-request-id"], "a b\tc", "ids that are not plain tokens are replaced");
}

/// A client's fault is a warning in the logs, not an error: operators page on errors. Run as a process with
/// JSON logs, sent what clients get wrong: a malformed upload form and an unsigned request to the embedded
/// object store, and a bad GraphQL request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_faults_are_logged_as_warnings() {
    use tokio::io::AsyncReadExt;
    let dir = crate::helpers::TempDir(std::env::temp_dir().join(format!("photoshare-logs-{}", uuid::Uuid::new_v4())));
    let data_dir = dir.0.display().to_string();
    let args = ["--data-dir", &data_dir, "--log-format", "json", "--drain-seconds", "0"];
    let mut instance = Instance::with_args(args.map(String::from).to_vec(), true).await;
    let address = instance.address();
    let client = reqwest::Client::new();
    let malformed = client
        .post(format!("{address}/photoshare"))
        .header("content-type", "multipart/form-data; boundary=x")
        .body("not a form")
        .send()
        .await
        .unwrap();
    assert_eq!(malformed.status(), 400);
    let unsigned = client.get(format!("{address}/photoshare/photos/x.jpg")).send().await.unwrap();
    assert_eq!(unsigned.status(), 403);
    let bad = client.post(format!("{address}/graphql")).header("content-type", "application/json").body("{");
    let bad = bad.send().await.unwrap();
    assert_eq!(bad.status(), 400);
    instance.terminate();
    instance.exited(std::time::Duration::from_secs(10)).await.expect("stops on SIGTERM");
    let mut logs = String::new();
    instance.logs().read_to_string(&mut logs).await.unwrap();
    let lines: Vec<serde_json::Value> = logs.lines().filter_map(|line| serde_json::from_str(line).ok()).collect();
    let errors: Vec<_> = lines.iter().filter(|line| line["level"] == "ERROR").collect();
    assert!(errors.is_empty(), "client faults logged as errors: {errors:?}");
    let refusals = lines.iter().filter(|line| {
        line["level"] == "WARN" && line["fields"]["message"] == "embedded object store refused a request"
    });
    assert_eq!(refusals.count(), 2, "each refusal is a warning: {logs}");
}
