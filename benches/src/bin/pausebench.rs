//! `pausebench`: keeps a live heap while churning allocations and reports
//! the collector's pauses (the flip pause separately), each phase (paused
//! and concurrent), GC CPU time, fault counts and service times, mutator
//! throughput and hiccups, and peak RSS. Compaction throughput is set beside
//! a plain `memcpy` of the same bytes measured in the same run.
//!
//! `cargo run --release -p benches --bin pausebench -- --mode uffd --live 256M --seconds 10 [--threads 4] [--json out.json]`
//!
//! With `--threads N`, N mutator threads each build and churn a 1/N share
//! of the live heap; pauses stop them all.
//!
//! Statistics and peak RSS cover the churn only: both are reset once the
//! live heap is built and collected.

use std::time::{Duration, Instant};

use std::sync::{Arc, Barrier, Mutex};

use benches::mmu::mmu;
use benches::procstat::{peak_rss, process_cpu, reset_peak_rss};
use benches::workload::Churn;
use clap::Parser;
use gc::Phase;
use hdrhistogram::Histogram;
use runtime::{parse_size, GcStats, Mode, Runtime};
use serde::Serialize;

#[derive(Parser, Debug)]
#[command(about = "Pause-time benchmark: a live heap under allocation churn")]
struct Args {
    /// Compaction mode: stw, uffd-copy or uffd.
    #[arg(long, default_value = "uffd")]
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
    /// Threads serving faults (uffd modes).
    #[arg(long, default_value_t = 1)]
    fault_workers: usize,
    /// Threads compacting concurrently (uffd modes; default: the runtime's,
    /// `GC_COMPACT_THREADS` or one per CPU).
    #[arg(long)]
    compact_threads: Option<usize>,
    /// Verify the churn structure after the run.
    #[arg(long, default_value_t = true)]
    check: bool,
    /// PRNG seed.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Mutator threads, each churning its share of the live heap.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=256))]
    threads: u16,
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
struct MmuJson {
    window_ns: u64,
    utilisation: f64,
}

/// MMU over the churn `[start, start + run)` for 1, 10 and 100 ms windows,
/// from the pauses the runtime reported (end time, length).
fn mmu_table(
    spans: &Mutex<Vec<(Instant, Duration)>>,
    start: Instant,
    run: Duration,
) -> Vec<MmuJson> {
    let pauses: Vec<(Duration, Duration)> = spans
        .lock()
        .map(|v| v.clone())
        .unwrap_or_default()
        .into_iter()
        .filter_map(|(end, d)| {
            let begin = end.checked_sub(d)?;
            (begin >= start).then(|| (begin - start, d))
        })
        .collect();
    [1u64, 10, 100]
        .into_iter()
        .map(|w| MmuJson {
            window_ns: w * 1_000_000,
            utilisation: mmu(&pauses, run, Duration::from_millis(w)),
        })
        .collect()
}

#[derive(Serialize)]
struct Report {
    mode_requested: String,
    mode: String,
    compaction: String,
    threads: u16,
    live_bytes_target: usize,
    live_bytes_measured: usize,
    heap_limit_bytes: usize,
    churn_seconds: f64,
    cycles: u64,
    pause_count: u64,
    pause_p50_ns: u64,
    pause_p99_ns: u64,
    pause_max_ns: u64,
    pause_total_ns: u64,
    flip_pause_p50_ns: u64,
    flip_pause_p99_ns: u64,
    flip_pause_max_ns: u64,
    pause_phases: Vec<PhaseJson>,
    safepoint_p50_ns: u64,
    safepoint_p99_ns: u64,
    safepoint_max_ns: u64,
    /// Sleeps of allocating threads at pacing thresholds (not pauses: the
    /// other threads ran), and their total.
    paced: u64,
    pacing_ns: u64,
    concurrent_phase_total_ns: Vec<(String, u64)>,
    gc_cpu_ns: u64,
    process_cpu_ns: u64,
    mutator_faults: u64,
    fault_service_p50_ns: u64,
    fault_service_p99_ns: u64,
    fault_service_p999_ns: u64,
    fault_service_max_ns: u64,
    allocations_per_second: f64,
    operations: u64,
    batch_ops: u64,
    batch_p50_ns: u64,
    batch_p99_ns: u64,
    batch_max_ns: u64,
    peak_rss_bytes: usize,
    /// Minimum mutator utilisation for 1, 10 and 100 ms windows.
    mmu: Vec<MmuJson>,
    compaction_bytes_per_second: f64,
    memcpy_bytes_per_second: f64,
}

fn ns(d: Duration) -> u64 {
    d.as_nanos() as u64
}

/// Operations per timed mutator batch (the peers' hiccup measure).
const BATCH: u64 = 4096;

fn main() {
    let args = Args::parse();
    if let Err(e) = run(&args) {
        eprintln!("pausebench: {e}");
        std::process::exit(1);
    }
}

/// What one churning thread did.
struct ThreadResult {
    batches: Histogram<u64>,
    allocations: u64,
    ops: u64,
}

fn new_histogram() -> Result<Histogram<u64>, String> {
    Histogram::<u64>::new_with_bounds(1, 3_600_000_000_000, 3).map_err(|e| e.to_string())
}

/// One mutator thread: builds its share of the live heap, waits (blocked,
/// so pauses go on without it) for the start, churns until the deadline,
/// and checks its structure.
fn churn_thread(
    rt: &Runtime,
    args: &Args,
    t: u16,
    built: &Barrier,
    go: &Barrier,
    start: &Mutex<Option<Instant>>,
) -> Result<ThreadResult, String> {
    let mut m = rt.mutator().map_err(|e| e.to_string())?;
    let share = args.live / args.threads as usize;
    let built_churn = Churn::build(&mut m, share, args.seed + t as u64);
    m.blocking(|| built.wait());
    let mut churn = built_churn.map_err(|e| e.to_string())?;
    m.blocking(|| go.wait());
    let start = start
        .lock()
        .map_err(|e| e.to_string())?
        .ok_or("the churn never started")?;
    let deadline = Duration::from_secs_f64(args.seconds);
    let (allocs_before, ops_before) = (churn.allocations, churn.ops);
    let mut batches = new_histogram()?;
    while start.elapsed() < deadline {
        let t = Instant::now();
        for _ in 0..BATCH {
            churn.step(&mut m).map_err(|e| e.to_string())?;
        }
        batches.saturating_record(ns(t.elapsed()).max(1));
    }
    if args.check {
        let n = churn.check(&m)?;
        eprintln!("pausebench: thread {t}: structure checked ({n} nodes)");
    }
    Ok(ThreadResult {
        batches,
        allocations: churn.allocations - allocs_before,
        ops: churn.ops - ops_before,
    })
}

fn run(args: &Args) -> Result<(), String> {
    let limit = args.heap_limit.unwrap_or(args.live / 2 * 5);
    let spans: Arc<Mutex<Vec<(Instant, Duration)>>> = Arc::default();
    let sink = spans.clone();
    let mut builder = Runtime::builder();
    if let Some(n) = args.compact_threads {
        builder = builder.compaction_threads(n);
    }
    let rt = builder
        .mode(args.mode)
        .heap_limit(limit)
        .on_pause_span(move |end, d| {
            if let Ok(mut v) = sink.lock() {
                v.push((end, d));
            }
        })
        .fault_workers(args.fault_workers)
        .build()
        .map_err(|e| e.to_string())?;
    if let Some(r) = rt.fallback_reason() {
        eprintln!("pausebench: {r}");
    }
    eprintln!("pausebench: compaction: {}", rt.describe());
    eprintln!(
        "pausebench: {} thread(s) building {} MiB live (limit {} MiB)...",
        args.threads,
        args.live >> 20,
        limit >> 20
    );
    let n = args.threads as usize;
    let (built, go) = (Barrier::new(n + 1), Barrier::new(n + 1));
    let start_at: Mutex<Option<Instant>> = Mutex::new(None);
    let (results, start, elapsed, live_measured, cpu_used) = std::thread::scope(|s| {
        let workers: Vec<_> = (0..args.threads)
            .map(|t| {
                let (rt, built, go, start_at) = (&rt, &built, &go, &start_at);
                s.spawn(move || churn_thread(rt, args, t, built, go, start_at))
            })
            .collect();
        let mut m = rt.mutator().map_err(|e| e.to_string())?;
        m.blocking(|| built.wait());
        m.collect().map_err(|e| e.to_string())?;
        rt.quiesce();
        let live_measured = rt.stats().last_live;
        rt.reset_stats();
        reset_peak_rss();
        eprintln!(
            "pausebench: live {} MiB measured; churning for {}s",
            live_measured >> 20,
            args.seconds
        );
        let cpu_before = process_cpu();
        let start = Instant::now();
        *start_at.lock().map_err(|e| e.to_string())? = Some(start);
        m.blocking(|| go.wait());
        let results: Vec<Result<ThreadResult, String>> = m.blocking(|| {
            workers
                .into_iter()
                .map(|w| {
                    w.join()
                        .unwrap_or_else(|_| Err("a churn thread panicked".into()))
                })
                .collect()
        });
        let elapsed = start.elapsed();
        rt.quiesce();
        Ok::<_, String>((
            results,
            start,
            elapsed,
            live_measured,
            process_cpu().saturating_sub(cpu_before),
        ))
    })?;
    let mmu_windows = mmu_table(&spans, start, elapsed);
    let process_cpu_used = cpu_used;
    let peak = peak_rss().unwrap_or(0);
    let mut batches = new_histogram()?;
    let (mut allocations, mut operations) = (0, 0);
    for r in results {
        let r = r?;
        batches.add(&r.batches).map_err(|e| e.to_string())?;
        allocations += r.allocations;
        operations += r.ops;
    }
    let stats = rt.stats();
    let report = Report {
        mode_requested: args.mode.to_string(),
        threads: args.threads,
        mode: rt.mode().to_string(),
        compaction: rt.describe(),
        live_bytes_target: args.live,
        live_bytes_measured: live_measured,
        heap_limit_bytes: limit,
        churn_seconds: elapsed.as_secs_f64(),
        cycles: stats.cycles,
        pause_count: stats.pause_count,
        pause_p50_ns: ns(stats.pause_quantile(0.5)),
        pause_p99_ns: ns(stats.pause_quantile(0.99)),
        pause_max_ns: ns(stats.max_pause),
        pause_total_ns: ns(stats.total_pause),
        flip_pause_p50_ns: ns(stats.flip_pause_quantile(0.5)),
        flip_pause_p99_ns: ns(stats.flip_pause_quantile(0.99)),
        flip_pause_max_ns: ns(stats.flip_pause_quantile(1.0)),
        pause_phases: pause_phases(&stats),
        safepoint_p50_ns: ns(stats.safepoint_quantile(0.5)),
        safepoint_p99_ns: ns(stats.safepoint_quantile(0.99)),
        safepoint_max_ns: ns(stats.safepoint_quantile(1.0)),
        paced: stats.paced,
        pacing_ns: ns(stats.pacing),
        concurrent_phase_total_ns: stats
            .concurrent_totals
            .iter()
            .map(|(p, d)| (p.name().to_string(), ns(*d)))
            .collect(),
        gc_cpu_ns: ns(stats.gc_cpu),
        process_cpu_ns: ns(process_cpu_used),
        mutator_faults: stats.faults,
        fault_service_p50_ns: ns(stats.fault_service_quantile(0.5)),
        fault_service_p99_ns: ns(stats.fault_service_quantile(0.99)),
        fault_service_p999_ns: ns(stats.fault_service_quantile(0.999)),
        fault_service_max_ns: ns(stats.fault_service_quantile(1.0)),
        allocations_per_second: allocations as f64 / elapsed.as_secs_f64(),
        operations,
        batch_ops: BATCH,
        batch_p50_ns: batches.value_at_quantile(0.5),
        batch_p99_ns: batches.value_at_quantile(0.99),
        batch_max_ns: batches.max(),
        peak_rss_bytes: peak,
        mmu: mmu_windows,
        compaction_bytes_per_second: compaction_rate(&stats, live_measured),
        memcpy_bytes_per_second: measure_memcpy(live_measured.max(1 << 20)),
    };
    print_report(&report);
    if let Some(path) = &args.json {
        let s = serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?;
        std::fs::write(path, s).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(())
}

fn total(list: &[(Phase, Duration)], p: Phase) -> Duration {
    list.iter()
        .find(|(q, _)| *q == p)
        .map_or(Duration::ZERO, |x| x.1)
}

fn pause_phases(stats: &GcStats) -> Vec<PhaseJson> {
    Phase::ALL
        .iter()
        .filter(|&&p| !total(&stats.phase_totals, p).is_zero())
        .map(|&p| PhaseJson {
            phase: p.name(),
            p50_ns: ns(stats.phase_quantile(p, 0.5)),
            p99_ns: ns(stats.phase_quantile(p, 0.99)),
            max_ns: ns(stats.phase_quantile(p, 1.0)),
            total_ns: ns(total(&stats.phase_totals, p)),
        })
        .collect()
}

/// Live bytes compacted per second of compaction (in the pause or not).
fn compaction_rate(stats: &GcStats, live: usize) -> f64 {
    let t = total(&stats.phase_totals, Phase::Compact)
        + total(&stats.concurrent_totals, Phase::Compact);
    if t.is_zero() {
        0.0
    } else {
        live as f64 * stats.cycles as f64 / t.as_secs_f64()
    }
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
        "mode {} (requested {}): {}; {} thread(s), live {} MiB, limit {} MiB, {:.1}s churn",
        r.mode,
        r.mode_requested,
        r.compaction,
        r.threads,
        r.live_bytes_measured >> 20,
        r.heap_limit_bytes >> 20,
        r.churn_seconds
    );
    println!(
        "cycles {} pauses {}  pause p50 {:.3}ms p99 {:.3}ms max {:.3}ms total {:.1}ms  flip pause p50 {:.3}ms p99 {:.3}ms max {:.3}ms",
        r.cycles,
        r.pause_count,
        ms(r.pause_p50_ns),
        ms(r.pause_p99_ns),
        ms(r.pause_max_ns),
        ms(r.pause_total_ns),
        ms(r.flip_pause_p50_ns),
        ms(r.flip_pause_p99_ns),
        ms(r.flip_pause_max_ns),
    );
    println!(
        "{:<12} {:>10} {:>10} {:>10}",
        "pause phase", "p50 ms", "p99 ms", "max ms"
    );
    for p in &r.pause_phases {
        println!(
            "{:<12} {:>10.3} {:>10.3} {:>10.3}",
            p.phase,
            ms(p.p50_ns),
            ms(p.p99_ns),
            ms(p.max_ns)
        );
    }
    println!(
        "time to safepoint p50 {:.3}ms p99 {:.3}ms max {:.3}ms; pacing: {} sleeps, {:.1}ms in all ({:.1}% of thread time)",
        ms(r.safepoint_p50_ns),
        ms(r.safepoint_p99_ns),
        ms(r.safepoint_max_ns),
        r.paced,
        ms(r.pacing_ns),
        r.pacing_ns as f64 / 1e9 / (r.churn_seconds * r.threads as f64) * 100.0
    );
    if !r.concurrent_phase_total_ns.is_empty() {
        let list: Vec<String> = r
            .concurrent_phase_total_ns
            .iter()
            .map(|(p, t)| format!("{p} {:.1}ms", ms(*t)))
            .collect();
        println!("concurrent totals: {}", list.join(", "));
    }
    println!(
        "faults {} (service p50 {:.1}us p99 {:.1}us p99.9 {:.1}us max {:.1}us)  gc cpu {:.2}s of {:.2}s process cpu",
        r.mutator_faults,
        r.fault_service_p50_ns as f64 / 1e3,
        r.fault_service_p99_ns as f64 / 1e3,
        r.fault_service_p999_ns as f64 / 1e3,
        r.fault_service_max_ns as f64 / 1e3,
        r.gc_cpu_ns as f64 / 1e9,
        r.process_cpu_ns as f64 / 1e9,
    );
    let mmu: Vec<String> = r
        .mmu
        .iter()
        .map(|m| {
            format!(
                "{} ms {:.1}%",
                m.window_ns / 1_000_000,
                m.utilisation * 100.0
            )
        })
        .collect();
    println!("minimum mutator utilisation: {}", mmu.join(", "));
    println!(
        "throughput {:.2} M allocs/s, {}-op batches p50 {:.2}ms p99 {:.2}ms max {:.2}ms, peak RSS {} MiB, compaction {:.2} GB/s vs memcpy {:.2} GB/s",
        r.allocations_per_second / 1e6,
        r.batch_ops,
        ms(r.batch_p50_ns),
        ms(r.batch_p99_ns),
        ms(r.batch_max_ns),
        r.peak_rss_bytes >> 20,
        r.compaction_bytes_per_second / 1e9,
        r.memcpy_bytes_per_second / 1e9
    );
}
