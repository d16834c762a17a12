//! What hostile documents cost (issue 13): query bombs of growing size, wide fragments and long text, next to
//! the `{ __typename }` floor and GraphiQL's introspection (the heaviest document a real client sends, run on
//! the blocking pool). The service runs in this process on the embedded store; each document is sent 300
//! times, one at a time, over loopback HTTP. Reported: the answer, latency p50/p99, this process's CPU time
//! per request (client included: compare with the floor), and peak RSS before and after.
//!
//! Run (release build): `cargo bench --bench hostile`.

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::time::{Duration, Instant};

use photoshare::app::Application;
use photoshare::config::Config;
use photoshare::graphql::{INTROSPECTION_QUERY as INTROSPECTION, fragment_bomb};
use serde_json::{Value, json};

const REQUESTS: usize = 300;

/// Peak resident memory of this process so far, in MiB.
fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kib =
        status.lines().find_map(|l| l.strip_prefix("VmHWM:")).and_then(|v| v.split_whitespace().next()?.parse().ok());
    kib.map_or(0.0, |kib: f64| kib / 1024.0)
}

/// CPU time of this process so far (user + system).
fn cpu_time() -> Duration {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage writes the struct it is given.
    let usage = unsafe {
        libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr());
        usage.assume_init()
    };
    let time = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    time(usage.ru_utime) + time(usage.ru_stime)
}

fn summary(body: &Value) -> String {
    match body["errors"][0]["message"].as_str() {
        Some(message) => format!("refused: {}", message.chars().take(70).collect::<String>()),
        None => "answered".to_string(),
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let dir = std::env::temp_dir().join(format!("photoshare-hostile-{}", uuid::Uuid::new_v4()));
    let args = ["--listen", "127.0.0.1:0", "--data-dir", dir.to_str().unwrap_or("/tmp/photoshare-hostile")];
    let app = Application::build(Config::from_args(args)?).await?;
    let url = format!("http://{}/graphql", app.local_addr());
    tokio::spawn(app.run_until_stopped(std::future::pending()));
    let client = reqwest::Client::new();

    let wide = format!(
        "{{ ...A ...A ...A }} fragment A on Query {{ ...B ...B ...B }} fragment B on Query {{ {} }}",
        "__typename ".repeat(120)
    );
    let long = format!("{{ {} }}", "__typename ".repeat(1_600));
    let documents = [
        ("floor `{ __typename }`", "{ __typename }".to_string()),
        ("bomb, 24 levels", fragment_bomb(24)),
        ("bomb, 40 levels", fragment_bomb(40)),
        ("bomb, 200 levels", fragment_bomb(200)),
        ("wide fragments, 1,080 fields", wide),
        ("1,600 fields written out", long),
        ("GraphiQL introspection", INTROSPECTION.to_string()),
    ];
    println!("peak RSS before: {:.0} MiB", peak_rss_mib());
    println!("| document | bytes | answer | p50 µs | p99 µs | CPU µs per request |");
    println!("|---|---|---|---|---|---|");
    for (name, query) in documents {
        let body = json!({ "query": query }).to_string();
        let mut latencies = Vec::with_capacity(REQUESTS);
        let mut answer = Value::Null;
        let cpu = cpu_time();
        for _ in 0..REQUESTS {
            let started = Instant::now();
            let response =
                client.post(&url).header("content-type", "application/json").body(body.clone()).send().await?;
            answer = response.json().await?;
            latencies.push(started.elapsed());
        }
        let cpu = (cpu_time() - cpu).as_secs_f64() * 1e6 / REQUESTS as f64;
        latencies.sort();
        let p = |q: f64| latencies[((latencies.len() - 1) as f64 * q) as usize].as_secs_f64() * 1e6;
        println!("| {name} | {} | {} | {:.0} | {:.0} | {cpu:.0} |", query.len(), summary(&answer), p(0.5), p(0.99));
    }
    println!("peak RSS after: {:.0} MiB", peak_rss_mib());
    let _ = std::fs::remove_dir_all(dir);
    Ok(())
}
