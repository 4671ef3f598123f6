//! `pausebench`: keeps a live heap while churning allocations and reports
//! the collector's pauses per phase, GC time, throughput, peak RSS and, for
//! compaction, throughput beside a plain `memcpy` of the same bytes measured
//! in the same run.
//!
//! `cargo run --release -p benches --bin pausebench -- --mode stw --live 256M --seconds 10 [--json out.json]`

use std::time::{Duration, Instant};

use benches::procstat::peak_rss;
use benches::workload::Churn;
use clap::Parser;
use gc::Phase;
use runtime::{parse_size, Mode, Runtime};
use serde::Serialize;

#[derive(Parser, Debug)]
#[command(about = "Pause-time benchmark: a live heap under allocation churn")]
struct Args {
    /// Compaction mode: stw, uffd-copy or uffd.
    #[arg(long, default_value = "stw")]
    mode: Mode,
    /// Live heap to keep, e.g. 64M, 256M, 1G.
    #[arg(long, default_value = "256M", value_parser = parse_size)]
    live: usize,
    /// Seconds of churn after the live heap is built.
    #[arg(long, default_value_t = 10.0)]
    seconds: f64,
    /// Heap limit (default: 2.5x the live heap).
    #[arg(long, value_parser = parse_size)]
    heap_limit: Option<usize>,
    /// Verify the churn structure after the run.
    #[arg(long, default_value_t = true)]
    check: bool,
    /// PRNG seed.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Write the results as JSON here.
    #[arg(long)]
    json: Option<std::path::PathBuf>,
}

#[derive(Serialize)]
struct PhaseJson {
    phase: &'static str,
    p50_ns: u64,
    p99_ns: u64,
    max_ns: u64,
    total_ns: u64,
}

#[derive(Serialize)]
struct Report {
    mode_requested: String,
    mode: String,
    live_bytes_target: usize,
    live_bytes_measured: usize,
    heap_limit_bytes: usize,
    seconds: f64,
    cycles: u64,
    pause_count: u64,
    pause_p50_ns: u64,
    pause_p99_ns: u64,
    pause_max_ns: u64,
    pause_total_ns: u64,
    phases: Vec<PhaseJson>,
    mutator_faults: u64,
    allocations_per_second: f64,
    operations: u64,
    peak_rss_bytes: usize,
    compaction_bytes_per_second: f64,
    memcpy_bytes_per_second: f64,
}

fn ns(d: Duration) -> u64 {
    d.as_nanos() as u64
}

fn main() {
    let args = Args::parse();
    if let Err(e) = run(&args) {
        eprintln!("pausebench: {e}");
        std::process::exit(1);
    }
}

fn run(args: &Args) -> Result<(), String> {
    let limit = args.heap_limit.unwrap_or(args.live / 2 * 5);
    let rt = Runtime::builder()
        .mode(args.mode)
        .heap_limit(limit)
        .build()
        .map_err(|e| e.to_string())?;
    if let Some(r) = rt.fallback_reason() {
        eprintln!("pausebench: {r}");
    }
    let mut m = rt.mutator().map_err(|e| e.to_string())?;
    eprintln!(
        "pausebench: building {} MiB live (limit {} MiB)...",
        args.live >> 20,
        limit >> 20
    );
    let mut churn = Churn::build(&mut m, args.live, args.seed).map_err(|e| e.to_string())?;
    m.collect().map_err(|e| e.to_string())?;
    let live_measured = rt.stats().last_live;
    let cycles_before = rt.stats().cycles;
    let base_stats = rt.stats();
    eprintln!(
        "pausebench: live {} MiB measured; churning for {}s",
        live_measured >> 20,
        args.seconds
    );
    let start = Instant::now();
    let deadline = Duration::from_secs_f64(args.seconds);
    let allocs_before = churn.allocations;
    while start.elapsed() < deadline {
        for _ in 0..1024 {
            churn.step(&mut m).map_err(|e| e.to_string())?;
        }
    }
    let elapsed = start.elapsed();
    if args.check {
        let n = churn.check(&mut m)?;
        eprintln!("pausebench: structure checked ({n} nodes)");
    }
    let stats = rt.stats();
    let peak = peak_rss().unwrap_or(0);
    let cycles = stats.cycles - cycles_before;
    let compact_total = stats
        .phase_totals
        .iter()
        .find(|(p, _)| *p == Phase::Compact)
        .map_or(Duration::ZERO, |x| x.1)
        - base_stats
            .phase_totals
            .iter()
            .find(|(p, _)| *p == Phase::Compact)
            .map_or(Duration::ZERO, |x| x.1);
    let compact_bps = if compact_total.is_zero() {
        0.0
    } else {
        (live_measured as f64 * cycles as f64) / compact_total.as_secs_f64()
    };
    let memcpy_bps = measure_memcpy(live_measured.max(1 << 20));
    let phases = Phase::ALL
        .iter()
        .map(|&p| PhaseJson {
            phase: p.name(),
            p50_ns: ns(stats.phase_quantile(p, 0.5)),
            p99_ns: ns(stats.phase_quantile(p, 0.99)),
            max_ns: ns(stats.phase_quantile(p, 1.0)),
            total_ns: ns(stats
                .phase_totals
                .iter()
                .find(|(q, _)| *q == p)
                .map_or(Duration::ZERO, |x| x.1)),
        })
        .collect();
    let report = Report {
        mode_requested: args.mode.to_string(),
        mode: rt.mode().to_string(),
        live_bytes_target: args.live,
        live_bytes_measured: live_measured,
        heap_limit_bytes: limit,
        seconds: elapsed.as_secs_f64(),
        cycles,
        pause_count: cycles,
        pause_p50_ns: ns(stats.pause_quantile(0.5)),
        pause_p99_ns: ns(stats.pause_quantile(0.99)),
        pause_max_ns: ns(stats.max_pause),
        pause_total_ns: ns(stats.total_pause),
        phases,
        mutator_faults: stats.faults,
        allocations_per_second: (churn.allocations - allocs_before) as f64 / elapsed.as_secs_f64(),
        operations: churn.ops,
        peak_rss_bytes: peak,
        compaction_bytes_per_second: compact_bps,
        memcpy_bytes_per_second: memcpy_bps,
    };
    print_report(&report);
    if let Some(path) = &args.json {
        let s = serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?;
        std::fs::write(path, s).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(())
}

/// Median bytes/s of copying `bytes` between two buffers (5 runs).
fn measure_memcpy(bytes: usize) -> f64 {
    let src = vec![1u8; bytes];
    let mut dst = vec![0u8; bytes];
    dst.copy_from_slice(&src);
    let mut rates: Vec<f64> = (0..5)
        .map(|_| {
            let t = Instant::now();
            dst.copy_from_slice(std::hint::black_box(&src));
            std::hint::black_box(&dst);
            bytes as f64 / t.elapsed().as_secs_f64()
        })
        .collect();
    rates.sort_by(f64::total_cmp);
    rates[2]
}

fn ms(n: u64) -> f64 {
    n as f64 / 1e6
}

fn print_report(r: &Report) {
    println!(
        "mode {} (requested {}), live {} MiB, limit {} MiB, {:.1}s",
        r.mode,
        r.mode_requested,
        r.live_bytes_measured >> 20,
        r.heap_limit_bytes >> 20,
        r.seconds
    );
    println!(
        "cycles {}  pause p50 {:.3}ms p99 {:.3}ms max {:.3}ms total {:.1}ms",
        r.cycles,
        ms(r.pause_p50_ns),
        ms(r.pause_p99_ns),
        ms(r.pause_max_ns),
        ms(r.pause_total_ns)
    );
    println!(
        "{:<12} {:>10} {:>10} {:>10}",
        "phase", "p50 ms", "p99 ms", "max ms"
    );
    for p in &r.phases {
        println!(
            "{:<12} {:>10.3} {:>10.3} {:>10.3}",
            p.phase,
            ms(p.p50_ns),
            ms(p.p99_ns),
            ms(p.max_ns)
        );
    }
    println!(
        "throughput {:.2} M allocs/s, faults {}, peak RSS {} MiB, compaction {:.2} GB/s vs memcpy {:.2} GB/s",
        r.allocations_per_second / 1e6,
        r.mutator_faults,
        r.peak_rss_bytes >> 20,
        r.compaction_bytes_per_second / 1e9,
        r.memcpy_bytes_per_second / 1e9
    );
}
