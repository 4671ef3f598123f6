//! `pausebench`: keeps a live heap while churning allocations and reports
//! the collector's pauses (the flip pause separately), each phase (paused
//! and concurrent), GC CPU time, fault counts and service times, mutator
//! throughput and hiccups, and peak RSS. Compaction throughput is set beside
//! a plain `memcpy` of the same bytes measured in the same run.
//!
//! `cargo run --release -p benches --bin pausebench -- --mode uffd --live 256M --seconds 10 [--threads 4] [--json out.json]`
//!
//! The JSON also holds the churn's timeline (every pause with its start,
//! length and kind, and the heap in use every `--sample-ms`), which
//! `gc-plot` draws.
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
use benches::progress::{Counters, Progress, ProgressArgs};
use benches::timeline::{Recorder, Timeline};
use benches::workload::Churn;
use clap::Parser;
use gc::Phase;
use hdrhistogram::Histogram;
use runtime::stats::CycleKindsJson;
use runtime::{parse_size, GcStats, Mode, Runtime};
use serde::Serialize;

#[derive(Parser, Debug)]
#[command(
    version,
    about = "Pause-time benchmark: a live heap under allocation churn"
)]
struct Args {
    /// Compaction mode.
    #[arg(long, value_enum, default_value_t = Mode::Uffd)]
    mode: Mode,
    /// Live heap to keep, in bytes with an optional K/M/G suffix (binary
    /// units), e.g. 64M, 256M, 1G.
    #[arg(long, value_name = "SIZE", default_value = "256M", value_parser = parse_size)]
    live: usize,
    /// Seconds of churn after the live heap is built.
    #[arg(long, value_name = "SECONDS", default_value_t = 10.0)]
    seconds: f64,
    /// Heap limit in bytes with an optional K/M/G suffix (default: 2.5x the
    /// live heap).
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    heap_limit: Option<usize>,
    /// Soft limit (a goal the trigger aims below, at most the heap limit;
    /// like Go's GOMEMLIMIT) in bytes with an optional K/M/G suffix
    /// (default: none).
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    soft_limit: Option<usize>,
    /// Threads serving faults (uffd modes without SIGBUS).
    #[arg(long, value_name = "THREADS", default_value_t = 1)]
    fault_workers: usize,
    /// Threads compacting concurrently (uffd modes; default: the runtime's,
    /// `GC_COMPACT_THREADS` or one per CPU).
    #[arg(long, value_name = "THREADS")]
    compact_threads: Option<usize>,
    /// Do not verify the churn structure after the run (verified by
    /// default).
    #[arg(long)]
    no_check: bool,
    /// PRNG seed.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Mutator threads, each churning its share of the live heap.
    #[arg(long, value_name = "THREADS", default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=256))]
    threads: u16,
    /// Milliseconds between samples of the heap in use for the JSON's
    /// timeline.
    #[arg(long, value_name = "MS", default_value_t = 10.0)]
    sample_ms: f64,
    /// Write the results as JSON here (with the timeline of pauses and
    /// heap use that gc-plot draws).
    #[arg(long, value_name = "FILE")]
    json: Option<std::path::PathBuf>,
    /// Print the name of every mode, one a line, and exit (for scripts).
    #[arg(long)]
    list_modes: bool,
    #[command(flatten)]
    progress: ProgressArgs,
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
    /// Young and full cycles: counts, pauses, GC CPU, the policy's reasons.
    #[serde(flatten)]
    kinds: CycleKindsJson,
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
    /// other threads ran), their total and the longest.
    paced: u64,
    pacing_ns: u64,
    pacing_max_ns: u64,
    /// Of `pacing_ns`, sleeps during a compaction (the rest fell in
    /// marking or planning).
    pacing_compacting_ns: u64,
    /// Compaction work allocating threads did at pacing thresholds
    /// instead of sleeping: times, total and pages installed.
    assists: u64,
    assist_ns: u64,
    assist_pages: u64,
    /// Their CPU time and the longest one (wall).
    assist_cpu_ns: u64,
    assist_max_ns: u64,
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
    /// Every pause of the churn and the heap in use over time.
    timeline: Timeline,
}

fn ns(d: Duration) -> u64 {
    d.as_nanos() as u64
}

/// Operations per timed mutator batch (the peers' hiccup measure).
const BATCH: u64 = 4096;

fn main() {
    let args = Args::parse();
    if args.list_modes {
        for m in Mode::ALL {
            println!("{m}");
        }
        return;
    }
    if let Err(e) = run(&args) {
        eprintln!("pausebench: {e}");
        std::process::exit(1);
    }
}

/// What one churning thread did.
struct ThreadResult {
    batches: Histogram<u64>,
    /// The longest batch, exact (the histogram rounds up).
    batch_max: u64,
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
    counters: &Counters,
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
    let mut batch_max = 0;
    while start.elapsed() < deadline {
        let t = Instant::now();
        let allocs = churn.allocations;
        for _ in 0..BATCH {
            churn.step(&mut m).map_err(|e| e.to_string())?;
        }
        let d = ns(t.elapsed()).max(1);
        batches.saturating_record(d);
        batch_max = batch_max.max(d);
        counters.add_allocations(churn.allocations - allocs);
    }
    if !args.no_check {
        let n = churn.check(&m)?;
        eprintln!("pausebench: thread {t}: structure checked ({n} nodes)");
    }
    Ok(ThreadResult {
        batches,
        batch_max,
        allocations: churn.allocations - allocs_before,
        ops: churn.ops - ops_before,
    })
}

fn run(args: &Args) -> Result<(), String> {
    let limit = args.heap_limit.unwrap_or(args.live / 2 * 5);
    let spans: Arc<Mutex<Vec<(Instant, Duration)>>> = Arc::default();
    let sink = spans.clone();
    let counters = Counters::new();
    let recorder = Recorder::new(Duration::from_secs_f64(args.sample_ms.max(0.1) / 1e3));
    let (count, record) = (counters.clone(), recorder.clone());
    let mut builder = Runtime::builder().on_pause_event(move |e| {
        count.count_cycles(e);
        record.pause(e);
    });
    if let Some(n) = args.compact_threads {
        builder = builder.compaction_threads(n);
    }
    if let Some(n) = args.soft_limit {
        builder = builder.soft_limit(n);
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
        "pausebench: {} thread(s) building {:.1} MiB live (limit {:.1} MiB)...",
        args.threads,
        mib(args.live),
        mib(limit)
    );
    let n = args.threads as usize;
    let (built, go) = (Barrier::new(n + 1), Barrier::new(n + 1));
    let start_at: Mutex<Option<Instant>> = Mutex::new(None);
    let (results, start, elapsed, live_measured, cpu_used) = std::thread::scope(|s| {
        let workers: Vec<_> = (0..args.threads)
            .map(|t| {
                let (rt, built, go, start_at) = (&rt, &built, &go, &start_at);
                let counters = &counters;
                s.spawn(move || churn_thread(rt, args, t, built, go, start_at, counters))
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
            "pausebench: live {:.1} MiB measured; churning for {}s",
            mib(live_measured),
            args.seconds
        );
        let cpu_before = process_cpu();
        let start = Instant::now();
        recorder.start_sampling(&rt);
        let progress = Progress::start("pausebench", &args.progress, counters.clone(), None);
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
        drop(progress);
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
    let timeline = recorder.finish(start, elapsed, limit);
    let process_cpu_used = cpu_used;
    let peak = peak_rss().unwrap_or(0);
    let mut batches = new_histogram()?;
    let (mut allocations, mut operations, mut batch_max) = (0, 0, 0);
    for r in results {
        let r = r?;
        batch_max = batch_max.max(r.batch_max);
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
        kinds: stats.kinds_json(),
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
        pacing_max_ns: ns(stats.longest_pacing_sleep),
        pacing_compacting_ns: ns(stats.pacing_compacting),
        assists: stats.assists,
        assist_ns: ns(stats.assist_time),
        assist_pages: stats.assist_pages,
        assist_cpu_ns: ns(stats.assist_cpu),
        assist_max_ns: ns(stats.longest_assist),
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
        // Quantiles clamped to the maximum (hdrhistogram rounds up).
        batch_p50_ns: batches.value_at_quantile(0.5).min(batch_max),
        batch_p99_ns: batches.value_at_quantile(0.99).min(batch_max),
        batch_max_ns: batch_max,
        peak_rss_bytes: peak,
        mmu: mmu_windows,
        compaction_bytes_per_second: compaction_rate(&stats, live_measured),
        memcpy_bytes_per_second: measure_memcpy(live_measured.max(1 << 20)),
        timeline,
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

fn mib(bytes: usize) -> f64 {
    bytes as f64 / (1u64 << 20) as f64
}

fn print_report(r: &Report) {
    println!(
        "mode {} (requested {}): {}; {} thread(s), live {:.1} MiB, limit {:.1} MiB, {:.1}s churn",
        r.mode,
        r.mode_requested,
        r.compaction,
        r.threads,
        mib(r.live_bytes_measured),
        mib(r.heap_limit_bytes),
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
    let k = &r.kinds;
    if k.young_cycles > 0 {
        println!(
            "young {} (max pause {:.3}ms, gc cpu {:.1}ms), full {} (max pause {:.3}ms, gc cpu {:.1}ms)",
            k.young_cycles,
            ms(k.young_pause_max_ns),
            ms(k.young_gc_cpu_ns),
            k.full_cycles,
            ms(k.full_pause_max_ns),
            ms(k.full_gc_cpu_ns)
        );
    }
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
    let share = |ns: u64| ns as f64 / 1e9 / (r.churn_seconds * r.threads as f64) * 100.0;
    println!(
        "time to safepoint p50 {:.3}ms p99 {:.3}ms max {:.3}ms; pacing: {} sleeps, {:.1}ms in all ({:.1}% of thread time), longest {:.3}ms",
        ms(r.safepoint_p50_ns),
        ms(r.safepoint_p99_ns),
        ms(r.safepoint_max_ns),
        r.paced,
        ms(r.pacing_ns),
        share(r.pacing_ns),
        ms(r.pacing_max_ns),
    );
    println!(
        "pacing sleeps: {:.1}% of thread time in marking/planning, {:.1}% in compaction; assists: {} ({} pages), {:.1}ms in all ({:.1}% of thread time, CPU {:.1}ms), longest {:.3}ms",
        share(r.pacing_ns - r.pacing_compacting_ns),
        share(r.pacing_compacting_ns),
        r.assists,
        r.assist_pages,
        ms(r.assist_ns),
        share(r.assist_ns),
        ms(r.assist_cpu_ns),
        ms(r.assist_max_ns),
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
        "throughput {:.2} M allocs/s, {}-op batches p50 {:.2}ms p99 {:.2}ms max {:.2}ms, peak RSS {:.1} MiB, compaction {:.2} GB/s vs memcpy {:.2} GB/s",
        r.allocations_per_second / 1e6,
        r.batch_ops,
        ms(r.batch_p50_ns),
        ms(r.batch_p99_ns),
        ms(r.batch_max_ns),
        mib(r.peak_rss_bytes),
        r.compaction_bytes_per_second / 1e9,
        r.memcpy_bytes_per_second / 1e9
    );
}
