//! Real processes for the tests that need more than the in-process app: `photoshare` instances (several
//! sharing the stand-ins' table and bucket, or one on its own data directory), free loopback ports, signals.

use std::net::IpAddr;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use tokio::process::{Child, ChildStderr, Command};

use crate::helpers::TestApp;

/// A loopback port nobody listens on right now, for a process the test starts to bind. Taken below Linux's
/// ephemeral range (32768 and up), where neither `bind(0)` nor the local end of a connection (the suite
/// opens thousands) can take it before that process binds it, and never the same one twice in this run.
pub async fn free_port() -> u16 {
    static GIVEN: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    loop {
        let port = 20_000 + (uuid::Uuid::new_v4().as_u128() % 12_000) as u16;
        let mut given = GIVEN.lock().unwrap_or_else(|p| p.into_inner());
        if given.contains(&port) || std::net::TcpListener::bind(("127.0.0.1", port)).is_err() {
            continue;
        }
        given.push(port);
        return port;
    }
}

/// Where a child's logs go: the terminal with `TEST_LOG` set, nowhere otherwise.
pub fn logs() -> Stdio {
    if std::env::var_os("TEST_LOG").is_some() { Stdio::inherit() } else { Stdio::null() }
}

/// Send `signal` (`libc::SIGTERM`, `SIGSTOP`, …) to a running child.
pub fn signal(child: &Child, signal: libc::c_int) {
    let pid = child.id().expect("a running child") as libc::pid_t;
    // SAFETY: kill(2) on a child process id we own; no memory is involved.
    let sent = unsafe { libc::kill(pid, signal) };
    assert_eq!(sent, 0, "signal {signal} sent to {pid}");
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

/// A `photoshare` process on a port of its own; killed when dropped.
pub struct Instance {
    pub port: u16,
    args: Vec<String>,
    piped_logs: bool,
    child: Option<Child>,
}

impl Instance {
    /// An instance on the table and bucket of `setup` (AWS mode on the stand-ins), with `extra` flags.
    pub async fn start(setup: &TestApp, extra: &[&str]) -> Self {
        let mut args: Vec<String> = ["--store", "aws", "--s3-path-style", "true", "--table", &setup.table]
            .into_iter()
            .chain(["--bucket", &setup.bucket])
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
        Self::with_args(args, false).await
    }

    /// An instance with exactly `args` (plus `--listen`); with `piped_logs` its stderr is kept for [`Self::logs`].
    pub async fn with_args(args: Vec<String>, piped_logs: bool) -> Self {
        let mut instance = Self { port: free_port().await, args, piped_logs, child: None };
        instance.run().await;
        instance
    }

    pub fn address(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    async fn run(&mut self) {
        let mut command = Command::new(env!("CARGO_BIN_EXE_photoshare"));
        if self.piped_logs {
            // Logs read by the test are the default filter's, whatever the caller's environment says.
            command.env_remove("RUST_LOG");
        }
        let child = command
            .args(&self.args)
            .args(["--listen", &format!("127.0.0.1:{}", self.port)])
            .stdout(Stdio::null())
            .stderr(if self.piped_logs { Stdio::piped() } else { logs() })
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
        signal(self.child.as_ref().expect("a started instance"), libc::SIGTERM);
    }

    /// Kill the process at once (SIGKILL: no draining, no cleanup), as a crash would, and wait for it.
    pub async fn kill(&mut self) {
        let child = self.child.as_mut().expect("a started instance");
        signal(child, libc::SIGKILL);
        child.wait().await.expect("wait");
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

    /// The process's stderr, when started with `piped_logs` (read it after [`Self::exited`]).
    pub fn logs(&mut self) -> ChildStderr {
        self.child.as_mut().and_then(|child| child.stderr.take()).expect("an instance started with piped logs")
    }
}
