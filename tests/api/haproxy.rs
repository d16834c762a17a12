//! Real processes for the load-balancer tests: `photoshare` instances sharing the stand-ins (AWS mode), and
//! HAProxy (the Debian package, which `tests/run.sh` installs) in front of them, all on loopback.

use std::net::IpAddr;
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::time::{Duration, Instant};

use tokio::process::{Child, Command};

use crate::helpers::{TempDir, TestApp};

pub async fn free_port() -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    listener.local_addr().unwrap().port()
}

fn logs() -> Stdio {
    if std::env::var_os("TEST_LOG").is_some() { Stdio::inherit() } else { Stdio::null() }
}

/// An HTTP client whose connections come from `source` (any 127.0.0.0/8 address works on Linux loopback), so
/// the tests can tell the client's address from the proxy's (127.0.0.1).
pub fn client_from(source: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(source.parse::<IpAddr>().unwrap())
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

/// A `photoshare serve` process on a fixed port, using the table and bucket of `setup`; killed when dropped.
pub struct Instance {
    pub port: u16,
    args: Vec<String>,
    child: Option<Child>,
}

impl Instance {
    pub async fn start(setup: &TestApp, extra: &[&str]) -> Self {
        let port = free_port().await;
        let mut args: Vec<String> = ["--store", "aws", "--s3-path-style", "true", "--table", &setup.table]
            .into_iter()
            .chain(["--bucket", &setup.bucket, "--listen", &format!("127.0.0.1:{port}")])
            // Many clients post from loopback addresses: no mutation rate limit in these tests.
            .chain(["--mutations-per-minute", "0"])
            .map(String::from)
            .collect();
        for (flag, variable) in [
            ("--dynamodb-endpoint", "PHOTOSHARE_TEST_DYNAMODB_ENDPOINT"),
            ("--s3-endpoint", "PHOTOSHARE_TEST_S3_ENDPOINT"),
        ] {
            args.extend([flag.to_string(), std::env::var(variable).expect("run the suite with ./tests/run.sh")]);
        }
        args.extend(extra.iter().map(|s| s.to_string()));
        let mut instance = Self { port, args, child: None };
        instance.run().await;
        instance
    }

    pub fn address(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    async fn run(&mut self) {
        let child = Command::new(env!("CARGO_BIN_EXE_photoshare"))
            .args(&self.args)
            .stdout(Stdio::null())
            .stderr(logs())
            .kill_on_drop(true)
            .spawn()
            .expect("start photoshare");
        self.child = Some(child);
        // From an address no test trusts, so an instance expecting PROXY headers answers too.
        let client = client_from("127.0.0.254");
        for _ in 0..200 {
            let health = client.get(format!("{}/healthz", self.address())).send().await;
            if health.is_ok_and(|r| r.status().is_success()) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("photoshare on port {} did not become healthy", self.port);
    }

    /// Send SIGTERM, as an orchestrator stopping the instance would.
    pub fn terminate(&self) {
        let pid = self.child.as_ref().and_then(Child::id).expect("a running instance") as libc::pid_t;
        // SAFETY: kill(2) on a child process id we own; no memory is involved.
        let sent = unsafe { libc::kill(pid, libc::SIGTERM) };
        assert_eq!(sent, 0, "SIGTERM sent");
    }

    /// Wait for the process to end; `None` if it is still running after `timeout`.
    pub async fn exited(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let child = self.child.as_mut().expect("a started instance");
        tokio::time::timeout(timeout, child.wait()).await.ok().map(|status| status.expect("wait"))
    }

    /// Start again on the same port with the same settings.
    pub async fn restart(&mut self) {
        self.run().await;
    }
}

/// HAProxy with the given frontends and backends, plus a stats page to watch server states. Killed when dropped.
pub struct HaProxy {
    _child: Child,
    stats: String,
    client: reqwest::Client,
    _dir: TempDir,
}

impl HaProxy {
    /// `sections`: `frontend` / `backend` blocks. Health checks run every 200 ms and may take 1 s; two
    /// failures take a server out, two successes bring it back.
    pub async fn start(sections: &str) -> Self {
        let binary = std::env::var("PHOTOSHARE_TEST_HAPROXY").unwrap_or_else(|_| {
            panic!(
                "PHOTOSHARE_TEST_HAPROXY is not set: run the suite with ./tests/run.sh, which installs HAProxy \
                 (Debian package haproxy) when it is missing and points this variable at it"
            )
        });
        assert!(PathBuf::from(&binary).exists(), "no HAProxy at {binary}: run the suite with ./tests/run.sh");
        let stats_port = free_port().await;
        let config = format!(
            "global\n    maxconn 2000\n\
             defaults\n    mode http\n    timeout connect 2s\n    timeout client 30s\n    timeout server 30s\n    \
             timeout tunnel 1h\n    timeout check 1s\n    retries 3\n    option redispatch\n    \
             default-server inter 200ms fall 2 rise 2\n\
             frontend stats\n    bind 127.0.0.1:{stats_port}\n    stats enable\n    stats uri /stats\n\
             {sections}"
        );
        let dir = TempDir(std::env::temp_dir().join(format!("photoshare-haproxy-{}", uuid::Uuid::new_v4().simple())));
        std::fs::create_dir_all(&dir.0).unwrap();
        let path = dir.0.join("haproxy.cfg");
        std::fs::write(&path, &config).unwrap();
        let check =
            std::process::Command::new(&binary).arg("-c").arg("-f").arg(&path).output().expect("run haproxy -c");
        assert!(
            check.status.success(),
            "HAProxy refused its configuration:\n{config}\n{}",
            String::from_utf8_lossy(&check.stderr)
        );
        let child = Command::new(&binary)
            .arg("-db")
            .arg("-f")
            .arg(&path)
            .stdout(logs())
            .stderr(logs())
            .kill_on_drop(true)
            .spawn()
            .expect("start haproxy");
        let proxy = Self {
            _child: child,
            stats: format!("http://127.0.0.1:{stats_port}/stats;csv"),
            client: reqwest::Client::new(),
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while proxy.client.get(&proxy.stats).send().await.is_err() {
            assert!(Instant::now() < deadline, "HAProxy did not start");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        proxy
    }

    /// A column of the stats row of `server` in `backend` (`status`: UP, DOWN, "UP 1/2"…; `stot`: sessions).
    pub async fn stat(&self, backend: &str, server: &str, column: &str) -> String {
        let csv = self.client.get(&self.stats).send().await.unwrap().text().await.unwrap();
        let mut lines = csv.lines();
        let header: Vec<&str> = lines.next().unwrap().trim_start_matches("# ").split(',').collect();
        let index = header.iter().position(|name| *name == column).unwrap_or_else(|| panic!("no {column} column"));
        lines
            .map(|line| line.split(',').collect::<Vec<_>>())
            .find(|row| row[0] == backend && row[1] == server)
            .unwrap_or_else(|| panic!("no server {backend}/{server} in the stats"))[index]
            .to_string()
    }

    /// Wait until HAProxy's state of `server` is exactly `status` ("UP" or "DOWN"); how long that took.
    pub async fn wait_for(&self, backend: &str, server: &str, status: &str, timeout: Duration) -> Duration {
        let started = Instant::now();
        loop {
            let now = self.stat(backend, server, "status").await;
            if now == status {
                return started.elapsed();
            }
            assert!(started.elapsed() < timeout, "{backend}/{server} is {now}, not {status}, after {timeout:?}");
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
}
