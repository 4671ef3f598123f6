//! Mutators: allocation, the write path and the safepoints (roots are in
//! [`crate::roots`]).

use std::cell::RefCell;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use gc::compact::stw;
use gc::mark::satb::SATB_BUFFER;
use gc::{AllocRequest, HeapError, ObjRef, PauseEntry, Value as RawValue};

use crate::log::{Cause, CycleKind, LogLevel};
use crate::policy::{Paced, Pacing, Step};
use crate::safepoint::{HandshakeOp, Local, ThreadSlot, World};
use crate::value::{Gc, Value};
use crate::Shared;

/// Allocation failed because the heap is full even after a collection.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("out of memory: {requested} bytes requested, heap limit {limit} bytes, {used} bytes in use after a full collection")]
#[non_exhaustive]
pub struct OutOfMemory {
    /// Bytes requested (slots and raw bytes; header excluded).
    pub requested: usize,
    /// The configured heap limit.
    pub limit: usize,
    /// Bytes in use after the last collection.
    pub used: usize,
}

/// Why an allocation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AllocError {
    /// The heap is full even after a collection.
    #[error(transparent)]
    OutOfMemory(#[from] OutOfMemory),
    /// The object could never fit: its size overflows the header or
    /// exceeds the heap limit.
    #[error("object too large: {slots} slots and {bytes} raw bytes (heap limit {limit} bytes)")]
    TooLarge {
        /// Requested slots.
        slots: u32,
        /// Requested raw bytes.
        bytes: usize,
        /// The configured heap limit.
        limit: usize,
    },
    /// A collection the allocation needed failed (the heap is unchanged).
    #[error("allocation failed: {0}")]
    CollectionFailed(#[source] GcError),
}

/// Errors of collection and mutator management.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
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

/// A thread's handle on the runtime: its registration, allocation buffer,
/// roots and write-barrier buffer (kept in the runtime's thread registry,
/// where pauses reach them). Bound to the thread that created it: neither
/// `Send` nor `Sync`.
///
/// Methods that may reach a safepoint (allocation, collection, waits) take
/// `&mut self`; reads, stores and root operations take `&self`. Object
/// references ([`Gc`]) and values ([`Value`]) borrow the mutator shared, so
/// none can be held across a safepoint (see the crate docs).
pub struct Mutator {
    pub(crate) shared: Arc<Shared>,
    slot: Arc<ThreadSlot>,
    /// The registry's poll word, held here so that a poll is one load from
    /// the mutator (not through the shared state).
    poll: Arc<AtomicBool>,
    /// The heap's biased card-table pointer ([`gc::remembered::CardTable::biased`])
    /// as an address (its provenance exposed), kept here so the barrier's
    /// card store needs no load through `shared`.
    cards: usize,
    /// The runtime's stress setting (a collection at every allocation),
    /// kept here for [`Mutator::alloc_without_safepoint`]'s test.
    stress: bool,
    /// Page buffers for assisting a compaction at pacing thresholds
    /// (allocated at the first assist).
    pub(crate) assist_bufs: Option<gc::compact::concurrent::assist::AssistBuffers>,
    /// Neither `Send` nor `Sync`: the registration is the creating thread's.
    _thread_bound: PhantomData<*const ()>,
}

impl std::fmt::Debug for Mutator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mutator")
            .field("runtime", &self.shared.id)
            .field("mode", &self.shared.mode)
            .finish_non_exhaustive()
    }
}

thread_local! {
    /// The runtimes this thread has a mutator of, with the mutator's slot (a
    /// second mutator of one runtime would wait for the first at every
    /// pause, forever; mutators of two runtimes must check what they store).
    static REGISTERED: RefCell<Vec<(usize, Arc<ThreadSlot>)>> = const { RefCell::new(Vec::new()) };
}

/// How the slow path of an allocation ended.
enum Slow {
    /// Allocated, or out of memory.
    Done(Result<ObjRef, AllocError>),
    /// A pacing threshold: hold the allocation as the policy said, then
    /// try again.
    Pace(Pacing),
}

impl Mutator {
    /// Registers the calling thread with the runtime.
    pub(crate) fn new(shared: Arc<Shared>) -> Result<Mutator, GcError> {
        let key = Arc::as_ptr(&shared) as usize;
        if REGISTERED.with_borrow(|r| r.iter().any(|(k, _)| *k == key)) {
            return Err(GcError::AlreadyRegistered);
        }
        if shared.sigbus_faults {
            // Heap faults arrive as SIGBUS on this thread (`Runtime::mutator`).
            if let Err(e) = gc::compact::concurrent::sigbus::unblock_on_this_thread() {
                return Err(e.into());
            }
        }
        let slot = shared.registry.register();
        REGISTERED.with_borrow_mut(|r| {
            if !r.is_empty() {
                // Two runtimes on one thread: a reference read through one
                // mutator could be stored through the other. Every store
                // of both now takes the checked slow path, for good.
                for (_, s) in r.iter().chain(std::iter::once(&(key, slot.clone()))) {
                    s.foreign.store(true, Relaxed);
                    s.barrier.store(true, Relaxed);
                }
            }
            r.push((key, slot.clone()));
        });
        Ok(Mutator {
            poll: shared.registry.poll_arc(),
            cards: shared.heap.cards().biased().expose_provenance(),
            stress: shared.stress,
            assist_bufs: None,
            shared,
            slot,
            _thread_bound: PhantomData,
        })
    }

    /// This thread's slot. Every caller takes it, uses it and drops it
    /// without calling anything that takes it again or stops the thread.
    #[inline(always)]
    #[allow(clippy::mut_from_ref)]
    pub(crate) fn local(&self) -> &mut Local {
        // SAFETY: a Mutator is used only by its own thread (it is neither
        // Send nor Sync), which is running whenever it runs a method of the
        // mutator outside the runtime's own stopping calls; callers never
        // hold two of these references at once, nor one across a call that
        // stops the thread (see above).
        unsafe { self.slot.local() }
    }

    /// Whether this thread has mutators of two runtimes (stores check).
    #[inline(always)]
    pub(crate) fn foreign_possible(&self) -> bool {
        self.slot.foreign.load(Relaxed)
    }

    /// The shared runtime and this thread's slot, borrowed together.
    #[inline(always)]
    fn parts(&mut self) -> (&Shared, &mut Local) {
        // SAFETY: as in `local`; `shared` is a different field.
        (&self.shared, unsafe { self.slot.local() })
    }

    /// Allocates an object (slots nil, raw bytes zero) and returns it with
    /// the mutator reborrowed shared: fill the object and store it through
    /// that view, while the `&mut` borrow (and with it every other
    /// safepoint) waits.
    ///
    /// A safepoint: objects may move, so no [`Gc`] or [`Value`] read before
    /// may be used after (the compiler enforces it); roots are updated. In
    /// the uffd modes a full heap starts a concurrently marked cycle (a
    /// pause of O(roots)); allocation polls it and runs its remark and flip
    /// pauses when the collector threads are ready for them.
    ///
    /// ```
    /// # let rt = runtime::Runtime::builder().mode(runtime::Mode::Stw).build().unwrap();
    /// # let mut m = rt.mutator().unwrap();
    /// use runtime::{AllocSpec, Value};
    /// let (m2, pair) = m.alloc(AllocSpec { slots: 2, ..Default::default() })?;
    /// m2.write(pair, 0, Value::number(1.0));
    /// m2.push(pair.into()); // rooted: survives the next safepoint
    /// m.collect()?;
    /// let pair = m.pop().and_then(|v| v.as_object()).unwrap();
    /// assert_eq!(pair.slot(0).as_number(), Some(1.0));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    pub fn alloc(&mut self, spec: AllocRequest) -> Result<(&Self, Gc<'_>), AllocError> {
        let obj = self.alloc_obj(spec)?;
        Ok((&*self, Gc::wrap(obj)))
    }

    /// Allocates an object if that needs no safepoint, else answers `None`
    /// (then [`Mutator::alloc`] does it, and may collect). It needs none
    /// when the object fits this thread's allocation buffer, or a new
    /// buffer while the heap is below its collection trigger, with no
    /// pause, handshake or collector step waiting for the thread (the poll
    /// word is clear) and stress collection off. Also `None` for a request
    /// `alloc` would refuse (too large).
    ///
    /// Nothing moves, so every value read before stays valid: the new object
    /// (slots nil, raw bytes zero) borrows the mutator shared, like them.
    /// An interpreter allocates through this first and saves its registers
    /// for `alloc` only when it answers `None`.
    ///
    /// ```
    /// # let rt = runtime::Runtime::builder().mode(runtime::Mode::Stw).build().unwrap();
    /// # let m = rt.mutator().unwrap();
    /// use runtime::{AllocSpec, Value};
    /// let a = m.alloc_without_safepoint(AllocSpec { slots: 1, ..Default::default() }).unwrap();
    /// let b = m.alloc_without_safepoint(AllocSpec { slots: 1, ..Default::default() }).unwrap();
    /// m.write(b, 0, a.into()); // `a` is still valid: nothing moved
    /// assert_eq!(b.slot(0), Value::from(a));
    /// ```
    #[inline(always)]
    pub fn alloc_without_safepoint(&self, spec: AllocRequest) -> Option<Gc<'_>> {
        // The object is used only while `self` is borrowed shared, so
        // before the next safepoint (`&mut self`).
        self.alloc_now(&spec).map(Gc::wrap)
    }

    /// [`Mutator::alloc_without_safepoint`]'s work: the new object as a raw
    /// reference, valid until the next safepoint.
    #[inline(always)]
    fn alloc_now(&self, spec: &AllocRequest) -> Option<ObjRef> {
        if self.stress || self.safepoint_requested() {
            return None;
        }
        let local = self.local();
        // SAFETY: the buffer is this thread's, of this runtime's heap
        // (installed by it, discarded at every collection); this thread is
        // running, so no collection runs, and callers use the result only
        // until the next safepoint.
        match unsafe { self.shared.heap.alloc(&mut local.tlab, spec) } {
            Ok(Some(obj)) => Some(obj),
            Ok(None) | Err(_) => None,
        }
    }

    /// [`Mutator::alloc`]'s work: the new object as a raw reference, valid
    /// until the next safepoint. Inline only where no safepoint is needed
    /// ([`Mutator::alloc_now`]); the rest is out of line.
    #[inline]
    pub(crate) fn alloc_obj(&mut self, spec: AllocRequest) -> Result<ObjRef, AllocError> {
        match self.alloc_now(&spec) {
            Some(obj) => Ok(obj),
            None => self.alloc_through_safepoint(spec),
        }
    }

    /// [`Mutator::alloc_obj`] where it may need a safepoint: stress
    /// collection, a pause or collector step waiting, a full buffer past
    /// the trigger (collection, pacing), a request too large.
    #[inline(never)]
    fn alloc_through_safepoint(&mut self, spec: AllocRequest) -> Result<ObjRef, AllocError> {
        if self.stress {
            self.drive(|m| m.collect_driving(Cause::Stress))
                .map_err(|e| self.gc_failed(e))?;
        } else if self.shared.needs_attention() {
            self.poll_slow().map_err(AllocError::CollectionFailed)?;
        }
        // The pacing this allocation got: once the policy says enough, it
        // is no longer paced, so the slow path ends in a bounded number of
        // steps.
        let mut paced = Paced::default();
        loop {
            match self.try_alloc(&spec) {
                Ok(Some(obj)) => return Ok(obj),
                Ok(None) => {}
                Err(e) => return Err(e),
            }
            let may_pace = self.shared.policy.may_pace(paced);
            if !may_pace {
                self.shared.log.line(
                    LogLevel::Info,
                    "gc",
                    format_args!(
                        "an allocation was paced {} times ({:.1} ms) without fitting: \
                         pushing the cycle through",
                        paced.answers,
                        paced.slept.as_secs_f64() * 1e3,
                    ),
                );
            }
            match self.drive(|m| m.alloc_driving(&spec, may_pace)) {
                Slow::Done(r) => return r,
                Slow::Pace(how) => {
                    paced.answers += 1;
                    paced.slept += self.pace(how);
                }
            }
        }
    }

    /// Allocation with the heap full, holding the right to drive the
    /// collector: climbs the policy's ladder
    /// ([`Policy::full_heap_steps`](crate::policy::Policy::full_heap_steps);
    /// a cycle step may answer with a pacing sleep instead, if
    /// `may_pace`), then reports out of memory. Each step is tried only if
    /// allocation still fails (another thread's step may have made room
    /// while this one waited for the lock).
    fn alloc_driving(&mut self, spec: &AllocRequest, may_pace: bool) -> Slow {
        let request = gc::object::size_in_words(spec.slots, spec.bytes)
            .map_or(usize::MAX, |w| w * gc::object::WORD);
        let policy = &self.shared.clone().policy;
        // The threshold before a growth step let this request through.
        let mut grown_from = None;
        let done = |obj, grown_from: Option<usize>| {
            if let Some(before) = grown_from {
                policy.grown(before, request);
            }
            Slow::Done(Ok(obj))
        };
        for step in policy.full_heap_steps() {
            match self.try_alloc(spec) {
                Ok(Some(obj)) => return done(obj, grown_from),
                Ok(None) => {}
                Err(e) => return Slow::Done(Err(e)),
            }
            let failed = match step {
                Step::Cycle => match self.heap_full(request, may_pace) {
                    Ok(Some(how)) => return Slow::Pace(how),
                    Ok(None) => None,
                    Err(e) => Some(e),
                },
                Step::Collect => {
                    if self.shared.compactor.is_some() {
                        self.shared.log.line(
                            LogLevel::Debug,
                            "gc",
                            format_args!(
                                "heap limit reached although the cycle was pushed through: \
                             a full collection in the pause"
                            ),
                        );
                    }
                    // Full: out of memory follows only a full collection.
                    self.collect_driving_kind(policy.collection_cause(), Some(CycleKind::Full))
                        .err()
                }
                Step::Quiesce => {
                    self.shared.stall_for_compaction();
                    None
                }
                Step::Grow => {
                    grown_from = Some(policy.grow_to_limit());
                    None
                }
            };
            if let Some(e) = failed {
                return Slow::Done(Err(self.gc_failed(e)));
            }
        }
        match self.try_alloc(spec) {
            Ok(Some(obj)) => return done(obj, grown_from),
            Ok(None) => {}
            Err(e) => return Slow::Done(Err(e)),
        }
        let why = if self.shared.compactor.is_some() {
            "after finishing the cycle in flight, a full collection and growth to the limit"
        } else {
            "after a full collection and growth to the limit"
        };
        Slow::Done(Err(self.give_up(spec, why)))
    }

    /// One allocation attempt without collecting: `Ok(None)` when the heap
    /// is full.
    #[inline(always)]
    fn try_alloc(&mut self, spec: &AllocRequest) -> Result<Option<ObjRef>, AllocError> {
        let (shared, local) = self.parts();
        // SAFETY: the buffer is this thread's, of this runtime's heap
        // (installed by it, discarded at every collection); this thread is
        // running, so no collection runs, and the result is used only until
        // the next safepoint (callers wrap it in a `Gc` borrowing the
        // mutator, or use it before any).
        match unsafe { shared.heap.alloc(&mut local.tlab, spec) } {
            Ok(r) => Ok(r),
            Err(HeapError::TooLarge { slots, bytes }) => Err(AllocError::TooLarge {
                slots,
                bytes,
                limit: shared.heap.config().heap_limit,
            }),
            Err(e) => Err(AllocError::CollectionFailed(GcError::Heap(e))),
        }
    }

    /// Out of memory, said in the log (with GC logging on) with `why`.
    fn give_up(&self, spec: &AllocRequest, why: &str) -> AllocError {
        let oom = self.out_of_memory_value(spec);
        self.shared
            .log
            .line(LogLevel::Info, "gc", format_args!("{oom} ({why})"));
        AllocError::OutOfMemory(oom)
    }

    /// A collection step failed during an allocation, which then fails with
    /// that cause; the log says so as a warning (it is never routine).
    fn gc_failed(&self, e: GcError) -> AllocError {
        self.shared
            .log
            .warn(format_args!("collection failed during allocation: {e}"));
        AllocError::CollectionFailed(e)
    }

    fn out_of_memory_value(&self, spec: &AllocRequest) -> OutOfMemory {
        OutOfMemory {
            requested: spec.slots as usize * 8 + spec.bytes,
            limit: self.shared.policy.knobs().hard_limit,
            used: self.shared.heap.used_bytes(),
        }
    }

    /// Stores `v` into slot `i` of `obj` through the write barrier.
    ///
    /// The barrier's fast path is one load of this thread's flag, a branch,
    /// the store and one byte store dirtying the slot's card (the remembered
    /// set of generational collection, unconditional). The slow path runs while a concurrent marking is on (it
    /// records the overwritten value) and, for good, on a thread that has
    /// mutators of two runtimes: there it also checks that `obj` and `v`
    /// belong to this mutator's runtime, since a reference of the other
    /// runtime stored here would go stale at that runtime's next
    /// collection.
    ///
    /// # Panics
    /// If `i` is not a slot of `obj`; if `obj` or `v` is an object of
    /// another runtime.
    #[inline(always)]
    pub fn write(&self, obj: Gc<'_>, i: usize, v: Value<'_>) {
        let obj = obj.obj();
        assert!(i < obj.slot_count(), "slot {i} out of range");
        // Read before the slot store, which the compiler must assume may
        // write anywhere (it is a store through a heap address): read
        // after it, the card base would be reloaded on every write.
        let cards = self.cards;
        if self.slot.barrier.load(Relaxed) {
            self.write_slow(obj, i, v.raw());
        }
        // SAFETY: bounds checked; the slow path recorded the old value
        // while a concurrent marking runs (it starts and stops only in
        // pauses, which this thread is not in between these lines), and
        // checked ownership where it can be in doubt.
        unsafe { obj.set_slot_raw(i, v.raw()) }
        dirty_card(cards, obj.slot_addr(i));
    }

    /// The write barrier's slow path, before the store of a value `v` into
    /// slot `i` of `obj`: ownership checks on a two-runtime thread, the
    /// SATB record during a marking; lowers the flag when neither applies.
    #[cold]
    #[inline(never)]
    fn write_slow(&self, obj: ObjRef, i: usize, v: RawValue) {
        let foreign = self.foreign_possible();
        if foreign {
            self.check_own_slow(obj.addr());
            self.check_own(v);
        }
        if self.shared.heap.is_satb_active() {
            self.satb_record(obj.slot(i));
        } else if !foreign {
            // No marking runs and none can start before this thread's next
            // safepoint (the pause that starts one raises the flag again).
            self.slot.barrier.store(false, Relaxed);
        }
    }

    fn satb_record(&self, v: RawValue) {
        if !v.is_object() {
            return;
        }
        let local = self.local();
        local.satb.push(v);
        if local.satb.len() >= SATB_BUFFER {
            if let Some(q) = &self.shared.satb {
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
    pub fn load_weak(&self, obj: Gc<'_>, i: usize) -> Value<'_> {
        let v = obj.slot_raw(i);
        let heap = &self.shared.heap;
        if v.is_object() {
            if heap.is_satb_active() {
                self.satb_record(v);
            } else if heap.is_allocating_black() && !heap.is_marked(v.object_addr()) {
                return Value::NIL;
            }
        }
        // SAFETY: a slot of a live object, read now and kept alive by the
        // barrier above (recorded for the marking, or already marked, or no
        // cycle in flight): valid until this thread's next safepoint.
        unsafe { Value::from_raw(v) }
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
        self.collect_driving_kind(cause, None)
    }

    /// Runs a young collection now (generational collection on), else a
    /// full one as [`Mutator::collect`] does. In the uffd modes the cycle's
    /// marking runs in the pause, its compaction concurrently after it
    /// returns, as for [`Mutator::collect`].
    pub fn collect_young(&mut self) -> Result<(), GcError> {
        self.drive(|m| m.collect_driving_kind(Cause::Explicit, Some(CycleKind::Young)))
    }

    /// [`Mutator::collect_driving`] of the `kind` the caller requires, else
    /// the policy's.
    pub(crate) fn collect_driving_kind(
        &mut self,
        cause: Cause,
        kind: Option<CycleKind>,
    ) -> Result<(), GcError> {
        let shared = self.shared.clone();
        let heap = &shared.heap;
        let used_before = heap.used_bytes();
        let live = match &shared.compactor {
            None => {
                let kind = shared.cycle_begins(cause, kind);
                let mut report = self.stop_world(|w| {
                    w.retire_tlabs();
                    // SAFETY: every mutator is stopped (`stop_world`) with its buffer
                    // retired, and the world's roots are all the roots, each
                    // checked to be this runtime's when stored.
                    let mut report = unsafe {
                        match kind {
                            CycleKind::Young => {
                                gc::compact::young::collect_young(heap, w, &shared.plan_tables)
                            }
                            CycleKind::Full => stw::collect(heap, w, &shared.plan_tables),
                        }
                    }?;
                    report.prepend_entry(PauseEntry {
                        waited: Duration::ZERO,
                        safepoint: w.safepoint,
                    });
                    Ok::<_, HeapError>(report)
                })?;
                shared.account(&mut report);
                if report.young {
                    // Marking saw only the young survivors: the trigger
                    // grows from everything in use (old garbage included,
                    // until a full cycle).
                    report.used_after
                } else {
                    report.live_bytes()
                }
            }
            Some(compactor) => {
                let start = Instant::now();
                self.finish_cycle_driving()?;
                let waited = start.elapsed();
                let young = shared.cycle_begins(cause, kind) == CycleKind::Young;
                self.stop_world(|w| {
                    w.retire_tlabs();
                    let entry = PauseEntry {
                        waited,
                        safepoint: w.safepoint,
                    };
                    // SAFETY: every mutator is stopped (`stop_world`) with its buffer
                    // retired, and the world's roots are all the roots, each
                    // checked to be this runtime's when stored.
                    unsafe { compactor.lock().start(w, entry, young) }
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
                // SAFETY: the world is stopped, the buffers retired.
                unsafe { gc::verify::verify(heap, w) }
            })?;
        }
        Ok(())
    }

    /// Stops every other mutator thread at a safepoint and runs `f` on all
    /// the threads' slots; the time to safepoint goes to the statistics.
    /// The caller must hold the right to drive the collector.
    pub(crate) fn stop_world<R>(&mut self, f: impl FnOnce(&mut World<'_>) -> R) -> R {
        let mut safepoint = Duration::ZERO;
        let heap = &self.shared.heap;
        let r = self.shared.registry.stop_world(&self.slot, |w| {
            safepoint = w.safepoint;
            let r = f(w);
            if heap.is_satb_active() {
                w.arm_write_barriers();
            }
            r
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
    /// bytes live with `used_before` bytes in use before it: the policy
    /// sets the next cycle's trigger (see [`crate::policy`]), and the log
    /// says where.
    pub(crate) fn set_trigger(&self, live: usize, used_before: usize) {
        let t = self.shared.policy.collected(live, used_before);
        self.shared.stats.lock().record_live(live);
        self.shared.log.trigger(t.bytes, live, t.cause, t.measured);
    }

    /// A point where the runtime may stop this thread: a pause waiting for
    /// it runs, and a pause the collector is ready for is run (uffd modes).
    /// Embedders call it in loops that do not allocate. A collection
    /// failure here is logged and retried at the next allocation.
    #[inline(always)]
    pub fn safepoint(&mut self) {
        if self.safepoint_requested() {
            if let Err(e) = self.poll_slow() {
                self.shared.log.line(
                    LogLevel::Info,
                    "gc",
                    format_args!("collection step failed at a safepoint (retried at the next allocation): {e}"),
                );
            }
        }
    }

    /// Whether [`Mutator::safepoint`] would stop or act now (one load and no
    /// side effect): an interpreter polls this at back-edges and calls and
    /// saves its registers for the safepoint only when it is true.
    #[inline(always)]
    pub fn safepoint_requested(&self) -> bool {
        self.poll.load(Relaxed)
    }

    /// Makes raw bytes `range` of `obj` resident, before their address
    /// ([`Gc::bytes_ptr`]) is handed to a system call: in the userfaultfd
    /// modes the kernel would otherwise get `EFAULT` on a page not yet
    /// compacted. They stay resident while `obj` is valid (until the next
    /// safepoint).
    ///
    /// # Panics
    /// If `range` is not inside the raw area.
    pub fn make_resident(&self, obj: Gc<'_>, range: std::ops::Range<usize>) {
        assert!(
            range.start <= range.end && range.end <= obj.byte_len(),
            "bytes {range:?} outside the raw area ({} bytes)",
            obj.byte_len()
        );
        // SAFETY: the range lies inside a live object of this heap (checked
        // above; `obj` is valid while borrowed).
        unsafe { self.make_resident_raw(obj.bytes_ptr().add(range.start), range.len()) }
    }

    /// Makes `[ptr, ptr + len)` resident (see [`Mutator::make_resident`]).
    ///
    /// # Safety
    /// The range lies inside live heap objects of this runtime (or other
    /// readable memory), valid until this thread's next safepoint.
    pub unsafe fn make_resident_raw(&self, ptr: *const u8, len: usize) {
        if len == 0 {
            return;
        }
        let page = gc::units::PAGE_SIZE;
        let mut a = ptr as usize & !(page - 1);
        while a < ptr as usize + len {
            let p = a.max(ptr as usize) as *const u8;
            // SAFETY: p lies in [ptr, ptr + len), which the caller promises
            // is readable; a volatile read faults the page in.
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
                // SAFETY: the world is stopped, the buffers retired.
                Ok(unsafe { gc::verify::verify(&shared.heap, w) }?)
            })
        })
    }

    /// The address-independent checksum of the graph reachable from this
    /// thread's roots.
    ///
    /// Stops the world while it reads (other threads may share the graph).
    pub fn checksum(&mut self) -> u64 {
        let slot = self.slot.clone();
        self.drive(|m| {
            m.stop_world(|w| {
                let mut roots = w.roots_of(&slot);
                // SAFETY: the world is stopped, and the roots are this
                // runtime's references to its live objects.
                unsafe { gc::verify::graph_checksum(&mut roots) }
            })
        })
    }

    /// Waits until no compaction is in flight (uffd modes) and accounts it.
    pub fn quiesce(&mut self) {
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
            // SAFETY: this thread's buffer of this heap.
            unsafe { local.tlab.retire() };
            local.handles.clear();
            local.stack.clear();
            if let Some(q) = &shared.satb {
                q.push(&mut local.satb);
            }
        }
        self.shared.registry.deregister(&self.slot);
        let key = Arc::as_ptr(&self.shared) as usize;
        REGISTERED.with_borrow_mut(|r| r.retain(|(k, _)| *k != key));
    }
}

/// Dirties the card of the slot at `slot_addr`, given the card table's
/// biased base `cards` (a [`Mutator`]'s). Called after the slot store: a
/// collector that cleans the card and then reads the slot sees the new
/// value, or the card dirty again.
#[inline(always)]
fn dirty_card(cards: usize, slot_addr: usize) {
    let card = std::ptr::with_exposed_provenance::<AtomicU8>(
        cards.wrapping_add(slot_addr >> gc::remembered::CARD_SHIFT),
    );
    // SAFETY: `slot_addr` is a slot of a heap object (checked in bounds by
    // the caller), so it lies in the range the heap's card table covers,
    // and `card` is one of the table's `AtomicU8`s, alive while the
    // mutator's `shared` holds the heap. A relaxed store of a constant (a
    // plain byte store): any interleaving leaves the card dirty.
    unsafe { (*card).store(gc::remembered::card::DIRTY, Relaxed) };
}
