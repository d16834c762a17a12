//! The service under test, as a child process: this benchmark binary re-run with `PHOTOSHARE_BENCH_SERVE=1`,
//! which builds and serves the `Application` exactly as `photoshare serve` does (src/main.rs), so its memory
//! and CPU time are its own. On stdin it answers `stats` with its table and storage counters; when stdin
//! closes it exits.

use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, bail};
use photoshare::app::Application;
use photoshare::config::{Config, LogFormat};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

/// Set in the child's environment: serve instead of benchmarking.
pub const SERVE_ENV: &str = "PHOTOSHARE_BENCH_SERVE";

/// The child's side: serve with `args` (the service's own flags), answer `stats` until stdin closes.
pub async fn serve(args: Vec<String>) -> anyhow::Result<()> {
    let config = Config::from_args(&args)?;
    let _telemetry = photoshare::telemetry::init(LogFormat::Text, config.observability.otlp_endpoint.as_deref())?;
    let app = Application::build(config).await?;
    let state = app.state().clone();
    println!("ready {}", app.local_addr());
    tokio::spawn(app.run_until_stopped(std::future::pending()));
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    while let Some(line) = lines.next_line().await? {
        if line.trim() == "stats" {
            let (table, blobs) = (state.services.catalog.table().stats(), state.services.blobs.stats());
            println!("{} {} {} {}", table.calls(), table.items_read(), blobs.calls(), blobs.bytes_read());
        }
    }
    Ok(())
}

/// Work the service did so far, by its own counters.
#[derive(Debug, Clone, Copy, Default)]
pub struct Counters {
    pub table_calls: u64,
    pub items_read: u64,
    pub blob_calls: u64,
    pub blob_bytes_read: u64,
}

impl std::ops::Sub for Counters {
    type Output = Counters;
    fn sub(self, earlier: Counters) -> Counters {
        Counters {
            table_calls: self.table_calls - earlier.table_calls,
            items_read: self.items_read - earlier.items_read,
            blob_calls: self.blob_calls - earlier.blob_calls,
            blob_bytes_read: self.blob_bytes_read - earlier.blob_bytes_read,
        }
    }
}

/// A running service process; killed when dropped.
pub struct Server {
    /// `http://127.0.0.1:<port>`.
    pub address: String,
    pid: u32,
    stdin: ChildStdin,
    stdout: Lines<BufReader<ChildStdout>>,
    _child: Child,
}

impl Server {
    /// Start a service with these flags (`--listen 127.0.0.1:0` picks a free port) and wait until it serves.
    pub async fn start(args: &[String]) -> anyhow::Result<Self> {
        let mut child = Command::new(std::env::current_exe()?)
            .args(args)
            .env(SERVE_ENV, "1")
            .env("RUST_LOG", std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into()))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .context("starting the service process")?;
        let pid = child.id().context("service pid")?;
        let stdin = child.stdin.take().context("service stdin")?;
        let mut stdout = BufReader::new(child.stdout.take().context("service stdout")?).lines();
        let line = tokio::time::timeout(Duration::from_secs(60), stdout.next_line())
            .await
            .context("the service did not start within 60 s")??
            .context("the service exited during start-up")?;
        let Some(address) = line.strip_prefix("ready ") else { bail!("unexpected start-up line {line:?}") };
        let server = Self { address: format!("http://{address}"), pid, stdin, stdout, _child: child };
        let health = reqwest::get(format!("{}/healthz", server.address)).await?;
        anyhow::ensure!(health.status().is_success(), "health check: {}", health.status());
        Ok(server)
    }

    pub async fn counters(&mut self) -> anyhow::Result<Counters> {
        self.stdin.write_all(b"stats\n").await?;
        self.stdin.flush().await?;
        let line = self.stdout.next_line().await?.context("the service exited")?;
        let numbers: Vec<u64> = line.split(' ').map(str::parse).collect::<Result<_, _>>()?;
        let [table_calls, items_read, blob_calls, blob_bytes_read] = numbers[..] else { bail!("bad stats {line:?}") };
        Ok(Counters { table_calls, items_read, blob_calls, blob_bytes_read })
    }

    /// Resident memory now and at its peak, in bytes.
    pub fn memory(&self) -> anyhow::Result<Memory> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid))?;
        let field = |name: &str| -> anyhow::Result<u64> {
            let line = status.lines().find(|l| l.starts_with(name)).with_context(|| format!("no {name}"))?;
            let kib: u64 = line.split_whitespace().nth(1).context("value")?.parse()?;
            Ok(kib * 1024)
        };
        let threads = status.lines().find_map(|l| l.strip_prefix("Threads:")).context("no Threads")?;
        Ok(Memory { rss: field("VmRSS:")?, peak: field("VmHWM:")?, threads: threads.trim().parse()? })
    }

    /// CPU time (user + system) the service used so far.
    pub fn cpu(&self) -> anyhow::Result<Duration> {
        process_cpu(&format!("/proc/{}/stat", self.pid))
    }

    /// Close stdin (the service exits) and wait for it briefly; it is killed on drop anyway.
    pub async fn stop(self) {
        let Self { stdin, mut _child, .. } = self;
        drop(stdin);
        let _ = tokio::time::timeout(Duration::from_secs(5), _child.wait()).await;
    }
}

#[derive(Debug, Clone, Copy)]
pub struct Memory {
    pub rss: u64,
    pub peak: u64,
    /// Threads of the process: the runtime's workers and its blocking pool (embedded table calls).
    pub threads: u64,
}

/// User + system CPU time of a process from its `/proc/<pid>/stat` (clock ticks of 1/100 s on Linux).
pub fn process_cpu(stat_path: &str) -> anyhow::Result<Duration> {
    let stat = std::fs::read_to_string(stat_path)?;
    // Fields after the command name (which may hold spaces) start at state, field 3; utime and stime are 14, 15.
    let after_name = stat.rsplit_once(')').context("stat format")?.1;
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks: u64 = fields[11].parse::<u64>()? + fields[12].parse::<u64>()?;
    Ok(Duration::from_millis(ticks * 10))
}

/// CPU time this process (the load generator) used so far.
pub fn own_cpu() -> anyhow::Result<Duration> {
    process_cpu("/proc/self/stat")
}
