//! `gc-stress`: mutator threads build, share and mutate random object
//! graphs and check them against their models while the collector runs;
//! the heap is verified after every full collection and periodically.
//! See [`benches::stress`] for what the workers do.
//!
//! `cargo run --release -p benches --bin gc-stress -- --threads 4 --seconds 30 --mode uffd --seed 1 [--live 32M] [--young-every 2 --collect-ms 200] [--json out.json]`
//!
//! The JSON holds the summary and the run's timeline (every pause with its
//! start, length and kind, and the heap in use over time) for `gc-plot`.
//!
//! Exit codes: 0 all checks passed; 1 a check, verification, allocation or
//! thread failed (the failures are printed); 2 bad arguments or setup;
//! 3 the watchdog saw no progress (a deadlock).

use std::time::Duration;

use benches::progress::ProgressArgs;
use benches::stress::{run, StressConfig};
use clap::Parser;
use runtime::{parse_size, Mode};

#[derive(Parser, Debug)]
#[command(
    version,
    about = "Stress test: threads mutating shared object graphs, checked continuously"
)]
struct Args {
    /// Mutator threads running at any time.
    #[arg(long, value_name = "THREADS", default_value_t = 4)]
    threads: usize,
    /// Length of the run in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 10.0)]
    seconds: f64,
    /// Compaction mode.
    #[arg(long, value_enum, default_value_t = Mode::Uffd)]
    mode: Mode,
    /// Seed of the workers' generators.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Live heap to aim for, spread over the threads, in bytes with an
    /// optional K/M/G suffix (binary units), e.g. 32M.
    #[arg(long, value_name = "SIZE", default_value = "32M", value_parser = parse_size)]
    live: usize,
    /// Heap limit in bytes with an optional K/M/G suffix (default: 4x the
    /// live heap).
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    heap_limit: Option<usize>,
    /// Soft limit (a goal the trigger aims below, at most the heap limit;
    /// like Go's GOMEMLIMIT) in bytes with an optional K/M/G suffix
    /// (default: none).
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    soft_limit: Option<usize>,
    /// Objects of at least this many bytes (K/M/G suffix allowed) go to the
    /// non-moving space.
    #[arg(long, value_name = "SIZE", default_value = "32K", value_parser = parse_size)]
    large_object_threshold: usize,
    /// Do not have the runtime verify the heap after every full collection
    /// (the periodic verification still runs).
    #[arg(long)]
    no_verify_collections: bool,
    /// Abort with exit code 3 when no thread made progress this many
    /// seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 60)]
    watchdog_seconds: u64,
    /// Milliseconds between the explicit collections a worker runs.
    #[arg(long, value_name = "MS", default_value_t = StressConfig::default().collect_interval.as_millis() as u64)]
    collect_ms: u64,
    /// Turn generational collection on and make one explicit collection in
    /// N young (at random from the seed) rather than full, so young and full
    /// cycles mix (0: all full; generational as GC_GENERATIONAL or the
    /// runtime's default says).
    #[arg(long, value_name = "N", default_value_t = 0)]
    young_every: u32,
    /// Mean operations of a worker thread before a new one replaces it.
    #[arg(long, value_name = "OPS", default_value_t = StressConfig::default().lifetime_ops)]
    lifetime_ops: u64,
    /// Milliseconds between samples of the heap in use for the JSON's
    /// timeline.
    #[arg(long, value_name = "MS", default_value_t = 10.0)]
    sample_ms: f64,
    /// Also write the summary and the timeline as JSON here.
    #[arg(long, value_name = "FILE")]
    json: Option<std::path::PathBuf>,
    /// Print the name of every mode, one a line, and exit (for scripts).
    #[arg(long)]
    list_modes: bool,
    #[command(flatten)]
    progress: ProgressArgs,
}

fn main() {
    let args = Args::parse();
    if args.list_modes {
        for m in Mode::ALL {
            println!("{m}");
        }
        return;
    }
    if !(args.seconds.is_finite() && args.seconds >= 0.0) || args.threads == 0 {
        eprintln!("gc-stress: --seconds must be a non-negative number and --threads at least 1");
        std::process::exit(2);
    }
    let config = StressConfig {
        threads: args.threads,
        duration: Duration::from_secs_f64(args.seconds),
        mode: args.mode,
        seed: args.seed,
        live: args.live,
        heap_limit: args.heap_limit,
        soft_limit: args.soft_limit,
        large_object_threshold: args.large_object_threshold,
        verify_collections: !args.no_verify_collections,
        watchdog: Duration::from_secs(args.watchdog_seconds),
        lifetime_ops: args.lifetime_ops,
        collect_interval: Duration::from_millis(args.collect_ms.max(1)),
        young_every: args.young_every,
        progress: (!args.progress.no_progress && args.progress.progress_seconds > 0.0)
            .then(|| Duration::from_secs_f64(args.progress.progress_seconds)),
        sample_interval: Duration::from_secs_f64(args.sample_ms.max(0.1) / 1e3),
        ..StressConfig::default()
    };
    let report = match run(&config) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("gc-stress: {e}");
            std::process::exit(2);
        }
    };
    println!("{report}");
    if let Some(path) = &args.json {
        let written = serde_json::to_string_pretty(&report)
            .map_err(|e| e.to_string())
            .and_then(|s| std::fs::write(path, s).map_err(|e| format!("{}: {e}", path.display())));
        if let Err(e) = written {
            eprintln!("gc-stress: writing the JSON summary: {e}");
            std::process::exit(2);
        }
    }
    if !report.passed() {
        std::process::exit(1);
    }
}
