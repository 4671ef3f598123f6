//! Mutators: allocation, the root stack and the write path.

use std::cell::RefCell;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::{Duration, Instant};

use gc::compact::stw;
use gc::mark::satb::SATB_BUFFER;
use gc::{AllocRequest, HeapError, ObjRef, PauseEntry, Value};

use crate::log::{Cause, LogLevel};
use crate::policy::PACE_ROUNDS;
use crate::safepoint::{HandshakeOp, Local, ThreadSlot, World};
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
    /// The calling thread already has a mutator of this runtime (each
    /// thread registers once; a second would wait for the first at every
    /// pause).
    #[error("this thread already has a mutator of this runtime; use one per thread")]
    AlreadyRegistered,
    /// The thread could not be made to receive the heap's SIGBUS faults
    /// (SIGBUS modes).
    #[error(transparent)]
    Sigbus(#[from] gc::compact::concurrent::sigbus::SigbusError),
}

/// A thread's handle on the runtime: its registration, allocation buffer
/// and root stack (kept in the runtime's thread registry, where pauses
/// reach them). Bound to the thread that created it.
pub struct Mutator {
    pub(crate) shared: Arc<Shared>,
    slot: Arc<ThreadSlot>,
    /// Neither `Send` nor `Sync`: the registration is the creating thread's.
    _thread_bound: PhantomData<*const ()>,
}

thread_local! {
    /// The runtimes this thread has a mutator of (a second would wait for
    /// the first at every pause, forever).
    static REGISTERED: RefCell<Vec<usize>> = const { RefCell::new(Vec::new()) };
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

/// A root shared by every thread of a runtime (an embedder's global
/// variable, a queue between threads), returned by
/// [`Mutator::add_global`]. Valid for the runtime's life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Global(usize);

/// How the slow path of an allocation ended.
enum Slow {
    /// Allocated, or out of memory.
    Done(Result<ObjRef, OutOfMemory>),
    /// A pacing threshold: sleep this long (blocked), then try again.
    Pace(Duration),
}

/// A position in the root stack, returned by [`Mutator::push_root`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Handle(usize);

impl Mutator {
    /// Registers the calling thread with the runtime.
    pub(crate) fn new(shared: Arc<Shared>) -> Result<Mutator, GcError> {
        let key = Arc::as_ptr(&shared) as usize;
        let fresh = REGISTERED.with_borrow_mut(|r| {
            let fresh = !r.contains(&key);
            if fresh {
                r.push(key);
            }
            fresh
        });
        if !fresh {
            return Err(GcError::AlreadyRegistered);
        }
        if shared.sigbus_faults {
            // Heap faults arrive as SIGBUS on this thread (`Runtime::mutator`).
            if let Err(e) = gc::compact::concurrent::sigbus::unblock_on_this_thread() {
                REGISTERED.with_borrow_mut(|r| r.retain(|&k| k != key));
                return Err(e.into());
            }
        }
        let slot = shared.registry.register();
        Ok(Mutator {
            shared,
            slot,
            _thread_bound: PhantomData,
        })
    }

    /// This thread's slot.
    #[inline(always)]
    pub(crate) fn local(&mut self) -> &mut Local {
        // SAFETY: a Mutator is used only by its own thread (it is neither
        // Send nor Sync), which is running whenever it holds `&mut self`
        // outside the runtime's own stopping calls; the returned borrow ties
        // up `self`, so no call that stops the thread can happen while it
        // lives.
        unsafe { self.slot.local() }
    }

    /// The shared runtime and this thread's slot, borrowed together.
    #[inline(always)]
    fn parts(&mut self) -> (&Shared, &mut Local) {
        // SAFETY: as in `local`; `shared` is a different field.
        (&self.shared, unsafe { self.slot.local() })
    }

    /// The root stack. Every value here is scanned and updated by each
    /// collection; embedders keep their value stacks and globals here.
    #[inline(always)]
    pub fn roots(&mut self) -> &mut Vec<Value> {
        &mut self.local().roots
    }

    /// Pushes a root and returns its handle.
    pub fn push_root(&mut self, v: Value) -> Handle {
        let roots = &mut self.local().roots;
        roots.push(v);
        Handle(roots.len() - 1)
    }

    /// The current value of a root.
    pub fn get(&self, h: Handle) -> Value {
        // SAFETY: as in `local`, reading only.
        unsafe { self.slot.local_ref() }.roots[h.0]
    }

    /// Replaces a root.
    pub fn set(&mut self, h: Handle, v: Value) {
        self.local().roots[h.0] = v;
    }

    /// Adds a root every thread can read and write ([`Mutator::global`],
    /// [`Mutator::set_global`]); collections scan and update it like the
    /// root stacks.
    pub fn add_global(&mut self, v: Value) -> Global {
        let mut globals = self.shared.registry.globals.lock();
        globals.push(v);
        Global(globals.len() - 1)
    }

    /// The current value of a global root (valid until this thread's next
    /// safepoint, like any value read from the heap).
    ///
    /// # Panics
    /// If `g` came from another runtime.
    pub fn global(&self, g: Global) -> Value {
        self.shared.registry.globals.lock()[g.0]
    }

    /// Replaces a global root.
    ///
    /// # Panics
    /// If `g` came from another runtime.
    pub fn set_global(&mut self, g: Global, v: Value) {
        self.shared.registry.globals.lock()[g.0] = v;
    }

    /// Runs `f` and then drops every root it pushed (a handle scope).
    pub fn scope<R>(&mut self, f: impl FnOnce(&mut Mutator) -> R) -> R {
        let depth = self.local().roots.len();
        let r = f(self);
        self.local().roots.truncate(depth);
        r
    }

    /// Allocates an object (slots nil, raw bytes zero). A safepoint: every
    /// `ObjRef` not held in a root stack is invalid afterwards.
    ///
    /// In the uffd modes a full heap starts a concurrently marked cycle (a
    /// pause of O(roots)); allocation polls it and runs its remark and flip
    /// pauses when the collector threads are ready for them.
    pub fn alloc(&mut self, spec: AllocRequest) -> Result<ObjRef, OutOfMemory> {
        if self.shared.stress {
            self.drive(|m| m.collect_driving(Cause::Stress))
                .map_err(|e| self.gc_failed(&spec, e))?;
        } else if self.shared.needs_attention() {
            self.poll_slow().map_err(|e| self.gc_failed(&spec, e))?;
        }
        // Pacing answers this allocation got: after PACE_ROUNDS it is no
        // longer paced, so the slow path ends in a bounded number of steps.
        let mut paced = 0;
        loop {
            let (shared, local) = self.parts();
            match shared.heap.alloc(&mut local.tlab, &spec) {
                Ok(Some(obj)) => return Ok(obj),
                Ok(None) => {}
                Err(_) => return Err(self.give_up(&spec, "larger than the heap limit")),
            }
            let may_pace = paced < PACE_ROUNDS;
            if !may_pace {
                self.shared.log.line(
                    LogLevel::Info,
                    "gc",
                    format_args!(
                        "an allocation was paced {paced} times without fitting: \
                         pushing the cycle through"
                    ),
                );
            }
            match self.drive(|m| m.alloc_driving(&spec, may_pace)) {
                Slow::Done(r) => return r,
                Slow::Pace(d) => {
                    paced += 1;
                    if !d.is_zero() {
                        self.blocking(|| std::thread::sleep(d));
                        self.shared.stats.lock().record_pacing(d);
                    }
                }
            }
        }
    }

    /// Allocation with the heap full, holding the right to drive the
    /// collector. Past the trigger, in the uffd modes: start a cycle or push
    /// the one in flight on (up to three steps: begin, remark + flip, a wait
    /// for the compaction; the first may instead answer with a pacing
    /// sleep, if `may_pace`); then collect fully; then wait for that
    /// compaction; then grow to the limit; then report out of memory. In
    /// stw: collect, then grow, then report. Each step is tried only if
    /// allocation still fails (another thread's step may have made room
    /// while this one waited for the lock).
    fn alloc_driving(&mut self, spec: &AllocRequest, may_pace: bool) -> Slow {
        let request = gc::object::size_in_words(spec.slots, spec.bytes)
            .map_or(usize::MAX, |w| w * gc::object::WORD);
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
            let (shared, local) = self.parts();
            match shared.heap.alloc(&mut local.tlab, spec) {
                Ok(Some(obj)) => return Slow::Done(Ok(obj)),
                Ok(None) => {}
                Err(_) => return Slow::Done(Err(self.give_up(spec, "larger than the heap limit"))),
            }
            let failed = match step {
                Step::Cycle => match self.heap_full(request, may_pace) {
                    Ok(Some(sleep)) => return Slow::Pace(sleep),
                    Ok(None) => None,
                    Err(e) => Some(e),
                },
                Step::Collect => {
                    let cause = if self.shared.compactor.is_some() {
                        self.shared.log.line(
                            LogLevel::Debug,
                            "gc",
                            format_args!(
                                "heap limit reached although the cycle was pushed through: \
                             a full collection in the pause"
                            ),
                        );
                        Cause::HeapLimit
                    } else {
                        self.shared.policy.lock().trigger_cause()
                    };
                    self.collect_driving(cause).err()
                }
                Step::Quiesce => {
                    self.shared.stall_for_compaction();
                    None
                }
                Step::Grow => {
                    // Up to the hard limit in force (Runtime::set_heap_limit).
                    let limit = self.shared.knobs().hard_limit;
                    self.shared.heap.set_soft_limit(limit);
                    None
                }
            };
            if let Some(e) = failed {
                return Slow::Done(Err(self.gc_failed(spec, e)));
            }
        }
        let (shared, local) = self.parts();
        if let Ok(Some(obj)) = shared.heap.alloc(&mut local.tlab, spec) {
            return Slow::Done(Ok(obj));
        }
        let why = if self.shared.compactor.is_some() {
            "after finishing the cycle in flight, a full collection and growth to the limit"
        } else {
            "after a full collection and growth to the limit"
        };
        Slow::Done(Err(self.give_up(spec, why)))
    }

    /// Out of memory, said in the log (with GC logging on) with `why`.
    fn give_up(&self, spec: &AllocRequest, why: &str) -> OutOfMemory {
        let oom = self.out_of_memory(spec);
        self.shared
            .log
            .line(LogLevel::Info, "gc", format_args!("{oom} ({why})"));
        oom
    }

    /// A collection step failed during an allocation, which then reports
    /// out of memory; the cause is always printed (it is never routine).
    fn gc_failed(&self, spec: &AllocRequest, e: GcError) -> OutOfMemory {
        self.shared
            .log
            .warn(format_args!("collection failed during allocation: {e}"));
        self.out_of_memory(spec)
    }

    fn out_of_memory(&self, spec: &AllocRequest) -> OutOfMemory {
        OutOfMemory {
            requested: spec.slots as usize * 8 + spec.bytes,
            limit: self.shared.knobs().hard_limit,
            used: self.shared.heap.used_bytes(),
        }
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
        // while a concurrent marking runs (it starts and stops only in
        // pauses, which this thread is not in between these two lines).
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
        let (shared, local) = self.parts();
        local.satb.push(v);
        if local.satb.len() >= SATB_BUFFER {
            if let Some(q) = &shared.satb {
                q.push(&mut local.satb);
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
        self.drive(|m| m.collect_driving(Cause::Explicit))
    }

    /// [`Mutator::collect`] for `cause`, holding the right to drive the
    /// collector.
    pub(crate) fn collect_driving(&mut self, cause: Cause) -> Result<(), GcError> {
        let shared = self.shared.clone();
        let heap = &shared.heap;
        let used_before = heap.used_bytes();
        let live = match &shared.compactor {
            None => {
                shared.log.cycle_started(cause);
                let report = self.stop_world(|w| {
                    w.retire_tlabs();
                    let mut report = stw::collect(heap, w)?;
                    report.prepend_entry(PauseEntry {
                        waited: Duration::ZERO,
                        safepoint: w.safepoint,
                    });
                    Ok::<_, HeapError>(report)
                })?;
                shared.account(&report);
                report.live_bytes()
            }
            Some(compactor) => {
                let start = Instant::now();
                self.finish_cycle_driving()?;
                let waited = start.elapsed();
                shared.log.cycle_started(cause);
                self.stop_world(|w| {
                    w.retire_tlabs();
                    let entry = PauseEntry {
                        waited,
                        safepoint: w.safepoint,
                    };
                    compactor.lock().start(w, entry)
                })?
            }
        };
        self.set_trigger(live, used_before);
        if shared.verify {
            shared.poll_compaction(true);
            self.stop_world(|w| {
                // Buffers opened since the collection's stop end in zeroes
                // the verifier would read as headers.
                w.retire_tlabs();
                gc::verify::verify(heap, w)
            })?;
        }
        Ok(())
    }

    /// Stops every other mutator thread at a safepoint and runs `f` on all
    /// the threads' slots; the time to safepoint goes to the statistics.
    /// The caller must hold the right to drive the collector.
    pub(crate) fn stop_world<R>(&mut self, f: impl FnOnce(&mut World<'_>) -> R) -> R {
        let mut safepoint = Duration::ZERO;
        let r = self.shared.registry.stop_world(&self.slot, |w| {
            safepoint = w.safepoint;
            f(w)
        });
        self.shared.stats.lock().record_safepoint(safepoint);
        r
    }

    /// Runs `op` on every thread's slot, each running thread at its next
    /// safepoint (no global stop); the caller must hold the right to drive
    /// the collector.
    pub(crate) fn handshake(&mut self, op: HandshakeOp) {
        let start = Instant::now();
        self.shared.registry.handshake(&self.slot, op);
        let mut stats = self.shared.stats.lock();
        stats.handshakes += 1;
        stats.handshake_time += start.elapsed();
    }

    /// Runs `f` holding the right to drive the collector, waiting for it
    /// (stopped, so pauses proceed without this thread) if another thread
    /// holds it.
    pub(crate) fn drive<R>(&mut self, f: impl FnOnce(&mut Mutator) -> R) -> R {
        let shared = self.shared.clone();
        let _driving = match shared.driving.try_lock() {
            Some(guard) => guard,
            None => self.blocking(|| shared.driving.lock()),
        };
        f(self)
    }

    /// The slow path of a poll: stops for a pause that waits, then acts on
    /// finished concurrent work if no other thread is driving the collector.
    #[cold]
    fn poll_slow(&mut self) -> Result<(), GcError> {
        let shared = self.shared.clone();
        shared.registry.park_if_requested(&self.slot);
        let Some(_driving) = shared.driving.try_lock() else {
            return Ok(());
        };
        shared.registry.clear_poll();
        self.advance_cycle()
    }

    /// Runs `f`, typically a system call or a wait, with this thread in the
    /// blocked state: pauses do not wait for it, and may rewrite its roots
    /// meanwhile. `f` must not touch the heap (it cannot reach the mutator;
    /// raw `ObjRef`s captured from before are invalid inside and after).
    /// Returns once no pause is in progress.
    pub fn blocking<R>(&mut self, f: impl FnOnce() -> R) -> R {
        /// Resumes the thread even if `f` unwinds.
        struct Resume<'a>(&'a Mutator);
        impl Drop for Resume<'_> {
            fn drop(&mut self) {
                self.0.shared.registry.leave_stopped(&self.0.slot);
            }
        }
        self.shared.registry.enter_stopped(&self.slot);
        let _resume = Resume(self);
        f()
    }

    /// After a flip (or a stop-the-world collection) that found `live`
    /// bytes live with `used_before` bytes in use before it: samples the
    /// allocation rate and sets the next cycle's trigger (see
    /// [`crate::policy`]).
    pub(crate) fn set_trigger(&self, live: usize, used_before: usize) {
        let shared = &self.shared;
        let heap = &shared.heap;
        let knobs = shared.knobs();
        let mut policy = shared.policy.lock();
        policy.observe_flip(used_before, heap.used_bytes());
        let concurrent = shared.compactor.is_some();
        let trigger = policy.trigger(live, knobs.hard_limit, knobs.growth, concurrent);
        let measured = policy.measured().filter(|_| concurrent);
        shared
            .log
            .trigger(trigger, live, policy.trigger_cause(), measured);
        heap.set_soft_limit(trigger);
    }

    /// A point where the runtime may stop this thread: a pause waiting for
    /// it runs, and a pause the collector is ready for is run (uffd modes).
    /// Embedders call it in loops that do not allocate. A collection
    /// failure here is logged and retried at the next allocation.
    #[inline(always)]
    pub fn safepoint(&mut self) {
        if self.shared.needs_attention() {
            if let Err(e) = self.poll_slow() {
                self.shared.log.line(
                    LogLevel::Info,
                    "gc",
                    format_args!("collection step failed at a safepoint (retried at the next allocation): {e}"),
                );
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

    /// Verifies the heap against every thread's roots (finishing a cycle in
    /// flight first).
    pub fn verify(&mut self) -> Result<gc::verify::VerifyReport, GcError> {
        self.drive(|m| {
            m.finish_cycle_driving()?;
            let shared = m.shared.clone();
            m.stop_world(|w| {
                w.retire_tlabs();
                Ok(gc::verify::verify(&shared.heap, w)?)
            })
        })
    }

    /// The address-independent checksum of the graph reachable from this
    /// thread's roots.
    pub fn checksum(&mut self) -> u64 {
        gc::verify::graph_checksum(&mut self.local().roots)
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
    /// Gives the allocation buffer and SATB buffer back and deregisters.
    fn drop(&mut self) {
        {
            let (shared, local) = self.parts();
            local.tlab.retire();
            local.roots.clear();
            if let Some(q) = &shared.satb {
                q.push(&mut local.satb);
            }
        }
        self.shared.registry.deregister(&self.slot);
        let key = Arc::as_ptr(&self.shared) as usize;
        REGISTERED.with_borrow_mut(|r| r.retain(|&k| k != key));
    }
}
