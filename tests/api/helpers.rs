//! `TestApp`: a photoshare server on a random loopback port with a fresh store, and typed helpers to call it.

use std::time::Duration;

use photoshare::app::{Application, Backends};
use photoshare::config::Config;
use serde_json::{Value, json};

pub const JPEG: &[u8] = include_bytes!("../fixtures/pier.jpg");
pub const PNG: &[u8] = include_bytes!("../fixtures/small.png");

/// Run each listed `async fn name(app: TestApp)` as two tests: `embedded::name` and `aws::name`; with
/// `flags = &[...];` first, the apps get those command-line flags; with `mode;` first, each `async fn name(mode:
/// Mode)` is given the mode alone.
#[macro_export]
macro_rules! both_modes {
    (flags = $flags:expr; $($name:ident),* $(,)?) => {
        mod embedded {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::helpers::TestApp::spawn($crate::helpers::Mode::Embedded, $flags).await).await
                }
            )*
        }
        mod aws {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::helpers::TestApp::spawn($crate::helpers::Mode::Aws, $flags).await).await
                }
            )*
        }
    };
    // Tests that start their servers themselves (with flags known only at run time) take the mode alone.
    (mode; $($name:ident),* $(,)?) => {
        mod embedded {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::helpers::Mode::Embedded).await
                }
            )*
        }
        mod aws {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::helpers::Mode::Aws).await
                }
            )*
        }
    };
    ($($name:ident),* $(,)?) => {
        $crate::both_modes!(flags = &[]; $($name),*);
    };
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Embedded,
    Aws,
}

pub struct TestApp {
    pub mode: Mode,
    pub address: String,
    /// `/metrics`' own base URL, with `--metrics-listen`; otherwise `/metrics` is at `address`.
    pub metrics_address: Option<String>,
    pub client: reqwest::Client,
    pub state: std::sync::Arc<photoshare::state::AppState>,
    /// AWS mode: the fresh table and bucket of this app.
    pub table: String,
    pub bucket: String,
    /// Sends the shutdown signal (`stop`).
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    /// The server's task: it ends when the server has stopped.
    server: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
    /// Sent as `Authorization: Bearer <key>` with every GraphQL request (`with_key`); never to storage.
    owner_key: Option<String>,
    /// Removed when the test ends.
    _data_dir: Option<TempDir>,
}

/// A directory removed on drop.
pub struct TempDir(pub std::path::PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn stand_in(variable: &str) -> String {
    std::env::var(variable).unwrap_or_else(|_| {
        panic!("{variable} is not set: run the suite with ./tests/run.sh, which starts the DynamoDB and S3 stand-ins")
    })
}

fn quiet_logs() {
    if std::env::var_os("TEST_LOG").is_some() {
        let _ = photoshare::telemetry::init(photoshare::config::LogFormat::Text, None);
    }
}

impl TestApp {
    /// A server in `mode` with a fresh table and bucket; `extra` are more command-line flags.
    pub async fn spawn(mode: Mode, extra: &[&str]) -> Self {
        quiet_logs();
        let unique = uuid::Uuid::new_v4().simple().to_string();
        let (table, bucket) = (format!("photoshare-{unique}"), format!("ps-{unique}"));
        let mut args: Vec<String> = vec!["--listen".into(), "127.0.0.1:0".into()];
        if !extra.contains(&"--mutations-per-minute") {
            // Tests hammer from one address: the rate limit has a test of its own.
            args.extend(["--mutations-per-minute".into(), "0".into()]);
        }
        if !extra.contains(&"--processing-scan-seconds") {
            // Jobs queued here are taken at once; the periodic scan (for other instances' jobs) would add
            // table calls at random moments to tests that count them.
            args.extend(["--processing-scan-seconds".into(), "3600".into()]);
        }
        let data_dir = match mode {
            Mode::Embedded => {
                let dir = std::env::temp_dir().join(format!("photoshare-test-{unique}"));
                args.extend(["--store".into(), "embedded".into(), "--data-dir".into(), dir.display().to_string()]);
                // Unused by the embedded table, but it names the events engine's channels: each app its own.
                args.extend(["--table".into(), table.clone()]);
                Some(TempDir(dir))
            }
            Mode::Aws => {
                args.extend([
                    "--store".into(),
                    "aws".into(),
                    "--table".into(),
                    table.clone(),
                    "--bucket".into(),
                    bucket.clone(),
                ]);
                if !extra.contains(&"--dynamodb-endpoint") {
                    args.extend(["--dynamodb-endpoint".into(), stand_in("PHOTOSHARE_TEST_DYNAMODB_ENDPOINT")]);
                }
                args.extend([
                    "--s3-endpoint".into(),
                    stand_in("PHOTOSHARE_TEST_S3_ENDPOINT"),
                    "--s3-path-style".into(),
                    "true".into(),
                ]);
                None
            }
        };
        args.extend(extra.iter().map(|s| s.to_string()));
        let config = Config::from_args(&args).expect("test configuration parses");
        if mode == Mode::Aws {
            let backends = Backends::connect(&config, "http://unused").await.expect("stand-ins reachable");
            backends.ensure_created().await.expect("table and bucket created");
        }
        let app = Application::build(config).await.expect("application builds");
        let address = format!("http://{}", app.local_addr());
        let metrics_address = app.metrics_addr().map(|metrics| format!("http://{metrics}"));
        let state = app.state().clone();
        let (shutdown, signalled) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(app.run_until_stopped(async {
            // Dropping the sender (the test ended) is not a signal.
            if signalled.await.is_err() {
                std::future::pending::<()>().await;
            }
        }));
        // The processing worker's first look at the queue and the sweeper's at deleted photos and abandoned
        // uploads, made at start, are over before a test counts calls.
        let worker = &state.services.processing.counts.scans;
        let sweeper = &state.services.deletion.looks;
        for _ in 0..400 {
            let looked = |count: &std::sync::atomic::AtomicU64| count.load(std::sync::atomic::Ordering::Relaxed) > 0;
            if looked(worker) && looked(sweeper) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(30))
            .build()
            .expect("http client");
        Self {
            mode,
            address,
            metrics_address,
            client,
            state,
            table,
            bucket,
            shutdown: Some(shutdown),
            server: Some(server),
            owner_key: None,
            _data_dir: data_dir,
        }
    }

    /// Signal the server to shut down, as SIGTERM would; its task ends when it has stopped.
    pub fn stop(&mut self) -> tokio::task::JoinHandle<std::io::Result<()>> {
        let _ = self.shutdown.take().expect("stopped once, on a spawned app").send(());
        self.server.take().expect("a spawned app's server")
    }

    /// The same helpers, talking to another server (an instance sharing this app's store).
    pub fn at(&self, address: &str) -> Self {
        Self {
            mode: self.mode,
            address: address.to_string(),
            metrics_address: None,
            client: self.client.clone(),
            state: self.state.clone(),
            table: self.table.clone(),
            bucket: self.bucket.clone(),
            shutdown: None,
            server: None,
            owner_key: None,
            _data_dir: None,
        }
    }

    /// Embedded mode: the data directory (the table's file, the object store's folder).
    pub fn data_dir(&self) -> Option<&std::path::Path> {
        self._data_dir.as_ref().map(|dir| dir.0.as_path())
    }

    /// The same helpers as a caller with owner key `key` (`None`: without one).
    pub fn with_key(&self, key: Option<&str>) -> Self {
        Self { owner_key: key.map(str::to_string), ..self.at(&self.address) }
    }

    /// POST a GraphQL request; the whole response body.
    pub async fn graphql(&self, query: &str, variables: Value) -> Value {
        let mut request = self.client.post(format!("{}/graphql", self.address));
        if let Some(key) = &self.owner_key {
            request = request.header("authorization", format!("Bearer {key}"));
        }
        let response =
            request.json(&json!({ "query": query, "variables": variables })).send().await.expect("graphql request");
        assert!(response.status().is_success(), "graphql status {}", response.status());
        response.json().await.expect("graphql json")
    }

    /// The `data` of a request that must succeed.
    pub async fn data(&self, query: &str, variables: Value) -> Value {
        let body = self.graphql(query, variables).await;
        assert!(body.get("errors").is_none(), "unexpected errors: {body}");
        body["data"].clone()
    }

    /// The `extensions.code` of a request that must fail.
    pub async fn error_code(&self, query: &str, variables: Value) -> String {
        let body = self.graphql(query, variables).await;
        let code = body["errors"][0]["extensions"]["code"].as_str();
        code.unwrap_or_else(|| panic!("expected a coded error, got {body}")).to_string()
    }

    /// Walk the connection at `path` (e.g. `&["photo", "comments"]`) page by page: `query` takes `$after`,
    /// which each page sets from the last one's `endCursor`, until one says `hasNextPage: false`.
    pub fn walk<'a>(&'a self, query: &'a str, variables: Value, path: &'a [&'a str]) -> Walk<'a> {
        Walk { app: self, query, variables, path, done: false, pages: 0 }
    }

    pub async fn create_upload(&self, file_name: &str, content_type: &str, name: Option<&str>) -> Value {
        let query = "mutation($input: CreateUploadInput!) { createUpload(input: $input) {
            uploadId url fields { name value } expiresAt maxBytes } }";
        let input = json!({ "fileName": file_name, "contentType": content_type, "name": name, "description": null });
        self.data(query, json!({ "input": input })).await["createUpload"].clone()
    }

    /// POST `bytes` as a browser form would: the ticket's fields in order (after `overrides` replace some
    /// values), then the file.
    pub async fn post_file(
        &self,
        ticket: &Value,
        bytes: &[u8],
        file_content_type: &str,
        overrides: &[(&str, &str)],
    ) -> reqwest::Response {
        let mut form = reqwest::multipart::Form::new();
        for field in ticket["fields"].as_array().expect("fields") {
            let name = field["name"].as_str().expect("field name").to_string();
            let value = overrides
                .iter()
                .find(|(n, _)| *n == name)
                .map_or_else(|| field["value"].as_str().expect("field value").to_string(), |(_, v)| v.to_string());
            form = form.text(name, value);
        }
        let part = reqwest::multipart::Part::bytes(bytes.to_vec())
            .file_name("photo")
            .mime_str(file_content_type)
            .expect("mime");
        form = form.part("file", part);
        let url = ticket["url"].as_str().expect("ticket url");
        self.client.post(url).multipart(form).send().await.expect("upload POST")
    }

    pub async fn complete_upload(&self, upload_id: &str) -> Value {
        self.graphql(&format!("mutation {{ completeUpload(uploadId: {upload_id:?}) {{ {PHOTO_FIELDS} }} }}"), json!({}))
            .await
    }

    /// The whole upload flow for a JPEG named `name`, until its renditions are made; the READY photo.
    pub async fn upload_photo(&self, name: &str) -> Value {
        let photo = self.upload_bytes(name, "image/jpeg", JPEG).await;
        self.ready(&photo["id"]).await
    }

    /// Upload `bytes` as `content_type` and complete it; the photo as `completeUpload` answered (PROCESSING).
    pub async fn upload_bytes(&self, name: &str, content_type: &str, bytes: &[u8]) -> Value {
        let ticket = self.create_upload("photo", content_type, Some(name)).await;
        let posted = self.post_file(&ticket, bytes, content_type, &[]).await;
        assert!(
            posted.status().is_success(),
            "upload refused: {} {}",
            posted.status(),
            posted.text().await.unwrap_or_default()
        );
        let body = self.complete_upload(ticket["uploadId"].as_str().expect("uploadId")).await;
        assert!(body.get("errors").is_none(), "completeUpload failed: {body}");
        body["data"]["completeUpload"].clone()
    }

    /// Wait until the photo's processing has ended; the photo then (READY, or FAILED: the caller checks).
    pub async fn ready(&self, id: &Value) -> Value {
        let query = format!("query($id: ID!) {{ photo(id: $id) {{ {PHOTO_FIELDS} status processingError }} }}");
        for _ in 0..400 {
            let photo = self.data(&query, json!({ "id": id })).await["photo"].clone();
            if photo["status"] != "PROCESSING" {
                return photo;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("photo {id} still PROCESSING after 10 s");
    }

    /// Add a comment that must succeed; the comment.
    pub async fn add_comment(&self, photo_id: &Value, body: &str) -> Value {
        let query = "mutation($input: AddCommentInput!) { addComment(input: $input) { id photoId body createdAt authorIp cursor } }";
        self.data(query, json!({ "input": { "photoId": photo_id, "body": body } })).await["addComment"].clone()
    }

    /// The value of a metric line of `/metrics` (its name and labels, as printed); 0 if absent.
    pub async fn metric(&self, series: &str) -> u64 {
        let url = format!("{}/metrics", self.metrics_address.as_ref().unwrap_or(&self.address));
        let text = self.client.get(url).send().await.expect("metrics").text().await.expect("metrics text");
        let value = text.lines().find_map(|line| line.strip_prefix(series)?.strip_prefix(' '));
        value.map_or(0, |n| n.parse().expect("a counter"))
    }

    /// Table calls so far.
    pub fn table_calls(&self) -> u64 {
        self.state.services.catalog.table().stats().calls()
    }

    /// Table calls that write (whether or not their conditions held) so far.
    pub fn table_writes(&self) -> u64 {
        self.state.services.catalog.table().stats().writes()
    }
}

/// Pages of a connection, one request each: see [`TestApp::walk`].
pub struct Walk<'a> {
    app: &'a TestApp,
    query: &'a str,
    variables: Value,
    path: &'a [&'a str],
    done: bool,
    pages: usize,
}

/// One page of a walk: the whole `data` of its answer and the connection in it.
pub struct Page {
    pub data: Value,
    pub connection: Value,
}

impl Page {
    /// The connection's `nodes`, or its edges' `node`s when it asked for edges.
    pub fn nodes(&self) -> Vec<Value> {
        match self.connection["nodes"].as_array() {
            Some(nodes) => nodes.clone(),
            None => {
                self.connection["edges"].as_array().expect("nodes or edges").iter().map(|e| e["node"].clone()).collect()
            }
        }
    }
}

impl Walk<'_> {
    /// The next page, or `None` after the last.
    pub async fn next(&mut self) -> Option<Page> {
        if self.done {
            return None;
        }
        self.pages += 1;
        assert!(self.pages <= 1_000, "the pages never end (is `after` ignored?)");
        let data = self.app.data(self.query, self.variables.clone()).await;
        let connection = self.path.iter().fold(&data, |value, key| &value[*key]).clone();
        let info = &connection["pageInfo"];
        let more = info["hasNextPage"].as_bool().unwrap_or_else(|| panic!("no pageInfo.hasNextPage: {data}"));
        self.done = !more;
        self.variables["after"] = info["endCursor"].clone();
        Some(Page { data, connection })
    }

    /// Every page, in order.
    pub async fn pages(mut self) -> Vec<Page> {
        let mut pages = Vec::new();
        while let Some(page) = self.next().await {
            pages.push(page);
        }
        pages
    }
}

pub const PHOTO_FIELDS: &str =
    "id name description contentType sizeBytes width height uploadedAt uploaderIp url commentCount";
