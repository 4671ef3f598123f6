//! Mutators: allocation, the root stack and the write path.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use gc::compact::stw;
use gc::mark::satb::SATB_BUFFER;
use gc::{AllocRequest, HeapError, ObjRef, Tlab, Value};

use crate::Shared;

/// Allocation failed because the heap is full even after a collection.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("out of memory: {requested} bytes requested, heap limit {limit} bytes, {used} bytes in use after a full collection")]
pub struct OutOfMemory {
    /// Bytes requested (slots and raw bytes; header excluded).
    pub requested: usize,
    /// The configured heap limit.
    pub limit: usize,
    /// Bytes in use after the last collection.
    pub used: usize,
}

/// Errors of collection and mutator management.
#[derive(Debug, thiserror::Error)]
pub enum GcError {
    /// The collector's address-space operations failed.
    #[error("collection failed: {0}")]
    Heap(#[from] HeapError),
    /// The heap verifier found corruption (only with verification on).
    #[error("heap verification failed after a collection: {0}")]
    Corrupt(#[from] gc::verify::VerifyError),
    /// A second mutator was requested (one per runtime for now).
    #[error("this runtime already has a mutator; several mutator threads arrive with the concurrent-marking work")]
    MutatorLimit,
}

/// A thread's handle on the runtime: its allocation buffer and root stack.
pub struct Mutator {
    pub(crate) shared: Arc<Shared>,
    pub(crate) tlab: Tlab,
    pub(crate) roots: Vec<Value>,
    /// Old values of overwritten slots while a concurrent marking runs.
    pub(crate) satb: Vec<Value>,
}

/// What allocation tries next when the heap is full.
enum Step {
    /// Start or advance the concurrent cycle.
    Cycle,
    /// A full collection.
    Collect,
    /// Wait for the compaction in flight.
    Quiesce,
    /// Raise the trigger to the heap limit.
    Grow,
}

/// A position in the root stack, returned by [`Mutator::push_root`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Handle(usize);

impl Mutator {
    pub(crate) fn new(shared: Arc<Shared>) -> Mutator {
        Mutator {
            shared,
            tlab: Tlab::empty(),
            roots: Vec::new(),
            satb: Vec::with_capacity(SATB_BUFFER),
        }
    }

    /// The root stack. Every value here is scanned and updated by each
    /// collection; embedders keep their value stacks and globals here.
    #[inline(always)]
    pub fn roots(&mut self) -> &mut Vec<Value> {
        &mut self.roots
    }

    /// Pushes a root and returns its handle.
    pub fn push_root(&mut self, v: Value) -> Handle {
        self.roots.push(v);
        Handle(self.roots.len() - 1)
    }

    /// The current value of a root.
    pub fn get(&self, h: Handle) -> Value {
        self.roots[h.0]
    }

    /// Replaces a root.
    pub fn set(&mut self, h: Handle, v: Value) {
        self.roots[h.0] = v;
    }

    /// Runs `f` and then drops every root it pushed (a handle scope).
    pub fn scope<R>(&mut self, f: impl FnOnce(&mut Mutator) -> R) -> R {
        let depth = self.roots.len();
        let r = f(self);
        self.roots.truncate(depth);
        r
    }

    /// Allocates an object (slots nil, raw bytes zero). May collect: every
    /// `ObjRef` not held in the root stack is invalid afterwards.
    ///
    /// In the uffd modes a full heap starts a concurrently marked cycle (a
    /// pause of O(roots)); allocation polls it and runs its remark and flip
    /// pauses when the collector threads are ready for them.
    pub fn alloc(&mut self, spec: AllocRequest) -> Result<ObjRef, OutOfMemory> {
        if self.shared.stress {
            self.collect_or_oom(&spec)?;
        } else if self.shared.needs_attention() {
            self.advance_cycle().map_err(|e| self.gc_failed(&spec, e))?;
        }
        // Past the trigger, in the uffd modes: start a cycle or push the one
        // in flight on (up to three steps: begin, remark + flip, a wait for
        // the compaction); then collect fully; then wait for that
        // compaction; then grow to the limit. In stw: collect, then grow.
        let steps: &[Step] = if self.shared.compactor.is_some() {
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
        };
        for step in steps {
            match self.shared.heap.alloc(&mut self.tlab, &spec) {
                Ok(Some(obj)) => return Ok(obj),
                Ok(None) => match step {
                    Step::Cycle => self.heap_full().map_err(|e| self.gc_failed(&spec, e))?,
                    Step::Collect => self.collect_or_oom(&spec)?,
                    Step::Quiesce => self.shared.stall_for_compaction(),
                    Step::Grow => self.shared.heap.set_soft_limit(usize::MAX),
                },
                Err(_) => return Err(self.out_of_memory(&spec)),
            }
        }
        if let Ok(Some(obj)) = self.shared.heap.alloc(&mut self.tlab, &spec) {
            return Ok(obj);
        }
        Err(self.out_of_memory(&spec))
    }

    fn gc_failed(&self, spec: &AllocRequest, e: GcError) -> OutOfMemory {
        if self.shared.log {
            eprintln!("[gc] collection failed during allocation: {e}");
        }
        self.out_of_memory(spec)
    }

    fn out_of_memory(&self, spec: &AllocRequest) -> OutOfMemory {
        OutOfMemory {
            requested: spec.slots as usize * 8 + spec.bytes,
            limit: self.shared.heap.config().heap_limit,
            used: self.shared.heap.used_bytes(),
        }
    }

    fn collect_or_oom(&mut self, spec: &AllocRequest) -> Result<(), OutOfMemory> {
        self.collect().map_err(|e| self.gc_failed(spec, e))
    }

    /// Stores `v` into slot `i` of `obj` through the write barrier.
    ///
    /// # Panics
    /// If `i` is not a slot of `obj`.
    #[inline(always)]
    pub fn write(&mut self, obj: ObjRef, i: usize, v: Value) {
        assert!(i < obj.slot_count(), "slot {i} out of range");
        if self.shared.heap.is_satb_active() {
            self.record_overwritten(obj, i);
        }
        // SAFETY: bounds checked; the barrier above recorded the old value
        // while a concurrent marking runs.
        unsafe { obj.set_slot_raw(i, v) }
    }

    /// The SATB barrier's slow path: remember the value about to be
    /// overwritten, so the marking's snapshot stays complete.
    #[cold]
    fn record_overwritten(&mut self, obj: ObjRef, i: usize) {
        self.satb_record(obj.slot(i));
    }

    fn satb_record(&mut self, v: Value) {
        if !v.is_object() {
            return;
        }
        self.satb.push(v);
        if self.satb.len() >= SATB_BUFFER {
            if let Some(q) = &self.shared.satb {
                q.push(&mut self.satb);
            }
        }
    }

    /// Reads weak slot `i` of `obj` for use as a strong reference (e.g. an
    /// intern-table hit the program keeps). Weak slots must be read this way
    /// while a concurrent marking may run: a weakly reachable object picked
    /// up during marking is recorded so it stays alive, and one marking
    /// found dead reads as nil.
    ///
    /// # Panics
    /// If `i` is not a slot of `obj`.
    pub fn load_weak(&mut self, obj: ObjRef, i: usize) -> Value {
        let v = obj.slot(i);
        let heap = &self.shared.heap;
        if v.is_object() {
            if heap.is_satb_active() {
                self.satb_record(v);
            } else if heap.is_allocating_black() && !heap.is_marked(v.object_addr()) {
                return Value::NIL;
            }
        }
        v
    }

    /// Runs a full collection now: a cycle in flight is finished first, then
    /// marking runs in the pause. In the uffd modes compaction goes on
    /// concurrently after it returns.
    pub fn collect(&mut self) -> Result<(), GcError> {
        self.tlab.retire();
        let shared = self.shared.clone();
        let heap = &shared.heap;
        let live = match &shared.compactor {
            None => {
                let report = stw::collect(heap, &mut self.roots)?;
                shared.account(&report);
                report.live_bytes()
            }
            Some(compactor) => {
                let start = Instant::now();
                self.finish_cycle()?;
                let waited = start.elapsed();
                compactor.lock().start(&mut self.roots, waited)?
            }
        };
        self.tlab.discard();
        self.set_trigger(live);
        if shared.verify {
            shared.poll_compaction(true);
            gc::verify::verify(heap, &mut self.roots)?;
        }
        Ok(())
    }

    /// Sets the next cycle's trigger from the live bytes of the last one:
    /// `live * growth` (at least 16 MiB more). A concurrent cycle must also
    /// finish before the heap limit while the mutators keep allocating, so
    /// in the uffd modes the trigger leaves at least half of the room above
    /// the live data for allocation during the cycle.
    pub(crate) fn set_trigger(&self, live: usize) {
        let heap = &self.shared.heap;
        let growth = heap.config().growth.max(1.0);
        let mut trigger = ((live as f64 * growth) as usize).max(live + gc::heap::INITIAL_TRIGGER);
        if self.shared.compactor.is_some() {
            let room = heap.config().heap_limit.saturating_sub(live);
            trigger = trigger.min(live + room / 2);
        }
        heap.set_soft_limit(trigger);
    }

    /// A point where the runtime may stop this thread: runs a pause the
    /// collector is ready for (uffd modes). Embedders call it in loops that
    /// do not allocate. A collection failure here is logged and retried at
    /// the next allocation.
    #[inline(always)]
    pub fn safepoint(&mut self) {
        if self.shared.needs_attention() {
            if let Err(e) = self.advance_cycle() {
                if self.shared.log {
                    eprintln!("[gc] collection step failed at a safepoint: {e}");
                }
            }
        }
    }

    /// Makes `[ptr, ptr + len)` resident before it is handed to a system call
    /// (in userfaultfd modes the kernel would otherwise get `EFAULT` on a page
    /// not yet compacted). Valid until the next safepoint.
    pub fn make_resident(&mut self, ptr: *const u8, len: usize) {
        if len == 0 {
            return;
        }
        let page = 4096usize;
        let mut a = ptr as usize & !(page - 1);
        while a < ptr as usize + len {
            let p = a.max(ptr as usize) as *const u8;
            // SAFETY: p lies in [ptr, ptr + len), which the caller owns as a
            // live heap range; a volatile read faults the page in.
            unsafe { std::ptr::read_volatile(p) };
            a += page;
        }
    }

    /// Verifies the heap against this mutator's roots (finishing a cycle in
    /// flight first).
    pub fn verify(&mut self) -> Result<gc::verify::VerifyReport, GcError> {
        self.tlab.retire();
        self.finish_cycle()?;
        Ok(gc::verify::verify(&self.shared.heap, &mut self.roots)?)
    }

    /// The address-independent checksum of the graph reachable from the roots.
    pub fn checksum(&mut self) -> u64 {
        gc::verify::graph_checksum(&mut self.roots)
    }

    /// Waits until no compaction is in flight (uffd modes) and accounts it.
    pub fn quiesce(&self) {
        self.shared.poll_compaction(true);
    }

    /// A snapshot of the statistics.
    pub fn stats(&self) -> crate::GcStats {
        self.shared.poll_compaction(false);
        self.shared.stats.lock().clone()
    }

    /// Heap bytes in use.
    pub fn used_bytes(&self) -> usize {
        self.shared.heap.used_bytes()
    }
}

impl Drop for Mutator {
    fn drop(&mut self) {
        self.tlab.retire();
        if let Some(q) = &self.shared.satb {
            q.push(&mut self.satb);
        }
        self.shared.mutator_live.store(false, Ordering::Release);
    }
}
