//! # runtime: the embedding API of the collector
//!
//! A [`Runtime`] owns a heap (configured by [`RuntimeBuilder`] and by
//! environment variables); each thread that touches the heap registers a
//! [`Mutator`] ([`Runtime::mutator`]), which carries its allocation buffer,
//! its roots and its write-barrier buffer. Any number of threads may; a
//! pause stops them all at safepoints, except threads in
//! [`Mutator::blocking`] calls, which it does not wait for.
//!
//! ## The rule, and how the types carry it
//!
//! **No safe code can read or write a moved, freed or forged object.**
//! Objects move only at safepoints of every thread. So:
//!
//! - Every mutator method that can reach a safepoint (allocation,
//!   [`Mutator::collect`], [`Mutator::safepoint`], [`Mutator::blocking`],
//!   the waits) takes `&mut self`. Everything else (reads, stores, roots)
//!   takes `&self`.
//! - Object references ([`Gc<'m>`](Gc)) and values ([`Value<'m>`](Value))
//!   borrow the mutator they were read through *shared* for `'m`. One word
//!   each, `Copy`, neither `Send` nor `Sync`. The compiler therefore
//!   rejects any reference held across a safepoint, sent to another thread,
//!   or kept past its mutator's drop (`tests/compile_fail/` holds such
//!   programs with the errors they get). Within `'m`, slot and byte
//!   accessors need no mutator at all and check indices against the
//!   object's header.
//! - [`Mutator::alloc`] returns the new object *with the mutator
//!   reborrowed shared*, `(&Mutator, Gc)`: the `&mut` borrow that may
//!   collect turns into the shared one the new object lives in, so the
//!   object can be filled, stored and rooted through the returned view at
//!   once. The next allocation needs the `&mut` mutator again, which ends
//!   every reference of the previous one (the compiler says where).
//! - What must survive a safepoint is rooted, and read back after it:
//!   handles in a scope ([`Mutator::scope`], [`Scope`], [`Handle<'s>`](Handle):
//!   a handle cannot outlive its scope), the thread's value stack
//!   ([`Mutator::push`] and friends; an interpreter's operand stack, with a
//!   documented raw fast path, [`Mutator::stack_buffer`]), or globals shared
//!   by the runtime's threads ([`Mutator::add_global`], [`Global`], tagged
//!   with their runtime: using one with another runtime's mutator panics).
//! - Stores go through [`Mutator::write`], the write barrier: its fast path
//!   is one load of this thread's flag and a branch. The flag is raised in
//!   every thread by the pause that starts a concurrent marking, and for
//!   good on a thread that holds mutators of two runtimes: there the slow
//!   path also checks that the target and the stored reference belong to
//!   this runtime (a reference of the other would go stale at its next
//!   collection), as root stores do. Weak slots are read for keeping
//!   through [`Mutator::load_weak`] (the weak-read barrier); [`Gc::slot`]
//!   refuses them.
//! - What cannot be checked is `unsafe`: turning raw bits into a value
//!   ([`Value::from_raw`]; the storage format [`RawValue`] is inert),
//!   making a raw byte range resident ([`Mutator::make_resident_raw`]; the
//!   safe form takes an object and a range of it), the raw value-stack
//!   path, slices over raw bytes ([`Gc::bytes`]). The collector's crate
//!   (`gc`) makes its own unchecked entry points `unsafe` likewise
//!   (references from addresses, allocation into a caller's buffer, the
//!   collection entry points that need every mutator stopped), and
//!   [`Runtime::heap`] is a read-only [`HeapView`].
//!
//! None of this costs a fast path anything: lifetimes are erased, the
//! shared reborrow is the same pointer, and the barrier's flag is one load
//! from the mutator's own slot (the old barrier went through two `Arc`s).
//!
//! ```
//! use runtime::{AllocSpec, Mode, Runtime, Value};
//!
//! // A cons list of the numbers 0..100 on a stop-the-world heap.
//! let rt = Runtime::builder().mode(Mode::Stw).heap_limit(16 << 20).build()?;
//! let mut m = rt.mutator()?;
//! let cons = AllocSpec { tag: 1, slots: 2, ..Default::default() };
//! let len = m.scope(|s| -> Result<usize, runtime::AllocError> {
//!     let list = s.root(Value::NIL);
//!     for i in (0..100).rev() {
//!         // `s` may collect here; `cell` and `s2` live until the next
//!         // allocation, `list` (a root) for the whole scope.
//!         let (s2, cell) = s.alloc(cons)?;
//!         s2.write(cell, 0, Value::number(i as f64));
//!         s2.write(cell, 1, s2.get(list));
//!         s2.set(list, cell);
//!     }
//!     s.collect().expect("a collection");
//!     let mut n = 0;
//!     let mut cur = s.get(list);
//!     while let Some(cell) = cur.as_object() {
//!         assert_eq!(cell.slot(0).as_number(), Some(n as f64));
//!         n += 1;
//!         cur = cell.slot(1);
//!     }
//!     Ok(n)
//! })?;
//! assert_eq!(len, 100);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! `examples/interpreter_heap.rs` is a longer embedder: a small
//! interpreter's heap with roots, a weak intern table and several threads.
//!
//! ## Modules and configuration
//!
//! Modules: [`config`] (modes, sizes, environment), [`mutator`] (allocation,
//! the write path, safepoints), [`roots`] (scopes, the value stack,
//! globals), [`value`] ([`Gc`], [`Value`]), [`view`] (the read-only heap
//! view), [`stats`] (telemetry), [`log`] (where log lines go); privately
//! `safepoint` (the thread registry and the stop protocol), `driver`
//! (pushing a concurrent cycle through its pauses) and `policy`.
//!
//! Environment variables (read by [`RuntimeBuilder::from_env`] and so by
//! [`Runtime::builder`]): `GC_MODE` (stw, uffd-copy, uffd-workers, uffd-move,
//! sigbus, uffd; default uffd, the best combination the kernel offers,
//! falling back to stw with a logged reason where userfaultfd is missing),
//! `GC_HEAP_LIMIT` (e.g. 512M), `GC_SOFT_LIMIT` (e.g. 384M; see below),
//! `GC_HEAP_GROWTH` (next trigger = live x factor), `GC_LARGE_OBJECT_THRESHOLD`, `GC_DENSE_PREFIX` (a live ratio,
//! e.g. 0.75, above which leading pages are not slid; off by default),
//! `GC_LOG` (off, info, debug or trace; 1 means info: see [`log`]), `GC_VERIFY` (verify
//! the heap after every cycle), `GC_STRESS` (collect at every allocation),
//! `GC_GENERATIONAL` (young cycles between full ones; on by default,
//! `0` turns it off),
//! `GC_PROMOTION_AGE` (`1` or `2` survived cycles before promotion; 2 in
//! stw, 1 elsewhere by default),
//! `GC_MARK_THREADS`, `GC_FAULT_WORKERS`, `GC_COMPACT_THREADS`, and
//! `GC_UFFD_DISABLE=1` (act as if the kernel had no userfaultfd; `0` or
//! empty: do not; anything else is an error).
//!
//! The runtime writes nothing on its own except through its GC log
//! ([`log`]: stderr by default, or the embedder's sink).
//!
//! ## Memory knobs
//!
//! - The **heap limit** (`GC_HEAP_LIMIT`, [`RuntimeBuilder::heap_limit`])
//!   is a wall: allocation that cannot fit below it after a full
//!   collection fails with [`OutOfMemory`]. The heap reserves address
//!   space for it at build time.
//! - The **soft limit** (`GC_SOFT_LIMIT`, [`RuntimeBuilder::soft_limit`];
//!   off by default), like Go's `GOMEMLIMIT` or ZGC's `SoftMaxHeapSize`,
//!   is a goal: cycles start early enough to keep the heap below it, but
//!   when the live data needs more the heap grows past it (up to the heap
//!   limit) rather than collecting without end, leaving room for what the
//!   mutators allocate during a cycle. Such cycles are logged
//!   with the cause `soft limit`. A soft limit above the heap limit is an
//!   error ([`ConfigError::SoftAboveHard`] from the builder, naming
//!   `GC_SOFT_LIMIT` when it came from there).
//! - The **growth factor** (`GC_HEAP_GROWTH`, [`RuntimeBuilder::growth`]):
//!   the next cycle starts at live bytes times the factor at the latest.
//!
//! All three can be changed while the runtime runs
//! ([`Runtime::set_soft_limit`], [`Runtime::set_heap_limit`],
//! [`Runtime::set_growth`]); a change applies when the next trigger is
//! computed (at the end of the next cycle's flip), but a new soft limit
//! bounds the pacing of the cycle in flight at once, and a refused change
//! ([`config::LimitError`]) leaves every knob as it was.

pub mod config;
mod driver;
pub mod log;
pub mod mutator;
mod pacing;
mod policy;
pub mod roots;
mod safepoint;
pub mod stats;
pub mod value;
pub mod view;

use std::sync::atomic::{AtomicU64, Ordering};

use std::sync::Arc;

use gc::collector::{ConcurrentCollector, UffdOptions};
use gc::compact::PlanTables;
use gc::mark::satb::SatbQueue;
use gc::{CycleReport, Heap, HeapConfig};
use parking_lot::Mutex;
use policy::Policy;

/// The promotion age when none is asked for
/// ([`RuntimeBuilder::promotion_age`]), as measured (docs/generational.md,
/// section 11, "Promotion age"): two survivals in the stop-the-world mode,
/// one in the concurrent modes.
fn default_promotion_age(mode: Mode) -> u8 {
    if mode == Mode::Stw {
        2
    } else {
        1
    }
}
pub use policy::PACE_SLICE;
use safepoint::Registry;

/// The next runtime's identity.
static NEXT_RUNTIME_ID: AtomicU64 = AtomicU64::new(1);

pub use config::{parse_size, ConfigError, LimitError, Mode, ModeSpec, MODES};
pub use gc::collector::CyclePhase;
pub use gc::verify::VerifyReport;
pub use gc::AllocRequest as AllocSpec;
pub use gc::KindCause;
pub use log::{Cause, CycleKind, LogLevel, PauseEvent, PauseKind};
pub use mutator::{AllocError, GcError, Mutator, OutOfMemory};
pub use roots::{Global, Handle, Scope};
pub use stats::GcStats;
pub use value::{Gc, RawValue, Value};
pub use view::HeapView;

/// A callback told the length of every pause (the time mutators were
/// stopped). It runs on the thread that paused, after the mutators resumed;
/// keep it short.
pub type PauseHook = Arc<dyn Fn(std::time::Duration) + Send + Sync>;

/// A callback told when each pause ended and how long it was (for
/// utilisation over time windows); called like [`PauseHook`].
pub type PauseSpanHook = Arc<dyn Fn(std::time::Instant, std::time::Duration) + Send + Sync>;

/// A callback told of every pause with its kind and cycle number (for
/// pause timelines); called like [`PauseHook`].
pub type PauseEventHook = Arc<dyn Fn(&PauseEvent) + Send + Sync>;

/// Builds a [`Runtime`].
#[derive(Clone)]
pub struct RuntimeBuilder {
    heap: HeapConfig,
    /// The growth factor ([`RuntimeBuilder::growth`]).
    growth: f64,
    soft_limit: Option<usize>,
    /// Whether the soft limit came from `GC_SOFT_LIMIT` (its errors name
    /// the variable).
    soft_from_env: bool,
    mode: Mode,
    log: LogLevel,
    log_sink: Option<log::LogSink>,
    stress: bool,
    verify: bool,
    /// Generational collection as asked (`None`: the mode's default).
    generational: Option<bool>,
    /// The promotion age as asked (`None`: the mode's default).
    promotion_age: Option<u8>,
    uffd: UffdOptions,
    pause_hook: Option<PauseHook>,
    span_hook: Option<PauseSpanHook>,
    event_hook: Option<PauseEventHook>,
    env_error: Option<ConfigError>,
}

impl std::fmt::Debug for RuntimeBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RuntimeBuilder")
            .field("heap", &self.heap)
            .field("growth", &self.growth)
            .field("soft_limit", &self.soft_limit)
            .field("mode", &self.mode)
            .field("log", &self.log)
            .field("log_sink", &self.log_sink.is_some())
            .field("stress", &self.stress)
            .field("verify", &self.verify)
            .field("generational", &self.generational)
            .field("promotion_age", &self.promotion_age)
            .field("uffd", &self.uffd)
            .field("pause_hook", &self.pause_hook.is_some())
            .field("env_error", &self.env_error)
            .finish()
    }
}

impl Default for RuntimeBuilder {
    fn default() -> Self {
        RuntimeBuilder {
            heap: HeapConfig::default(),
            growth: 2.0,
            soft_limit: None,
            soft_from_env: false,
            mode: Mode::Uffd,
            log: LogLevel::Off,
            log_sink: None,
            stress: false,
            verify: false,
            generational: None,
            promotion_age: None,
            uffd: UffdOptions::default(),
            pause_hook: None,
            span_hook: None,
            event_hook: None,
            env_error: None,
        }
    }
}

fn env_value<T>(
    var: &'static str,
    parse: impl Fn(&str) -> Result<T, ConfigError>,
) -> Result<Option<T>, ConfigError> {
    match std::env::var(var) {
        Ok(s) => parse(&s).map(Some).map_err(|e| ConfigError::Env {
            var,
            source: Box::new(e),
        }),
        Err(_) => Ok(None),
    }
}

impl RuntimeBuilder {
    /// Defaults, overridden by any `GC_*` environment variables.
    pub fn from_env() -> Result<RuntimeBuilder, ConfigError> {
        let mut b = RuntimeBuilder::default();
        if let Some(m) = env_value("GC_MODE", str::parse)? {
            b.mode = m;
        }
        if let Some(n) = env_value("GC_HEAP_LIMIT", parse_size)? {
            b.heap.heap_limit = n;
        }
        if let Some(n) = env_value("GC_SOFT_LIMIT", parse_size)? {
            b.soft_limit = Some(n);
            b.soft_from_env = true;
        }
        if let Some(g) = env_value("GC_HEAP_GROWTH", |s| {
            s.trim()
                .parse::<f64>()
                .ok()
                .filter(|g| (1.0..=100.0).contains(g))
                .ok_or(ConfigError::BadValue {
                    what: "heap growth factor",
                    value: s.to_string(),
                    expected: "a number from 1 to 100",
                })
        })? {
            b.growth = g;
        }
        if let Some(t) = env_value("GC_DENSE_PREFIX", |s| {
            if s.trim() == "off" {
                return Ok(f64::INFINITY);
            }
            s.trim()
                .parse::<f64>()
                .ok()
                .filter(|t| *t > 0.0)
                .ok_or(ConfigError::BadValue {
                    what: "dense-prefix threshold",
                    value: s.to_string(),
                    expected: "a live ratio above 0 (e.g. 0.75; 1 or more, or off, disables it)",
                })
        })? {
            b.heap.dense_prefix_threshold = t;
        }
        if let Some(n) = env_value("GC_LARGE_OBJECT_THRESHOLD", parse_size)? {
            b.heap.large_object_threshold = n;
        }
        if let Some(n) = env_value("GC_MARK_THREADS", |s| {
            config::parse_count(s, "mark thread count")
        })? {
            b.heap.mark_threads = n;
        }
        if let Some(n) = env_value("GC_FAULT_WORKERS", |s| {
            config::parse_count(s, "fault worker count")
        })? {
            b.uffd.fault_workers = n;
        }
        if let Some(n) = env_value("GC_COMPACT_THREADS", |s| {
            config::parse_count(s, "compaction thread count")
        })? {
            b.uffd.collector_threads = n;
        }
        // Read by the collector itself (it honours `1`); checked here so
        // that a value it would ignore is an error, as for every variable.
        env_value(gc::uffd::DISABLE_ENV, config::parse_uffd_disable)?;
        if let Some(v) = env_value("GC_UFFD_MOVE", config::parse_bool)? {
            b.uffd.moves = v;
        }
        if let Some(v) = env_value("GC_LOG", str::parse)? {
            b.log = v;
        }
        if let Some(v) = env_value("GC_VERIFY", config::parse_bool)? {
            b.verify = v;
        }
        if let Some(v) = env_value("GC_STRESS", config::parse_bool)? {
            b.stress = v;
        }
        if let Some(v) = env_value("GC_GENERATIONAL", config::parse_bool)? {
            b.generational = Some(v);
        }
        if let Some(v) = env_value("GC_PROMOTION_AGE", config::parse_promotion_age)? {
            b.promotion_age = Some(v);
        }
        Ok(b)
    }

    /// Upper bound on heap bytes (a wall: see the crate docs' memory
    /// knobs). The heap reserves address space for it; it can be lowered
    /// at run time ([`Runtime::set_heap_limit`]), not raised past this.
    pub fn heap_limit(mut self, bytes: usize) -> Self {
        self.heap.heap_limit = bytes;
        self
    }

    /// A soft limit (`GC_SOFT_LIMIT`), the goal the trigger aims below:
    /// cycles start early enough to keep the heap under it, while live
    /// data that needs more may still grow the heap up to the heap limit.
    /// Must be at most the heap limit ([`RuntimeBuilder::build`] reports
    /// [`ConfigError::SoftAboveHard`] otherwise). Off by default.
    pub fn soft_limit(mut self, bytes: usize) -> Self {
        self.soft_limit = Some(bytes);
        self.soft_from_env = false;
        self
    }

    /// Compaction mode (falls back to `stw`, with a logged reason, where unsupported).
    pub fn mode(mut self, mode: Mode) -> Self {
        self.mode = mode;
        self
    }

    /// The next collection triggers at `live * growth` bytes in use at
    /// the latest (earlier for a soft limit, or for a concurrent cycle to
    /// end before the limit). Changeable at run time
    /// ([`Runtime::set_growth`]).
    pub fn growth(mut self, factor: f64) -> Self {
        self.growth = factor;
        self
    }

    /// Leading moving-space pages whose live ratio is at least `threshold`
    /// keep their objects in place (only their references are updated);
    /// 1 or more disables this dense prefix (the default).
    /// `gc::heap::RECOMMENDED_DENSE_PREFIX_THRESHOLD` is the measured best.
    pub fn dense_prefix(mut self, threshold: f64) -> Self {
        self.heap.dense_prefix_threshold = threshold;
        self
    }

    /// Objects of at least this many bytes go to the non-moving space.
    pub fn large_object_threshold(mut self, bytes: usize) -> Self {
        self.heap.large_object_threshold = bytes;
        self
    }

    /// Threads used for marking.
    pub fn mark_threads(mut self, n: usize) -> Self {
        self.heap.mark_threads = n.max(1);
        self
    }

    /// Threads serving userfaultfd faults (uffd modes; default 1).
    pub fn fault_workers(mut self, n: usize) -> Self {
        self.uffd.fault_workers = n.max(1);
        self
    }

    /// Threads compacting pages concurrently (uffd modes; default one per
    /// CPU).
    pub fn compaction_threads(mut self, n: usize) -> Self {
        self.uffd.collector_threads = n.max(1);
        self
    }

    /// Install pages with `UFFDIO_MOVE` from drained from-space where the
    /// kernel offers it (Linux 6.8), in any uffd mode (`uffd-move` turns it
    /// on by itself).
    pub fn uffd_move(mut self, on: bool) -> Self {
        self.uffd.moves = on;
        self
    }

    /// Makes a concurrent marking wait this long before it starts tracing
    /// (uffd modes), so that mutators run while it is under way: for tests
    /// of the write barrier only.
    pub fn concurrent_mark_delay(mut self, delay: std::time::Duration) -> Self {
        self.uffd.mark_delay = delay;
        self
    }

    /// Makes the compaction threads sleep this long after every page (uffd
    /// modes), so that mutators fault on most pages: for tests and
    /// fault-latency measurements only.
    pub fn compaction_page_delay(mut self, delay: std::time::Duration) -> Self {
        self.uffd.page_delay = delay;
        self
    }

    /// The GC log at info level (one line per cycle, see [`log`]) or off.
    pub fn log(mut self, on: bool) -> Self {
        self.log = if on { LogLevel::Info } else { LogLevel::Off };
        self
    }

    /// The GC log's level (`GC_LOG`; see [`log`]).
    pub fn log_level(mut self, level: LogLevel) -> Self {
        self.log = level;
        self
    }

    /// Sends the GC log's lines (and its warnings) to `sink` instead of
    /// stderr, one call per line.
    pub fn log_to(mut self, sink: impl Fn(&str) + Send + Sync + 'static) -> Self {
        self.log_sink = Some(Arc::new(sink));
        self
    }

    /// Collect at every allocation (for tests).
    pub fn stress(mut self, on: bool) -> Self {
        self.stress = on;
        self
    }

    /// Generational collection (`GC_GENERATIONAL`; on by default in every
    /// mode, where it measured better): every survivor of a cycle that
    /// predates it is promoted to an old generation that young cycles
    /// neither mark nor move, and the policy picks young or full for each
    /// cycle (see docs/generational.md). Off, every cycle is full.
    pub fn generational(mut self, on: bool) -> Self {
        self.generational = Some(on);
        self
    }

    /// How many cycles a moving object survives before it is promoted to
    /// the old generation (`GC_PROMOTION_AGE`): 1 or 2 (anything else makes
    /// [`RuntimeBuilder::build`] fail). With 2, what was merely in flight
    /// when a young cycle ran stays young for one more cycle (a full cycle
    /// promotes every survivor that predates it). By default 2 in the
    /// stop-the-world mode and 1 in the concurrent modes, where each
    /// measured better. Generational collection only; see
    /// docs/generational.md.
    pub fn promotion_age(mut self, age: u8) -> Self {
        self.promotion_age = Some(age);
        self
    }

    /// Verify the heap after every cycle (panics on corruption: for tests).
    pub fn verify(mut self, on: bool) -> Self {
        self.verify = on;
        self
    }

    /// Calls `hook` with the length of every pause once the mutators resume
    /// (for pause logs such as the peer kit's `PEER_PAUSE_FILE`).
    pub fn on_pause(mut self, hook: impl Fn(std::time::Duration) + Send + Sync + 'static) -> Self {
        self.pause_hook = Some(Arc::new(hook));
        self
    }

    /// Calls `hook` with the end time and length of every pause (stalls
    /// included), once its cycle is accounted.
    pub fn on_pause_span(
        mut self,
        hook: impl Fn(std::time::Instant, std::time::Duration) + Send + Sync + 'static,
    ) -> Self {
        self.span_hook = Some(Arc::new(hook));
        self
    }

    /// Calls `hook` with every pause (stalls included): its kind, cycle
    /// number, end and length, once its cycle is accounted.
    pub fn on_pause_event(mut self, hook: impl Fn(&PauseEvent) + Send + Sync + 'static) -> Self {
        self.event_hook = Some(Arc::new(hook));
        self
    }

    /// Creates the runtime.
    pub fn build(self) -> Result<Runtime, ConfigError> {
        if let Some(e) = self.env_error {
            return Err(e);
        }
        if let Some(soft) = self.soft_limit.filter(|&s| s > self.heap.heap_limit) {
            let e = ConfigError::SoftAboveHard {
                soft,
                hard: self.heap.heap_limit,
            };
            return Err(if self.soft_from_env {
                ConfigError::Env {
                    var: "GC_SOFT_LIMIT",
                    source: Box::new(e),
                }
            } else {
                e
            });
        }
        let promotion_age = self
            .promotion_age
            .map(config::check_promotion_age)
            .transpose()?;
        let knobs = policy::Knobs {
            hard_limit: self.heap.heap_limit,
            soft_limit: self.soft_limit,
            growth: self.growth.max(1.0),
        };
        let heap =
            Arc::new(Heap::new(self.heap.clone()).map_err(|e| ConfigError::Heap(e.to_string()))?);
        let (mode, compactor, fallback_reason) = match self.mode {
            Mode::Stw => (Mode::Stw, None, None),
            requested => {
                let wanted = config::Mechanism {
                    install: if self.uffd.moves {
                        config::PageInstall::Move
                    } else {
                        requested.mechanism().install
                    },
                    ..requested.mechanism()
                };
                match ConcurrentCollector::new(
                    heap.clone(),
                    config::uffd_options(wanted, &self.uffd),
                ) {
                    Ok(c) => {
                        let running = config::running_mechanism(c.options());
                        let mode = Mode::describing(requested, wanted, running);
                        let reason = c.degraded().map(str::to_string);
                        (mode, Some(c), reason)
                    }
                    Err(reason) => (
                        Mode::Stw,
                        None,
                        Some(format!(
                            "{requested} compaction unavailable ({reason}); using stw"
                        )),
                    ),
                }
            }
        };
        let gc_log = log::GcLog::new(self.log, self.log_sink.clone());
        let description = match &compactor {
            Some(c) => c.description().to_string(),
            None => "stop-the-world sliding compaction".to_string(),
        };
        gc_log.using(self.mode, mode, &description, fallback_reason.as_deref());
        if let Some(why) = heap.moving().prefault().off_reason() {
            gc_log.line(
                log::LogLevel::Info,
                "gc",
                format_args!("Allocation faults fresh pages one at a time: {why}"),
            );
        }
        // On by default: it measured better in every mode (see
        // docs/generational.md, "Default").
        let generational = self.generational.unwrap_or(true);
        heap.generations().set_enabled(generational);
        heap.generations()
            .set_promotion_age(promotion_age.unwrap_or_else(|| default_promotion_age(mode)));
        let poll = compactor
            .as_ref()
            .map_or_else(Default::default, |c| c.attention_flag().clone());
        let satb = compactor.as_ref().map(|c| c.satb_queue().clone());
        let sigbus_faults = compactor
            .as_ref()
            .is_some_and(|c| c.serves_faults_by_sigbus());
        let policy = Policy::new(heap.clone(), knobs, compactor.is_some());
        Ok(Runtime {
            inner: Arc::new(Shared {
                heap,
                plan_tables: PlanTables::default(),
                compactor: compactor.map(Mutex::new),
                registry: Registry::new(poll, self.log_sink.clone()),
                id: NEXT_RUNTIME_ID.fetch_add(1, Ordering::Relaxed),
                driving: Mutex::new(()),
                satb,
                sigbus_faults,
                requested_mode: self.mode,
                mode,
                fallback_reason,
                log: gc_log,
                stress: self.stress,
                verify: self.verify,
                pause_hook: self.pause_hook,
                span_hook: self.span_hook,
                event_hook: self.event_hook,
                stats: Mutex::new(GcStats::for_modes(self.mode, mode)),
                policy,
            }),
        })
    }
}

pub(crate) struct Shared {
    /// The concurrent compactor (uffd modes). Declared before the heap: it
    /// must stop its threads before the heap goes.
    pub(crate) compactor: Option<Mutex<ConcurrentCollector>>,
    /// The mutator threads; its poll word is the compactor's attention flag
    /// (uffd modes), so one load at allocation sees both a stop request and
    /// finished concurrent work.
    pub(crate) registry: Registry,
    /// The right to drive the collector: start and advance cycles, run
    /// pauses, wait for a compaction. Taken by mutators in the stopped
    /// state, so that a pause by its holder never waits for them.
    pub(crate) driving: Mutex<()>,
    /// Where mutators hand full SATB buffers (uffd modes).
    pub(crate) satb: Option<Arc<SatbQueue>>,
    /// Heap faults raise SIGBUS on the faulting thread (SIGBUS modes):
    /// mutator threads must not block it.
    pub(crate) sigbus_faults: bool,
    pub(crate) heap: Arc<Heap>,
    /// The forwarding plans' chunk table of stop-the-world cycles (`stw`
    /// mode; the concurrent collector keeps its own), reused from cycle to
    /// cycle.
    pub(crate) plan_tables: PlanTables,
    /// This runtime's identity (never reused in the process), which its
    /// [`Global`]s carry.
    pub(crate) id: u64,
    pub(crate) requested_mode: Mode,
    pub(crate) mode: Mode,
    pub(crate) fallback_reason: Option<String>,
    /// The GC log: cycle numbers and causes, and every line.
    pub(crate) log: log::GcLog,
    pub(crate) stress: bool,
    pub(crate) verify: bool,
    pub(crate) pause_hook: Option<PauseHook>,
    pub(crate) span_hook: Option<PauseSpanHook>,
    pub(crate) event_hook: Option<PauseEventHook>,
    pub(crate) stats: Mutex<GcStats>,
    /// When cycles start, what they collect, pacing, limits.
    pub(crate) policy: Policy,
}

impl Shared {
    /// A cycle starts for `cause`: `kind` if the caller requires one (an
    /// explicit young collection, the full collection before out of
    /// memory), else what the policy says; the log numbers it. In the
    /// uffd modes a young cycle whose flip pause would have too many old
    /// cards to fix runs full ([`ConcurrentCollector::young_fits_pause`]).
    /// Must not be called holding the compactor's lock.
    ///
    /// [`ConcurrentCollector::young_fits_pause`]: gc::collector::ConcurrentCollector::young_fits_pause
    pub(crate) fn cycle_begins(
        &self,
        cause: log::Cause,
        kind: Option<log::CycleKind>,
    ) -> log::CycleKind {
        let mut decision = self.policy.decide(cause, kind);
        if let (log::CycleKind::Young, Some(c)) = (decision.kind, &self.compactor) {
            if !c.lock().young_fits_pause() {
                decision = self.policy.decide(cause, Some(log::CycleKind::Full));
                decision.why = Some(gc::KindCause::Cards);
            }
        }
        self.log.cycle_started(decision, cause);
        decision.kind
    }

    /// Whether a pause waits for this thread or the collector finished
    /// concurrent work a mutator must act on (one load).
    #[inline(always)]
    pub(crate) fn needs_attention(&self) -> bool {
        self.registry.poll_word().load(Ordering::Relaxed)
    }

    /// Accounts a finished cycle: why it was young or full (into
    /// `report`), the policy, statistics, the log line, the pause hook.
    pub(crate) fn account(&self, report: &mut CycleReport) {
        let started = self.log.take_started();
        report.kind_cause = started.as_ref().and_then(|s| s.why());
        self.policy.cycle_ended(report);
        let mut stats = self.stats.lock();
        stats.record(report);
        let paced = stats.pacing_totals();
        drop(stats);
        let gc = self
            .log
            .cycle_ended(report, started, self.policy.knobs().hard_limit, paced);
        if let Some(hook) = &self.pause_hook {
            for &p in &report.pauses {
                hook(p);
            }
        }
        if let Some(hook) = &self.span_hook {
            for (&p, &end) in report.pauses.iter().zip(&report.pause_ends) {
                hook(end, p);
            }
        }
        if let Some(hook) = &self.event_hook {
            let n = report.pauses.len();
            for (i, (&duration, &end)) in report.pauses.iter().zip(&report.pause_ends).enumerate() {
                let kind = PauseKind::of_cycle(n, i);
                hook(&PauseEvent {
                    gc,
                    kind,
                    cycle: Some(log::CycleKind::of(report)),
                    end,
                    duration,
                });
            }
        }
    }

    /// Waits for the compaction in flight because a mutator cannot
    /// allocate: a stall, accounted as a pause.
    pub(crate) fn stall_for_compaction(&self) {
        let running = self
            .compactor
            .as_ref()
            .is_some_and(|c| c.lock().is_running());
        if !running {
            return;
        }
        self.log
            .stall(self.policy.stalled_at(), "the compaction in flight");
        let start = std::time::Instant::now();
        self.poll_compaction(true);
        let d = start.elapsed();
        self.stats.lock().record_stall(d);
        if let Some(hook) = &self.pause_hook {
            hook(d);
        }
        let end = std::time::Instant::now();
        if let Some(hook) = &self.span_hook {
            hook(end, d);
        }
        if let Some(hook) = &self.event_hook {
            let (gc, kind) = (self.log.current(), PauseKind::Stall);
            hook(&PauseEvent {
                gc,
                kind,
                cycle: None,
                end,
                duration: d,
            });
        }
    }

    /// Accounts the concurrent compaction if it has ended; with `wait`,
    /// waits for it first.
    pub(crate) fn poll_compaction(&self, wait: bool) {
        if let Some(c) = &self.compactor {
            let mut c = c.lock();
            let report = if wait { c.wait() } else { c.try_finished() };
            drop(c);
            if let Some(mut r) = report {
                self.account(&mut r);
            }
        }
    }
}

impl Drop for Shared {
    /// Accounts (and logs) a compaction still in flight before the
    /// compactor and the heap go.
    fn drop(&mut self) {
        self.poll_compaction(true);
    }
}

/// A garbage-collected heap and its policy; cheap to clone.
#[derive(Clone)]
pub struct Runtime {
    inner: Arc<Shared>,
}

impl Runtime {
    /// A builder with defaults overridden by `GC_*` environment variables;
    /// a bad environment value is reported by [`RuntimeBuilder::build`].
    pub fn builder() -> RuntimeBuilder {
        RuntimeBuilder::from_env().unwrap_or_else(|e| RuntimeBuilder {
            env_error: Some(e),
            ..Default::default()
        })
    }

    /// Registers a mutator for the calling thread: any number of threads
    /// may have one, each at most one per runtime (a second would wait for
    /// the first at every pause; it is refused with
    /// [`GcError::AlreadyRegistered`]). Waits if a pause is in progress.
    /// Dropping the mutator deregisters the thread.
    ///
    /// In the SIGBUS modes (`sigbus`, `uffd`) a heap fault raises `SIGBUS`
    /// on the faulting thread and the runtime's handler serves it there, so
    /// registering unblocks `SIGBUS` in the calling thread's signal mask
    /// (a thread that blocked it would be killed by its first heap fault);
    /// the thread must not block it again while it holds the mutator.
    pub fn mutator(&self) -> Result<Mutator, GcError> {
        Mutator::new(self.inner.clone())
    }

    /// Registered mutators.
    pub fn mutator_count(&self) -> usize {
        self.inner.registry.thread_count()
    }

    /// The mode in effect.
    pub fn mode(&self) -> Mode {
        self.inner.mode
    }

    /// The mode that was asked for.
    pub fn requested_mode(&self) -> Mode {
        self.inner.requested_mode
    }

    /// Why the requested mode was replaced, if it was.
    pub fn fallback_reason(&self) -> Option<&str> {
        self.inner.fallback_reason.as_deref()
    }

    /// A snapshot of the statistics (including a concurrent compaction
    /// that has just ended).
    pub fn stats(&self) -> GcStats {
        self.inner.poll_compaction(false);
        self.inner.stats.lock().clone()
    }

    /// Waits for a compaction in flight, then starts the statistics afresh
    /// (e.g. after a benchmark's warm-up).
    pub fn reset_stats(&self) {
        self.inner.poll_compaction(true);
        self.inner.stats.lock().reset();
    }

    /// Waits until no compaction is in flight (uffd modes) and accounts it.
    pub fn quiesce(&self) {
        self.inner.poll_compaction(true);
    }

    /// How the compaction runs: mode, userfaultfd method, threads.
    pub fn describe(&self) -> String {
        match &self.inner.compactor {
            Some(c) => format!("{}: {}", self.inner.mode, c.lock().description()),
            None => "stw (stop-the-world compaction)".to_string(),
        }
    }

    /// A read-only view of the heap: sizes, layout and counters (for
    /// tests, benchmarks and telemetry).
    pub fn heap(&self) -> HeapView<'_> {
        HeapView::new(&self.inner.heap)
    }

    /// Changes the dense-prefix threshold from the next cycle on (see
    /// [`RuntimeBuilder::dense_prefix`]); an error for a threshold not
    /// above 0.
    pub fn set_dense_prefix_threshold(&self, threshold: f64) -> Result<(), ConfigError> {
        self.inner
            .heap
            .set_dense_prefix_threshold(threshold)
            .map_err(|_| ConfigError::BadValue {
                what: "dense-prefix threshold",
                value: threshold.to_string(),
                expected: "a live ratio above 0 (1 or more disables it)",
            })
    }

    /// The soft limit in force (`None`: off).
    pub fn soft_limit(&self) -> Option<usize> {
        self.inner.policy.knobs().soft_limit
    }

    /// The hard heap limit in force.
    pub fn heap_limit(&self) -> usize {
        self.inner.policy.knobs().hard_limit
    }

    /// The growth factor in force.
    pub fn growth(&self) -> f64 {
        self.inner.policy.knobs().growth
    }

    /// Sets (`Some`) or removes (`None`) the soft limit, from the next
    /// trigger computation on. Refused with [`LimitError::SoftAboveHard`]
    /// above the heap limit in force.
    pub fn set_soft_limit(&self, bytes: Option<usize>) -> Result<(), LimitError> {
        self.inner.policy.set_soft_limit(bytes)
    }

    /// Sets the hard heap limit: allocation stops at it from now on (a
    /// trigger above it comes down to it), and the next trigger computation
    /// plans below it. It can be
    /// lowered, and raised back up to the limit the heap was built with
    /// ([`LimitError::AboveReserved`] above that: the address space was
    /// reserved at build time). A limit below the bytes in use now is
    /// refused with [`LimitError::BelowUse`] (collect first); one below the
    /// soft limit with [`LimitError::SoftAboveHard`] (lower that first).
    pub fn set_heap_limit(&self, bytes: usize) -> Result<(), LimitError> {
        self.inner.policy.set_heap_limit(bytes)
    }

    /// Sets the growth factor (1 to 100, else [`LimitError::BadGrowth`]),
    /// from the next trigger computation on.
    pub fn set_growth(&self, factor: f64) -> Result<(), LimitError> {
        self.inner.policy.set_growth(factor)
    }
}
