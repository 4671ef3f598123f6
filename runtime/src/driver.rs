//! Driving a concurrent cycle from the mutators (uffd modes): a full heap
//! starts one with the initial pause, allocation polls the collector's
//! attention flag and runs the remark and flip pauses when the collector
//! threads are ready, allocation past a pacing threshold sleeps as the
//! policy says, and a mutator that reaches the hard limit before the cycle
//! ends waits (a stall, counted in the pause it ends with).
//!
//! Every function here with `driving` in its name, or called from one,
//! runs holding [`Shared::driving`](crate::Shared): one thread at a time
//! pushes the cycle on, and its pauses stop all the others.

use std::sync::Arc;
use std::time::{Duration, Instant};

use gc::collector::CyclePhase;
use gc::PauseEntry;

use crate::log::{Cause, CycleKind};
use crate::mutator::{GcError, Mutator};
use crate::policy::{FullHeap, Pacing};
use crate::safepoint::Local;

impl Mutator {
    /// The heap reached its allocation threshold with a request of
    /// `request` bytes. Runs the pause the collector is ready for, if any;
    /// else does what the policy answers
    /// ([`Policy::on_full_heap`](crate::policy::Policy::on_full_heap)):
    /// start a concurrently marked cycle (after the compaction in flight),
    /// return how to pace (sleep, or assist the compaction), or push the
    /// cycle in flight through its pauses, waiting where the collector is
    /// not done yet (a stall). In stw mode: collects.
    pub(crate) fn heap_full(
        &mut self,
        request: usize,
        may_pace: bool,
    ) -> Result<Option<Pacing>, GcError> {
        let shared = self.shared.clone();
        let Some(compactor) = &shared.compactor else {
            self.collect_driving(shared.policy.cause())?;
            return Ok(None);
        };
        let start = Instant::now();
        // A compaction that ended is accounted first (its report feeds the
        // policy), and the heap it left is judged as idle.
        shared.poll_compaction(false);
        let phase = compactor.lock().phase();
        match phase {
            CyclePhase::Marked => self.remark(Duration::ZERO),
            CyclePhase::Planned => self.flip(Duration::ZERO)?,
            _ => match shared.policy.on_full_heap(request, may_pace, phase) {
                FullHeap::Pace(how) => return Ok(Some(how)),
                FullHeap::Retry => {}
                FullHeap::Start(cause) => {
                    if phase == CyclePhase::Compacting {
                        self.log_stall("a compaction");
                    }
                    let previous = compactor.lock().wait();
                    if let Some(mut r) = previous {
                        shared.account(&mut r);
                    }
                    self.begin_marking(start.elapsed(), cause);
                }
                FullHeap::PushThrough if phase == CyclePhase::Planning => {
                    self.log_stall("the planning");
                    compactor.lock().wait_prepared();
                    self.flip(start.elapsed())?;
                }
                FullHeap::PushThrough => {
                    self.log_stall("the marking");
                    compactor.lock().wait_prepared();
                    self.remark(start.elapsed());
                    let start = Instant::now();
                    compactor.lock().wait_prepared();
                    self.flip(start.elapsed())?;
                }
            },
        }
        Ok(None)
    }

    fn log_stall(&self, what: &str) {
        let limit = self.shared.policy.stalled_at();
        self.shared.log.stall(limit, &format!("{what} in flight"));
    }

    /// The initial pause: snapshots every thread's roots for the marker;
    /// allocation then goes on up to the first pacing threshold.
    fn begin_marking(&mut self, waited: Duration, cause: Cause) {
        self.begin_marking_kind(waited, cause, None);
    }

    /// [`Mutator::begin_marking`] of the `kind` the caller requires, else
    /// the policy's.
    fn begin_marking_kind(&mut self, waited: Duration, cause: Cause, kind: Option<CycleKind>) {
        let shared = self.shared.clone();
        if let Some(c) = &shared.compactor {
            let young = shared.cycle_begins(cause, kind) == CycleKind::Young;
            let generational = shared.heap.generations().is_enabled();
            self.stop_world(|w| {
                if generational {
                    // Objects allocated from here on lie above the top
                    // the pause notes, and stay young (age 1).
                    w.retire_tlabs();
                }
                let roots = w.root_snapshot();
                let entry = PauseEntry {
                    waited,
                    safepoint: w.safepoint,
                };
                // SAFETY: the world is stopped and `roots` are all of its
                // roots; `stop_world` raises every thread's write-barrier
                // flag before they resume, since SATB is on from here.
                unsafe { c.lock().begin_marking(&roots, entry, young) };
            });
            shared.policy.cycle_started();
        }
    }

    /// Runs whatever pause the collector is ready for, and accounts a
    /// finished compaction. Called when the attention flag is up; never
    /// waits.
    pub(crate) fn advance_cycle(&mut self) -> Result<(), GcError> {
        let shared = self.shared.clone();
        let Some(compactor) = &shared.compactor else {
            return Ok(());
        };
        let phase = compactor.lock().phase();
        match phase {
            CyclePhase::Marked => self.remark(Duration::ZERO),
            CyclePhase::Planned => self.flip(Duration::ZERO)?,
            CyclePhase::Compacting => {
                shared.poll_compaction(false);
                let ended = compactor.lock().phase() == CyclePhase::Idle;
                if let Some(cause) = shared.policy.wanted_start().filter(|_| ended) {
                    self.begin_marking(Duration::ZERO, cause);
                }
            }
            CyclePhase::Idle | CyclePhase::Marking | CyclePhase::Planning => {}
        }
        Ok(())
    }

    /// Starts a concurrently marked cycle now, as reaching the trigger
    /// would, if none is in flight (uffd modes; a no-op in stw). Returns
    /// whether one started. The cycle then advances at allocations and
    /// safepoints.
    pub fn start_cycle(&mut self) -> bool {
        self.start_cycle_kind(CycleKind::Full)
    }

    /// [`Mutator::start_cycle`] for a young cycle (generational collection
    /// on; else full).
    pub fn start_young_cycle(&mut self) -> bool {
        self.start_cycle_kind(CycleKind::Young)
    }

    fn start_cycle_kind(&mut self, kind: CycleKind) -> bool {
        self.drive(|m| match &m.shared.clone().compactor {
            Some(c) if c.lock().phase() == CyclePhase::Idle => {
                m.begin_marking_kind(Duration::ZERO, Cause::Explicit, Some(kind));
                true
            }
            _ => false,
        })
    }

    /// Where the current cycle stands (always idle in stw mode, whose
    /// cycles happen inside one call).
    pub fn cycle_phase(&self) -> CyclePhase {
        match &self.shared.compactor {
            Some(c) => c.lock().phase(),
            None => CyclePhase::Idle,
        }
    }

    /// Takes the cycle in flight to its end: remark and flip (waiting for
    /// the collector where needed), then the compaction.
    pub fn finish_cycle(&mut self) -> Result<(), GcError> {
        self.drive(|m| m.finish_cycle_driving())
    }

    /// [`Mutator::finish_cycle`], holding the right to drive the collector.
    pub(crate) fn finish_cycle_driving(&mut self) -> Result<(), GcError> {
        let shared = self.shared.clone();
        let Some(compactor) = &shared.compactor else {
            return Ok(());
        };
        loop {
            let start = Instant::now();
            let phase = compactor.lock().phase();
            match phase {
                CyclePhase::Idle => return Ok(()),
                CyclePhase::Marking | CyclePhase::Marked => {
                    compactor.lock().wait_prepared();
                    self.remark(start.elapsed());
                }
                CyclePhase::Planning | CyclePhase::Planned => {
                    compactor.lock().wait_prepared();
                    self.flip(start.elapsed())?;
                }
                CyclePhase::Compacting => shared.poll_compaction(true),
            }
        }
    }

    /// The remark pause: every thread's partial SATB buffer goes to the
    /// marker. When the marker is done, a handshake first has every thread
    /// hand its partial buffer over and this thread marks from them while
    /// the others run, so the pause drains only what was recorded since.
    fn remark(&mut self, waited: Duration) {
        let shared = self.shared.clone();
        if let Some(c) = &shared.compactor {
            let phase = c.lock().phase();
            if let (CyclePhase::Marked, Some(queue)) = (phase, &shared.satb) {
                let queue = queue.clone();
                self.handshake(Arc::new(move |l: &mut Local| queue.push(&mut l.satb)));
                c.lock().drain_satb();
            }
            self.stop_world(|w| {
                w.retire_tlabs();
                let mut satb = w.take_satb();
                let entry = PauseEntry {
                    waited,
                    safepoint: w.safepoint,
                };
                // SAFETY: the world is stopped, the buffers retired, and
                // `satb` holds every thread's partial SATB buffer.
                unsafe { c.lock().remark(&mut satb, entry) };
            });
        }
    }

    /// The flip pause: every thread's roots are fixed.
    fn flip(&mut self, waited: Duration) -> Result<(), GcError> {
        let shared = self.shared.clone();
        if let Some(c) = &shared.compactor {
            let used_before = shared.heap.used_bytes();
            let live = self.stop_world(|w| {
                w.retire_tlabs();
                let entry = PauseEntry {
                    waited,
                    safepoint: w.safepoint,
                };
                // SAFETY: the world is stopped, the buffers retired, and the
                // world's roots are all the roots, each of this runtime.
                unsafe { c.lock().flip(w, entry) }
            })?;
            self.set_trigger(live, used_before);
        }
        Ok(())
    }
}
