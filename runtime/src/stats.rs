//! Telemetry: counters and pause histograms across cycles.

use std::fmt;
use std::time::Duration;

use gc::{CycleReport, Phase};
use hdrhistogram::Histogram;
use serde::Serialize;

/// Collector statistics since the runtime started.
#[derive(Clone)]
#[non_exhaustive]
pub struct GcStats {
    /// Completed collections.
    pub cycles: u64,
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
    /// Total time per concurrent phase (uffd modes).
    pub concurrent_totals: Vec<(Phase, Duration)>,
    /// Heap bytes in use before the last cycle.
    pub last_used_before: usize,
    /// Heap bytes in use after the last cycle.
    pub last_used_after: usize,
    /// Live bytes found by the last marking.
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
    pauses: Histogram<u64>,
    safepoints: Histogram<u64>,
    flip_pauses: Histogram<u64>,
    fault_service: Histogram<u64>,
    phase_hists: Vec<(Phase, Histogram<u64>)>,
}

fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 3_600_000_000_000, 3)
        .expect("1 ns .. 1 h at 3 digits is a valid histogram")
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX).max(1)
}

impl Default for GcStats {
    fn default() -> Self {
        GcStats {
            cycles: 0,
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
            concurrent_totals: Vec::new(),
            last_used_before: 0,
            last_used_after: 0,
            last_live: 0,
            last_notes: Vec::new(),
            handshakes: 0,
            handshake_time: Duration::ZERO,
            paced: 0,
            pacing: Duration::ZERO,
            pauses: new_histogram(),
            safepoints: new_histogram(),
            flip_pauses: new_histogram(),
            fault_service: new_histogram(),
            phase_hists: Vec::new(),
        }
    }
}

/// The JSON shape of [`GcStats`] (nanoseconds and bytes).
#[derive(Serialize)]
#[non_exhaustive]
pub struct GcStatsJson {
    /// Completed collections.
    pub cycles: u64,
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

fn quantile(h: &Histogram<u64>, q: f64) -> Duration {
    Duration::from_nanos(if h.is_empty() {
        0
    } else {
        h.value_at_quantile(q)
    })
}

impl GcStats {
    /// Accounts one finished cycle.
    pub fn record(&mut self, r: &CycleReport) {
        self.cycles += 1;
        self.total_pause += r.pause;
        for &p in &r.pauses {
            self.pause_count += 1;
            self.max_pause = self.max_pause.max(p);
            self.pauses.saturating_record(nanos(p));
        }
        if r.flip_pause > Duration::ZERO {
            self.flip_pauses.saturating_record(nanos(r.flip_pause));
        }
        self.faults += r.faults;
        for &(ns, n) in &r.fault_service {
            // Clamped like `saturating_record` (hdrhistogram has no
            // saturating form of `record_n`).
            let ns = ns.clamp(1, self.fault_service.high());
            let _ = self.fault_service.record_n(ns, n);
        }
        self.gc_cpu += r.gc_cpu;
        self.pages_compacted += r.pages_compacted as u64;
        self.pages_moved += r.pages_moved as u64;
        self.pages_dense += r.pages_dense as u64;
        for &(p, d) in &r.concurrent {
            add_total(&mut self.concurrent_totals, p, d);
        }
        for &(p, d) in &r.phases {
            add_total(&mut self.phase_totals, p, d);
            match self.phase_hists.iter_mut().find(|(q, _)| *q == p) {
                Some((_, h)) => h.saturating_record(nanos(d)),
                None => {
                    let mut h = new_histogram();
                    h.saturating_record(nanos(d));
                    self.phase_hists.push((p, h));
                }
            }
        }
        self.last_used_before = r.used_before;
        self.last_used_after = r.used_after;
        self.last_live = r.live_bytes();
        self.last_notes = r.notes.clone();
    }

    /// Accounts a stall outside any cycle's pauses: a mutator that waited
    /// for a compaction to end because the heap was full. It stopped the
    /// mutator, so it counts as a pause.
    pub fn record_stall(&mut self, d: Duration) {
        self.stalls += 1;
        self.total_pause += d;
        self.pause_count += 1;
        self.max_pause = self.max_pause.max(d);
        self.pauses.saturating_record(nanos(d));
    }

    /// Accounts one sleep at a pacing threshold.
    pub fn record_pacing(&mut self, d: Duration) {
        self.paced += 1;
        self.pacing += d;
    }

    /// Accounts one stop's time to safepoint: from the request until every
    /// running mutator thread had stopped.
    pub fn record_safepoint(&mut self, d: Duration) {
        self.safepoints.saturating_record(nanos(d));
    }

    /// Time to safepoint at quantile `q` (0..=1), over every stop.
    pub fn safepoint_quantile(&self, q: f64) -> Duration {
        quantile(&self.safepoints, q)
    }

    /// Pause at quantile `q` (0..=1).
    pub fn pause_quantile(&self, q: f64) -> Duration {
        Duration::from_nanos(if self.pause_count == 0 {
            0
        } else {
            self.pauses.value_at_quantile(q)
        })
    }

    /// Flip pause at quantile `q` (zero in stw mode, which has none).
    pub fn flip_pause_quantile(&self, q: f64) -> Duration {
        quantile(&self.flip_pauses, q)
    }

    /// Fault service time at quantile `q` (uffd modes).
    pub fn fault_service_quantile(&self, q: f64) -> Duration {
        quantile(&self.fault_service, q)
    }

    /// Per-cycle time of `phase` at quantile `q` (0..=1); `max` is `q = 1`.
    pub fn phase_quantile(&self, phase: Phase, q: f64) -> Duration {
        self.phase_hists
            .iter()
            .find(|(p, _)| *p == phase)
            .map_or(Duration::ZERO, |(_, h)| {
                Duration::from_nanos(h.value_at_quantile(q))
            })
    }

    /// The statistics as JSON-ready fields.
    pub fn to_json(&self) -> GcStatsJson {
        GcStatsJson {
            cycles: self.cycles,
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
        )
    }
}
