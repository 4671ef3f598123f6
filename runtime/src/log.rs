//! The GC log, in the conventions of the JVM's unified logging
//! (`-Xlog:gc`): every line starts with the time since the runtime was
//! built and its tags, and at the default level each cycle is one line:
//!
//! ```text
//! [12.345s][gc] GC(17) Full (allocation rate) 412.0M->96.3M(1024.0M) pauses 0.04/0.01/0.21ms cycle 38.2ms
//! [12.401s][gc] GC(18) Young (throughput) (heap growth) 180.2M->101.0M(1024.0M) pause 4.12ms cycle 4.30ms
//! ```
//!
//! (the [`CycleKind`]; with generational collection on, why the policy
//! chose it, a [`KindCause`]; the [`Cause`] the cycle started for; heap in
//! use before and after, and the heap limit, in MiB with one decimal; each
//! pause of the cycle; its wall time from start to end).
//!
//! [`LogLevel`] (`GC_LOG=info|debug|trace`; `1` means info, `0` or unset
//! off) adds at `debug` the phases of each cycle (one line for the paused
//! phases, one for the concurrent ones), where the next cycle will start and
//! why, and pacing; at `trace` each pause with its kind and end time, what
//! marking found, pages compacted, fault service times and collector CPU.
//! Lines go to stderr, or to a [`LogSink`] set with
//! [`RuntimeBuilder::log_to`](crate::RuntimeBuilder::log_to); each is
//! written whole.

use std::collections::VecDeque;
use std::fmt::{self, Write as _};
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use gc::{CycleReport, KindCause, Phase};
use parking_lot::Mutex;

use crate::config::{ConfigError, Mode};
use crate::policy::Decision;
use crate::stats::PacingTotals;

/// How much the GC log says (`GC_LOG`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LogLevel {
    /// Nothing (warnings about failures are still printed).
    #[default]
    Off,
    /// One line per cycle, the mode in use, stalls and degradations.
    Info,
    /// Also the phases of each cycle and the policy's decisions.
    Debug,
    /// Also each pause, the marking's counts, pages and fault service.
    Trace,
}

impl LogLevel {
    /// Every level, quietest first.
    pub const ALL: [LogLevel; 4] = [
        LogLevel::Off,
        LogLevel::Info,
        LogLevel::Debug,
        LogLevel::Trace,
    ];

    /// The level's name, as `GC_LOG` takes it.
    pub fn name(self) -> &'static str {
        match self {
            LogLevel::Off => "off",
            LogLevel::Info => "info",
            LogLevel::Debug => "debug",
            LogLevel::Trace => "trace",
        }
    }

    /// One line for help texts.
    pub fn help(self) -> &'static str {
        match self {
            LogLevel::Off => "no GC log",
            LogLevel::Info => {
                "one line per cycle: cause, heap before->after(limit), pauses, cycle time"
            }
            LogLevel::Debug => "also each cycle's phases, the next trigger and pacing",
            LogLevel::Trace => "also each pause, marking counts, pages, fault service and GC CPU",
        }
    }
}

impl fmt::Display for LogLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for LogLevel {
    type Err = ConfigError;
    /// `off`, `info`, `debug`, `trace` (any case); `1`/`true`/`on`/`yes`
    /// mean info and `0`/`false`/`no`/empty mean off.
    fn from_str(s: &str) -> Result<LogLevel, ConfigError> {
        match s.trim().to_ascii_lowercase().as_str() {
            "" | "0" | "off" | "false" | "no" => Ok(LogLevel::Off),
            "1" | "info" | "true" | "on" | "yes" => Ok(LogLevel::Info),
            "debug" => Ok(LogLevel::Debug),
            "trace" => Ok(LogLevel::Trace),
            _ => Err(ConfigError::BadValue {
                what: "log level",
                value: s.to_string(),
                expected: "off, info, debug or trace (1 means info, 0 off)",
            }),
        }
    }
}

#[cfg(feature = "clap")]
impl clap::ValueEnum for LogLevel {
    fn value_variants<'a>() -> &'a [Self] {
        &LogLevel::ALL
    }

    fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
        Some(clap::builder::PossibleValue::new(self.name()).help(self.help()))
    }
}

/// Why a cycle started.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Cause {
    /// The first cycles, before the policy has measured one: the heap
    /// reached its initial trigger, or half the room above the live data.
    #[default]
    Warmup,
    /// The trigger the measured allocation rate and cycle length set: the
    /// cycle must end before allocation reaches the limit.
    AllocationRate,
    /// The trigger at live bytes times the growth factor
    /// (`GC_HEAP_GROWTH`).
    HeapGrowth,
    /// The trigger aimed below the soft limit (`GC_SOFT_LIMIT`), which
    /// live bytes times the growth factor would have passed.
    SoftLimit,
    /// Allocation reached the heap limit.
    HeapLimit,
    /// The embedder asked ([`Mutator::collect`](crate::Mutator::collect),
    /// [`Mutator::start_cycle`](crate::Mutator::start_cycle)).
    Explicit,
    /// `GC_STRESS`: a collection at every allocation.
    Stress,
}

impl Cause {
    /// The cause as the log prints it.
    pub fn name(self) -> &'static str {
        match self {
            Cause::Warmup => "warmup",
            Cause::AllocationRate => "allocation rate",
            Cause::HeapGrowth => "heap growth",
            Cause::SoftLimit => "soft limit",
            Cause::HeapLimit => "heap limit",
            Cause::Explicit => "explicit",
            Cause::Stress => "stress",
        }
    }
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What a cycle collected.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CycleKind {
    /// Only the objects allocated since the last cycle (generational
    /// collection, stop-the-world mode).
    Young,
    /// The whole heap.
    Full,
}

impl CycleKind {
    /// The kind as the log's cycle line prints it (`Young`, `Full`).
    pub fn name(self) -> &'static str {
        match self {
            CycleKind::Young => "Young",
            CycleKind::Full => "Full",
        }
    }

    /// The kind as JSON prints it (`young`, `full`).
    pub fn key(self) -> &'static str {
        match self {
            CycleKind::Young => "young",
            CycleKind::Full => "full",
        }
    }

    /// The kind of the cycle `r` reports.
    pub fn of(r: &CycleReport) -> CycleKind {
        if r.young {
            CycleKind::Young
        } else {
            CycleKind::Full
        }
    }
}

/// Which stop of the mutators a pause was.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PauseKind {
    /// A concurrently marked cycle's first pause: the roots' snapshot.
    MarkStart,
    /// Its second: the end of marking.
    Remark,
    /// Its third: fixing the roots and flipping the spaces.
    Flip,
    /// A whole collection in one pause (stop-the-world, or a cycle marked
    /// in the pause such as an explicit collection in the uffd modes).
    Full,
    /// A mutator that waited at the heap limit for a compaction to end.
    Stall,
}

impl PauseKind {
    /// The kind's name in logs and JSON.
    pub fn name(self) -> &'static str {
        match self {
            PauseKind::MarkStart => "mark-start",
            PauseKind::Remark => "remark",
            PauseKind::Flip => "flip",
            PauseKind::Full => "full",
            PauseKind::Stall => "stall",
        }
    }

    /// Pause `i` of a cycle that stopped the mutators `count` times.
    pub fn of_cycle(count: usize, i: usize) -> PauseKind {
        match (count, i) {
            (3, 0) => PauseKind::MarkStart,
            (3, 1) => PauseKind::Remark,
            (3, _) => PauseKind::Flip,
            _ => PauseKind::Full,
        }
    }

    /// Whether this pause ends a cycle's pauses (every cycle has one).
    pub fn ends_cycle_pauses(self) -> bool {
        matches!(self, PauseKind::Flip | PauseKind::Full)
    }
}

impl fmt::Display for PauseKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One stop of the mutators, as
/// [`RuntimeBuilder::on_pause_event`](crate::RuntimeBuilder::on_pause_event)
/// reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PauseEvent {
    /// The cycle's number, as the log's `GC(n)` (a stall: the cycle in
    /// flight, if the log knows it).
    pub gc: Option<u64>,
    /// Which pause.
    pub kind: PauseKind,
    /// What the cycle collected (`None` for a stall).
    pub cycle: Option<CycleKind>,
    /// When it ended.
    pub end: Instant,
    /// How long the mutators were stopped.
    pub duration: Duration,
}

impl PauseEvent {
    /// When it began.
    pub fn start(&self) -> Instant {
        self.end.checked_sub(self.duration).unwrap_or(self.end)
    }
}

/// Bytes shown as MiB with one decimal and an `M`, the log's unit
/// (`412.0M`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mib(pub usize);

impl fmt::Display for Mib {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:.1}M", self.0 as f64 / (1u64 << 20) as f64)
    }
}

/// Where log lines go instead of stderr: called with each line, without
/// its newline.
pub type LogSink = Arc<dyn Fn(&str) + Send + Sync>;

/// Milliseconds with as many decimals as a pause needs to show: 0.04,
/// 1.25, 38.2, 412.
struct Ms(Duration);

impl fmt::Display for Ms {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.0.as_secs_f64() * 1e3;
        if ms < 1.0 {
            write!(f, "{ms:.3}")
        } else if ms < 10.0 {
            write!(f, "{ms:.2}")
        } else if ms < 100.0 {
            write!(f, "{ms:.1}")
        } else {
            write!(f, "{ms:.0}")
        }
    }
}

/// A young cycle's card work, for the marking line: the dirty old cards
/// marking walked (and its time) and those forwarded after compaction.
/// Nothing for a full cycle.
struct CardWork<'a>(&'a CycleReport);

impl fmt::Display for CardWork<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let r = self.0;
        if !r.young {
            return Ok(());
        }
        write!(
            f,
            "; {} dirty cards walked in {}ms, {} forwarded after compaction",
            r.marked.cards,
            Ms(r.marked.card_time),
            r.cards_fixed
        )
    }
}

/// A cycle the log saw start.
pub(crate) struct Started {
    id: u64,
    decision: Decision,
    cause: Cause,
    at: Instant,
}

impl Started {
    /// Why the policy chose the cycle's kind.
    pub(crate) fn why(&self) -> Option<KindCause> {
        self.decision.why
    }
}

#[derive(Default)]
struct State {
    next_id: u64,
    /// Cycles started and not yet accounted, oldest first.
    in_flight: VecDeque<Started>,
    /// Pacing totals at the last cycle's end (debug lines show the change).
    paced: PacingTotals,
    /// The newest cycle started.
    last: Option<u64>,
}

/// The runtime's GC log: numbers cycles, remembers their causes and
/// formats every line.
pub(crate) struct GcLog {
    level: LogLevel,
    start: Instant,
    sink: Option<LogSink>,
    state: Mutex<State>,
}

impl GcLog {
    pub(crate) fn new(level: LogLevel, sink: Option<LogSink>) -> GcLog {
        GcLog {
            level,
            start: Instant::now(),
            sink,
            state: Mutex::new(State::default()),
        }
    }

    /// Whether lines of `level` are written.
    pub(crate) fn enabled(&self, level: LogLevel) -> bool {
        level != LogLevel::Off && self.level >= level
    }

    fn uptime(&self, at: Instant) -> f64 {
        at.saturating_duration_since(self.start).as_secs_f64()
    }

    /// Writes one line with the decorations `[uptime][tags]`.
    fn write(&self, tags: &str, body: fmt::Arguments<'_>) {
        let mut line = String::with_capacity(128);
        let _ = write!(line, "[{:.3}s][{tags}] {body}", self.uptime(Instant::now()));
        match &self.sink {
            Some(sink) => sink(&line),
            None => eprintln!("{line}"),
        }
    }

    /// A line at `level` (nothing if the log is quieter).
    pub(crate) fn line(&self, level: LogLevel, tags: &str, body: fmt::Arguments<'_>) {
        if self.enabled(level) {
            self.write(tags, body);
        }
    }

    /// A failure that is never routine: written at every level, off
    /// included.
    pub(crate) fn warn(&self, body: fmt::Arguments<'_>) {
        self.write("gc,warning", body);
    }

    /// What the runtime runs: `mode` (the requested one's name, and the
    /// effective one's if it differs), the compaction's description, why it
    /// degraded.
    pub(crate) fn using(
        &self,
        requested: Mode,
        mode: Mode,
        description: &str,
        degraded: Option<&str>,
    ) {
        if !self.enabled(LogLevel::Info) {
            return;
        }
        let name = mode_label(requested, mode);
        match degraded {
            Some(why) => self.write("gc", format_args!("Using {name}: {description} ({why})")),
            None => self.write("gc", format_args!("Using {name}: {description}")),
        }
    }

    /// A cycle starts for `cause`, the policy having decided its kind:
    /// returns its number.
    pub(crate) fn cycle_started(&self, decision: Decision, cause: Cause) -> u64 {
        let mut s = self.state.lock();
        let id = s.next_id;
        s.next_id += 1;
        s.last = Some(id);
        s.in_flight.push_back(Started {
            id,
            decision,
            cause,
            at: Instant::now(),
        });
        id
    }

    /// The number of the newest cycle started, if any.
    pub(crate) fn current(&self) -> Option<u64> {
        self.state.lock().last
    }

    /// The oldest cycle started and not yet ended (the one that ends
    /// next), taken off the list.
    pub(crate) fn take_started(&self) -> Option<Started> {
        self.state.lock().in_flight.pop_front()
    }

    /// A cycle ended with `report`, having started as `started` (from
    /// [`GcLog::take_started`]; the heap limit is `limit`; pacing totals so
    /// far `paced`): logs it and returns its number.
    pub(crate) fn cycle_ended(
        &self,
        r: &CycleReport,
        started: Option<Started>,
        limit: usize,
        paced: PacingTotals,
    ) -> Option<u64> {
        let paced_since = {
            let mut s = self.state.lock();
            let before = std::mem::replace(&mut s.paced, paced);
            paced.since(before)
        };
        let id = started.as_ref().map(|c| c.id);
        if !self.enabled(LogLevel::Info) {
            return id;
        }
        let now = Instant::now();
        let (cause, wall) = match &started {
            Some(c) => (Some(c.cause), now.saturating_duration_since(c.at)),
            None => (None, r.duration),
        };
        let gc = GcId(id);
        let line = CycleLine {
            gc,
            kind: CycleKind::of(r),
            why: r.kind_cause,
            cause,
            r,
            limit,
            wall,
        };
        self.write("gc", format_args!("{line}"));
        for note in &r.notes {
            self.write("gc", format_args!("{gc} note: {note}"));
        }
        if self.enabled(LogLevel::Debug) {
            self.write(
                "gc,phases",
                format_args!("{gc} paused: {}", Phases(&r.phases)),
            );
            if !r.concurrent.is_empty() {
                self.write(
                    "gc,phases",
                    format_args!("{gc} concurrent: {}", Phases(&r.concurrent)),
                );
            }
            if paced_since.sleeps > 0 {
                self.write(
                    "gc,pacing",
                    format_args!(
                        "{gc} {} allocation(s) slept at pacing thresholds, {}ms in all",
                        paced_since.sleeps,
                        Ms(paced_since.slept)
                    ),
                );
            }
            if paced_since.assists > 0 {
                self.write(
                    "gc,pacing",
                    format_args!(
                        "{gc} {} allocation(s) assisted the compaction at pacing thresholds, \
                         {}ms in all, {} pages installed",
                        paced_since.assists,
                        Ms(paced_since.assisted),
                        paced_since.assist_pages
                    ),
                );
            }
        }
        if self.enabled(LogLevel::Trace) {
            self.trace_cycle(gc, r);
        }
        id
    }

    fn trace_cycle(&self, gc: GcId, r: &CycleReport) {
        let n = r.pauses.len();
        for (i, (&d, &end)) in r.pauses.iter().zip(&r.pause_ends).enumerate() {
            self.write(
                "gc,pause",
                format_args!(
                    "{gc} {} pause {}ms, ended at {:.3}s",
                    PauseKind::of_cycle(n, i),
                    Ms(d),
                    self.uptime(end)
                ),
            );
        }
        let word = gc::object::WORD;
        self.write(
            "gc,marking",
            format_args!(
                "{gc} marked {} objects: {} moving, {} non-moving{}",
                r.marked.objects,
                Mib(r.marked.moving_words * word),
                Mib(r.marked.non_moving_words * word),
                CardWork(r)
            ),
        );
        let mut compaction = format!(
            "{gc} {} pages compacted ({} by MOVE, {} dense), {} from-space pages recycled, \
             non-moving {} freed",
            r.pages_compacted,
            r.pages_moved,
            r.pages_dense,
            r.pages_recycled,
            Mib(r.non_moving_freed_bytes)
        );
        if let Some(c) = &r.flip_cost {
            let _ = write!(
                compaction,
                ", flip moved {} PTEs, {} PMDs, {} PUDs",
                c.ptes, c.pmds, c.puds
            );
        }
        self.write("gc,compaction", format_args!("{compaction}"));
        if r.faults > 0 {
            let q = |q: f64| FaultQuantile(pair_quantile(&r.fault_service, q));
            self.write(
                "gc,faults",
                format_args!(
                    "{gc} {} faults served, service p50 {} p99 {} max {}",
                    r.faults,
                    q(0.5),
                    q(0.99),
                    q(1.0)
                ),
            );
        }
        self.write(
            "gc,cpu",
            format_args!("{gc} collector CPU {}ms", Ms(r.gc_cpu)),
        );
    }

    /// A mutator reached `limit` (the soft or the heap limit) and waits
    /// for `what` (a stall).
    pub(crate) fn stall(&self, limit: Cause, what: &str) {
        if self.enabled(LogLevel::Info) {
            let gc = GcId(self.current());
            self.write(
                "gc",
                format_args!("{gc} Allocation stall: {limit} reached, waiting for {what}"),
            );
        }
    }

    /// The policy set the next trigger after a cycle found `live` bytes
    /// live; `measured` is the allocation rate (bytes/s) and cycle length
    /// it used, if it has them.
    pub(crate) fn trigger(
        &self,
        trigger: usize,
        live: usize,
        cause: Cause,
        measured: Option<(f64, Duration)>,
    ) {
        if !self.enabled(LogLevel::Debug) {
            return;
        }
        let gc = GcId(self.current());
        match measured {
            Some((rate, cycle)) => self.write(
                "gc,ergo",
                format_args!(
                    "{gc} next cycle at {} in use ({cause}; live {}, allocating {}/s, a cycle takes {}ms)",
                    Mib(trigger),
                    Mib(live),
                    Mib(rate as usize),
                    Ms(cycle)
                ),
            ),
            None => self.write(
                "gc,ergo",
                format_args!(
                    "{gc} next cycle at {} in use ({cause}; live {})",
                    Mib(trigger),
                    Mib(live)
                ),
            ),
        }
    }
}

/// `requested`, and `(running mode)` when the runtime runs another.
pub fn mode_label(requested: Mode, mode: Mode) -> String {
    if requested == mode {
        requested.to_string()
    } else {
        format!("{requested} (running {mode})")
    }
}

/// `GC(17)`, or `GC(?)` for a cycle the log did not see start.
#[derive(Clone, Copy)]
struct GcId(Option<u64>);

impl fmt::Display for GcId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(id) => write!(f, "GC({id})"),
            None => f.write_str("GC(?)"),
        }
    }
}

/// The info line of a cycle.
struct CycleLine<'a> {
    gc: GcId,
    kind: CycleKind,
    why: Option<KindCause>,
    cause: Option<Cause>,
    r: &'a CycleReport,
    limit: usize,
    wall: Duration,
}

impl fmt::Display for CycleLine<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let r = self.r;
        write!(f, "{} {}", self.gc, self.kind.name())?;
        // The policy's reason, unless it repeats the cause (an explicit
        // collection is of the kind asked for).
        let repeats = self.why == Some(KindCause::Explicit) && self.cause == Some(Cause::Explicit);
        if let Some(why) = self.why.filter(|_| !repeats) {
            write!(f, " ({why})")?;
        }
        if let Some(c) = self.cause {
            write!(f, " ({c})")?;
        }
        write!(
            f,
            " {}->{}({})",
            Mib(r.used_before),
            Mib(r.used_after),
            Mib(self.limit)
        )?;
        f.write_str(if r.pauses.len() == 1 {
            " pause "
        } else {
            " pauses "
        })?;
        for (i, &p) in r.pauses.iter().enumerate() {
            if i > 0 {
                f.write_str("/")?;
            }
            write!(f, "{}", Ms(p))?;
        }
        write!(f, "ms cycle {}ms", Ms(self.wall))
    }
}

/// Phases as `name 0.123ms, name 4.56ms`.
struct Phases<'a>(&'a [(Phase, Duration)]);

impl fmt::Display for Phases<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // In cycle order, whatever order they were recorded in.
        let mut first = true;
        for p in Phase::ALL {
            if let Some(&(_, d)) = self.0.iter().find(|(q, _)| *q == p) {
                if !first {
                    f.write_str(", ")?;
                }
                first = false;
                write!(f, "{} {}ms", p.name(), Ms(d))?;
            }
        }
        if first {
            f.write_str("none")?;
        }
        Ok(())
    }
}

/// A fault service time in microseconds.
struct FaultQuantile(u64);

impl fmt::Display for FaultQuantile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:.1}us", self.0 as f64 / 1e3)
    }
}

/// The quantile `q` of `(value, count)` pairs (in any order).
fn pair_quantile(pairs: &[(u64, u64)], q: f64) -> u64 {
    let mut sorted: Vec<(u64, u64)> = pairs.to_vec();
    sorted.sort_unstable();
    let total: u64 = sorted.iter().map(|p| p.1).sum();
    if total == 0 {
        return 0;
    }
    let rank = ((q.clamp(0.0, 1.0) * total as f64).ceil() as u64).max(1);
    let mut seen = 0;
    for (v, n) in sorted {
        seen += n;
        if seen >= rank {
            return v;
        }
    }
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn concurrent_report() -> CycleReport {
        let mut r = CycleReport::new("test", 412 << 20);
        r.used_after = 96 * (1 << 20) + 300 * 1024;
        r.add_phase(Phase::Snapshot, Duration::from_micros(40));
        r.add_phase(Phase::Flip, Duration::from_micros(150));
        r.add_phase(Phase::Remark, Duration::from_micros(10));
        r.add_concurrent(Phase::Mark, Duration::from_micros(12_100));
        for us in [40, 10, 210] {
            r.add_pause(Duration::from_micros(us));
        }
        r.faults = 3;
        r.fault_service = vec![(9_000, 1), (5_000, 2)];
        r.notes.push("a populate failed".into());
        r
    }

    /// Ends the oldest cycle started with `r` (limit 1 GiB).
    fn end(log: &GcLog, r: &CycleReport, paced: PacingTotals) -> Option<u64> {
        log.cycle_ended(r, log.take_started(), 1 << 30, paced)
    }

    fn captured(level: LogLevel) -> (GcLog, Arc<Mutex<Vec<String>>>) {
        let lines: Arc<Mutex<Vec<String>>> = Arc::default();
        let sink = lines.clone();
        let log = GcLog::new(
            level,
            Some(Arc::new(move |l: &str| sink.lock().push(l.into()))),
        );
        (log, lines)
    }

    #[test]
    fn levels_parse_with_1_as_info_and_reject_other_words() {
        assert_eq!("1".parse::<LogLevel>(), Ok(LogLevel::Info));
        assert_eq!("0".parse::<LogLevel>(), Ok(LogLevel::Off));
        assert_eq!("Debug".parse::<LogLevel>(), Ok(LogLevel::Debug));
        assert_eq!("trace".parse::<LogLevel>(), Ok(LogLevel::Trace));
        let e = "verbose".parse::<LogLevel>().unwrap_err();
        assert!(e.to_string().contains("off, info, debug or trace"), "{e}");
    }

    #[test]
    fn a_cycle_is_one_info_line_in_the_jvm_shape() {
        let (log, lines) = captured(LogLevel::Info);
        assert_eq!(log.cycle_started(Decision::FLAT, Cause::AllocationRate), 0);
        let id = end(&log, &concurrent_report(), PacingTotals::default());
        assert_eq!(id, Some(0));
        let lines = lines.lock();
        assert_eq!(lines.len(), 2, "{lines:?}");
        let l = &lines[0];
        assert!(
            l.starts_with('[') && l.contains("s][gc] GC(0) Full (allocation rate) "),
            "{l}"
        );
        assert!(
            l.contains(" 412.0M->96.3M(1024.0M) pauses 0.040/0.010/0.210ms cycle "),
            "{l}"
        );
        assert!(
            lines[1].ends_with("[gc] GC(0) note: a populate failed"),
            "{}",
            lines[1]
        );
    }

    #[test]
    fn a_generational_cycle_says_young_or_full_and_why_before_its_cause() {
        let (log, lines) = captured(LogLevel::Info);
        let young = Decision {
            kind: CycleKind::Young,
            why: Some(KindCause::Throughput),
        };
        log.cycle_started(young, Cause::HeapGrowth);
        let mut r = CycleReport::new("stw", 180 << 20);
        r.young = true;
        r.kind_cause = young.why;
        r.used_after = 101 << 20;
        r.add_pause(Duration::from_micros(4120));
        end(&log, &r, PacingTotals::default());
        log.cycle_started(Decision::FLAT, Cause::Explicit);
        r.young = false;
        r.kind_cause = Some(KindCause::OldGen);
        end(&log, &r, PacingTotals::default());
        log.cycle_started(Decision::FLAT, Cause::Explicit);
        r.young = true;
        r.kind_cause = Some(KindCause::Explicit);
        end(&log, &r, PacingTotals::default());
        let lines = lines.lock();
        assert!(
            lines[0].contains(
                "[gc] GC(0) Young (throughput) (heap growth) 180.0M->101.0M(1024.0M) pause 4.12ms cycle "
            ),
            "{}",
            lines[0]
        );
        assert!(
            lines[1].contains("[gc] GC(1) Full (old-gen) (explicit) 180.0M->"),
            "the report's kind and cause: {}",
            lines[1]
        );
        assert!(
            lines[2].contains("[gc] GC(2) Young (explicit) 180.0M->"),
            "an explicit cause is not repeated: {}",
            lines[2]
        );
    }

    #[test]
    fn debug_adds_phases_in_cycle_order_and_trace_adds_pauses_and_faults() {
        let (log, lines) = captured(LogLevel::Debug);
        log.cycle_started(Decision::FLAT, Cause::Explicit);
        let paced = PacingTotals {
            sleeps: 2,
            slept: Duration::from_millis(3),
            assists: 3,
            assisted: Duration::from_millis(5),
            assist_pages: 40,
        };
        end(&log, &concurrent_report(), paced);
        let text = lines.lock().join("\n");
        assert!(
            text.contains(
                "[gc,phases] GC(0) paused: snapshot 0.040ms, remark 0.010ms, flip 0.150ms"
            ),
            "{text}"
        );
        assert!(
            text.contains("[gc,phases] GC(0) concurrent: mark 12.1ms"),
            "{text}"
        );
        assert!(text.contains("[gc,pacing] GC(0) 2 allocation(s)"), "{text}");
        assert!(
            text.contains(
                "[gc,pacing] GC(0) 3 allocation(s) assisted the compaction at pacing \
                 thresholds, 5.00ms in all, 40 pages installed"
            ),
            "{text}"
        );
        assert!(!text.contains("[gc,pause]"), "{text}");

        let (log, lines) = captured(LogLevel::Trace);
        log.cycle_started(Decision::FLAT, Cause::Stress);
        end(&log, &concurrent_report(), PacingTotals::default());
        let text = lines.lock().join("\n");
        assert!(
            text.contains("[gc,pause] GC(0) mark-start pause 0.040ms"),
            "{text}"
        );
        assert!(
            text.contains("[gc,pause] GC(0) flip pause 0.210ms"),
            "{text}"
        );
        assert!(
            text.contains(
                "[gc,faults] GC(0) 3 faults served, service p50 5.0us p99 9.0us max 9.0us"
            ),
            "{text}"
        );
        assert!(
            !text.contains("dirty cards"),
            "a full cycle has no card work: {text}"
        );

        let (log, lines) = captured(LogLevel::Trace);
        log.cycle_started(Decision::FLAT, Cause::Stress);
        let mut young = concurrent_report();
        young.young = true;
        young.marked.cards = 37;
        young.marked.card_time = Duration::from_micros(250);
        young.cards_fixed = 12;
        end(&log, &young, PacingTotals::default());
        let text = lines.lock().join("\n");
        assert!(
            text.contains(
                "non-moving; 37 dirty cards walked in 0.250ms, 12 forwarded after compaction"
            ),
            "{text}"
        );
    }

    #[test]
    fn nothing_is_written_when_off_but_cycles_are_still_numbered() {
        let (log, lines) = captured(LogLevel::Off);
        log.cycle_started(Decision::FLAT, Cause::HeapLimit);
        log.cycle_started(Decision::FLAT, Cause::HeapLimit);
        assert_eq!(
            end(&log, &concurrent_report(), PacingTotals::default()),
            Some(0)
        );
        assert_eq!(log.current(), Some(1));
        log.stall(Cause::SoftLimit, "the marking");
        assert!(lines.lock().is_empty());
    }

    #[test]
    fn mib_has_one_decimal() {
        assert_eq!(Mib(0).to_string(), "0.0M");
        assert_eq!(Mib(1536 << 10).to_string(), "1.5M");
        assert_eq!(Mib(1 << 30).to_string(), "1024.0M");
    }

    #[test]
    fn pause_kinds_follow_the_pause_count() {
        assert_eq!(PauseKind::of_cycle(1, 0), PauseKind::Full);
        let kinds: Vec<_> = (0..3).map(|i| PauseKind::of_cycle(3, i)).collect();
        assert_eq!(
            kinds,
            [PauseKind::MarkStart, PauseKind::Remark, PauseKind::Flip]
        );
    }
}
