//! Mutator-observed fault latency: what a mutator thread waits when it
//! touches a heap page that is not compacted yet, timed around the load
//! itself (fault entry, signal delivery, the handler computing and
//! installing the page, `sigreturn`, the retried load), next to the
//! runtime's own fault service times (from the handler's entry), which
//! leave the kernel's part out.
//!
//! Builds pausebench's churn heap, scatters it like compactbench, then for
//! each of `--cycles` collections starts the concurrent compaction and reads
//! random bucket slots (three loads: the directory's slot, the bucket's
//! header, the bucket's slot)
//! while it runs, timing each load. Two distributions are printed:
//! - *slow loads*: every load slower than `--threshold-ns`, whatever stalled
//!   it (a fault, but also a timer interrupt, a TLB shootdown, the thread
//!   preempted); their count is printed next to the runtime's fault count;
//! - *faulting loads* (SIGBUS modes only): the loads during which this
//!   thread's SIGBUS handler served a fault
//!   ([`gc::compact::concurrent::sigbus::faults_served`]), whatever their
//!   time: the fault latency itself.
//!
//! `cargo run --release -p benches --bin fault-observed -- --live 1G --cycles 3`

use std::hint::black_box;
use std::time::Instant;

use benches::progress::{Counters, Progress, ProgressArgs};
use benches::workload::{Churn, Rng, BUCKET_SLOTS};
use clap::Parser;
use gc::compact::concurrent::sigbus::faults_served;
use hdrhistogram::Histogram;
use runtime::{parse_size, Mode, Runtime};

#[derive(Parser)]
#[command(
    version,
    about = "Mutator-observed fault latency during concurrent compaction"
)]
struct Args {
    /// Compaction mode (a uffd mode: stw has no faults).
    #[arg(long, value_enum, default_value_t = Mode::Uffd)]
    mode: Mode,
    /// Live heap in bytes with an optional K/M/G suffix (binary units),
    /// e.g. 256M, 1G.
    #[arg(long, value_name = "SIZE", default_value = "1G", value_parser = parse_size)]
    live: usize,
    /// Collections to read through.
    #[arg(long, default_value_t = 3)]
    cycles: usize,
    /// Timed reads per collection (the compaction usually ends before).
    #[arg(long, default_value_t = 400_000)]
    reads: usize,
    /// A load slower than this many nanoseconds counts as a slow one.
    #[arg(long, value_name = "NS", default_value_t = 2_000)]
    threshold_ns: u64,
    /// PRNG seed.
    #[arg(long, default_value_t = 7)]
    seed: u64,
    #[command(flatten)]
    progress: ProgressArgs,
}

fn main() {
    if let Err(e) = run(&Args::parse()) {
        eprintln!("fault-observed: {e}");
        std::process::exit(1);
    }
}

fn mib(bytes: usize) -> f64 {
    bytes as f64 / (1u64 << 20) as f64
}

fn us(h: &Histogram<u64>, q: f64) -> f64 {
    h.value_at_quantile(q) as f64 / 1e3
}

fn run(args: &Args) -> Result<(), String> {
    let counters = Counters::new();
    let count = counters.clone();
    let rt = Runtime::builder()
        .on_pause_event(move |e| count.count_cycles(e))
        .mode(args.mode)
        .heap_limit(args.live * 5 / 2)
        .build()
        .map_err(|e| e.to_string())?;
    if rt.mode() != args.mode {
        return Err(format!(
            "{} unavailable: {:?}",
            args.mode,
            rt.fallback_reason()
        ));
    }
    eprintln!("fault-observed: {}", rt.describe());
    let progress = Progress::start("fault-observed", &args.progress, counters.clone(), None);
    let mut m = rt.mutator().map_err(|e| e.to_string())?;
    let mut churn = Churn::build(&mut m, args.live, args.seed).map_err(|e| e.to_string())?;
    counters.add_allocations(churn.allocations);
    eprintln!(
        "fault-observed: built {:.1} MiB live; scattering",
        mib(args.live)
    );
    for i in 0..args.live / 200 {
        churn.step(&mut m).map_err(|e| e.to_string())?;
        if i % 4096 == 0 {
            counters
                .allocations
                .store(churn.allocations, std::sync::atomic::Ordering::Relaxed);
        }
    }
    m.finish_cycle().map_err(|e| e.to_string())?;
    let mut observed =
        Histogram::<u64>::new_with_bounds(1, 10_000_000_000, 3).expect("1 ns .. 10 s, 3 digits");
    let mut faulting = observed.clone();
    let mut loads = 0u64;
    let mut rng = Rng::new(args.seed ^ 0xfa17);
    rt.quiesce();
    rt.reset_stats();
    for cycle in 0..args.cycles {
        m.collect().map_err(|e| e.to_string())?;
        // The compaction runs now; every load below may fault.
        let dir = m
            .stack_get(0)
            .as_object()
            .ok_or("the directory is an object")?;
        let buckets = dir.slot_count();
        let mut slow = 0u64;
        for _ in 0..args.reads {
            let (b, i) = (rng.below(buckets), rng.below(BUCKET_SLOTS));
            // Three loads, each touching one page: the directory's slot,
            // the bucket's header (`slot` reads it to check the index; a
            // bucket spans two pages), the bucket's slot.
            let f0 = faults_served();
            let t0 = Instant::now();
            let bucket = black_box(dir.slot(b)).as_object().ok_or("a bucket")?;
            let t1 = Instant::now();
            let f1 = faults_served();
            black_box(bucket.slot_count());
            let t2 = Instant::now();
            let f2 = faults_served();
            black_box(bucket.slot(i));
            let t3 = Instant::now();
            let f3 = faults_served();
            for (d, faulted) in [(t1 - t0, f1 > f0), (t2 - t1, f2 > f1), (t3 - t2, f3 > f2)] {
                let ns = d.as_nanos() as u64;
                loads += 1;
                if faulted {
                    faulting.saturating_record(ns);
                }
                if ns >= args.threshold_ns {
                    slow += 1;
                    observed.saturating_record(ns);
                }
            }
        }
        rt.quiesce();
        eprintln!(
            "fault-observed: cycle {cycle}: {slow} slow loads of {}",
            3 * args.reads
        );
    }
    drop(progress);
    let stats = rt.stats();
    println!(
        "mode {}, live {:.1} MiB, {} cycles: {} of {loads} loads slower than {} ns; the runtime counted {faults} faults",
        args.mode,
        mib(args.live),
        args.cycles,
        observed.len(),
        args.threshold_ns,
        faults = stats.faults,
    );
    println!(
        "mutator-observed (slow loads): p50 {:.1} us, p90 {:.1} us, p99 {:.1} us, max {:.1} us",
        us(&observed, 0.5),
        us(&observed, 0.9),
        us(&observed, 0.99),
        observed.max() as f64 / 1e3
    );
    if faulting.is_empty() {
        println!(
            "faulting loads: not told apart in this mode (faults are served by worker threads)"
        );
    } else {
        println!(
            "faulting loads (served by this thread's handler): {}: p50 {:.1} us, p90 {:.1} us, p99 {:.1} us, p99.9 {:.1} us, max {:.1} us",
            faulting.len(),
            us(&faulting, 0.5),
            us(&faulting, 0.9),
            us(&faulting, 0.99),
            us(&faulting, 0.999),
            faulting.max() as f64 / 1e3
        );
    }
    println!(
        "handler (fault service, the runtime's): p50 {:.1} us, p99 {:.1} us, max {:.1} us",
        stats.fault_service_quantile(0.5).as_secs_f64() * 1e6,
        stats.fault_service_quantile(0.99).as_secs_f64() * 1e6,
        stats.fault_service_quantile(1.0).as_secs_f64() * 1e6,
    );
    Ok(())
}
