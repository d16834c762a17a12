//! The figures as Markdown tables (what the README shows), printed at the end; each row also goes to stderr
//! as it is measured.

use std::time::Duration;

use crate::driver::{Outcome, percentile};
use crate::server::{Counters, Memory};
use crate::uploads::{PHOTO_BYTES, Uploads};

/// CPU time used during one load run.
pub struct Cpu {
    pub service: Duration,
    pub load_generator: Duration,
}

#[derive(Default)]
pub struct Report {
    machine: String,
    runs: Vec<String>,
    /// (store, connections, floor req/s), for the gallery's share of it.
    floors: Vec<(String, usize, f64)>,
    ratios: Vec<String>,
    memory: Vec<String>,
    fan_out: Vec<String>,
    uploads: Vec<String>,
}

fn ms(us: u32) -> String {
    format!("{:.1}", f64::from(us) / 1000.0)
}

fn mib(bytes: u64) -> String {
    format!("{:.1}", bytes as f64 / (1024.0 * 1024.0))
}

fn read(path: &str) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// The 1, 5 and 15 minute load averages: the cores are shared, so say how busy they were.
fn load_average() -> String {
    read("/proc/loadavg").split_whitespace().take(3).collect::<Vec<_>>().join(" ")
}

impl Report {
    pub fn start() -> Self {
        let cpu = read("/proc/cpuinfo").lines().find_map(|l| l.strip_prefix("model name\t: ").map(str::to_string));
        let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
        let memory_kib = read("/proc/meminfo").lines().next().and_then(|l| l.split_whitespace().nth(1)?.parse().ok());
        let machine = format!(
            "{cores} cores ({}), {} MiB RAM; load average at start: {}",
            cpu.unwrap_or_default(),
            memory_kib.unwrap_or(0u64) / 1024,
            load_average(),
        );
        eprintln!("[machine] {machine}");
        Self { machine, ..Self::default() }
    }

    fn add(rows: &mut Vec<String>, row: String) {
        eprintln!("{row}");
        rows.push(row);
    }

    pub fn run(
        &mut self,
        store: &str,
        operation: &str,
        connections: usize,
        outcome: &Outcome,
        work: Counters,
        cpu: Cpu,
    ) {
        let per_op = |n: u64| n as f64 / outcome.completed.max(1) as f64;
        let per_op_us = |d: Duration| d.as_micros() as f64 / outcome.completed.max(1) as f64;
        let row = format!(
            "| {store} | {operation} | {connections} | {:.0} | {:.1} | {:.1} | {} | {:.1} | {:.1} | {:.0} | {:.0} |",
            outcome.per_second(),
            outcome.percentile_ms(0.50),
            outcome.percentile_ms(0.99),
            outcome.failed,
            per_op(work.table_calls),
            per_op(work.items_read),
            per_op_us(cpu.service),
            per_op_us(cpu.load_generator),
        );
        Self::add(&mut self.runs, row);
        if let Some(failure) = &outcome.first_failure {
            eprintln!("  first failure: {failure}");
        }
        if operation.starts_with("floor") {
            self.floors.push((store.to_string(), connections, outcome.per_second()));
        } else if operation.starts_with("gallery")
            && let Some((_, _, floor)) = self.floors.iter().find(|(s, c, _)| s == store && *c == connections)
        {
            let row = format!(
                "| {store} | {connections} | {floor:.0} | {:.0} | {:.0}% |",
                outcome.per_second(),
                100.0 * outcome.per_second() / floor
            );
            Self::add(&mut self.ratios, row);
        }
    }

    pub fn memory(&mut self, store: &str, state: &str, memory: Memory) {
        let row = format!("| {store} | {state} | {} | {} | {} |", mib(memory.rss), mib(memory.peak), memory.threads);
        Self::add(&mut self.memory, row);
    }

    pub fn fan_out(&mut self, store: &str, places: &[(&str, usize)], delays: &[Vec<u32>], lost: usize) {
        let all = {
            let mut all: Vec<u32> = delays.concat();
            all.sort_unstable();
            all
        };
        let mut rows = vec![("all", &all)];
        if places.len() > 1 {
            rows.push(("on the instance posted to", &delays[0]));
            rows.push(("on the other instance", &delays[1]));
        }
        let total: usize = places.iter().map(|(_, n)| n).sum();
        for (which, delays) in rows {
            let row = format!(
                "| {store} | {total} on {} instance(s) | {which} | {} | {lost} | {} | {} | {} |",
                places.len(),
                delays.len(),
                ms(percentile(delays, 0.5)),
                ms(percentile(delays, 0.99)),
                ms(delays.last().copied().unwrap_or(0)),
            );
            Self::add(&mut self.fan_out, row);
        }
    }

    pub fn uploads(&mut self, store: &str, uploads: &Uploads) {
        let n = uploads.counters.len().max(1) as u64;
        let sum = |f: fn(&Counters) -> u64| uploads.counters.iter().map(f).sum::<u64>();
        let row = format!(
            "| {store} | {} | {PHOTO_BYTES} | {} | {} | {:.1} | {} / {} | {} / {} | {} | {} | {} / {} |",
            uploads.counters.len(),
            sum(|c| c.blob_bytes_read) / n,
            sum(|c| c.blob_calls) as f64 / n as f64,
            sum(|c| c.table_calls) as f64 / n as f64,
            ms(percentile(&uploads.service_us, 0.5)),
            ms(percentile(&uploads.service_us, 0.99)),
            ms(percentile(&uploads.complete_us, 0.5)),
            ms(percentile(&uploads.complete_us, 0.99)),
            ms(percentile(&uploads.create_us, 0.5)),
            ms(percentile(&uploads.post_us, 0.5)),
            ms(percentile(&uploads.ready_us, 0.5)),
            ms(percentile(&uploads.ready_us, 0.99)),
        );
        Self::add(&mut self.uploads, row);
    }

    pub fn print(&self) {
        println!("\nMachine: {}; at the end: {}\n", self.machine, load_average());
        println!(
            "| store | operation | connections | req/s | p50 ms | p99 ms | failed | table calls/op | items read/op | service CPU µs/op | load generator CPU µs/op |"
        );
        println!("|---|---|---|---|---|---|---|---|---|---|---|");
        self.runs.iter().for_each(|row| println!("{row}"));
        println!("\n| store | connections | floor req/s | gallery req/s | gallery / floor |");
        println!("|---|---|---|---|---|");
        self.ratios.iter().for_each(|row| println!("{row}"));
        println!("\n| store | state | RSS MiB | peak RSS MiB | threads |");
        println!("|---|---|---|---|---|");
        self.memory.iter().for_each(|row| println!("{row}"));
        println!("\n| store | subscribers | deliveries counted | deliveries | lost | p50 ms | p99 ms | max ms |");
        println!("|---|---|---|---|---|---|---|---|");
        self.fan_out.iter().for_each(|row| println!("{row}"));
        println!(
            "\n| store | uploads | photo bytes | bytes the service read /upload (with processing) | storage calls /upload | table calls /upload | createUpload + completeUpload p50 / p99 ms | completeUpload p50 / p99 ms | createUpload p50 ms | POST to storage p50 ms | upload to READY p50 / p99 ms |"
        );
        println!("|---|---|---|---|---|---|---|---|---|---|");
        self.uploads.iter().for_each(|row| println!("{row}"));
    }
}
