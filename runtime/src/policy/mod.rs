//! The collection policy, in one place: when a cycle starts, what kind it
//! is, how hard allocation is paced during it, what a full heap does, and
//! the limits that bound it all.
//!
//! The rest of the runtime holds one [`Policy`] and only asks it questions
//! and tells it what happened (after MMTk's `GCTriggerPolicy`); it never
//! computes a trigger or a sleep itself. The policy is the only writer of
//! the heap's allocation threshold ([`gc::Heap::set_alloc_threshold`]):
//! the collection trigger between cycles, the pacing threshold during one,
//! the hard limit at the end of the ladder. The collector (`gc`) keeps the
//! mechanism: it enforces the threshold and reports cycles.
//!
//! Questions:
//! - [`Policy::cause`]: why a cycle that starts at the trigger starts;
//!   [`Policy::wanted_start`]: whether a cycle should start now that a
//!   compaction ended.
//! - [`Policy::decide`]: what a cycle about to start collects, young or
//!   full, and why ([`young_or_full`]'s measured rule).
//! - [`Policy::on_full_heap`]: what allocation does at the threshold:
//!   start a cycle, pace (sleep a slice, or during a compaction assist
//!   it for that long), or push the cycle through;
//!   [`Policy::full_heap_steps`] and [`Policy::may_pace`]: the ladder a
//!   full heap climbs to out of memory, and how long pacing may hold one
//!   allocation.
//!
//! Events:
//! - [`Policy::cycle_started`], [`Policy::collected`] (the flip or a
//!   stop-the-world collection: the next trigger), [`Policy::cycle_ended`]
//!   (the report: the cycle's length), [`Policy::grow_to_limit`].
//! - Limit changes: [`Policy::set_soft_limit`], [`Policy::set_heap_limit`],
//!   [`Policy::set_growth`].
//!
//! The formulas are in [`model`].

mod model;
mod young_or_full;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use gc::collector::CyclePhase;
use gc::{CycleReport, Heap};
use parking_lot::Mutex;

use crate::config::LimitError;
use crate::log::{Cause, CycleKind};
pub(crate) use model::Knobs;
use model::Model;
pub use model::PACE_SLICE;
pub(crate) use young_or_full::Decision;
use young_or_full::YoungOrFull;

/// What allocation tries next when the heap is full (a rung of
/// [`Policy::full_heap_steps`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Step {
    /// Start or advance the concurrent cycle ([`Policy::on_full_heap`]).
    Cycle,
    /// A full collection ([`Policy::collection_cause`]).
    Collect,
    /// Wait for the compaction in flight.
    Quiesce,
    /// Raise the threshold to the hard limit ([`Policy::grow_to_limit`]).
    Grow,
}

/// The policy's answer to an allocation at the threshold during a
/// concurrent cycle's life ([`Policy::on_full_heap`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FullHeap {
    /// Start a cycle for this cause (after the compaction in flight, if
    /// any, ends: a stall).
    Start(Cause),
    /// Hold the allocation as [`Pacing`] says (at most [`PACE_SLICE`]),
    /// then try again.
    Pace(Pacing),
    /// Pacing is over: the threshold is the pacing limit now; try again.
    Retry,
    /// Push the marking or planning in flight through its pauses, waiting
    /// for the collector where it is not done (a stall).
    PushThrough,
}

/// How a paced allocation spends its slot ([`FullHeap::Pace`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Pacing {
    /// Sleep this long (blocked): during marking or planning, and a zero
    /// sleep (an unchecked step) in any phase.
    Sleep(Duration),
    /// During a compaction: install pages of it for up to this long, and
    /// sleep what is left of it if no page is left to take.
    Assist(Duration),
}

/// One allocation's pacing so far ([`Policy::may_pace`]).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Paced {
    /// Pacing answers it got.
    pub(crate) answers: u32,
    /// Their sleeps in all.
    pub(crate) slept: Duration,
}

/// The next cycle's trigger, as [`Policy::collected`] set it (for the log).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Trigger {
    /// Bytes in use at which the next cycle starts.
    pub(crate) bytes: usize,
    /// Which bound set it.
    pub(crate) cause: Cause,
    /// The allocation rate (bytes/s) and cycle length it used, if measured
    /// (concurrent modes).
    pub(crate) measured: Option<(f64, Duration)>,
}

/// The runtime's collection policy (see the module docs).
pub(crate) struct Policy {
    heap: Arc<Heap>,
    /// Cycles run beside the mutators (uffd modes).
    concurrent: bool,
    state: Mutex<State>,
    /// The trigger was reached during a compaction: start a cycle when it
    /// ends.
    start_wanted: AtomicBool,
}

struct State {
    knobs: Knobs,
    model: Model,
    /// Young or full (generational collection).
    young_or_full: YoungOrFull,
}

impl Policy {
    /// The policy of `heap` with `knobs` (validated by the caller);
    /// `concurrent` says whether cycles run beside the mutators. Sets the
    /// first trigger.
    pub(crate) fn new(heap: Arc<Heap>, knobs: Knobs, concurrent: bool) -> Policy {
        let mut model = Model::default();
        model.set_knobs(knobs);
        heap.set_alloc_threshold(model.initial_trigger(knobs.hard_limit));
        Policy {
            heap,
            concurrent,
            state: Mutex::new(State {
                knobs,
                model,
                young_or_full: YoungOrFull::default(),
            }),
            start_wanted: AtomicBool::new(false),
        }
    }

    /// The limits and growth in force.
    pub(crate) fn knobs(&self) -> Knobs {
        self.state.lock().knobs
    }

    // ---- Questions ----

    /// Why a cycle that starts at the current trigger starts.
    pub(crate) fn cause(&self) -> Cause {
        self.state.lock().model.trigger_cause()
    }

    /// What a cycle about to start for `cause` collects, and why:
    /// `required` if the caller requires a kind (an explicit young
    /// collection; the full collection before out of memory), else the
    /// measured rule's; full without a reason when young cycles do not run.
    /// Pacing during the cycle plans for its kind.
    pub(crate) fn decide(&self, cause: Cause, required: Option<CycleKind>) -> Decision {
        let generational = self.generational();
        let mut state = self.state.lock();
        let d = state.young_or_full.decide(cause, required, generational);
        state.model.expect_young(d.kind == CycleKind::Young);
        d
    }

    /// Whether young cycles run (generational collection on).
    fn generational(&self) -> bool {
        self.heap.generations().is_enabled()
    }

    /// A compaction just ended: the cause of the cycle that should start
    /// now (the trigger was reached while it ran), if any.
    pub(crate) fn wanted_start(&self) -> Option<Cause> {
        self.start_wanted
            .load(Ordering::Relaxed)
            .then(|| self.cause())
    }

    /// The cause of the full collection on [`Step::Collect`]: the heap
    /// limit in the concurrent modes (the cycle was pushed through and
    /// still no room), the trigger's in stop-the-world mode.
    pub(crate) fn collection_cause(&self) -> Cause {
        if self.concurrent {
            Cause::HeapLimit
        } else {
            self.cause()
        }
    }

    /// The ladder a full heap climbs, a step at a time while allocation
    /// still fails, before out of memory: concurrent, up to three steps of
    /// the cycle (begin, remark and flip, the wait for its compaction; the
    /// first may pace instead), a full collection, a wait for its
    /// compaction, growth to the limit; stop-the-world, a collection and
    /// growth (generational: a collection of the policy's kind, then a
    /// full one, then growth: out of memory follows only a full
    /// collection).
    pub(crate) fn full_heap_steps(&self) -> &'static [Step] {
        if self.generational() && !self.concurrent {
            // The policy's kind (young or full), then a full collection.
            &[Step::Cycle, Step::Collect, Step::Grow]
        } else if self.concurrent {
            &[
                Step::Cycle,
                Step::Cycle,
                Step::Cycle,
                Step::Collect,
                Step::Quiesce,
                Step::Grow,
            ]
        } else {
            &[Step::Collect, Step::Grow]
        }
    }

    /// Whether an allocation paced `paced` so far may be paced again; once
    /// not, its caller pushes the cycle through (see [`model`]'s
    /// progress rule).
    pub(crate) fn may_pace(&self, paced: Paced) -> bool {
        paced.answers < model::PACE_ROUNDS && paced.slept < model::PACE_BUDGET
    }

    /// An allocation of `request` bytes found the heap at its threshold
    /// while the concurrent cycle stands at `phase` (not one whose pause
    /// is ready: those run first). `may_pace` is [`Policy::may_pace`]'s
    /// answer. During a cycle, the threshold is a pacing threshold until
    /// the pacing limit (the soft limit's goal, or the hard limit):
    /// answers with a sleep and moves the threshold on. At that limit, or
    /// once the allocation was paced enough, the cycle is pushed through;
    /// between cycles one starts.
    pub(crate) fn on_full_heap(
        &self,
        request: usize,
        may_pace: bool,
        phase: CyclePhase,
    ) -> FullHeap {
        let mut state = self.state.lock();
        let limit = state.model.pacing_limit(state.knobs.hard_limit);
        let at_limit = self.heap.alloc_threshold() >= limit || !may_pace;
        match phase {
            CyclePhase::Marking | CyclePhase::Planning | CyclePhase::Compacting if !at_limit => {
                if phase == CyclePhase::Compacting {
                    // The trigger, with the last compaction still running:
                    // start when it ends.
                    self.start_wanted.store(true, Ordering::Relaxed);
                }
                match state.model.pace(self.heap.used_bytes(), request, limit) {
                    Some(p) => {
                        self.heap.set_alloc_threshold(p.next);
                        // A compaction's pages can be installed by anyone:
                        // the slot is better spent on them than asleep.
                        let compacting = phase == CyclePhase::Compacting;
                        FullHeap::Pace(if compacting && !p.sleep.is_zero() {
                            Pacing::Assist(p.sleep)
                        } else {
                            Pacing::Sleep(p.sleep)
                        })
                    }
                    None => {
                        self.heap.set_alloc_threshold(limit);
                        FullHeap::Retry
                    }
                }
            }
            CyclePhase::Idle | CyclePhase::Compacting => FullHeap::Start(if at_limit {
                state.model.limit_cause(state.knobs.hard_limit)
            } else {
                state.model.trigger_cause()
            }),
            CyclePhase::Marking
            | CyclePhase::Planning
            | CyclePhase::Marked
            | CyclePhase::Planned => FullHeap::PushThrough,
        }
    }

    /// Which limit a stalled allocation waits at: the soft limit's goal
    /// or the hard limit.
    pub(crate) fn stalled_at(&self) -> Cause {
        let state = self.state.lock();
        state.model.limit_cause(state.knobs.hard_limit)
    }

    // ---- Events ----

    /// A concurrent cycle started (its first pause ended): allocation goes
    /// on up to the first pacing threshold.
    pub(crate) fn cycle_started(&self) {
        self.start_wanted.store(false, Ordering::Relaxed);
        let mut state = self.state.lock();
        let limit = state.model.pacing_limit(state.knobs.hard_limit);
        let threshold = state.model.begin(self.heap.used_bytes(), limit);
        self.heap.set_alloc_threshold(threshold);
    }

    /// A flip (or a stop-the-world collection) found `live` bytes live
    /// with `used_before` bytes in use before it: samples the allocation
    /// rate and sets the next cycle's trigger.
    pub(crate) fn collected(&self, live: usize, used_before: usize) -> Trigger {
        let generational = self.generational();
        let mut state = self.state.lock();
        let State {
            knobs,
            model,
            young_or_full,
        } = &mut *state;
        model.observe_flip(used_before, self.heap.used_bytes());
        // The next cycle's length: a young one's if it is expected young.
        model.expect_young(generational && young_or_full.forecast() == CycleKind::Young);
        let bytes = model.trigger(live, knobs.hard_limit, knobs.growth, self.concurrent);
        young_or_full.collected(live, bytes);
        self.heap.set_alloc_threshold(bytes);
        Trigger {
            bytes,
            cause: model.trigger_cause(),
            measured: model.measured().filter(|_| self.concurrent),
        }
    }

    /// A cycle ended with `report`: its throughput and the old
    /// generation's size feed the young-or-full rule; a concurrent one's
    /// length is sampled.
    pub(crate) fn cycle_ended(&self, report: &CycleReport) {
        let old = self.old_bytes();
        let mut state = self.state.lock();
        state.young_or_full.ended(report, old);
        if self.concurrent {
            state.model.observe_cycle(report);
        }
    }

    /// Bytes in the old generation: the moving space's old prefix and the
    /// non-moving space in use (its young objects are few after a cycle).
    fn old_bytes(&self) -> usize {
        let moving_old = self.heap.generations().old_end() - self.heap.moving().base();
        moving_old + self.heap.non_moving().used()
    }

    /// The last rung before out of memory: allocation may go up to the
    /// hard limit in force.
    pub(crate) fn grow_to_limit(&self) -> usize {
        let limit = self.state.lock().knobs.hard_limit;
        let before = self.heap.alloc_threshold();
        self.heap.set_alloc_threshold(limit);
        before
    }

    /// The allocation of `request` bytes that [`Policy::grow_to_limit`]
    /// let through (the threshold was `before`) succeeded: the threshold
    /// comes back down to `before` moved up by the request, so one large
    /// object does not switch collection off until the heap limit (the
    /// room for growth above it stays what it was). Left alone if a cycle
    /// or another thread set a threshold meanwhile.
    pub(crate) fn grown(&self, before: usize, request: usize) {
        let state = self.state.lock();
        let limit = state.knobs.hard_limit;
        if self.heap.alloc_threshold() == limit {
            let next = before
                .saturating_add(request)
                .max(self.heap.used_bytes())
                .min(limit);
            self.heap.set_alloc_threshold(next);
        }
    }

    // ---- Limit changes ----

    /// Sets (`Some`) or removes (`None`) the soft limit, from the next
    /// trigger on; refused above the hard limit.
    pub(crate) fn set_soft_limit(&self, bytes: Option<usize>) -> Result<(), LimitError> {
        self.change_knobs(|k| Knobs {
            soft_limit: bytes,
            ..k
        })
    }

    /// Sets the hard limit: it holds at once (a threshold above it comes
    /// down to it); the next trigger plans below it. Refused above the
    /// reservation, below the bytes in use, or below the soft limit.
    pub(crate) fn set_heap_limit(&self, bytes: usize) -> Result<(), LimitError> {
        let reserved = self.heap.config().heap_limit;
        if bytes > reserved {
            return Err(LimitError::AboveReserved {
                requested: bytes,
                reserved,
            });
        }
        let used = self.heap.used_bytes();
        if bytes < used {
            return Err(LimitError::BelowUse {
                requested: bytes,
                used,
            });
        }
        self.change_knobs(|k| Knobs {
            hard_limit: bytes,
            ..k
        })?;
        // The wall holds at once, so the next allocation that would pass
        // it collects first.
        if self.heap.alloc_threshold() > bytes {
            self.heap.set_alloc_threshold(bytes);
        }
        Ok(())
    }

    /// Sets the growth factor (1 to 100), from the next trigger on.
    pub(crate) fn set_growth(&self, factor: f64) -> Result<(), LimitError> {
        if !(1.0..=100.0).contains(&factor) {
            return Err(LimitError::BadGrowth(factor));
        }
        self.change_knobs(|k| Knobs {
            growth: factor,
            ..k
        })
    }

    /// Applies `change` to the knobs, unless the result has a soft limit
    /// above the hard one.
    fn change_knobs(&self, change: impl FnOnce(Knobs) -> Knobs) -> Result<(), LimitError> {
        let mut state = self.state.lock();
        let new = change(state.knobs);
        if let Some(soft) = new.soft_limit.filter(|&s| s > new.hard_limit) {
            return Err(LimitError::SoftAboveHard {
                soft,
                hard: new.hard_limit,
            });
        }
        state.knobs = new;
        state.model.set_knobs(new);
        Ok(())
    }
}
