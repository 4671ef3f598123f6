//! Progress on stderr for runs longer than a few seconds: elapsed time, GC
//! cycles and allocations per second on one line, rewritten in place when
//! stderr is a terminal, a line every `--progress-seconds` otherwise (so
//! logs of CI runs stay readable). Nothing is printed in the first
//! [`QUIET_START`]: short runs stay silent.
//!
//! A binary flattens [`ProgressArgs`] into its arguments, counts cycles
//! with [`Counters::count_cycles`] in its runtime's pause-event hook and
//! its allocations in [`Counters::allocations`], and keeps the
//! [`Progress`] guard alive for the run.

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use runtime::PauseEvent;

/// Runs shorter than this print no progress.
pub const QUIET_START: Duration = Duration::from_secs(3);

/// How often the line is rewritten on a terminal.
const TERMINAL_EVERY: Duration = Duration::from_secs(1);

/// Command-line flags of the progress line.
#[derive(clap::Args, Debug, Clone)]
pub struct ProgressArgs {
    /// Print no progress on stderr.
    #[arg(long)]
    pub no_progress: bool,
    /// Seconds between progress lines when stderr is not a terminal (on a
    /// terminal one line is rewritten every second).
    #[arg(long, value_name = "SECONDS", default_value_t = 10.0)]
    pub progress_seconds: f64,
}

/// What the progress line counts; shared with the workload's threads.
#[derive(Debug, Default)]
pub struct Counters {
    /// Completed GC cycles (their last pause seen).
    pub cycles: AtomicU64,
    /// Objects allocated by the workload.
    pub allocations: AtomicU64,
}

impl Counters {
    /// New shared counters.
    pub fn new() -> Arc<Counters> {
        Arc::default()
    }

    /// Counts a cycle when `e` is its last pause (for a pause-event hook).
    pub fn count_cycles(&self, e: &PauseEvent) {
        if e.kind.ends_cycle_pauses() {
            self.cycles.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Adds `n` allocations (one writer at a time may use
    /// [`Counters::add_allocations_unshared`] instead).
    pub fn add_allocations(&self, n: u64) {
        self.allocations.fetch_add(n, Ordering::Relaxed);
    }

    /// Adds `n` allocations without a read-modify-write: for a counter only
    /// one thread writes (a plain add, no locked instruction, in a hot
    /// loop).
    pub fn add_allocations_unshared(&self, n: u64) {
        let a = &self.allocations;
        a.store(a.load(Ordering::Relaxed) + n, Ordering::Relaxed);
    }
}

/// The progress reporter: a thread that prints until dropped.
pub struct Progress {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

/// Extra text for the line (e.g. a stress run's checks), called at each
/// print.
pub type Extra = Box<dyn Fn() -> String + Send>;

impl Progress {
    /// Starts printing `name: ...` lines about `counters` (unless
    /// `--no-progress`); `extra` adds text to each.
    pub fn start(
        name: &'static str,
        args: &ProgressArgs,
        counters: Arc<Counters>,
        extra: Option<Extra>,
    ) -> Progress {
        let stop = Arc::new(AtomicBool::new(false));
        let every = Duration::from_secs_f64(args.progress_seconds.max(0.0));
        if args.no_progress || every.is_zero() {
            return Progress { stop, thread: None };
        }
        let flag = stop.clone();
        let terminal = std::io::stderr().is_terminal();
        let thread = std::thread::Builder::new()
            .name("progress".into())
            .spawn(move || {
                let every = if terminal { TERMINAL_EVERY } else { every };
                report(name, &flag, &counters, extra, terminal, every)
            })
            .ok();
        Progress { stop, thread }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// One progress line.
pub fn line(elapsed: Duration, cycles: u64, allocs_per_second: f64, extra: &str) -> String {
    let mut s = format!(
        "{:.1}s elapsed, {cycles} GC cycles, {:.2} M allocations/s",
        elapsed.as_secs_f64(),
        allocs_per_second / 1e6
    );
    if !extra.is_empty() {
        s.push_str(", ");
        s.push_str(extra);
    }
    s
}

fn report(
    name: &str,
    stop: &AtomicBool,
    counters: &Counters,
    extra: Option<Extra>,
    terminal: bool,
    every: Duration,
) {
    let start = Instant::now();
    let mut last = (start, counters.allocations.load(Ordering::Relaxed));
    let mut next = start + QUIET_START;
    let mut printed = false;
    while !stop.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(100));
        let now = Instant::now();
        if now < next {
            continue;
        }
        next = now + every;
        let allocs = counters.allocations.load(Ordering::Relaxed);
        let secs = now.duration_since(last.0).as_secs_f64().max(1e-9);
        let rate = allocs.saturating_sub(last.1) as f64 / secs;
        last = (now, allocs);
        let text = line(
            now.duration_since(start),
            counters.cycles.load(Ordering::Relaxed),
            rate,
            &extra.as_ref().map_or(String::new(), |f| f()),
        );
        let mut err = std::io::stderr().lock();
        let _ = if terminal {
            write!(err, "\r\x1b[K{name}: {text}")
        } else {
            writeln!(err, "{name}: {text}")
        };
        let _ = err.flush();
        printed = true;
    }
    if terminal && printed {
        // Leave the last state on its own line for what follows.
        let _ = writeln!(std::io::stderr());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line_says_elapsed_cycles_and_rate_with_units() {
        let l = line(Duration::from_millis(12_340), 17, 3_210_000.0, "2 checks");
        assert_eq!(
            l,
            "12.3s elapsed, 17 GC cycles, 3.21 M allocations/s, 2 checks"
        );
    }

    #[test]
    fn no_progress_starts_no_thread() {
        let args = ProgressArgs {
            no_progress: true,
            progress_seconds: 1.0,
        };
        let p = Progress::start("t", &args, Counters::new(), None);
        assert!(p.thread.is_none());
    }
}
