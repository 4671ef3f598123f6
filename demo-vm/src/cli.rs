//! Command-line arguments and how a run is configured from them.

use std::path::PathBuf;

use crate::rt::Mode;
use clap::Parser;
use runtime::LogLevel;

/// Runs a Lox script (or a REPL) on the project's garbage-collected heap.
///
/// Exit codes follow clox: 0 success, 65 compile error, 70 runtime error
/// (including `Out of memory.`), 74 unreadable script, 64 bad usage.
#[derive(Debug, Parser)]
#[command(name = "demo-vm", version, args_override_self = true)]
pub struct Cli {
    /// The Lox script to run. Without one, a REPL reads lines from stdin.
    pub script: Option<PathBuf>,

    /// Compaction mode of the collector. Modes the kernel cannot provide
    /// degrade with a logged reason (see --gc-log). Default: GC_MODE, else
    /// uffd.
    #[arg(long = "gc", value_name = "MODE", value_enum)]
    pub gc: Option<Mode>,

    /// Upper bound on heap bytes, with an optional K/M/G suffix (e.g. 64M,
    /// 1G). A program that needs more after a full collection stops with
    /// `Out of memory.` (exit 70). Default: GC_HEAP_LIMIT, else 1G.
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub heap_limit: Option<usize>,

    /// A goal for heap bytes, at most the heap limit, with an optional
    /// K/M/G suffix (like Go's GOMEMLIMIT): cycles start early enough to
    /// keep the heap below it, but live data that needs more grows the
    /// heap past it, up to the heap limit. Default: GC_SOFT_LIMIT, else
    /// none.
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub soft_limit: Option<usize>,

    /// Print the GC log on stderr: `--gc-log` is one line per cycle
    /// (info), `--gc-log=debug` adds each cycle's phases, `--gc-log=trace`
    /// each pause. Default: GC_LOG, else off.
    #[arg(
        long,
        value_name = "LEVEL",
        value_enum,
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "info"
    )]
    pub gc_log: Option<LogLevel>,

    /// Print a summary at exit on stderr: cycles, pause p50/p99/max, faults.
    #[arg(long)]
    pub gc_stats: bool,

    /// Collect at every allocation (slow; for testing that every object
    /// reference the VM holds survives being moved).
    #[arg(long)]
    pub gc_stress: bool,
}

fn parse_size(s: &str) -> Result<usize, String> {
    crate::rt::parse_size(s).map_err(|e| e.to_string())
}

/// The heap limit when neither `--heap-limit` nor `GC_HEAP_LIMIT` sets one.
///
/// The runtime's own default (256 MiB) is too tight for the VM: Lox objects
/// are large (an instance plus its field table per tree node), and the peer
/// kit's GCBench (`examples/gcbench.lox`) keeps about 190 MiB live, so at
/// 256 MiB its mutator waits at the limit for much of its run (pause share
/// and wall time per limit: `benches/results/demo-vm-2026-11-30.md`). Programs with a small
/// live set are unaffected: the next cycle triggers at live x growth, far
/// below either limit, and nothing is reserved up front by a larger limit.
pub const DEFAULT_HEAP_LIMIT: usize = 1 << 30;

/// Builds the runtime the flags ask for (environment variables first, flags
/// override them; without either, the heap limit is [`DEFAULT_HEAP_LIMIT`]).
pub fn build_runtime(cli: &Cli) -> Result<crate::rt::Runtime, crate::rt::ConfigError> {
    let mut b = crate::rt::Runtime::builder();
    if let Some(m) = cli.gc {
        b = b.mode(m);
    }
    if let Some(n) = cli.heap_limit {
        b = b.heap_limit(n);
    } else if std::env::var_os("GC_HEAP_LIMIT").is_none() {
        b = b.heap_limit(DEFAULT_HEAP_LIMIT);
    }
    if let Some(n) = cli.soft_limit {
        b = b.soft_limit(n);
    }
    if let Some(level) = cli.gc_log {
        b = b.log_level(level);
    }
    if cli.gc_stress {
        b = b.stress(true);
    }
    b.build()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limit_of(args: &[&str]) -> usize {
        let cli = Cli::try_parse_from(args).expect("valid arguments");
        build_runtime(&cli)
            .expect("the runtime builds")
            .heap()
            .config()
            .heap_limit
    }

    #[test]
    fn gc_log_takes_an_optional_level_and_leaves_the_script_alone() {
        let cli = Cli::try_parse_from(["demo-vm", "--gc-log", "x.lox"]).expect("valid");
        assert_eq!(cli.gc_log, Some(LogLevel::Info));
        assert_eq!(cli.script.as_deref(), Some(std::path::Path::new("x.lox")));
        let cli = Cli::try_parse_from(["demo-vm", "--gc-log=trace"]).expect("valid");
        assert_eq!(cli.gc_log, Some(LogLevel::Trace));
        assert!(Cli::try_parse_from(["demo-vm", "--gc-log=loud"]).is_err());
    }

    #[test]
    fn heap_limit_defaults_to_1g_and_the_flag_overrides_it() {
        if std::env::var_os("GC_HEAP_LIMIT").is_none() {
            assert_eq!(limit_of(&["demo-vm", "--gc", "stw"]), DEFAULT_HEAP_LIMIT);
        }
        assert_eq!(
            limit_of(&["demo-vm", "--gc", "stw", "--heap-limit", "8M"]),
            8 << 20
        );
    }
}
