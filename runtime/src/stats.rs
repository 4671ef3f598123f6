//! Telemetry: counters and pause histograms across cycles.
//!
//! Quantiles come from histograms with 3 significant digits, whose values
//! are rounded up to their bucket's top; each histogram here also keeps its
//! exact maximum and clamps every quantile to it, so no percentile exceeds
//! the recorded maximum.

use std::fmt;
use std::time::Duration;

use gc::{CycleReport, KindCause, Phase};
use hdrhistogram::Histogram;
use serde::Serialize;

use crate::config::Mode;
use crate::log::{mode_label, CycleKind};

/// Pacing totals: sleeps and assists at pacing thresholds
/// ([`GcStats::pacing_totals`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct PacingTotals {
    /// Sleeps.
    pub(crate) sleeps: u64,
    /// Their total.
    pub(crate) slept: Duration,
    /// Assists.
    pub(crate) assists: u64,
    /// Their total time.
    pub(crate) assisted: Duration,
    /// Pages they installed.
    pub(crate) assist_pages: u64,
}

impl PacingTotals {
    /// What was added since `before`.
    pub(crate) fn since(self, before: PacingTotals) -> PacingTotals {
        PacingTotals {
            sleeps: self.sleeps.saturating_sub(before.sleeps),
            slept: self.slept.saturating_sub(before.slept),
            assists: self.assists.saturating_sub(before.assists),
            assisted: self.assisted.saturating_sub(before.assisted),
            assist_pages: self.assist_pages.saturating_sub(before.assist_pages),
        }
    }
}

/// Collector statistics since the runtime started.
#[derive(Clone)]
#[non_exhaustive]
pub struct GcStats {
    /// The mode the embedder asked for (`None` in statistics not taken
    /// from a runtime).
    pub requested_mode: Option<Mode>,
    /// The mode that runs (differs from the requested one after a
    /// fallback).
    pub mode: Option<Mode>,
    /// Completed collections.
    pub cycles: u64,
    /// Of those, young ones (generational collection).
    pub young_cycles: u64,
    /// The longest pause of a young cycle.
    pub young_max_pause: Duration,
    /// The young cycles' pauses in all.
    pub young_pause: Duration,
    /// The young cycles' GC CPU time.
    pub young_gc_cpu: Duration,
    /// Dirty old cards the young cycles' marking walked, in all.
    pub young_cards_scanned: u64,
    /// Time the young cycles' marking spent walking them, in all.
    pub young_card_scan: Duration,
    /// Dirty old cards whose slots the young cycles forwarded after
    /// compaction (in the flip pause in the concurrent modes), in all.
    pub young_cards_fixed: u64,
    /// Full cycles (every cycle with generational collection off).
    pub full_cycles: u64,
    /// The longest pause of a full cycle.
    pub full_max_pause: Duration,
    /// The full cycles' pauses in all.
    pub full_pause: Duration,
    /// The full cycles' GC CPU time.
    pub full_gc_cpu: Duration,
    /// Cycles per kind and the policy's reason for it (generational
    /// collection on), in the order first seen.
    pub kind_causes: Vec<(CycleKind, KindCause, u64)>,
    /// Total time mutators were stopped.
    pub total_pause: Duration,
    /// Times the mutators were stopped (a concurrently marked cycle stops
    /// them three times; stalls count too).
    pub pause_count: u64,
    /// Of those, stalls: a full heap waiting for a compaction to end.
    pub stalls: u64,
    /// Longest pause.
    pub max_pause: Duration,
    /// Total time per phase.
    pub phase_totals: Vec<(Phase, Duration)>,
    /// Mutator page faults on the heap served by the faulting thread (SIGBUS)
    /// or by fault workers (uffd modes).
    pub faults: u64,
    /// CPU time of collection work: pauses, collector threads, fault workers.
    pub gc_cpu: Duration,
    /// To-space pages filled, all cycles.
    pub pages_compacted: u64,
    /// Of those, pages installed by `UFFDIO_MOVE`.
    pub pages_moved: u64,
    /// Of those, pages of the dense prefix (updated, not slid).
    pub pages_dense: u64,
    /// From-space pages moved back above the top for allocation instead of
    /// being freed, all cycles.
    pub pages_recycled: u64,
    /// Total time per concurrent phase (uffd modes).
    pub concurrent_totals: Vec<(Phase, Duration)>,
    /// Heap bytes in use before the last cycle.
    pub last_used_before: usize,
    /// Heap bytes in use after the last cycle.
    pub last_used_after: usize,
    /// Live bytes after the last cycle: what its marking found, or after
    /// a young cycle, which marks only the young, that plus the old
    /// generation counted whole (the live size the next trigger grows
    /// from).
    pub last_live: usize,
    /// Degradations the last cycle noted (e.g. a failed populate, MOVE
    /// falling back to COPY).
    pub last_notes: Vec<String>,
    /// Handshakes run (operations on every thread without a global stop:
    /// the SATB flush before each remark pause).
    pub handshakes: u64,
    /// Their total time, from the request until every thread had run it.
    pub handshake_time: Duration,
    /// Times an allocating thread slept at a pacing threshold.
    pub paced: u64,
    /// Their total sleep (not a pause: the other threads ran).
    pub pacing: Duration,
    /// The longest of those sleeps, as asked for (at most
    /// [`crate::PACE_SLICE`]).
    pub longest_pacing_sleep: Duration,
    /// Of [`GcStats::pacing`], the sleeps during a compaction (where no
    /// page was left to assist with); the rest fell in marking or planning.
    pub pacing_compacting: Duration,
    /// Times an allocating thread installed compaction pages at a pacing
    /// threshold instead of sleeping.
    pub assists: u64,
    /// Their total time (collection work on a mutator thread; also counted
    /// in the cycles' GC CPU).
    pub assist_time: Duration,
    /// Their CPU time (below `assist_time` when the threads were
    /// descheduled while assisting).
    pub assist_cpu: Duration,
    /// The longest of them.
    pub longest_assist: Duration,
    /// Pages they installed.
    pub assist_pages: u64,
    pauses: Hist,
    safepoints: Hist,
    flip_pauses: Hist,
    fault_service: Hist,
    phase_hists: Vec<(Phase, Hist)>,
}

/// A histogram of nanoseconds that also keeps the exact maximum.
#[derive(Clone)]
struct Hist {
    h: Histogram<u64>,
    max: u64,
}

impl Hist {
    fn new() -> Hist {
        Hist {
            h: Histogram::new_with_bounds(1, 3_600_000_000_000, 3)
                .expect("1 ns .. 1 h at 3 digits is a valid histogram"),
            max: 0,
        }
    }

    fn record(&mut self, ns: u64) {
        self.record_n(ns, 1);
    }

    /// Records `n` values of `ns`, clamped into the histogram's range
    /// (hdrhistogram has no saturating form of `record_n`).
    fn record_n(&mut self, ns: u64, n: u64) {
        let ns = ns.clamp(1, self.h.high());
        if self.h.record_n(ns, n).is_ok() && n > 0 {
            self.max = self.max.max(ns);
        }
    }

    /// The value at quantile `q` (0..=1), never above the maximum
    /// recorded; zero when empty.
    fn quantile(&self, q: f64) -> Duration {
        Duration::from_nanos(if self.h.is_empty() {
            0
        } else {
            self.h.value_at_quantile(q).min(self.max)
        })
    }
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX).max(1)
}

impl Default for GcStats {
    fn default() -> Self {
        GcStats {
            requested_mode: None,
            mode: None,
            cycles: 0,
            young_cycles: 0,
            young_max_pause: Duration::ZERO,
            young_pause: Duration::ZERO,
            young_gc_cpu: Duration::ZERO,
            young_cards_scanned: 0,
            young_card_scan: Duration::ZERO,
            young_cards_fixed: 0,
            full_cycles: 0,
            full_max_pause: Duration::ZERO,
            full_pause: Duration::ZERO,
            full_gc_cpu: Duration::ZERO,
            kind_causes: Vec::new(),
            total_pause: Duration::ZERO,
            pause_count: 0,
            stalls: 0,
            max_pause: Duration::ZERO,
            phase_totals: Vec::new(),
            faults: 0,
            gc_cpu: Duration::ZERO,
            pages_compacted: 0,
            pages_moved: 0,
            pages_dense: 0,
            pages_recycled: 0,
            concurrent_totals: Vec::new(),
            last_used_before: 0,
            last_used_after: 0,
            last_live: 0,
            last_notes: Vec::new(),
            handshakes: 0,
            handshake_time: Duration::ZERO,
            paced: 0,
            pacing: Duration::ZERO,
            longest_pacing_sleep: Duration::ZERO,
            pacing_compacting: Duration::ZERO,
            assists: 0,
            assist_time: Duration::ZERO,
            assist_pages: 0,
            assist_cpu: Duration::ZERO,
            longest_assist: Duration::ZERO,
            pauses: Hist::new(),
            safepoints: Hist::new(),
            flip_pauses: Hist::new(),
            fault_service: Hist::new(),
            phase_hists: Vec::new(),
        }
    }
}

/// The JSON shape of [`GcStats`] (nanoseconds and bytes).
#[derive(Serialize)]
#[non_exhaustive]
pub struct GcStatsJson {
    /// The mode asked for.
    pub mode_requested: Option<String>,
    /// The mode that runs.
    pub mode: Option<String>,
    /// Completed collections.
    pub cycles: u64,
    /// Young and full cycles (flattened into this object).
    #[serde(flatten)]
    pub kinds: CycleKindsJson,
    /// Total pause, ns.
    pub total_pause_ns: u64,
    /// Median pause, ns.
    pub pause_p50_ns: u64,
    /// 99th percentile pause, ns.
    pub pause_p99_ns: u64,
    /// Longest pause, ns.
    pub pause_max_ns: u64,
    /// Total per phase, ns.
    pub phase_total_ns: Vec<(String, u64)>,
    /// Heap faults served (by the faulting thread's SIGBUS handler or by a
    /// fault worker).
    pub faults: u64,
    /// Median fault service time (the handler's entry, or the worker reading
    /// the event, .. the page mapped), ns.
    pub fault_service_p50_ns: u64,
    /// 99th percentile fault service time, ns.
    pub fault_service_p99_ns: u64,
    /// 99.9th percentile fault service time, ns.
    pub fault_service_p999_ns: u64,
    /// Longest fault service time, ns.
    pub fault_service_max_ns: u64,
    /// Median flip pause (the pause without waiting, marking and planning), ns.
    pub flip_pause_p50_ns: u64,
    /// 99th percentile flip pause, ns.
    pub flip_pause_p99_ns: u64,
    /// Longest flip pause, ns.
    pub flip_pause_max_ns: u64,
    /// Per pause phase: p50, p99 and max, ns.
    pub phase_quantiles_ns: Vec<PhaseQuantiles>,
    /// Time to safepoint per stop: p50, p99 and max, ns.
    pub safepoint_p50_ns: u64,
    /// 99th percentile time to safepoint, ns.
    pub safepoint_p99_ns: u64,
    /// Longest time to safepoint, ns.
    pub safepoint_max_ns: u64,
    /// Total per concurrent phase, ns.
    pub concurrent_phase_total_ns: Vec<(String, u64)>,
    /// CPU time of collection work, ns.
    pub gc_cpu_ns: u64,
    /// Live bytes after the last cycle.
    pub last_live_bytes: usize,
    /// Times a thread slept at a pacing threshold.
    pub paced: u64,
    /// Total pacing sleep, ns.
    pub pacing_ns: u64,
    /// The longest pacing sleep, ns.
    pub pacing_max_ns: u64,
    /// Of `pacing_ns`, sleeps during a compaction, ns.
    pub pacing_compacting_ns: u64,
    /// Times a thread assisted a compaction at a pacing threshold.
    pub assists: u64,
    /// Their total time, ns.
    pub assist_ns: u64,
    /// Pages they installed.
    pub assist_pages: u64,
    /// Their CPU time, ns.
    pub assist_cpu_ns: u64,
    /// The longest of them, ns.
    pub assist_max_ns: u64,
}

/// Young and full cycles in JSON (nanoseconds): part of [`GcStatsJson`]
/// and of the benchmarks' JSON.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[non_exhaustive]
pub struct CycleKindsJson {
    /// Young cycles (generational collection).
    pub young_cycles: u64,
    /// Full cycles.
    pub full_cycles: u64,
    /// The longest pause of a young cycle, ns.
    pub young_pause_max_ns: u64,
    /// The longest pause of a full cycle, ns.
    pub full_pause_max_ns: u64,
    /// The young cycles' pauses in all, ns.
    pub young_pause_total_ns: u64,
    /// The full cycles' pauses in all, ns.
    pub full_pause_total_ns: u64,
    /// The young cycles' GC CPU, ns.
    pub young_gc_cpu_ns: u64,
    /// Dirty old cards the young cycles' marking walked, in all.
    pub young_cards_scanned: u64,
    /// Time the young cycles' marking spent walking them, ns in all.
    pub young_card_scan_ns: u64,
    /// Dirty old cards forwarded after the young cycles' compaction.
    pub young_cards_fixed: u64,
    /// The full cycles' GC CPU, ns.
    pub full_gc_cpu_ns: u64,
    /// Cycles per kind and the policy's reason, as (`young(throughput)`,
    /// count).
    pub kind_causes: Vec<(String, u64)>,
}

/// One pause phase's per-cycle quantiles.
#[derive(Serialize)]
#[non_exhaustive]
pub struct PhaseQuantiles {
    /// Phase name.
    pub phase: String,
    /// Median, ns.
    pub p50_ns: u64,
    /// 99th percentile, ns.
    pub p99_ns: u64,
    /// Maximum, ns.
    pub max_ns: u64,
}

fn add_total(totals: &mut Vec<(Phase, Duration)>, p: Phase, d: Duration) {
    match totals.iter_mut().find(|(q, _)| *q == p) {
        Some((_, t)) => *t += d,
        None => totals.push((p, d)),
    }
}

impl GcStats {
    /// Empty statistics of a runtime that asked for `requested` and runs
    /// `mode`.
    pub fn for_modes(requested: Mode, mode: Mode) -> GcStats {
        GcStats {
            requested_mode: Some(requested),
            mode: Some(mode),
            ..GcStats::default()
        }
    }

    /// Starts afresh, keeping the modes.
    pub fn reset(&mut self) {
        *self = GcStats {
            requested_mode: self.requested_mode,
            mode: self.mode,
            ..GcStats::default()
        };
    }

    /// Accounts one finished cycle.
    pub fn record(&mut self, r: &CycleReport) {
        self.cycles += 1;
        let (cycles, max_pause, pause, cpu) = if r.young {
            (
                &mut self.young_cycles,
                &mut self.young_max_pause,
                &mut self.young_pause,
                &mut self.young_gc_cpu,
            )
        } else {
            (
                &mut self.full_cycles,
                &mut self.full_max_pause,
                &mut self.full_pause,
                &mut self.full_gc_cpu,
            )
        };
        *cycles += 1;
        if r.young {
            self.young_cards_scanned += r.marked.cards as u64;
            self.young_card_scan += r.marked.card_time;
            self.young_cards_fixed += r.cards_fixed as u64;
        }
        *max_pause = (*max_pause).max(r.max_pause());
        *pause += r.pause;
        *cpu += r.gc_cpu;
        if let Some(why) = r.kind_cause {
            let kind = CycleKind::of(r);
            match self
                .kind_causes
                .iter_mut()
                .find(|(k, c, _)| (*k, *c) == (kind, why))
            {
                Some((_, _, n)) => *n += 1,
                None => self.kind_causes.push((kind, why, 1)),
            }
        }
        self.total_pause += r.pause;
        for &p in &r.pauses {
            self.pause_count += 1;
            self.max_pause = self.max_pause.max(p);
            self.pauses.record(nanos(p));
        }
        if r.flip_pause > Duration::ZERO {
            self.flip_pauses.record(nanos(r.flip_pause));
        }
        self.faults += r.faults;
        for &(ns, n) in &r.fault_service {
            self.fault_service.record_n(ns, n);
        }
        self.gc_cpu += r.gc_cpu;
        self.pages_compacted += r.pages_compacted as u64;
        self.pages_moved += r.pages_moved as u64;
        self.pages_dense += r.pages_dense as u64;
        self.pages_recycled += r.pages_recycled as u64;
        for &(p, d) in &r.concurrent {
            add_total(&mut self.concurrent_totals, p, d);
        }
        for &(p, d) in &r.phases {
            add_total(&mut self.phase_totals, p, d);
            match self.phase_hists.iter_mut().find(|(q, _)| *q == p) {
                Some((_, h)) => h.record(nanos(d)),
                None => {
                    let mut h = Hist::new();
                    h.record(nanos(d));
                    self.phase_hists.push((p, h));
                }
            }
        }
        self.last_used_before = r.used_before;
        self.last_used_after = r.used_after;
        if !r.young {
            // A young cycle's live size comes with its trigger
            // (`record_live`): its marking saw only the young.
            self.last_live = r.live_bytes();
        }
        self.last_notes = r.notes.clone();
    }

    /// The live size the policy set the next trigger from, after a flip
    /// or a stop-the-world collection.
    pub(crate) fn record_live(&mut self, live: usize) {
        self.last_live = live;
    }

    /// Accounts a stall outside any cycle's pauses: a mutator that waited
    /// for a compaction to end because the heap was full. It stopped the
    /// mutator, so it counts as a pause.
    pub fn record_stall(&mut self, d: Duration) {
        self.stalls += 1;
        self.total_pause += d;
        self.pause_count += 1;
        self.max_pause = self.max_pause.max(d);
        self.pauses.record(nanos(d));
    }

    /// Accounts one sleep at a pacing threshold (`compacting`: during a
    /// compaction).
    pub fn record_pacing(&mut self, d: Duration, compacting: bool) {
        self.paced += 1;
        self.pacing += d;
        if compacting {
            self.pacing_compacting += d;
        }
        self.longest_pacing_sleep = self.longest_pacing_sleep.max(d);
    }

    /// Accounts one assist at a pacing threshold: `d` spent (`cpu` of it
    /// on the CPU) installing `pages` pages of the compaction in flight.
    pub fn record_assist(&mut self, d: Duration, cpu: Duration, pages: usize) {
        self.assists += 1;
        self.assist_time += d;
        self.assist_cpu += cpu;
        self.longest_assist = self.longest_assist.max(d);
        self.assist_pages += pages as u64;
    }

    /// The pacing totals so far (the log shows their change per cycle).
    pub(crate) fn pacing_totals(&self) -> PacingTotals {
        PacingTotals {
            sleeps: self.paced,
            slept: self.pacing,
            assists: self.assists,
            assisted: self.assist_time,
            assist_pages: self.assist_pages,
        }
    }

    /// Accounts one stop's time to safepoint: from the request until every
    /// running mutator thread had stopped.
    pub fn record_safepoint(&mut self, d: Duration) {
        self.safepoints.record(nanos(d));
    }

    /// Time to safepoint at quantile `q` (0..=1), over every stop.
    pub fn safepoint_quantile(&self, q: f64) -> Duration {
        self.safepoints.quantile(q)
    }

    /// Pause at quantile `q` (0..=1), at most [`GcStats::max_pause`].
    pub fn pause_quantile(&self, q: f64) -> Duration {
        self.pauses.quantile(q)
    }

    /// Flip pause at quantile `q` (zero in stw mode, which has none).
    pub fn flip_pause_quantile(&self, q: f64) -> Duration {
        self.flip_pauses.quantile(q)
    }

    /// Fault service time at quantile `q` (uffd modes).
    pub fn fault_service_quantile(&self, q: f64) -> Duration {
        self.fault_service.quantile(q)
    }

    /// Per-cycle time of `phase` at quantile `q` (0..=1); `max` is `q = 1`.
    pub fn phase_quantile(&self, phase: Phase, q: f64) -> Duration {
        self.phase_hists
            .iter()
            .find(|(p, _)| *p == phase)
            .map_or(Duration::ZERO, |(_, h)| h.quantile(q))
    }

    /// The young and full cycles as JSON-ready fields.
    pub fn kinds_json(&self) -> CycleKindsJson {
        let ns = |d: Duration| d.as_nanos() as u64;
        CycleKindsJson {
            young_cycles: self.young_cycles,
            full_cycles: self.full_cycles,
            young_pause_max_ns: ns(self.young_max_pause),
            full_pause_max_ns: ns(self.full_max_pause),
            young_pause_total_ns: ns(self.young_pause),
            full_pause_total_ns: ns(self.full_pause),
            young_gc_cpu_ns: ns(self.young_gc_cpu),
            young_cards_scanned: self.young_cards_scanned,
            young_card_scan_ns: ns(self.young_card_scan),
            young_cards_fixed: self.young_cards_fixed,
            full_gc_cpu_ns: ns(self.full_gc_cpu),
            kind_causes: self
                .kind_causes
                .iter()
                .map(|(k, c, n)| (format!("{}({c})", k.key()), *n))
                .collect(),
        }
    }

    /// The statistics as JSON-ready fields.
    pub fn to_json(&self) -> GcStatsJson {
        GcStatsJson {
            mode_requested: self.requested_mode.map(|m| m.to_string()),
            mode: self.mode.map(|m| m.to_string()),
            cycles: self.cycles,
            kinds: self.kinds_json(),
            total_pause_ns: self.total_pause.as_nanos() as u64,
            pause_p50_ns: self.pause_quantile(0.5).as_nanos() as u64,
            pause_p99_ns: self.pause_quantile(0.99).as_nanos() as u64,
            pause_max_ns: self.max_pause.as_nanos() as u64,
            phase_total_ns: self
                .phase_totals
                .iter()
                .map(|(p, d)| (p.name().to_string(), d.as_nanos() as u64))
                .collect(),
            faults: self.faults,
            fault_service_p50_ns: self.fault_service_quantile(0.5).as_nanos() as u64,
            fault_service_p99_ns: self.fault_service_quantile(0.99).as_nanos() as u64,
            fault_service_p999_ns: self.fault_service_quantile(0.999).as_nanos() as u64,
            fault_service_max_ns: self.fault_service_quantile(1.0).as_nanos() as u64,
            flip_pause_p50_ns: self.flip_pause_quantile(0.5).as_nanos() as u64,
            flip_pause_p99_ns: self.flip_pause_quantile(0.99).as_nanos() as u64,
            flip_pause_max_ns: self.flip_pause_quantile(1.0).as_nanos() as u64,
            phase_quantiles_ns: self
                .phase_hists
                .iter()
                .map(|(p, _)| PhaseQuantiles {
                    phase: p.name().to_string(),
                    p50_ns: self.phase_quantile(*p, 0.5).as_nanos() as u64,
                    p99_ns: self.phase_quantile(*p, 0.99).as_nanos() as u64,
                    max_ns: self.phase_quantile(*p, 1.0).as_nanos() as u64,
                })
                .collect(),
            safepoint_p50_ns: self.safepoint_quantile(0.5).as_nanos() as u64,
            safepoint_p99_ns: self.safepoint_quantile(0.99).as_nanos() as u64,
            safepoint_max_ns: self.safepoint_quantile(1.0).as_nanos() as u64,
            concurrent_phase_total_ns: self
                .concurrent_totals
                .iter()
                .map(|(p, d)| (p.name().to_string(), d.as_nanos() as u64))
                .collect(),
            gc_cpu_ns: self.gc_cpu.as_nanos() as u64,
            last_live_bytes: self.last_live,
            paced: self.paced,
            pacing_ns: self.pacing.as_nanos() as u64,
            pacing_max_ns: self.longest_pacing_sleep.as_nanos() as u64,
            pacing_compacting_ns: self.pacing_compacting.as_nanos() as u64,
            assists: self.assists,
            assist_ns: self.assist_time.as_nanos() as u64,
            assist_pages: self.assist_pages,
            assist_cpu_ns: self.assist_cpu.as_nanos() as u64,
            assist_max_ns: self.longest_assist.as_nanos() as u64,
        }
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

impl fmt::Display for GcStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "gc: {} cycles, pause p50 {:.3}ms p99 {:.3}ms max {:.3}ms total {:.3}ms, flip pause p50 {:.3}ms max {:.3}ms, {} faults (service p50 {:.1}us p99 {:.1}us), gc cpu {:.3}s, live {:.1}M",
            self.cycles,
            ms(self.pause_quantile(0.5)),
            ms(self.pause_quantile(0.99)),
            ms(self.max_pause),
            ms(self.total_pause),
            ms(self.flip_pause_quantile(0.5)),
            ms(self.flip_pause_quantile(1.0)),
            self.faults,
            self.fault_service_quantile(0.5).as_secs_f64() * 1e6,
            self.fault_service_quantile(0.99).as_secs_f64() * 1e6,
            self.gc_cpu.as_secs_f64(),
            self.last_live as f64 / (1 << 20) as f64
        )?;
        if self.young_cycles > 0 {
            write!(
                f,
                ", {} young (max pause {:.3}ms, gc cpu {:.3}s, {} dirty cards/cycle in {:.3}ms), {} full (max pause {:.3}ms, gc cpu {:.3}s)",
                self.young_cycles,
                ms(self.young_max_pause),
                self.young_gc_cpu.as_secs_f64(),
                self.young_cards_scanned / self.young_cycles,
                ms(self.young_card_scan) / self.young_cycles as f64,
                self.full_cycles,
                ms(self.full_max_pause),
                self.full_gc_cpu.as_secs_f64()
            )?;
        }
        if let (Some(requested), Some(mode)) = (self.requested_mode, self.mode) {
            write!(f, ", mode {}", mode_label(requested, mode))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_never_exceed_the_recorded_maximum() {
        // 12.095 ms lies in a bucket whose top hdrhistogram reports as
        // 12.099 ms: the p99 printed above the max.
        let mut s = GcStats::default();
        s.record_stall(Duration::from_nanos(12_095_000));
        s.record_safepoint(Duration::from_nanos(12_095_000));
        for q in [0.5, 0.99, 1.0] {
            assert!(s.pause_quantile(q) <= s.max_pause, "q {q}");
            assert_eq!(s.safepoint_quantile(q), Duration::from_nanos(12_095_000));
        }
        let text = s.to_string();
        assert!(text.contains("p99 12.095ms max 12.095ms"), "{text}");
    }

    #[test]
    fn the_summary_names_the_requested_mode_and_the_running_one_if_it_differs() {
        let same = GcStats::for_modes(Mode::Uffd, Mode::Uffd).to_string();
        assert!(same.ends_with(", mode uffd"), "{same}");
        let mut fallback = GcStats::for_modes(Mode::UffdMove, Mode::Stw);
        fallback.reset();
        let text = fallback.to_string();
        assert!(text.ends_with(", mode uffd-move (running stw)"), "{text}");
    }

    #[test]
    fn cycles_are_counted_per_kind_with_their_pauses_cpu_and_reasons() {
        let cycle = |young, why, pause_ms, cpu_ms| {
            let mut r = CycleReport::new("stw", 0);
            r.young = young;
            r.kind_cause = why;
            r.add_pause(Duration::from_millis(pause_ms));
            r.gc_cpu = Duration::from_millis(cpu_ms);
            if young {
                r.marked.cards = 10;
                r.marked.card_time = Duration::from_millis(1);
                r.cards_fixed = 4;
            }
            r
        };
        let mut s = GcStats::default();
        s.record(&cycle(false, Some(KindCause::First), 30, 50));
        s.record(&cycle(true, Some(KindCause::AfterFull), 5, 7));
        s.record(&cycle(true, Some(KindCause::Throughput), 8, 9));
        s.record(&cycle(true, Some(KindCause::Throughput), 6, 9));
        s.record(&cycle(false, None, 20, 40));
        assert_eq!((s.young_cycles, s.full_cycles), (3, 2));
        assert_eq!(s.young_max_pause, Duration::from_millis(8));
        assert_eq!(s.full_max_pause, Duration::from_millis(30));
        assert_eq!(s.young_pause, Duration::from_millis(19));
        assert_eq!(s.full_gc_cpu, Duration::from_millis(90));
        let j = s.to_json().kinds;
        assert_eq!((j.young_cycles, j.full_cycles), (3, 2));
        assert_eq!(j.young_gc_cpu_ns, 25_000_000);
        assert_eq!(j.full_pause_total_ns, 50_000_000);
        assert_eq!(j.young_pause_max_ns, 8_000_000);
        assert_eq!(j.young_cards_scanned, 30);
        assert_eq!(j.young_card_scan_ns, 3_000_000);
        assert_eq!(j.young_cards_fixed, 12);
        assert_eq!(
            j.kind_causes,
            vec![
                ("full(first)".to_string(), 1),
                ("young(after-full)".to_string(), 1),
                ("young(throughput)".to_string(), 2)
            ]
        );
        let text = s.to_string();
        assert!(
            text.contains(", 3 young (max pause 8.000ms, gc cpu 0.025s, 10 dirty cards/cycle in 1.000ms), 2 full (max pause 30.000ms, gc cpu 0.090s)"),
            "{text}"
        );
    }
}
