//! What one collection did: phases, sizes and costs.

use std::fmt;
use std::time::{Duration, Instant};

use mremap_shim::model::MoveCost;

use crate::mark::tracer::MarkStats;

/// CPU time the calling thread has used.
pub fn thread_cpu() -> Duration {
    nix::time::clock_gettime(nix::time::ClockId::CLOCK_THREAD_CPUTIME_ID)
        .map_or(Duration::ZERO, Duration::from)
}

/// The named steps of a cycle.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Phase {
    /// Tracing from the roots.
    Mark,
    /// Building the post-compaction address plan.
    Forward,
    /// Waiting, stopped, for concurrent work to end (the previous
    /// compaction, the marker, the plan).
    Wait,
    /// Time to safepoint: from the stop request until every running
    /// mutator thread had stopped.
    Safepoint,
    /// Copying the roots for a concurrent marking (its initial pause).
    Snapshot,
    /// Finishing a concurrent marking: draining what the write barrier
    /// recorded since the marker stopped.
    Remark,
    /// Moving the page tables away (`MREMAP_DONTUNMAP`).
    Flip,
    /// Registering the flipped spaces with userfaultfd.
    Register,
    /// Faulting in the to-space pages that will receive live data.
    Populate,
    /// Filling to-space pages.
    Compact,
    /// Rewriting non-moving objects' and roots' references.
    UpdateRefs,
    /// Freeing dead non-moving objects.
    Sweep,
    /// Returning from-space to the reservation, clearing bitmaps.
    Release,
}

impl Phase {
    /// Every phase, in cycle order.
    pub const ALL: [Phase; 13] = [
        Phase::Safepoint,
        Phase::Wait,
        Phase::Snapshot,
        Phase::Mark,
        Phase::Remark,
        Phase::Forward,
        Phase::Flip,
        Phase::Register,
        Phase::Populate,
        Phase::Compact,
        Phase::UpdateRefs,
        Phase::Sweep,
        Phase::Release,
    ];

    /// A short name for logs and JSON.
    pub fn name(self) -> &'static str {
        match self {
            Phase::Mark => "mark",
            Phase::Forward => "forward",
            Phase::Wait => "wait",
            Phase::Safepoint => "safepoint",
            Phase::Snapshot => "snapshot",
            Phase::Remark => "remark",
            Phase::Flip => "flip",
            Phase::Register => "register",
            Phase::Populate => "populate",
            Phase::Compact => "compact",
            Phase::UpdateRefs => "update-refs",
            Phase::Sweep => "sweep",
            Phase::Release => "release",
        }
    }
}

/// What stood between a pause's request and its start: the requesting
/// thread's wait for concurrent work, and the time every other mutator
/// thread took to reach a safepoint. Both count as pause time.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PauseEntry {
    /// Waiting, stopped, for the collector (a stall).
    pub waited: Duration,
    /// Time to safepoint.
    pub safepoint: Duration,
}

impl PauseEntry {
    /// Both parts together.
    pub fn total(self) -> Duration {
        self.waited + self.safepoint
    }
}

/// Why a cycle was young or full. The runtime's policy decides
/// (docs/generational.md, section 7) and records it in the report; the
/// collector only carries it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KindCause {
    /// Full: the first cycle (no full cycle measured yet).
    First,
    /// The embedder asked for this kind (`Mutator::collect`,
    /// `Mutator::collect_young`).
    Explicit,
    /// Young: the last cycle was full.
    AfterFull,
    /// Young: the last young cycle's freed bytes per ms of GC CPU, times
    /// the sticky adjustment, were at least the full cycles' mean; full:
    /// they were not.
    Throughput,
    /// Full: the old generation grew past half the room the last full
    /// cycle left above it.
    OldGen,
    /// Full: allocation still failed at the limit after a cycle of the
    /// policy's kind.
    Limit,
    /// Full instead of young (uffd modes): more old cards were dirty than
    /// a young cycle's flip pause may fix.
    Cards,
}

impl KindCause {
    /// Every cause, in the order above.
    pub const ALL: [KindCause; 7] = [
        KindCause::First,
        KindCause::Explicit,
        KindCause::AfterFull,
        KindCause::Throughput,
        KindCause::OldGen,
        KindCause::Limit,
        KindCause::Cards,
    ];

    /// The cause as logs and JSON print it.
    pub fn name(self) -> &'static str {
        match self {
            KindCause::First => "first",
            KindCause::Explicit => "explicit",
            KindCause::AfterFull => "after-full",
            KindCause::Throughput => "throughput",
            KindCause::OldGen => "old-gen",
            KindCause::Limit => "limit",
            KindCause::Cards => "cards",
        }
    }
}

impl fmt::Display for KindCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The report of one collection.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct CycleReport {
    /// Compaction mode that ran.
    pub mode: &'static str,
    /// A young cycle (generational collection): only objects above the old
    /// generation were marked and moved.
    pub young: bool,
    /// Why the cycle was young or full, as the runtime's policy decided
    /// (`None`: generational collection off, every cycle full).
    pub kind_cause: Option<KindCause>,
    /// Time spent in each phase the mutators were stopped for.
    pub phases: Vec<(Phase, Duration)>,
    /// Time spent in each phase that ran while the mutators ran.
    pub concurrent: Vec<(Phase, Duration)>,
    /// Heap bytes in use before the cycle.
    pub used_before: usize,
    /// Heap bytes in use after the cycle.
    pub used_after: usize,
    /// What marking found.
    pub marked: MarkStats,
    /// Model-predicted page-table work of the flip.
    pub flip_cost: Option<MoveCost>,
    /// To-space pages filled.
    pub pages_compacted: usize,
    /// Of those, pages installed by `UFFDIO_MOVE` (the rest by COPY).
    pub pages_moved: usize,
    /// Of `pages_compacted`, pages of the dense prefix: their objects kept
    /// their addresses and only references were updated (in place in the
    /// stop-the-world mode; copied and fixed in the uffd modes). The rest
    /// were slid.
    pub pages_dense: usize,
    /// Non-moving bytes freed by the sweep.
    pub non_moving_freed_bytes: usize,
    /// Young cycles: dirty old cards whose slots were forwarded after
    /// compaction (in the flip pause, in the concurrent modes). The cards
    /// marking walked are in [`MarkStats::cards`].
    pub cards_fixed: usize,
    /// Time the mutators were stopped (the sum of `pauses`).
    pub pause: Duration,
    /// Each stop of the mutators: one for a stop-the-world or in-pause-marking
    /// cycle; initial, remark and flip pauses for a concurrently marked one.
    pub pauses: Vec<Duration>,
    /// When each of `pauses` ended (for utilisation over time windows).
    pub pause_ends: Vec<Instant>,
    /// The part of the pause that moves page tables and fixes roots (the
    /// pause without waiting, marking and address planning).
    pub flip_pause: Duration,
    /// Mutator page faults on the heap served during the cycle.
    pub faults: u64,
    /// Fault service times as (nanoseconds, faults) pairs, every fault
    /// counted, each time rounded down by at most 3%: from the handler's
    /// start (the SIGBUS handler, or the worker reading the event) to the
    /// page being mapped.
    pub fault_service: Vec<(u64, u64)>,
    /// CPU time of the collector's work: the pause on the mutator's thread,
    /// the collector threads and the fault workers.
    pub gc_cpu: Duration,
    /// Degradations worth logging (e.g. a failed populate).
    pub notes: Vec<String>,
    /// Wall time of the whole cycle.
    pub duration: Duration,
}

impl CycleReport {
    /// An empty report for a cycle starting with `used_before` bytes in use.
    pub fn new(mode: &'static str, used_before: usize) -> CycleReport {
        CycleReport {
            mode,
            young: false,
            kind_cause: None,
            phases: Vec::new(),
            used_before,
            used_after: 0,
            marked: MarkStats::default(),
            flip_cost: None,
            pages_compacted: 0,
            pages_moved: 0,
            pages_dense: 0,
            non_moving_freed_bytes: 0,
            cards_fixed: 0,
            pause: Duration::ZERO,
            pauses: Vec::new(),
            pause_ends: Vec::new(),
            flip_pause: Duration::ZERO,
            faults: 0,
            fault_service: Vec::new(),
            gc_cpu: Duration::ZERO,
            concurrent: Vec::new(),
            notes: Vec::new(),
            duration: Duration::ZERO,
        }
    }

    /// Adds `d` to `phase`.
    pub fn add_phase(&mut self, phase: Phase, d: Duration) {
        match self.phases.iter_mut().find(|(p, _)| *p == phase) {
            Some((_, t)) => *t += d,
            None => self.phases.push((phase, d)),
        }
    }

    /// Adds `d` to the concurrent `phase`.
    pub fn add_concurrent(&mut self, phase: Phase, d: Duration) {
        match self.concurrent.iter_mut().find(|(p, _)| *p == phase) {
            Some((_, t)) => *t += d,
            None => self.concurrent.push((phase, d)),
        }
    }

    /// Time spent in `phase` with the mutators stopped.
    pub fn phase(&self, phase: Phase) -> Duration {
        self.phases
            .iter()
            .find(|(p, _)| *p == phase)
            .map_or(Duration::ZERO, |&(_, d)| d)
    }

    /// Time spent in `phase` concurrently with the mutators.
    pub fn concurrent_phase(&self, phase: Phase) -> Duration {
        self.concurrent
            .iter()
            .find(|(p, _)| *p == phase)
            .map_or(Duration::ZERO, |&(_, d)| d)
    }

    /// Closes the report of a one-pause cycle.
    pub fn finish(&mut self, used_after: usize, pause: Duration, duration: Duration) {
        self.used_after = used_after;
        self.pause = pause;
        self.pauses = vec![pause];
        self.pause_ends = vec![Instant::now()];
        self.duration = duration;
    }

    /// Accounts what preceded a pause as its `wait` and `safepoint` phases.
    pub fn add_entry(&mut self, entry: PauseEntry) {
        if entry.waited > Duration::ZERO {
            self.add_phase(Phase::Wait, entry.waited);
        }
        if entry.safepoint > Duration::ZERO {
            self.add_phase(Phase::Safepoint, entry.safepoint);
        }
    }

    /// Lengthens a one-pause cycle's pause by what preceded it (its
    /// report is built by code that did not see the stop begin).
    pub fn prepend_entry(&mut self, entry: PauseEntry) {
        self.add_entry(entry);
        self.pause += entry.total();
        if let Some(p) = self.pauses.last_mut() {
            *p += entry.total();
        }
    }

    /// Records one stop of the mutators, ending now.
    pub fn add_pause(&mut self, d: Duration) {
        self.pauses.push(d);
        self.pause_ends.push(Instant::now());
        self.pause += d;
    }

    /// The longest single stop of the mutators.
    pub fn max_pause(&self) -> Duration {
        self.pauses.iter().copied().max().unwrap_or(self.pause)
    }

    /// The kind as logs and JSON print it: `young` or `full`.
    pub fn kind_name(&self) -> &'static str {
        if self.young {
            "young"
        } else {
            "full"
        }
    }

    /// Bytes in use the cycle gave back (in use before less in use after;
    /// allocation during a concurrent cycle counts against it).
    pub fn freed_bytes(&self) -> usize {
        self.used_before.saturating_sub(self.used_after)
    }

    /// Bytes of live objects found by marking.
    pub fn live_bytes(&self) -> usize {
        (self.marked.moving_words + self.marked.non_moving_words) * crate::object::WORD
    }
}

fn mib(bytes: usize) -> f64 {
    bytes as f64 / (1 << 20) as f64
}

impl fmt::Display for CycleReport {
    /// One line in the spirit of `-Xlog:gc`: mode, pause, phases, heap
    /// before -> after (live), duration.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.mode)?;
        match self.kind_cause {
            Some(why) => write!(f, " {}({why})", self.kind_name())?,
            None if self.young => f.write_str(" young")?,
            None => {}
        }
        write!(f, " pause {:.3}ms (", self.pause.as_secs_f64() * 1e3)?;
        if self.pauses.len() > 1 {
            write!(
                f,
                "{} pauses, max {:.3}; ",
                self.pauses.len(),
                self.max_pause().as_secs_f64() * 1e3
            )?;
        }
        if self.flip_pause > Duration::ZERO {
            write!(f, "flip pause {:.3}; ", self.flip_pause.as_secs_f64() * 1e3)?;
        }
        for (i, (p, d)) in self.phases.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            write!(f, "{} {:.3}", p.name(), d.as_secs_f64() * 1e3)?;
        }
        if !self.concurrent.is_empty() {
            write!(f, ") concurrent (")?;
            for (i, (p, d)) in self.concurrent.iter().enumerate() {
                if i > 0 {
                    f.write_str(" ")?;
                }
                write!(f, "{} {:.3}", p.name(), d.as_secs_f64() * 1e3)?;
            }
            write!(f, ", {} faults", self.faults)?;
            if self.pages_moved > 0 {
                write!(
                    f,
                    ", {}/{} pages moved",
                    self.pages_moved, self.pages_compacted
                )?;
            }
        }
        if self.pages_dense > 0 {
            write!(
                f,
                "; {}/{} pages dense (not slid)",
                self.pages_dense, self.pages_compacted
            )?;
        }
        write!(
            f,
            ") {:.1}M->{:.1}M (live {:.1}M) {:.3}ms",
            mib(self.used_before),
            mib(self.used_after),
            mib(self.live_bytes()),
            self.duration.as_secs_f64() * 1e3
        )
    }
}
