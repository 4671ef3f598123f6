//! Young or full: which collection a cycle runs when generational
//! collection is on (docs/generational.md, section 7), and why; kept by the
//! [`Policy`](super::Policy) in its state, fed with every cycle's report.
//!
//! The measured rule (after Android's runtime):
//! - the first cycle is full (`first`), and so is an explicit collection
//!   (`explicit`); an explicit young collection is young (`explicit`);
//! - after a full cycle the next is young (`after-full`);
//! - after a young cycle the next is young again (`throughput`) while the
//!   last young cycle's throughput (freed bytes per ms of GC CPU) times
//!   [`STICKY_ADJUSTMENT`] is at least the full cycles' mean throughput
//!   (a moving average), and the old generation has not grown past its size
//!   after the last full cycle plus half the room that cycle's trigger left
//!   above the live data (else full, `old-gen`); otherwise full
//!   (`throughput`);
//! - a full collection the caller requires (the one an allocation runs
//!   when a cycle of the policy's kind left it failing at the limit) is
//!   full (`limit`).
//!
//! Throughput is per ms of GC CPU rather than wall time (ART's measure):
//! on a few shared cores wall time mostly measures contention.

use std::time::Duration;

use gc::{CycleReport, KindCause};

use super::model::ewma;
use crate::log::{Cause, CycleKind};

/// Young cycles go on while their throughput times this is at least the
/// full cycles' mean (ART's `kStickyGcThroughputAdjustment`).
pub(crate) const STICKY_ADJUSTMENT: f64 = 0.5;

/// What a cycle collects and why.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Decision {
    /// Young or full.
    pub(crate) kind: CycleKind,
    /// Why (`None`: generational collection off, every cycle full).
    pub(crate) why: Option<KindCause>,
}

impl Decision {
    fn young(why: KindCause) -> Decision {
        Decision {
            kind: CycleKind::Young,
            why: Some(why),
        }
    }

    fn full(why: KindCause) -> Decision {
        Decision {
            kind: CycleKind::Full,
            why: Some(why),
        }
    }

    /// Generational collection off: full, with no reason to give.
    pub(crate) const FLAT: Decision = Decision {
        kind: CycleKind::Full,
        why: None,
    };
}

/// The measurements the rule works from.
#[derive(Debug, Default)]
pub(crate) struct YoungOrFull {
    /// Full cycles' freed bytes per ms of GC CPU (moving average).
    full_throughput: Option<f64>,
    /// The last young cycle's.
    young_throughput: Option<f64>,
    /// Old generation bytes after the last full cycle.
    old_after_full: usize,
    /// The room the trigger after the last full cycle left above its live
    /// data.
    room_after_full: Option<usize>,
    /// Old generation bytes after the last cycle.
    old: usize,
    /// The kind of the last cycle that ended.
    ended: Option<CycleKind>,
    /// The kind of the last cycle decided (in flight, or the last ended).
    decided: Option<CycleKind>,
}

/// Freed bytes per ms of GC CPU.
fn throughput(r: &CycleReport) -> f64 {
    let ms = r.gc_cpu.max(Duration::from_micros(1)).as_nanos() as f64 / 1e6;
    r.freed_bytes() as f64 / ms
}

impl YoungOrFull {
    /// What a cycle starting for `cause` collects: `required` if the caller
    /// requires a kind (an explicit young collection; the full collection
    /// before out of memory), else the rule's; `generational` says whether
    /// young cycles run at all. Remembers the kind as the one in flight.
    pub(crate) fn decide(
        &mut self,
        cause: Cause,
        required: Option<CycleKind>,
        generational: bool,
    ) -> Decision {
        let d = if !generational {
            Decision::FLAT
        } else {
            match (required, cause) {
                (Some(CycleKind::Young), _) => Decision::young(KindCause::Explicit),
                (Some(CycleKind::Full), _) => Decision::full(KindCause::Limit),
                (None, Cause::Explicit) => Decision::full(KindCause::Explicit),
                (None, _) => self.rule(self.ended),
            }
        };
        self.decided = Some(d.kind);
        d
    }

    /// The rule for the policy-chosen cycle after one of kind `after`.
    fn rule(&self, after: Option<CycleKind>) -> Decision {
        let (young, full) = match (after, self.young_throughput, self.full_throughput) {
            (None, ..) | (_, _, None) => return Decision::full(KindCause::First),
            (Some(CycleKind::Full), ..) => return Decision::young(KindCause::AfterFull),
            (Some(CycleKind::Young), young, Some(full)) => (young.unwrap_or(0.0), full),
        };
        if let Some(room) = self.room_after_full {
            if self.old > self.old_after_full + room / 2 {
                return Decision::full(KindCause::OldGen);
            }
        }
        if young * STICKY_ADJUSTMENT >= full {
            Decision::young(KindCause::Throughput)
        } else {
            Decision::full(KindCause::Throughput)
        }
    }

    /// The kind the next policy-chosen cycle is expected to be, after the
    /// one decided last (for the trigger's cycle length: the cycle in
    /// flight may not have ended yet).
    pub(crate) fn forecast(&self) -> CycleKind {
        self.rule(self.decided).kind
    }

    /// A cycle ended with `r`, leaving `old` bytes in the old generation.
    pub(crate) fn ended(&mut self, r: &CycleReport, old: usize) {
        let t = throughput(r);
        if r.young {
            self.young_throughput = Some(t);
            self.ended = Some(CycleKind::Young);
        } else {
            self.full_throughput = Some(ewma(self.full_throughput, t));
            self.old_after_full = old;
            self.ended = Some(CycleKind::Full);
        }
        self.old = old;
    }

    /// The cycle decided last found `live` bytes live and set the next
    /// trigger at `trigger` (a flip, or a stop-the-world collection): after
    /// a full one, the room it left bounds the old generation's growth.
    pub(crate) fn collected(&mut self, live: usize, trigger: usize) {
        if self.decided == Some(CycleKind::Full) {
            self.room_after_full = Some(trigger.saturating_sub(live));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const M: usize = 1 << 20;

    /// A report of a cycle of `kind` that freed `freed_mib` MiB in
    /// `cpu_ms` of GC CPU.
    fn report(kind: CycleKind, freed_mib: usize, cpu_ms: u64) -> CycleReport {
        let mut r = CycleReport::new("test", 1000 * M);
        r.young = kind == CycleKind::Young;
        r.used_after = 1000 * M - freed_mib * M;
        r.gc_cpu = Duration::from_millis(cpu_ms);
        r
    }

    /// Decides a policy-chosen cycle, runs it as `r` (leaving `old` bytes
    /// old, and for a full one a trigger at twice `old`): the decision.
    fn cycle(p: &mut YoungOrFull, r: impl Fn(CycleKind) -> CycleReport, old: usize) -> Decision {
        let d = p.decide(Cause::HeapGrowth, None, true);
        p.ended(&r(d.kind), old);
        p.collected(old, 2 * old);
        d
    }

    /// A policy after one full cycle that freed 100 MiB per 10 ms
    /// (10 MiB/ms) with 100 MiB old, room 100 MiB above it.
    fn after_full() -> YoungOrFull {
        let mut p = YoungOrFull::default();
        let d = cycle(&mut p, |_| report(CycleKind::Full, 100, 10), 100 * M);
        assert_eq!(d, Decision::full(KindCause::First));
        p
    }

    #[test]
    fn the_first_cycle_is_full_then_young_after_a_full_one() {
        let mut p = after_full();
        assert_eq!(
            p.decide(Cause::HeapGrowth, None, true),
            Decision::young(KindCause::AfterFull)
        );
    }

    #[test]
    fn young_goes_on_while_half_its_throughput_beats_the_full_mean() {
        // Young at 30 MiB/ms: 15 >= 10, young again; at 19 MiB/ms: 9.5 <
        // 10, full.
        let mut p = after_full();
        let fast = |k| match k {
            CycleKind::Young => report(k, 30, 1),
            CycleKind::Full => report(k, 100, 10),
        };
        assert_eq!(
            cycle(&mut p, fast, 110 * M),
            Decision::young(KindCause::AfterFull)
        );
        assert_eq!(
            cycle(&mut p, fast, 120 * M),
            Decision::young(KindCause::Throughput)
        );
        let slow = |k| match k {
            CycleKind::Young => report(k, 19, 1),
            CycleKind::Full => report(k, 100, 10),
        };
        assert_eq!(
            cycle(&mut p, slow, 130 * M),
            Decision::young(KindCause::Throughput)
        );
        assert_eq!(
            cycle(&mut p, slow, 140 * M),
            Decision::full(KindCause::Throughput),
            "9.5 MiB/ms halved is below the full mean of 10"
        );
        assert_eq!(
            cycle(&mut p, slow, 100 * M),
            Decision::young(KindCause::AfterFull)
        );
    }

    #[test]
    fn the_adjustment_is_a_half_at_the_boundary() {
        // Young at exactly twice the full mean stays young; just below, full.
        for (young_mib, kind) in [(20, CycleKind::Young), (19, CycleKind::Full)] {
            let mut p = after_full();
            p.decide(Cause::HeapGrowth, None, true);
            p.ended(&report(CycleKind::Young, young_mib, 1), 100 * M);
            assert_eq!(
                p.decide(Cause::HeapGrowth, None, true).kind,
                kind,
                "young {young_mib} MiB/ms vs full 10"
            );
        }
    }

    #[test]
    fn the_full_mean_is_a_moving_average() {
        // Fulls at 10 then 30 MiB/ms: mean 20, so young needs 40.
        let mut p = after_full();
        p.decide(Cause::HeapGrowth, None, false);
        p.ended(&report(CycleKind::Full, 300, 10), 100 * M);
        for (young_mib, kind) in [(40, CycleKind::Young), (39, CycleKind::Full)] {
            p.decide(Cause::HeapGrowth, Some(CycleKind::Young), true);
            p.ended(&report(CycleKind::Young, young_mib, 1), 100 * M);
            assert_eq!(p.decide(Cause::HeapGrowth, None, true).kind, kind);
        }
    }

    #[test]
    fn old_gen_growth_past_half_the_room_forces_a_full_cycle() {
        // Old 100 MiB after the full cycle, room 100 MiB: up to 150 MiB
        // young cycles go on (fast ones); past it, full for old-gen.
        let mut p = after_full();
        let fast = |k| match k {
            CycleKind::Young => report(k, 100, 1),
            CycleKind::Full => report(k, 100, 10),
        };
        assert_eq!(cycle(&mut p, fast, 150 * M).kind, CycleKind::Young);
        assert_eq!(
            cycle(&mut p, fast, 150 * M + 1),
            Decision::young(KindCause::Throughput)
        );
        assert_eq!(
            cycle(&mut p, fast, 100 * M),
            Decision::full(KindCause::OldGen)
        );
        assert_eq!(
            cycle(&mut p, fast, 100 * M),
            Decision::young(KindCause::AfterFull),
            "the bound moves with the new full cycle"
        );
    }

    #[test]
    fn explicit_collections_and_the_limit_take_the_kind_asked_for() {
        let mut p = after_full();
        assert_eq!(
            p.decide(Cause::Explicit, None, true),
            Decision::full(KindCause::Explicit)
        );
        assert_eq!(
            p.decide(Cause::Explicit, Some(CycleKind::Young), true),
            Decision::young(KindCause::Explicit)
        );
        assert_eq!(
            p.decide(Cause::HeapLimit, Some(CycleKind::Full), true),
            Decision::full(KindCause::Limit)
        );
        let mut first = YoungOrFull::default();
        assert_eq!(
            first.decide(Cause::Warmup, None, true),
            Decision::full(KindCause::First)
        );
    }

    #[test]
    fn a_young_first_cycle_is_followed_by_a_full_one() {
        let mut p = YoungOrFull::default();
        p.decide(Cause::Explicit, Some(CycleKind::Young), true);
        p.ended(&report(CycleKind::Young, 100, 1), 10 * M);
        assert_eq!(
            p.decide(Cause::HeapGrowth, None, true),
            Decision::full(KindCause::First),
            "no full cycle measured yet"
        );
    }

    #[test]
    fn generational_off_is_always_full_without_a_reason() {
        let mut p = after_full();
        for required in [None, Some(CycleKind::Young), Some(CycleKind::Full)] {
            assert_eq!(p.decide(Cause::HeapGrowth, required, false), Decision::FLAT);
        }
    }

    #[test]
    fn the_forecast_follows_the_cycle_in_flight() {
        let mut p = after_full();
        // A young cycle decided (in flight): the next is judged after it.
        p.decide(Cause::HeapGrowth, None, true);
        assert_eq!(p.forecast(), CycleKind::Full, "no young cycle measured");
        p.ended(&report(CycleKind::Young, 100, 1), 100 * M);
        assert_eq!(p.forecast(), CycleKind::Young);
        p.decide(Cause::Explicit, None, true);
        assert_eq!(p.forecast(), CycleKind::Young, "after a full one");
    }
}
