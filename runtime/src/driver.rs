//! Driving a concurrent cycle from the mutator (uffd modes): a full heap
//! starts one with the initial pause, allocation polls the collector's
//! attention flag and runs the remark and flip pauses when the collector
//! threads are ready, and a mutator that runs out of room before that waits
//! (a stall, counted in the pause it ends with).

use std::sync::atomic::Ordering;
use std::time::Instant;

use gc::compact::concurrent::CyclePhase;

use crate::mutator::{GcError, Mutator};

impl Mutator {
    /// The heap reached its trigger. Idle: start a concurrently marked
    /// cycle and let allocation go on up to the heap limit. Otherwise the
    /// heap limit itself was reached: push the cycle in flight through its
    /// pauses, waiting where the collector is not done yet.
    pub(crate) fn heap_full(&mut self) -> Result<(), GcError> {
        let shared = self.shared.clone();
        let Some(compactor) = &shared.compactor else {
            return self.collect();
        };
        let heap = &shared.heap;
        let at_limit = heap.soft_limit() >= heap.config().heap_limit;
        let start = Instant::now();
        let phase = compactor.lock().phase();
        match phase {
            // The trigger, with the last compaction still running: allow
            // allocation up to the limit and start when it ends.
            CyclePhase::Compacting if !at_limit => {
                shared.start_wanted.store(true, Ordering::Relaxed);
                heap.set_soft_limit(usize::MAX);
            }
            CyclePhase::Idle | CyclePhase::Compacting => {
                let previous = compactor.lock().wait();
                if let Some(r) = previous {
                    shared.account(&r);
                }
                self.begin_marking(start.elapsed());
            }
            CyclePhase::Marking | CyclePhase::Marked => {
                self.remark(start.elapsed());
                self.flip(std::time::Duration::ZERO)?;
            }
            CyclePhase::Planning | CyclePhase::Planned => self.flip(start.elapsed())?,
        }
        Ok(())
    }

    fn begin_marking(&mut self, waited: std::time::Duration) {
        let shared = self.shared.clone();
        if let Some(c) = &shared.compactor {
            shared.start_wanted.store(false, Ordering::Relaxed);
            c.lock().begin_marking(&self.roots, waited);
            // Allocation goes on up to the limit while the cycle runs.
            shared.heap.set_soft_limit(usize::MAX);
        }
    }

    /// Runs whatever pause the collector is ready for, and accounts a
    /// finished compaction. Called at allocation when the attention flag is
    /// up; never waits.
    pub(crate) fn advance_cycle(&mut self) -> Result<(), GcError> {
        let shared = self.shared.clone();
        let Some(compactor) = &shared.compactor else {
            return Ok(());
        };
        if let Some(flag) = &shared.attention {
            flag.store(false, Ordering::Release);
        }
        let phase = compactor.lock().phase();
        match phase {
            CyclePhase::Marked => self.remark(std::time::Duration::ZERO),
            CyclePhase::Planned => self.flip(std::time::Duration::ZERO)?,
            CyclePhase::Compacting => {
                shared.poll_compaction(false);
                let ended = compactor.lock().phase() == CyclePhase::Idle;
                if ended && shared.start_wanted.load(Ordering::Relaxed) {
                    self.begin_marking(std::time::Duration::ZERO);
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
        let shared = self.shared.clone();
        match &shared.compactor {
            Some(c) if c.lock().phase() == CyclePhase::Idle => {
                self.begin_marking(std::time::Duration::ZERO);
                true
            }
            _ => false,
        }
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
        let shared = self.shared.clone();
        let Some(compactor) = &shared.compactor else {
            return Ok(());
        };
        loop {
            let start = Instant::now();
            let phase = compactor.lock().phase();
            match phase {
                CyclePhase::Idle => return Ok(()),
                CyclePhase::Marking | CyclePhase::Marked => self.remark(start.elapsed()),
                CyclePhase::Planning | CyclePhase::Planned => self.flip(start.elapsed())?,
                CyclePhase::Compacting => shared.poll_compaction(true),
            }
        }
    }

    fn remark(&mut self, waited: std::time::Duration) {
        self.tlab.retire();
        if let Some(c) = &self.shared.compactor {
            c.lock().remark(&mut self.satb, waited);
        }
    }

    fn flip(&mut self, waited: std::time::Duration) -> Result<(), GcError> {
        self.tlab.retire();
        let shared = self.shared.clone();
        if let Some(c) = &shared.compactor {
            let live = c.lock().flip(&mut self.roots, waited)?;
            self.tlab.discard();
            self.set_trigger(live);
        }
        Ok(())
    }
}
