//! The runtime's log: every line the runtime writes goes through here, to
//! the embedder's hook ([`crate::RuntimeBuilder::logger`]) or, by default,
//! to stderr with a `[gc]` prefix.
//!
//! By default informational lines (one per cycle, fallbacks, stalls:
//! [`LogLevel::Info`]) are written only when logging is on (`GC_LOG=1` or
//! [`crate::RuntimeBuilder::log`]); warnings ([`LogLevel::Warning`]: a
//! pause that has waited 10 s for a thread, a collection step that failed
//! and will be retried) are written always. With a hook installed, the
//! hook gets every warning, and the informational lines when logging is on;
//! the runtime itself then writes nothing.

use std::sync::Arc;

/// How much a log line matters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum LogLevel {
    /// What the collector did: a cycle, a fallback, a stall.
    Info,
    /// Something an operator should look at; the runtime goes on.
    Warning,
}

/// Where log lines go: `hook(level, line)` (the line has no prefix and no
/// newline).
pub type LogHook = Arc<dyn Fn(LogLevel, &str) + Send + Sync>;

/// The runtime's log sink.
#[derive(Clone)]
pub(crate) struct Logger {
    /// Informational lines are wanted.
    pub(crate) info: bool,
    hook: Option<LogHook>,
}

impl Logger {
    pub(crate) fn new(info: bool, hook: Option<LogHook>) -> Logger {
        Logger { info, hook }
    }

    /// Logs the line `line()` makes, if lines of `level` are wanted (the
    /// line is not formatted otherwise).
    pub(crate) fn log(&self, level: LogLevel, line: impl FnOnce() -> String) {
        if level == LogLevel::Info && !self.info {
            return;
        }
        let line = line();
        match &self.hook {
            Some(hook) => hook(level, &line),
            None => eprintln!("[gc] {line}"),
        }
    }
}
