//! Durable command latency beside the disk's raw fsync latency.
//!
//! Run with `cargo bench --bench durable_commands`. Each iteration times one
//! raw `write + fsync` of a small record on a plain file, then one
//! `/incident` command through the engine and the sled store (which answers
//! only after its flush), interleaved so both see the same disk conditions.
//! The store lives under `target/bench-data`, on the project's own disk.
//!
//! Goal (issue 2): command p50 ≤ 1.2× fsync p50 and p99 ≤ 1.5× fsync p99.

use std::fs::OpenOptions;
use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mailcall::clock::SystemClock;
use mailcall::command::{Engine, Invocation, OptionValue};
use mailcall::domain::{Actor, Caller};
use mailcall::store::SledStore;

const ITERATIONS: usize = 3000;
const INCIDENTS: usize = 30;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn summary(name: &str, samples: &mut [Duration]) -> (Duration, Duration) {
    samples.sort();
    let (p50, p99) = (percentile(samples, 0.50), percentile(samples, 0.99));
    println!(
        "{name:<30} n={:>5}  p50={:>7.3} ms  p99={:>7.3} ms  max={:>7.3} ms",
        samples.len(),
        ms(p50),
        ms(p99),
        ms(samples[samples.len() - 1])
    );
    (p50, p99)
}

fn invocation(path: &[&str], options: &[(&str, &str)]) -> Invocation {
    Invocation {
        command: "incident".into(),
        path: path.iter().map(|s| s.to_string()).collect(),
        options: options
            .iter()
            .map(|(k, v)| (k.to_string(), OptionValue::String(v.to_string())))
            .collect(),
    }
}

/// The i-th command of the mix an incident channel sees: a new incident every
/// ITERATIONS / INCIDENTS commands, else a diagnosis note on the newest.
fn mix(i: usize) -> Invocation {
    if i.is_multiple_of(ITERATIONS / INCIDENTS) {
        invocation(
            &["open"],
            &[
                ("title", "Bounce spike on welcome series"),
                ("severity", "SEV2"),
                ("team", "integration"),
            ],
        )
    } else {
        let id = format!("INC-{}", i / (ITERATIONS / INCIDENTS) + 1);
        invocation(
            &["diagnose"],
            &[
                ("id", id.as_str()),
                ("note", "Hard bounces from the imported segment keep rising"),
            ],
        )
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = std::path::Path::new("target/bench-data");
    let _ = std::fs::remove_dir_all(root);
    std::fs::create_dir_all(root)?;
    let mut raw = OpenOptions::new()
        .create(true)
        .append(true)
        .open(root.join("fsync-probe"))?;
    let record = [0x5au8; 512];
    // A second probe that syncs the way a log-structured store does:
    // overwrite within an already allocated file, then fdatasync.
    let overwrite = OpenOptions::new()
        .create(true)
        .truncate(true)
        .read(true)
        .write(true)
        .open(root.join("fdatasync-probe"))?;
    overwrite.set_len(4 << 20)?;
    overwrite.sync_all()?;

    let store = SledStore::open(&root.join("store"))?;
    let mut engine = Engine::new(store, Arc::new(SystemClock));
    let caller = Caller::operator(Actor::console("bench"));

    let mut fsync = Vec::with_capacity(ITERATIONS);
    let mut fdatasync = Vec::with_capacity(ITERATIONS);
    let mut opens = Vec::new();
    let mut notes = Vec::new();
    for i in 0..ITERATIONS {
        let started = Instant::now();
        raw.write_all(&record)?;
        raw.sync_all()?;
        fsync.push(started.elapsed());

        let started = Instant::now();
        std::os::unix::fs::FileExt::write_all_at(
            &overwrite,
            &record,
            (i as u64 * 512) % (4 << 20),
        )?;
        overwrite.sync_data()?;
        fdatasync.push(started.elapsed());

        let command = mix(i);
        let started = Instant::now();
        let outcome = engine
            .handle(&caller, &command)
            .map_err(|e| e.to_string())?;
        let elapsed = started.elapsed();
        // Untimed: the relay delivers the posts, so the outbox stays short.
        for id in outcome.posted {
            engine.delivered(id, Vec::new())?;
        }
        if command.path[0] == "open" {
            opens.push(elapsed);
        } else {
            notes.push(elapsed);
        }
    }
    let mut all: Vec<Duration> = opens.iter().chain(&notes).copied().collect();

    // Where the time goes: sled's own batch + flush for a record of the same
    // size, and the engine's CPU cost on the in-memory store.
    let typical = engine.store().path().to_path_buf();
    drop(engine);
    let bare = sled::Config::new()
        .path(root.join("bare"))
        .flush_every_ms(None)
        .open()?;
    let value = vec![
        b'x';
        std::fs::metadata(typical.join("db"))
            .map(|_| 12_000)
            .unwrap_or(12_000)
    ];
    let mut sled_flush = Vec::with_capacity(ITERATIONS);
    for i in 0..ITERATIONS {
        let started = Instant::now();
        let mut batch = sled::Batch::default();
        batch.insert(&(i as u64 % 30).to_be_bytes()[..], value.clone());
        batch.insert(&b"meta"[..], &b"{}"[..]);
        bare.apply_batch(batch)?;
        bare.flush()?;
        sled_flush.push(started.elapsed());
    }
    let mut memory_engine = Engine::new(
        mailcall::store::MemoryStore::default(),
        Arc::new(SystemClock),
    );
    let mut cpu = Vec::with_capacity(ITERATIONS);
    for i in 0..ITERATIONS {
        let command = mix(i);
        let started = Instant::now();
        let outcome = memory_engine
            .handle(&caller, &command)
            .map_err(|e| e.to_string())?;
        cpu.push(started.elapsed());
        for id in outcome.posted {
            memory_engine.delivered(id, Vec::new())?;
        }
    }

    println!(
        "durable command latency vs raw fsync ({ITERATIONS} interleaved samples, {})",
        root.display()
    );
    let (f50, f99) = summary("raw append+fsync (512 B)", &mut fsync);
    let (d50, d99) = summary("raw overwrite+fdatasync", &mut fdatasync);
    let (c50, c99) = summary("/incident (all, durable)", &mut all);
    summary("  /incident open", &mut opens);
    summary("  /incident diagnose", &mut notes);
    summary("sled batch+flush (12 KB)", &mut sled_flush);
    summary("engine on memory (no disk)", &mut cpu);
    let ratio = |a: Duration, b: Duration| a.as_secs_f64() / b.as_secs_f64();
    println!(
        "ratio command / append+fsync:       p50 {:.2}x (goal <= 1.20x), p99 {:.2}x (goal <= 1.50x)",
        ratio(c50, f50),
        ratio(c99, f99)
    );
    println!(
        "ratio command / overwrite+fdatasync: p50 {:.2}x, p99 {:.2}x",
        ratio(c50, d50),
        ratio(c99, d99)
    );
    Ok(())
}
