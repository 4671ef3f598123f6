//! Command-line arguments and how a run is configured from them.

use std::path::PathBuf;

use crate::rt::Mode;
use clap::Parser;

/// Runs a Lox script (or a REPL) on the project's garbage-collected heap.
///
/// Exit codes follow clox: 0 success, 65 compile error, 70 runtime error
/// (including `Out of memory.`), 74 unreadable script, 64 bad usage.
#[derive(Debug, Parser)]
#[command(name = "demo-vm", version, args_override_self = true)]
pub struct Cli {
    /// The Lox script to run. Without one, a REPL reads lines from stdin.
    pub script: Option<PathBuf>,

    /// Compaction mode of the collector: `stw` (stop-the-world sliding),
    /// `uffd-copy` (concurrent compaction through userfaultfd MISSING faults
    /// and UFFDIO_COPY) or `uffd` (uffd-copy plus the non-moving space through
    /// MINOR faults). Modes the kernel or runtime cannot provide fall back to
    /// stw. Default: the runtime's (GC_MODE, else stw).
    #[arg(long = "gc", value_name = "MODE", value_parser = parse_mode)]
    pub gc: Option<Mode>,

    /// Upper bound on heap bytes, with an optional K/M/G suffix (e.g. 64M,
    /// 1G). A program that needs more after a full collection stops with
    /// `Out of memory.` (exit 70). Default: the runtime's (GC_HEAP_LIMIT).
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub heap_limit: Option<usize>,

    /// Print one telemetry line per collection cycle on stderr.
    #[arg(long)]
    pub gc_log: bool,

    /// Print a summary at exit on stderr: cycles, pause p50/p99/max, faults.
    #[arg(long)]
    pub gc_stats: bool,

    /// Collect at every allocation (slow; for testing that every object
    /// reference the VM holds survives being moved).
    #[arg(long)]
    pub gc_stress: bool,
}

fn parse_mode(s: &str) -> Result<Mode, String> {
    s.parse::<Mode>().map_err(|e| e.to_string())
}

fn parse_size(s: &str) -> Result<usize, String> {
    crate::rt::parse_size(s).map_err(|e| e.to_string())
}

/// Builds the runtime the flags ask for (environment variables first, flags
/// override them).
pub fn build_runtime(cli: &Cli) -> Result<crate::rt::Runtime, crate::rt::ConfigError> {
    let mut b = crate::rt::Runtime::builder();
    if let Some(m) = cli.gc {
        b = b.mode(m);
    }
    if let Some(n) = cli.heap_limit {
        b = b.heap_limit(n);
    }
    if cli.gc_log {
        b = b.log(true);
    }
    if cli.gc_stress {
        b = b.stress(true);
    }
    b.build()
}
