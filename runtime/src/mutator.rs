//! Mutators: allocation, the root stack and the write path.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use gc::compact::stw;
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
    shared: Arc<Shared>,
    tlab: Tlab,
    roots: Vec<Value>,
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
    pub fn alloc(&mut self, spec: AllocRequest) -> Result<ObjRef, OutOfMemory> {
        if self.shared.stress {
            self.collect_or_oom(&spec)?;
        }
        for attempt in 0..4 {
            match self.shared.heap.alloc(&mut self.tlab, &spec) {
                Ok(Some(obj)) => return Ok(obj),
                // Past the trigger: collect; then let the compaction end (its
                // sweep frees non-moving space); then grow to the limit.
                Ok(None) if attempt == 0 => self.collect_or_oom(&spec)?,
                Ok(None) if attempt == 1 => self.shared.poll_compaction(true),
                Ok(None) if attempt == 2 => self.shared.heap.set_soft_limit(usize::MAX),
                Ok(None) | Err(_) => break,
            }
        }
        Err(self.out_of_memory(&spec))
    }

    fn out_of_memory(&self, spec: &AllocRequest) -> OutOfMemory {
        OutOfMemory {
            requested: spec.slots as usize * 8 + spec.bytes,
            limit: self.shared.heap.config().heap_limit,
            used: self.shared.heap.used_bytes(),
        }
    }

    fn collect_or_oom(&mut self, spec: &AllocRequest) -> Result<(), OutOfMemory> {
        self.collect().map_err(|e| {
            if self.shared.log {
                eprintln!("[gc] collection failed during allocation: {e}");
            }
            self.out_of_memory(spec)
        })
    }

    /// Stores `v` into slot `i` of `obj` through the write barrier.
    ///
    /// # Panics
    /// If `i` is not a slot of `obj`.
    #[inline(always)]
    pub fn write(&mut self, obj: ObjRef, i: usize, v: Value) {
        assert!(i < obj.slot_count(), "slot {i} out of range");
        // SAFETY: bounds checked; marking only runs inside a pause for now, so
        // no barrier work is needed (the SATB barrier goes here).
        unsafe { obj.set_slot_raw(i, v) }
    }

    /// Runs a full collection now. In the uffd modes this is the pause only:
    /// compaction goes on concurrently after it returns (a cycle still in
    /// flight is waited for first).
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
                let mut c = compactor.lock();
                let previous = c.wait();
                let waited = start.elapsed();
                if let Some(r) = previous {
                    shared.account(&r);
                }
                c.start(&mut self.roots, waited)?
            }
        };
        self.tlab.discard();
        let growth = heap.config().growth.max(1.0);
        heap.set_soft_limit(
            ((live as f64 * growth) as usize).max(live + gc::heap::INITIAL_TRIGGER),
        );
        if shared.verify {
            shared.poll_compaction(true);
            gc::verify::verify(heap, &mut self.roots)?;
        }
        Ok(())
    }

    /// A point where the runtime may stop this thread (a no-op with one mutator).
    #[inline(always)]
    pub fn safepoint(&mut self) {}

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

    /// Verifies the heap against this mutator's roots (waiting for a
    /// concurrent compaction to end first).
    pub fn verify(&mut self) -> Result<gc::verify::VerifyReport, gc::verify::VerifyError> {
        self.tlab.retire();
        self.shared.poll_compaction(true);
        gc::verify::verify(&self.shared.heap, &mut self.roots)
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
        self.shared.mutator_live.store(false, Ordering::Release);
    }
}
