//! The policy's formulas: when to start a cycle, and how hard to pace
//! allocation during one (the decisions built on them, and the state they
//! share with the heap, are in [`super`]).
//!
//! **Trigger.** A stop-the-world runtime collects at `live × growth`. A
//! concurrent one must also finish a cycle before the heap limit while the
//! mutators keep allocating, so it measures the allocation rate between
//! flips and how long a cycle takes (marking, planning, compaction) and
//! starts the next one early enough that the rate times that time, with a
//! margin, still fits below the limit. Until a cycle has been measured it
//! keeps half of the room above the live data for allocation during the
//! cycle. The first trigger is [`INITIAL_TRIGGER`].
//!
//! **Soft limit.** With a soft limit (`GC_SOFT_LIMIT`,
//! [`crate::RuntimeBuilder::soft_limit`]) the trigger also aims below it:
//! where `live × growth` (or the concurrent trigger) would pass it, the
//! cycle starts at the soft limit (stop-the-world), or early enough that
//! the measured allocation during a cycle still ends below it (concurrent;
//! half the room below it until measured). The soft limit is a goal, the
//! hard limit a wall: when the live data leaves less than an eighth of
//! itself (at least [`SOFT_MIN_ROOM`]) below the soft limit, the trigger
//! goes that far above the live data anyway, up to the hard limit, so a
//! heap whose live data needs more than the goal grows instead of
//! collecting without end; in a concurrent mode the room is then also at
//! least what the mutators allocate during one measured cycle, so they do
//! not wait for every cycle.
//!
//! **Pacing.** During a cycle the heap's allocation threshold is a pacing threshold
//! rather than the hard limit. While more than half of the room above the
//! live data is free, allocation runs unchecked. Below that, the heap may
//! allocate what is free over one measured cycle length: each thread that
//! crosses a threshold books the next free *slot* at that rate (slots are
//! shared by all threads, one step of allocation each) and sleeps until it
//! (blocked, so pauses go on). No sleep is longer than [`PACE_SLICE`]: a
//! thread whose slot would begin later books none, sleeps one slice and
//! asks again, so a cycle that moved on (a flip that raised the trigger)
//! releases it within a slice. The rate falls with the free room, so the
//! heap approaches its limit ever more slowly while the collector, handed
//! the CPU the mutators gave up, finishes the cycle. Before any cycle was
//! measured, a slot's length grows with the depth into the reserve
//! instead (at most [`SLOT_MAX_UNMEASURED`]).
//!
//! **Progress.** A threshold always leaves room for the request that
//! crossed it (a large request books a slot as long as its size at that
//! rate), so a paced allocation fits once its slot begins unless other
//! threads took the room first. A request that would leave less than the
//! reserve free ([`MIN_FREE`], or a 64th of the limit) is not paced at
//! all: only the end of the cycle can make room for it, so the caller
//! pushes the cycle through (and collects fully, and reports out of memory
//! if even that is not enough). One allocation sleeps at most
//! [`PACE_BUDGET`] in all, in at most [`PACE_ROUNDS`] answers, before its
//! caller stops pacing it and pushes the cycle through.

use std::time::{Duration, Instant};

use gc::CycleReport;

use crate::log::Cause;

/// The margin on "allocation during one cycle".
const MARGIN: f64 = 1.5;
/// The weight of the newest sample in the moving averages.
const EWMA: f64 = 0.5;
/// The shortest slot at a pacing threshold before any cycle was measured.
const PACE_MIN: Duration = Duration::from_micros(100);
/// The longest slot at a pacing threshold before any cycle was measured.
const SLOT_MAX_UNMEASURED: Duration = Duration::from_millis(50);
/// The longest single pacing sleep: an allocating thread whose pacing
/// slot begins later sleeps this long and asks again
/// ([`crate::GcStats::longest_pacing_sleep`] is at most this).
pub const PACE_SLICE: Duration = Duration::from_millis(2);
/// The most one allocation sleeps at pacing thresholds in all before its
/// caller stops pacing it and pushes the cycle through (a stall). As much
/// as the sixteen sleeps of up to 50 ms each that pacing gave before it
/// slept in slices, so that cycles are pushed through (stalls) no more
/// often than then.
pub(crate) const PACE_BUDGET: Duration = Duration::from_millis(800);
/// The most pacing answers one allocation gets (the budget in slices,
/// and as many answers without a sleep).
pub(crate) const PACE_ROUNDS: u32 = 2 * (PACE_BUDGET.as_millis() / PACE_SLICE.as_millis()) as u32;
/// The first collection trigger (or the limit, if smaller).
pub(crate) const INITIAL_TRIGGER: usize = 16 << 20;
/// Below this much free room pacing gives way to the stall at the limit.
const MIN_FREE: usize = 4 << 20;
/// The least room above the live data the soft limit leaves for
/// allocation before the next cycle.
pub(crate) const SOFT_MIN_ROOM: usize = 4 << 20;
/// The smallest step between pacing thresholds.
const STEP_MIN: usize = 256 << 10;

/// The limits and growth the runtime's setters change at run time (read
/// at the next trigger computation, but for the hard limit, which holds at
/// once).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Knobs {
    /// The hard limit: allocation never takes the heap past it.
    pub(crate) hard_limit: usize,
    /// The soft limit the trigger aims below, if any (at most the hard
    /// limit).
    pub(crate) soft_limit: Option<usize>,
    /// The growth factor: the next trigger at `live × growth` at most.
    pub(crate) growth: f64,
}

/// The runtime's measurements and its current cycle's pacing state.
#[derive(Debug, Default)]
pub(crate) struct Model {
    /// The soft limit [`Model::trigger`] aims below.
    soft_limit: Option<usize>,
    /// The limit pacing works against during the next cycle when a soft
    /// limit is set (see [`Model::pacing_limit`]).
    goal: Option<usize>,
    /// Bytes allocated per second of wall time (moving average).
    rate: Option<f64>,
    /// Seconds from a cycle's start to its compaction's end per live byte
    /// (moving average): marking and compaction both scale with the live
    /// data, so a heap that grew (or shrank) is judged by its new size.
    cycle_per_byte: Option<f64>,
    /// Seconds a young cycle takes (moving average): young cycles scale
    /// with the survivors and the dirty cards, not with the heap.
    young_cycle: Option<f64>,
    /// The cycle the next trigger and pacing plan for is young.
    expect_young: bool,
    /// The live bytes of the last cycle.
    live: usize,
    /// When the last flip ended and the bytes in use right after it.
    last_flip: Option<(Instant, usize)>,
    /// Free bytes when the cycle in flight started (pacing's reference
    /// before any cycle was measured).
    free_at_start: usize,
    /// The room above the live data after the last cycle.
    room: usize,
    /// The end of the last booked pacing slot (threads book them in turn).
    slot: Option<Instant>,
    /// Which bound set the current trigger (the cause of the cycle that
    /// starts there).
    cause: Cause,
}

/// What a thread that crossed a pacing threshold does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Pace {
    /// How long it sleeps (at most [`PACE_SLICE`]).
    pub(crate) sleep: Duration,
    /// The next threshold (bytes in use).
    pub(crate) next: usize,
}

/// A moving average with the newest `sample` weighted [`EWMA`].
pub(super) fn ewma(old: Option<f64>, sample: f64) -> f64 {
    old.map_or(sample, |o| o * (1.0 - EWMA) + sample * EWMA)
}

impl Model {
    /// A flip just ended: `used_before` bytes were in use before it and
    /// `used_after` after. Samples the allocation rate since the last flip.
    pub(crate) fn observe_flip(&mut self, used_before: usize, used_after: usize) {
        let now = Instant::now();
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
    /// ran before the flip; `duration` runs from the flip to the end), in
    /// the young cycles' model or the full ones'.
    pub(crate) fn observe_cycle(&mut self, r: &CycleReport) {
        let mark = r.concurrent_phase(gc::Phase::Mark) + r.concurrent_phase(gc::Phase::Forward);
        let secs = (mark + r.duration).as_secs_f64();
        if r.young {
            self.young_cycle = Some(ewma(self.young_cycle, secs));
        } else {
            let live = r.live_bytes().max(1 << 20) as f64;
            self.cycle_per_byte = Some(ewma(self.cycle_per_byte, secs / live));
        }
    }

    /// What the mutators allocate during one cycle, with the margin, once
    /// the rate and a cycle were measured.
    fn measured_reserve(&self) -> Option<usize> {
        Some((self.rate? * self.cycle()? * MARGIN) as usize)
    }

    /// Plans the next trigger and pacing for a young cycle (`true`) or a
    /// full one.
    pub(crate) fn expect_young(&mut self, young: bool) {
        self.expect_young = young;
    }

    /// The expected length of the next cycle, in seconds: a young one's
    /// once one was measured, else a full one's at the last live size.
    fn cycle(&self) -> Option<f64> {
        match self.young_cycle {
            Some(young) if self.expect_young => Some(young),
            _ => Some(self.cycle_per_byte? * self.live.max(1 << 20) as f64),
        }
    }

    /// Sets the limits and growth (the runtime's setters; validated by the
    /// caller).
    pub(crate) fn set_knobs(&mut self, knobs: Knobs) {
        self.soft_limit = knobs.soft_limit;
        // Pacing works against the new goal from now on, also before the
        // first cycle has measured any live data.
        let reserve = self.measured_reserve().unwrap_or(0);
        self.goal = self.soft_limit.map(|soft| goal(soft, self.live, reserve));
    }

    /// The first trigger, with `hard` the hard limit: [`INITIAL_TRIGGER`],
    /// or half the soft limit when that is lower.
    pub(crate) fn initial_trigger(&self, hard: usize) -> usize {
        let soft = self.soft_limit.map_or(usize::MAX, |s| s / 2);
        INITIAL_TRIGGER.min(soft).min(hard)
    }

    /// The bytes in use at which the next cycle starts, after one found
    /// `live` bytes live. `growth` is the configured factor; `concurrent`
    /// says whether cycles run beside the mutators (uffd modes).
    pub(crate) fn trigger(
        &mut self,
        live: usize,
        limit: usize,
        growth: f64,
        concurrent: bool,
    ) -> usize {
        self.room = limit.saturating_sub(live);
        self.live = live;
        let mut trigger = ((live as f64 * growth) as usize).max(live + INITIAL_TRIGGER);
        self.cause = Cause::HeapGrowth;
        let measured = self.measured_reserve();
        if concurrent {
            let room = limit.saturating_sub(live);
            let (reserve, cause) = match measured {
                Some(reserve) => (reserve, Cause::AllocationRate),
                None => (room / 2, Cause::Warmup),
            };
            // Never less than an eighth of the room: a cycle that starts
            // at once after the last only re-marks what just survived.
            let early = limit.saturating_sub(reserve).max(live + room / 8);
            if early < trigger {
                trigger = early;
                self.cause = cause;
            }
        }
        let reserve = measured.filter(|_| concurrent).unwrap_or(0);
        self.goal = self.soft_limit.map(|soft| goal(soft, live, reserve));
        if let Some(soft) = self.soft_limit {
            // Aim so that the cycle ends below the soft limit (a
            // concurrent one allocates its reserve while it runs) ...
            let aim = if concurrent {
                soft.saturating_sub(measured.unwrap_or(soft.saturating_sub(live) / 2))
            } else {
                soft
            };
            // ... but leave the live data room to allocate in: past the
            // goal when the live data needs it.
            let floor = live + soft_room(soft, live, reserve);
            let at_soft = aim.max(floor);
            if at_soft < trigger {
                trigger = at_soft;
                self.cause = Cause::SoftLimit;
            }
        }
        if trigger >= limit {
            self.cause = Cause::HeapLimit;
        }
        trigger.min(limit)
    }

    /// The limit a concurrent cycle paces allocation against, with `hard`
    /// the hard limit: the soft limit when one is set (or, when the live
    /// data needs more, twice the room the trigger left above it), so that
    /// allocation during a cycle slows, and at last waits for the cycle's
    /// end, near the goal rather than the wall. After the cycle the
    /// trigger may pass the goal when the live data needs it.
    pub(crate) fn pacing_limit(&self, hard: usize) -> usize {
        self.goal.map_or(hard, |g| g.min(hard))
    }

    /// Whether the pacing limit is the soft limit's goal rather than the
    /// hard limit `hard`.
    pub(crate) fn paces_to_soft_goal(&self, hard: usize) -> bool {
        self.goal.is_some_and(|g| g < hard)
    }

    /// The cause of a cycle started because allocation reached the pacing
    /// limit (see [`Model::pacing_limit`]).
    pub(crate) fn limit_cause(&self, hard: usize) -> Cause {
        if self.paces_to_soft_goal(hard) {
            Cause::SoftLimit
        } else {
            Cause::HeapLimit
        }
    }

    /// Why a cycle that starts at the current trigger starts: warmup
    /// before any trigger was set.
    pub(crate) fn trigger_cause(&self) -> Cause {
        self.cause
    }

    /// A concurrent cycle starts with `used` bytes in use: returns the
    /// first pacing threshold (the next buffer refill consults
    /// [`Model::pace`]).
    pub(crate) fn begin(&mut self, used: usize, limit: usize) -> usize {
        self.free_at_start = limit.saturating_sub(used).max(1);
        used
    }

    /// A thread crossed a pacing threshold with `used` bytes in use,
    /// asking for `request` bytes. `None` when the heap is (all but) at its
    /// limit, or the request would take it there: pacing is over and the
    /// threshold becomes the pacing limit. Otherwise the next threshold leaves
    /// room for the request (but for the "no slot within a slice" answer,
    /// which keeps the threshold and sleeps [`PACE_SLICE`]).
    pub(crate) fn pace(&mut self, used: usize, request: usize, limit: usize) -> Option<Pace> {
        let free = limit.saturating_sub(used);
        let reserve = (limit / 64).max(MIN_FREE);
        if free < reserve.saturating_add(request) {
            return None;
        }
        let room = if self.room > 0 {
            self.room
        } else {
            self.free_at_start
        };
        // Every booked slot moves the threshold on by at least a step, and
        // by the request, so the caller always makes progress.
        let (step, slot) = match self.cycle() {
            None => {
                let depth = self.free_at_start.max(free) as f64 / free as f64;
                let slot = PACE_MIN.mul_f64(depth * depth).min(SLOT_MAX_UNMEASURED);
                ((free / 8).max(request), slot)
            }
            Some(cycle) => {
                let step = (room / 256).max(STEP_MIN).max(request);
                if free > room / 2 + step {
                    return Some(Pace {
                        sleep: Duration::ZERO,
                        next: used + (free - room / 2),
                    });
                }
                // Below half the room, the heap may allocate what is free
                // over one cycle's length: each step books the next slot of
                // that rate, for every thread together.
                let rate = free as f64 / cycle.max(1e-3);
                (step, Duration::from_secs_f64(step as f64 / rate))
            }
        };
        let now = Instant::now();
        let grant = self.slot.filter(|&s| s > now).unwrap_or(now);
        if grant - now > PACE_SLICE {
            // Every slot within a slice is taken: wait one, and ask again.
            return Some(Pace {
                sleep: PACE_SLICE,
                next: used,
            });
        }
        self.slot = Some(grant + slot);
        Some(Pace {
            sleep: grant - now,
            next: used + step,
        })
    }

    /// The measured allocation rate (bytes/s) and cycle length, if any.
    pub(crate) fn measured(&self) -> Option<(f64, Duration)> {
        Some((self.rate?, Duration::from_secs_f64(self.cycle()?)))
    }
}

/// The room above `live` bytes live that a soft limit of `soft` leaves
/// for allocation before the next cycle: an eighth of the live data, at
/// least [`SOFT_MIN_ROOM`]. When the soft limit cannot leave twice that
/// (the live data needs more than the goal), at least `reserve` too, what
/// the mutators allocate during one cycle: a tighter heap would make them
/// wait for every cycle, back to back, while collecting nothing more.
fn soft_room(soft: usize, live: usize, reserve: usize) -> usize {
    let room = (live / 8).max(SOFT_MIN_ROOM);
    if soft >= live + 2 * room {
        room
    } else {
        room.max(reserve)
    }
}

/// The limit pacing works against with a soft limit of `soft`, `live`
/// bytes live and `reserve` bytes allocated per cycle: the soft limit, or
/// twice the room the trigger leaves above live data that needs more.
fn goal(soft: usize, live: usize, reserve: usize) -> usize {
    soft.max(live + 2 * soft_room(soft, live, reserve))
}

#[cfg(test)]
mod tests {
    use super::*;

    const M: usize = 1 << 20;

    #[test]
    fn trigger_keeps_half_the_room_until_measured() {
        let mut p = Model::default();
        assert_eq!(p.trigger(100 * M, 500 * M, 2.0, false), 200 * M);
        assert_eq!(p.trigger(300 * M, 500 * M, 2.0, true), 400 * M);
    }

    #[test]
    fn trigger_moves_earlier_when_allocation_outruns_the_cycle() {
        // A cycle takes a second per 400 MiB live.
        let mut p = Model {
            rate: Some(100.0 * M as f64),
            cycle_per_byte: Some(1.0 / (400 * M) as f64),
            ..Default::default()
        };
        // 150 MiB reserve below a 1000 MiB limit: growth would allow 800.
        assert_eq!(p.trigger(400 * M, 1000 * M, 2.0, true), 800 * M);
        let mut fast = Model {
            rate: Some(400.0 * M as f64),
            ..p
        };
        // 600 MiB reserve: start at 400 + an eighth of the room at least.
        assert_eq!(fast.trigger(400 * M, 1000 * M, 2.0, true), 475 * M);
        // Stop-the-world mode ignores the rate.
        assert_eq!(fast.trigger(400 * M, 1000 * M, 2.0, false), 800 * M);
    }

    #[test]
    fn unmeasured_slots_grow_deeper_into_the_reserve_and_pacing_ends_at_the_limit() {
        let mut p = Model::default();
        assert_eq!(p.begin(200 * M, 1000 * M), 200 * M);
        // Shallow (400 MiB free of 800): a 0.4 ms slot, so the second
        // thread's slot begins within a slice.
        let first = p.pace(600 * M, 64, 1000 * M).expect("pacing");
        assert_eq!((first.sleep, first.next), (Duration::ZERO, 650 * M));
        let second = p.pace(600 * M, 64, 1000 * M).expect("pacing");
        assert!(second.sleep <= Duration::from_micros(400), "{second:?}");
        assert_eq!(second.next, 650 * M);
        // Deep (50 MiB free): a 25.6 ms slot, so the next thread waits
        // slices, its threshold kept.
        let mut q = Model::default();
        q.begin(200 * M, 1000 * M);
        let first = q.pace(950 * M, 64, 1000 * M).expect("pacing");
        assert!(first.next > 950 * M && first.next < 1000 * M, "{first:?}");
        let second = q.pace(950 * M, 64, 1000 * M).expect("pacing");
        assert_eq!((second.sleep, second.next), (PACE_SLICE, 950 * M));
        assert_eq!(
            p.pace(995 * M, 64, 1000 * M),
            None,
            "at the limit pacing is over"
        );
    }

    #[test]
    fn pacing_books_slots_at_the_free_room_per_cycle() {
        // A cycle takes a second at 200 MiB live: room 800 MiB.
        let mut p = Model {
            cycle_per_byte: Some(1.0 / (200 * M) as f64),
            ..Default::default()
        };
        p.trigger(200 * M, 1000 * M, 2.0, true);
        p.begin(200 * M, 1000 * M);
        // More than half the room free: no sleep, next look at half.
        let early = p.pace(300 * M, 64, 1000 * M).expect("pacing");
        assert_eq!(early.sleep, Duration::ZERO);
        assert_eq!(early.next, 600 * M);
        // 200 MiB free: 200 MiB/s, so a 3.125 MiB step takes a 15.6 ms
        // slot. The first thread gets the current one; the next one's
        // begins later than a slice, so it sleeps a slice and asks again.
        let first = p.pace(800 * M, 64, 1000 * M).expect("pacing");
        assert!(first.sleep < Duration::from_millis(1), "{first:?}");
        assert_eq!(first.next, 800 * M + 3200 * 1024);
        let second = p.pace(800 * M, 64, 1000 * M).expect("pacing");
        assert_eq!(
            (second.sleep, second.next),
            (PACE_SLICE, 800 * M),
            "no slot within a slice"
        );
        // Once the booked slot is near, the next thread books its own.
        p.slot = Some(Instant::now() + Duration::from_millis(1));
        let third = p.pace(800 * M, 64, 1000 * M).expect("pacing");
        assert!(third.sleep <= Duration::from_millis(1), "{third:?}");
        assert_eq!(third.next, 800 * M + 3200 * 1024);
    }

    #[test]
    fn a_threshold_leaves_room_for_the_request_that_crossed_it() {
        // Unmeasured: a request larger than an eighth of the free room.
        let mut p = Model::default();
        p.begin(100 * M, 1000 * M);
        let big = p.pace(600 * M, 200 * M, 1000 * M).expect("pacing");
        assert_eq!(big.next, 800 * M, "{big:?}");
        // Measured, below half the room: the slot is as long as the
        // request at the booked rate (200 MiB free per second).
        let mut q = Model {
            cycle_per_byte: Some(1.0 / (200 * M) as f64),
            ..Default::default()
        };
        q.trigger(200 * M, 1000 * M, 2.0, true);
        let first = q.pace(800 * M, 100 * M, 1000 * M).expect("pacing");
        assert_eq!(first.next, 900 * M, "{first:?}");
        let second = q.pace(800 * M, 64, 1000 * M).expect("pacing");
        assert_eq!(
            (second.sleep, second.next),
            (PACE_SLICE, 800 * M),
            "the next thread waits out the big slot"
        );
    }

    #[test]
    fn a_request_that_would_eat_the_reserve_is_not_paced() {
        for cycle_per_byte in [None, Some(1.0 / (200 * M) as f64)] {
            let mut p = Model {
                cycle_per_byte,
                ..Default::default()
            };
            p.trigger(200 * M, 1000 * M, 2.0, true);
            p.begin(200 * M, 1000 * M);
            // 400 MiB free, 15.6 MiB reserve.
            assert!(p.pace(600 * M, 384 * M, 1000 * M).is_some());
            assert_eq!(p.pace(600 * M, 385 * M, 1000 * M), None);
            assert_eq!(p.pace(600 * M, 1000 * M, 1000 * M), None);
            assert_eq!(p.pace(600 * M, usize::MAX, 1000 * M), None);
            // A small heap's reserve is 4 MiB.
            assert_eq!(p.pace(20 * M, 9 * M, 32 * M), None);
            assert!(p.pace(20 * M, 8 * M, 32 * M).is_some());
        }
    }

    #[test]
    fn every_answer_sleeps_at_most_a_slice_and_covers_the_request() {
        let mut p = Model {
            cycle_per_byte: Some(1.0 / (100 * M) as f64),
            ..Default::default()
        };
        p.trigger(100 * M, 1000 * M, 2.0, true);
        p.begin(100 * M, 1000 * M);
        for used in (100..1000).step_by(7).map(|u| u * M) {
            for request in [16, 4096, M, 16 * M, 300 * M] {
                if let Some(a) = p.pace(used, request, 1000 * M) {
                    assert!(a.sleep <= PACE_SLICE, "{used} {request}: {a:?}");
                    assert!(
                        a.next >= used + request || (a.next == used && a.sleep == PACE_SLICE),
                        "{used} {request}: {a:?}"
                    );
                } else {
                    assert!(
                        1000 * M - used < 1000 * M / 64 + request,
                        "{used} {request}"
                    );
                }
            }
        }
    }

    #[test]
    fn rate_is_sampled_between_flips() {
        let mut p = Model::default();
        p.observe_flip(0, 10 * M);
        std::thread::sleep(Duration::from_millis(20));
        p.observe_flip(30 * M, 10 * M);
        let rate = p.rate.expect("a rate after two flips");
        // 20 MiB in at least 20 ms: at most 1000 MiB/s.
        assert!(rate > 0.0 && rate <= 1000.0 * M as f64, "{rate}");
    }

    fn with_soft(soft: usize) -> Model {
        let mut p = Model::default();
        p.set_knobs(Knobs {
            hard_limit: 1000 * M,
            soft_limit: Some(soft),
            growth: 2.0,
        });
        p
    }

    #[test]
    fn the_soft_limit_moves_the_trigger_below_it() {
        // live x growth = 400 MiB would pass a 300 MiB soft limit.
        let mut p = with_soft(300 * M);
        assert_eq!(p.trigger(200 * M, 1000 * M, 2.0, false), 300 * M);
        assert_eq!(p.trigger_cause(), Cause::SoftLimit);
        // Below it, growth decides as before.
        assert_eq!(p.trigger(100 * M, 1000 * M, 2.0, false), 200 * M);
        assert_eq!(p.trigger_cause(), Cause::HeapGrowth);
        // Concurrent, unmeasured: half the room below the soft limit is
        // kept for allocation during the cycle (250 of 300 with 200 live).
        assert_eq!(p.trigger(200 * M, 1000 * M, 2.0, true), 250 * M);
        assert_eq!(p.trigger_cause(), Cause::SoftLimit);
        // Measured: 100 MiB/s for a second's cycle, with the margin.
        let mut q = Model {
            rate: Some(100.0 * M as f64),
            cycle_per_byte: Some(1.0 / (200 * M) as f64),
            ..with_soft(500 * M)
        };
        assert_eq!(q.trigger(200 * M, 1000 * M, 2.0, true), 350 * M);
        assert_eq!(q.trigger_cause(), Cause::SoftLimit);
    }

    #[test]
    fn the_heap_grows_past_the_soft_limit_only_when_live_data_needs_it() {
        let mut p = with_soft(300 * M);
        // 290 MiB live: the soft limit leaves less than an eighth of the
        // live data, so the trigger goes that far past it.
        let t = p.trigger(290 * M, 1000 * M, 2.0, false);
        assert_eq!(t, 290 * M + 290 * M / 8);
        assert!(t > 300 * M);
        // Live beyond the soft limit: still room to allocate, never past
        // the hard limit.
        assert_eq!(p.trigger(400 * M, 1000 * M, 2.0, false), 450 * M);
        assert_eq!(p.trigger(950 * M, 1000 * M, 2.0, false), 1000 * M);
        assert_eq!(p.trigger_cause(), Cause::HeapLimit);
        // A tiny heap keeps SOFT_MIN_ROOM above its live data.
        assert_eq!(p.trigger(M, 1000 * M, 2.0, false), M + INITIAL_TRIGGER);
        let mut tiny = with_soft(2 * M);
        assert_eq!(tiny.trigger(M, 1000 * M, 2.0, false), M + SOFT_MIN_ROOM);
    }

    #[test]
    fn a_soft_limit_bounds_pacing_from_the_first_cycle_on() {
        // Before any cycle measured live data (the warm-up cycle), pacing
        // already works against the soft limit, not the hard one.
        let p = with_soft(64 * M);
        assert_eq!(p.pacing_limit(1000 * M), 64 * M);
        assert!(p.paces_to_soft_goal(1000 * M));
        assert_eq!(p.limit_cause(1000 * M), Cause::SoftLimit);
        assert_eq!(p.limit_cause(50 * M), Cause::HeapLimit);
        assert_eq!(Model::default().pacing_limit(1000 * M), 1000 * M);
        // The first trigger stays below a small soft limit.
        assert_eq!(with_soft(64 * M).initial_trigger(1000 * M), INITIAL_TRIGGER);
        assert_eq!(with_soft(12 * M).initial_trigger(1000 * M), 6 * M);
        assert_eq!(Model::default().initial_trigger(8 * M), 8 * M);
        // A soft limit set at run time moves the goal at once, with room
        // for the live data measured so far.
        let mut q = with_soft(300 * M);
        q.trigger(200 * M, 1000 * M, 2.0, false);
        q.set_knobs(Knobs {
            hard_limit: 1000 * M,
            soft_limit: Some(100 * M),
            growth: 2.0,
        });
        assert_eq!(q.pacing_limit(1000 * M), 200 * M + 2 * (200 * M / 8));
        q.set_knobs(Knobs {
            hard_limit: 1000 * M,
            soft_limit: None,
            growth: 2.0,
        });
        assert_eq!(q.pacing_limit(1000 * M), 1000 * M);
        assert!(!q.paces_to_soft_goal(1000 * M));
    }

    #[test]
    fn live_data_above_the_soft_limit_leaves_room_for_a_cycle() {
        // 22 MiB live, a 12 MiB soft limit, 10 MiB allocated per cycle
        // (with the margin): the trigger leaves a cycle's allocation above
        // the live data and pacing as much again, so mutators do not wait
        // for every cycle.
        let mut p = Model {
            rate: Some(100.0 * M as f64),
            cycle_per_byte: Some(0.1 / (22 * M) as f64 / MARGIN),
            ..with_soft(12 * M)
        };
        let t = p.trigger(22 * M, 1000 * M, 2.0, true);
        let reserve = p.measured_reserve().expect("measured");
        assert!(reserve.abs_diff(10 * M) < M / 64, "{reserve}");
        assert_eq!(t, 22 * M + reserve);
        assert_eq!(p.pacing_limit(1000 * M), 22 * M + 2 * reserve);
        // Stop-the-world: no allocation during a cycle, the room alone.
        assert_eq!(
            p.trigger(22 * M, 1000 * M, 2.0, false),
            22 * M + SOFT_MIN_ROOM
        );
        // A soft limit the live data fits below keeps its goal, however
        // much a cycle allocates.
        let mut q = Model {
            rate: Some(100.0 * M as f64),
            cycle_per_byte: Some(0.1 / (22 * M) as f64 / MARGIN),
            ..with_soft(64 * M)
        };
        q.trigger(22 * M, 1000 * M, 2.0, true);
        assert_eq!(q.pacing_limit(1000 * M), 64 * M);
    }

    #[test]
    fn changed_knobs_apply_at_the_next_trigger() {
        let mut p = with_soft(300 * M);
        assert_eq!(p.trigger(200 * M, 1000 * M, 2.0, false), 300 * M);
        p.set_knobs(Knobs {
            hard_limit: 1000 * M,
            soft_limit: None,
            growth: 2.0,
        });
        assert_eq!(p.trigger(200 * M, 1000 * M, 2.0, false), 400 * M);
        p.set_knobs(Knobs {
            hard_limit: 1000 * M,
            soft_limit: Some(250 * M),
            growth: 2.0,
        });
        assert_eq!(p.trigger(200 * M, 1000 * M, 2.0, false), 250 * M);
    }

    #[test]
    fn young_cycles_have_their_own_length_and_start_later() {
        // Full cycles take a second at 400 MiB live; allocating 400 MiB/s.
        let full = |secs: u64| {
            let mut r = CycleReport::new("test", 800 * M);
            r.marked.moving_words = 400 * M / gc::object::WORD;
            r.duration = Duration::from_secs(secs);
            r
        };
        let mut p = Model {
            rate: Some(400.0 * M as f64),
            ..Default::default()
        };
        p.observe_cycle(&full(1));
        // A full cycle needs 600 MiB of reserve: start at live + room / 8.
        assert_eq!(p.trigger(400 * M, 1000 * M, 2.0, true), 475 * M);
        // Young expected but none measured yet: the full model.
        p.expect_young(true);
        assert_eq!(p.trigger(400 * M, 1000 * M, 2.0, true), 475 * M);
        // A young cycle of 250 ms: a 150 MiB reserve, growth's 800 binds.
        let mut young = full(0);
        young.young = true;
        young.duration = Duration::from_millis(250);
        p.observe_cycle(&young);
        assert_eq!(p.trigger(400 * M, 1000 * M, 2.0, true), 800 * M);
        // ... which does not change the full cycles' model.
        p.expect_young(false);
        assert_eq!(p.trigger(400 * M, 1000 * M, 2.0, true), 475 * M);
    }
}
