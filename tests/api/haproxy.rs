//! HAProxy (the Debian package, which `tests/run.sh` installs) in front of `photoshare` processes, on loopback.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use tokio::process::{Child, Command};

use crate::helpers::TempDir;
use crate::process::{free_port, logs};

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
