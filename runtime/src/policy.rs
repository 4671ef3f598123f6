//! When to start a cycle, and how hard to pace allocation during one.
//!
//! **Trigger.** A stop-the-world runtime collects at `live × growth`. A
//! concurrent one must also finish a cycle before the heap limit while the
//! mutators keep allocating, so it measures the allocation rate between
//! flips and how long a cycle takes (marking, planning, compaction) and
//! starts the next one early enough that the rate times that time, with a
//! margin, still fits below the limit. Until a cycle has been measured it
//! keeps half of the room above the live data for allocation during the
//! cycle.
//!
//! **Pacing.** During a cycle the heap's soft limit is a pacing threshold
//! rather than the hard limit. A quarter of the free room is free to use at
//! once; beyond it, allocation is budgeted at three quarters of the free
//! room per measured cycle length. The thread that crosses a threshold
//! ahead of that budget sleeps (blocked, so pauses go on) until the budget
//! catches up, at most [`PACE_MAX`] at a time, and raises the threshold by
//! a little. Sleeping mutators hand the CPU to the collector threads
//! instead of running the heap dry and stalling every thread at the limit.
//! Before any cycle was measured, the sleep grows with the depth into the
//! reserve instead.

use std::time::{Duration, Instant};

use gc::CycleReport;

/// The margin on "allocation during one cycle".
const MARGIN: f64 = 1.5;
/// The weight of the newest sample in the moving averages.
const EWMA: f64 = 0.5;
/// The shortest and longest sleep at a pacing threshold.
const PACE_MIN: Duration = Duration::from_micros(100);
pub(crate) const PACE_MAX: Duration = Duration::from_millis(10);
/// Below this much free room pacing gives way to the stall at the limit.
const MIN_FREE: usize = 4 << 20;

/// The runtime's measurements and its current cycle's pacing state.
#[derive(Debug, Default)]
pub(crate) struct Policy {
    /// Bytes allocated per second of wall time (moving average).
    rate: Option<f64>,
    /// Seconds from a cycle's start to its compaction's end (moving average).
    cycle: Option<f64>,
    /// When the last flip ended and the bytes in use right after it.
    last_flip: Option<(Instant, usize)>,
    /// Free bytes when the cycle in flight started (pacing's reference).
    free_at_start: usize,
    /// When the cycle in flight started, and the bytes in use then, moved
    /// down by what each flip reclaimed (so `used - base` stays the bytes
    /// allocated since the start).
    cycle_start: Option<(Instant, usize)>,
}

/// What a thread that crossed a pacing threshold does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Pace {
    /// How long it sleeps.
    pub(crate) sleep: Duration,
    /// The next threshold (bytes in use).
    pub(crate) next: usize,
}

fn ewma(old: Option<f64>, sample: f64) -> f64 {
    old.map_or(sample, |o| o * (1.0 - EWMA) + sample * EWMA)
}

impl Policy {
    /// A flip just ended: `used_before` bytes were in use before it and
    /// `used_after` after. Samples the allocation rate since the last flip.
    pub(crate) fn observe_flip(&mut self, used_before: usize, used_after: usize) {
        let now = Instant::now();
        if let Some((_, base)) = &mut self.cycle_start {
            let allocated = used_before.saturating_sub(*base);
            *base = used_after.saturating_sub(allocated);
        }
        if let Some((then, used_then)) = self.last_flip {
            let secs = now.duration_since(then).as_secs_f64();
            if secs > 1e-3 {
                let allocated = used_before.saturating_sub(used_then) as f64;
                self.rate = Some(ewma(self.rate, allocated / secs));
            }
        }
        self.last_flip = Some((now, used_after));
    }

    /// A concurrent cycle ended: samples its length (marking and planning
    /// ran before the flip; `duration` runs from the flip to the end).
    pub(crate) fn observe_cycle(&mut self, r: &CycleReport) {
        let mark = r.concurrent_phase(gc::Phase::Mark) + r.concurrent_phase(gc::Phase::Forward);
        self.cycle = Some(ewma(self.cycle, (mark + r.duration).as_secs_f64()));
    }

    /// The bytes in use at which the next cycle starts, after one found
    /// `live` bytes live. `growth` is the configured factor; `concurrent`
    /// says whether cycles run beside the mutators (uffd modes).
    pub(crate) fn trigger(
        &self,
        live: usize,
        limit: usize,
        growth: f64,
        concurrent: bool,
    ) -> usize {
        let mut trigger = ((live as f64 * growth) as usize).max(live + gc::heap::INITIAL_TRIGGER);
        if concurrent {
            let room = limit.saturating_sub(live);
            let reserve = match (self.rate, self.cycle) {
                (Some(rate), Some(cycle)) => (rate * cycle * MARGIN) as usize,
                _ => room / 2,
            };
            // Never less than an eighth of the room: a cycle that starts
            // at once after the last only re-marks what just survived.
            trigger = trigger.min(limit.saturating_sub(reserve).max(live + room / 8));
        }
        trigger.min(limit)
    }

    /// A concurrent cycle starts with `used` bytes in use: the first pacing
    /// threshold (a quarter of the free room).
    pub(crate) fn begin(&mut self, used: usize, limit: usize) -> usize {
        self.free_at_start = limit.saturating_sub(used).max(1);
        self.cycle_start = Some((Instant::now(), used));
        used + self.free_at_start / 4
    }

    /// A thread crossed a pacing threshold with `used` bytes in use. `None`
    /// when the heap is (all but) at its limit: pacing is over and the
    /// soft limit becomes the hard one.
    pub(crate) fn pace(&self, used: usize, limit: usize) -> Option<Pace> {
        let free = limit.saturating_sub(used);
        if free < limit / 64 || free < MIN_FREE {
            return None;
        }
        let sleep = match (self.cycle, self.cycle_start) {
            (Some(cycle), Some((start, base))) => {
                // Bytes per second the budget allows, and how far ahead of
                // it this cycle's allocation is.
                let rate = self.free_at_start as f64 * 0.75 / cycle.max(1e-3);
                let allowed =
                    self.free_at_start as f64 / 4.0 + rate * start.elapsed().as_secs_f64();
                let ahead = used.saturating_sub(base) as f64 - allowed;
                Duration::from_secs_f64((ahead / rate).clamp(0.0, PACE_MAX.as_secs_f64()))
            }
            _ => {
                let depth = self.free_at_start.max(free) as f64 / free as f64;
                PACE_MIN.mul_f64(depth * depth).min(PACE_MAX)
            }
        };
        Some(Pace {
            sleep,
            next: used + (free / 32).max(MIN_FREE / 4),
        })
    }

    /// The measured allocation rate (bytes/s) and cycle length, if any.
    pub(crate) fn measured(&self) -> Option<(f64, Duration)> {
        Some((self.rate?, Duration::from_secs_f64(self.cycle?)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const M: usize = 1 << 20;

    #[test]
    fn trigger_keeps_half_the_room_until_measured() {
        let p = Policy::default();
        assert_eq!(p.trigger(100 * M, 500 * M, 2.0, false), 200 * M);
        assert_eq!(p.trigger(300 * M, 500 * M, 2.0, true), 400 * M);
    }

    #[test]
    fn trigger_moves_earlier_when_allocation_outruns_the_cycle() {
        let p = Policy {
            rate: Some(100.0 * M as f64),
            cycle: Some(1.0),
            ..Default::default()
        };
        // 150 MiB reserve below a 1000 MiB limit: growth would allow 800.
        assert_eq!(p.trigger(400 * M, 1000 * M, 2.0, true), 800 * M);
        let fast = Policy {
            rate: Some(400.0 * M as f64),
            ..p
        };
        // 600 MiB reserve: start at 400 + an eighth of the room at least.
        assert_eq!(fast.trigger(400 * M, 1000 * M, 2.0, true), 475 * M);
        // Stop-the-world mode ignores the rate.
        assert_eq!(fast.trigger(400 * M, 1000 * M, 2.0, false), 800 * M);
    }

    #[test]
    fn pacing_sleeps_longer_deeper_into_the_reserve_and_ends_at_the_limit() {
        let mut p = Policy::default();
        let first = p.begin(200 * M, 1000 * M);
        assert_eq!(first, 400 * M);
        let shallow = p.pace(600 * M, 1000 * M).expect("pacing");
        let deep = p.pace(950 * M, 1000 * M).expect("pacing");
        assert!(shallow.sleep < deep.sleep, "{shallow:?} vs {deep:?}");
        assert!(deep.sleep <= PACE_MAX);
        assert!(shallow.next > 600 * M && deep.next > 950 * M && deep.next < 1000 * M);
        assert_eq!(
            p.pace(995 * M, 1000 * M),
            None,
            "at the limit pacing is over"
        );
    }

    #[test]
    fn pacing_holds_allocation_to_the_budget_once_a_cycle_was_measured() {
        let mut p = Policy {
            cycle: Some(1.0),
            ..Default::default()
        };
        p.begin(200 * M, 1000 * M);
        // Within the free quarter: no sleep.
        assert_eq!(
            p.pace(350 * M, 1000 * M).expect("pacing").sleep,
            Duration::ZERO
        );
        // 600 MiB allocated at once, far ahead of 200 + 600/s: the longest
        // sleep.
        assert_eq!(p.pace(800 * M, 1000 * M).expect("pacing").sleep, PACE_MAX);
        // A flip that reclaims 500 MiB keeps the allocation count.
        p.observe_flip(800 * M, 300 * M);
        assert_eq!(p.pace(300 * M, 1000 * M).expect("pacing").sleep, PACE_MAX);
    }

    #[test]
    fn rate_is_sampled_between_flips() {
        let mut p = Policy::default();
        p.observe_flip(0, 10 * M);
        std::thread::sleep(Duration::from_millis(20));
        p.observe_flip(30 * M, 10 * M);
        let rate = p.rate.expect("a rate after two flips");
        // 20 MiB in at least 20 ms: at most 1000 MiB/s.
        assert!(rate > 0.0 && rate <= 1000.0 * M as f64, "{rate}");
    }
}
