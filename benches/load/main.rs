//! Load benchmark (issue 6): throughput and p50/p99 latency of the main operations at 1, 16 and 64
//! connections next to the `{ __typename }` floor, backend calls and items read per operation, memory
//! (idle, 10,000 photos, 1,000 subscriptions), comment fan-out delay, and the upload path; on the embedded
//! store and, when `tests/run.sh` started the stand-ins, on DynamoDB (moto) + S3 (SeaweedFS).
//!
//! Run (release build): `./tests/run.sh --exec cargo bench --bench load` (embedded only:
//! `cargo bench --bench load`). After `--`: `--seconds S` measured per run (default 3, after 0.5 s of
//! warm-up), `--photos N` (default 10000), `--aws-photos N` (default 400), `--only embedded|aws`,
//! `--operation TEXT` (only the load runs of operations whose name contains TEXT, or one of its `|`-separated
//! parts: `--operation 'floor|gallery page'`), `--load-only` (no memory, fan-out or upload measurements),
//! `--uploads-only` (only the uploads, from createUpload to READY).
//!
//! On the stand-ins the load runs use one connection and a small table: moto answers one request at a time
//! and scans the whole table for every Query (about 2 s per query at 10,000 photos), so more connections
//! only queue in moto, and a large table measures moto's scan.
//!
//! The service runs in child processes (see `server`), so the memory and CPU time reported are its own; this
//! process is the load generator and shares the machine's cores with it.

/// The same allocator as the `photoshare` binary: the service runs as this binary's child process.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod dataset;
mod driver;
mod operations;
mod report;
mod server;
mod subscriptions;
mod uploads;

use std::time::Duration;

use anyhow::Context;
use photoshare::app::Backends;
use photoshare::catalog::Catalog;
use photoshare::config::Config;

use dataset::Dataset;
use report::Report;
use server::Server;

const CONNECTIONS: &[usize] = &[1, 16, 64];
/// moto serialises requests: more connections would only wait in its queue.
const STAND_IN_CONNECTIONS: &[usize] = &[1];
const WARMUP: Duration = Duration::from_millis(500);
const FAN_OUT_SUBSCRIBERS: usize = 100;
const FAN_OUT_COMMENTS: usize = 40;
const CROWD: usize = 1_000;
/// On the stand-ins: every `commentAdded(photoId)` subscription first reads its photo, and moto answers one
/// request at a time, so 1,000 subscribing at once time out in moto's queue.
const STAND_IN_CROWD: usize = 200;
const UPLOADS: usize = 20;

struct Options {
    window: Duration,
    photos: usize,
    aws_photos: usize,
    embedded: bool,
    aws: bool,
    /// Only the load runs of operations whose name contains this, or one of its `|`-separated parts.
    operation: Option<String>,
    /// No memory, fan-out or upload measurements.
    load_only: bool,
    /// The upload measurements alone (createUpload to READY).
    uploads_only: bool,
}

impl Options {
    fn parse(args: &[String]) -> anyhow::Result<Self> {
        let value = |name: &str| args.iter().position(|a| a == name).and_then(|i| args.get(i + 1));
        let seconds: f64 = value("--seconds").map_or(Ok(3.0), |s| s.parse()).context("--seconds")?;
        let photos: usize = value("--photos").map_or(Ok(10_000), |s| s.parse()).context("--photos")?;
        let aws_photos: usize = value("--aws-photos").map_or(Ok(400), |s| s.parse()).context("--aws-photos")?;
        anyhow::ensure!(
            photos.min(aws_photos) >= dataset::MIN_PHOTOS,
            "--photos and --aws-photos must be at least {}",
            dataset::MIN_PHOTOS
        );
        let only = value("--only").map(String::as_str);
        let stand_ins = std::env::var_os("PHOTOSHARE_TEST_DYNAMODB_ENDPOINT").is_some();
        if only == Some("aws") && !stand_ins {
            anyhow::bail!("--only aws needs the stand-ins: run through ./tests/run.sh --exec");
        }
        Ok(Self {
            window: Duration::from_secs_f64(seconds),
            photos,
            aws_photos,
            embedded: only != Some("aws"),
            aws: only != Some("embedded") && stand_ins,
            operation: value("--operation").cloned(),
            load_only: args.iter().any(|a| a == "--load-only"),
            uploads_only: args.iter().any(|a| a == "--uploads-only"),
        })
    }
}

/// A directory removed when dropped.
struct TempDir(std::path::PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if std::env::var_os(server::SERVE_ENV).is_some() {
        return server::serve(args).await;
    }
    let options = Options::parse(&args)?;
    let mut report = Report::start();
    if options.embedded {
        embedded(&options, &Dataset::generate(options.photos), &mut report).await?;
    }
    if options.aws {
        aws(&options, &Dataset::generate(options.aws_photos), &mut report).await?;
    } else {
        eprintln!("(DynamoDB + S3 skipped: run through ./tests/run.sh --exec to include the stand-ins)");
    }
    report.print();
    Ok(())
}

/// The service's flags: `flags` (name, value) and a free port, without the mutation rate limit nor the
/// WebSocket limit per address (the whole load, 1,000 subscribers included, comes from one address).
fn service_args(flags: &[(&str, &str)]) -> Vec<String> {
    let common =
        [("--listen", "127.0.0.1:0"), ("--mutations-per-minute", "0"), ("--ws-connections-per-address", "100000")];
    common.iter().chain(flags).flat_map(|(name, value)| [name.to_string(), value.to_string()]).collect()
}

/// Load the data set through the catalog directly (the table must be empty), then let go of the store.
async fn load(args: &[String], dataset: &Dataset) -> anyhow::Result<Duration> {
    let started = std::time::Instant::now();
    let config = Config::from_args(args)?;
    let backends = Backends::connect(&config, "http://127.0.0.1:1").await?;
    backends.ensure_created().await?;
    dataset.load(&Catalog::new(backends.table)).await?;
    Ok(started.elapsed())
}

async fn embedded(options: &Options, dataset: &Dataset, report: &mut Report) -> anyhow::Result<()> {
    const STORE: &str = "embedded";
    let dir = TempDir(std::env::temp_dir().join(format!("photoshare-load-{}", uuid::Uuid::new_v4().simple())));
    let data_dir = dir.0.to_str().context("temp dir")?;
    // First the cost of executing every request: without the response cache, which would answer the
    // repeated reads of a load run without executing them.
    let args = service_args(&[("--store", "embedded"), ("--data-dir", data_dir), ("--query-cache-millis", "0")]);

    let idle = Server::start(&args).await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    report.memory(STORE, "idle, empty store", idle.memory()?);
    idle.stop().await;

    let took = load(&args, dataset).await?;
    eprintln!("[load] {STORE}: {} photos and their comments loaded in {took:.1?}", dataset.photos.len());
    let mut server = Server::start(&args).await?;
    report.memory(STORE, &format!("started on {} photos", dataset.photos.len()), server.memory()?);
    common(STORE, options, &Scale { connections: CONNECTIONS, crowd: CROWD }, dataset, report, &mut server, &[])
        .await?;
    server.stop().await;
    if options.uploads_only {
        return Ok(());
    }

    // Then the reads again as the service runs by default, with the response cache.
    let mut server = Server::start(&service_args(&[("--store", "embedded"), ("--data-dir", data_dir)])).await?;
    operations(CACHED, options, CONNECTIONS, dataset, report, &mut server, Include::Cached).await?;
    uploads_and_end(STORE, options, report, &mut server).await?;
    server.stop().await;
    Ok(())
}

/// The store label of the runs with the response cache on.
const CACHED: &str = "embedded, response cache on";

async fn aws(options: &Options, dataset: &Dataset, report: &mut Report) -> anyhow::Result<()> {
    const STORE: &str = "moto + SeaweedFS";
    let unique = uuid::Uuid::new_v4().simple().to_string();
    let (table, bucket) = (format!("load-{unique}"), format!("load-{unique}"));
    let dynamodb = std::env::var("PHOTOSHARE_TEST_DYNAMODB_ENDPOINT")?;
    let s3 = std::env::var("PHOTOSHARE_TEST_S3_ENDPOINT")?;
    let args = service_args(&[
        ("--store", "aws"),
        ("--table", &table),
        ("--bucket", &bucket),
        ("--dynamodb-endpoint", &dynamodb),
        ("--s3-endpoint", &s3),
        ("--s3-path-style", "true"),
        // The stand-ins' own latency is what these runs show.
        ("--query-cache-millis", "0"),
    ]);
    let took = load(&args, dataset).await?;
    eprintln!("[load] {STORE}: {} photos and their comments loaded in {took:.1?}", dataset.photos.len());
    let mut server = Server::start(&args).await?;
    report.memory(STORE, &format!("started on {} photos", dataset.photos.len()), server.memory()?);
    let second = Server::start(&args).await?;
    common(
        STORE,
        options,
        &Scale { connections: STAND_IN_CONNECTIONS, crowd: STAND_IN_CROWD },
        dataset,
        report,
        &mut server,
        &[&second],
    )
    .await?;
    uploads_and_end(STORE, options, report, &mut server).await?;
    second.stop().await;
    server.stop().await;
    Ok(())
}

/// How hard a store is loaded: connections per load run, subscriptions in the crowd.
struct Scale {
    connections: &'static [usize],
    crowd: usize,
}

/// Everything measured the same way on both stores; `others` are more instances on the same store (their
/// subscribers get comments posted through `server` via the table's event feed).
async fn common(
    store: &str,
    options: &Options,
    scale: &Scale,
    dataset: &Dataset,
    report: &mut Report,
    server: &mut Server,
    others: &[&Server],
) -> anyhow::Result<()> {
    if options.uploads_only {
        let uploads = uploads::measure(server, UPLOADS).await?;
        report.uploads(store, &uploads);
        return Ok(());
    }
    if !options.load_only {
        // First, while the process has served nothing else: what the subscriptions themselves cost.
        let crowd = [(server.address.as_str(), scale.crowd)];
        let memory = format!("with {} subscriptions open", scale.crowd);
        fan_out(store, report, server, &dataset.crowd_photo().id.to_string(), &crowd, 5, Some(&memory)).await?;
    }

    operations(store, options, scale.connections, dataset, report, server, Include::All).await?;
    if options.load_only {
        return Ok(());
    }
    report.memory(store, "after the load runs", server.memory()?);

    let mut places = vec![(server.address.as_str(), FAN_OUT_SUBSCRIBERS / (others.len() + 1))];
    places.extend(others.iter().map(|other| (other.address.as_str(), FAN_OUT_SUBSCRIBERS / (others.len() + 1))));
    let photo = dataset.fan_out_photo().id.to_string();
    fan_out(store, report, server, &photo, &places, FAN_OUT_COMMENTS, None).await?;
    Ok(())
}

/// The uploads, measured last: their photos head the gallery from then on, and the runs of reads and mixed
/// workloads before them count on the data set's first page.
async fn uploads_and_end(
    store: &str,
    options: &Options,
    report: &mut Report,
    server: &mut Server,
) -> anyhow::Result<()> {
    if options.load_only || options.uploads_only {
        return Ok(());
    }
    let uploads = uploads::measure(server, UPLOADS).await?;
    report.uploads(store, &uploads);
    report.memory(store, "at the end (peak: the run's highest)", server.memory()?);
    Ok(())
}

/// Which operations a pass runs.
#[derive(PartialEq)]
enum Include {
    /// Reads and `addComment`, without the response cache.
    All,
    /// Reads and the mixed workloads, with the response cache.
    Cached,
}

/// Subscribe `places` (address, subscribers) to `photo`'s comments, post `comments` through `server` and report
/// each delivery's delay; `memory` labels the service's RSS taken while they all listen.
async fn fan_out(
    store: &str,
    report: &mut Report,
    server: &Server,
    photo: &str,
    places: &[(&str, usize)],
    comments: usize,
    memory: Option<&str>,
) -> anyhow::Result<()> {
    let poster = subscriptions::Poster::new(&server.address, photo);
    let mut crowd = subscriptions::Crowd::open(places, photo).await?;
    crowd.wait_until_listening(&poster).await?;
    if let Some(state) = memory {
        report.memory(store, state, server.memory()?);
    }
    let (delays, lost) = crowd.measure(&poster, comments).await?;
    crowd.close();
    report.fan_out(store, places, &delays, lost);
    Ok(())
}

async fn operations(
    store: &str,
    options: &Options,
    connections: &[usize],
    dataset: &Dataset,
    report: &mut Report,
    server: &mut Server,
    include: Include,
) -> anyhow::Result<()> {
    let url = format!("{}/graphql", server.address);
    let mut operations = operations::all(dataset, &uuid::Uuid::new_v4().simple().to_string());
    if let Some(only) = &options.operation {
        operations.retain(|operation| only.split('|').any(|text| operation.name.contains(text)));
    }
    operations.retain(|operation| match operation.kind {
        operations::Kind::Read => true,
        operations::Kind::Write => include == Include::All,
        operations::Kind::Mixed => include == Include::Cached,
    });
    let client = driver::client();
    for operation in &operations {
        let started = std::time::Instant::now();
        let response = driver::post(&client, &url, (operation.body)(1 << 40))
            .await
            .map_err(|e| anyhow::anyhow!("{}: {e}", operation.name))?;
        eprintln!("[check] {store}: {} answered in {:.1?}", operation.name, started.elapsed());
        let data = serde_json::from_slice::<serde_json::Value>(&response)?["data"].clone();
        (operation.check)(&data).map_err(|e| anyhow::anyhow!("{} returned the wrong data: {e}", operation.name))?;
    }
    for &connections in connections {
        for operation in &operations {
            let (counters, cpu, own_cpu) = (server.counters().await?, server.cpu()?, server::own_cpu()?);
            let outcome = driver::run(&url, operation.body.clone(), connections, WARMUP, options.window).await;
            let counters = server.counters().await? - counters;
            let cpu = report::Cpu { service: server.cpu()? - cpu, load_generator: server::own_cpu()? - own_cpu };
            report.run(store, &operation.name, connections, &outcome, counters, cpu);
        }
    }
    Ok(())
}
