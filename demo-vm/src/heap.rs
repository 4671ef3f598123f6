//! The VM's handle on the runtime heap: allocation, the write path and the
//! root stack.
//!
//! Everything the VM must keep alive lives in the mutator's value stack,
//! which every collection scans and rewrites in place:
//!
//! ```text
//! [0] globals table   [1] string intern table (weak slots)   [2] "init"
//! [3] open-upvalue list head   [4 .. 4+64] each call frame's closure
//! [68 ..] the value stack (or, while compiling, the constants of every
//!         function under construction)
//! ```
//!
//! Root slot `i` is slot `i` of the runtime's value stack, which the VM
//! reads and writes through the runtime's raw fast path
//! ([`runtime::Mutator::stack_buffer`]): this module keeps the buffer's
//! base, capacity and the top in cells, and stores the length back
//! (`set_stack_len`) only before a call that can collect ([`Heap::alloc`]
//! when its buffer is exhausted past the trigger or a pause waits,
//! [`Heap::collect`], [`Heap::safepoint`]), so pushes and pops cost one
//! store and one increment, and most allocations none (they take the
//! runtime's [`runtime::Mutator::alloc_without_safepoint`]).
//! After such a call every raw pointer (stack base, code) must be reloaded,
//! since objects may have moved and the stack may have grown; values read
//! before it are stale, which the compiler enforces for [`Value`]s and
//! [`Gc`]s: they borrow the heap shared, and the calls that can collect
//! take it `&mut`.
//!
//! The module is the VM's own (crate-private): every value stored through
//! it comes from the VM's one runtime, so it skips the runtime's check
//! for references of another runtime.
//!
//! The rules of the raw fast path (the runtime's, restated for the VM):
//! every slot below the top holds a value of this heap that was current
//! when written (read from a root or a reachable object since the last
//! safepoint), and raw pointers are reloaded after every call that can
//! collect or grow the stack.

use std::cell::Cell;

use crate::rt::{AllocError, AllocSpec, Gc, GcError, Mutator, RawValue, Value};

/// Root index of the globals table (a table object, or nil before the first
/// global is defined).
pub const ROOT_GLOBALS: usize = 0;
/// Root index of the string intern table (a weak object).
pub const ROOT_STRINGS: usize = 1;
/// Root index of the interned string `"init"`.
pub const ROOT_INIT_STRING: usize = 2;
/// Root index of the head of the open-upvalue list (nil when empty).
pub const ROOT_OPEN_UPVALUES: usize = 3;
/// Root index of frame 0's closure; frame `i`'s is at `ROOT_FRAMES + i`.
pub const ROOT_FRAMES: usize = 4;
/// Maximum call depth (clox's `FRAMES_MAX`).
pub const FRAMES_MAX: usize = 64;
/// Root index of the first value-stack slot.
pub const STACK_BASE: usize = ROOT_FRAMES + FRAMES_MAX;

/// Value-stack slots reserved up front (clox's `STACK_MAX`); the stack grows
/// beyond this on demand.
const INITIAL_STACK: usize = FRAMES_MAX * 256;

/// The mutator plus the VM's view of its value stack.
pub struct Heap {
    mutator: Mutator,
    /// The value stack's buffer, refreshed after every call that may
    /// collect or grow it.
    base: Cell<*mut RawValue>,
    /// The buffer's capacity.
    cap: Cell<usize>,
    /// Number of live root slots: fixed roots plus the value stack.
    sp: Cell<usize>,
    /// Bumped before every call that may collect (see [`Heap::epoch`]).
    epoch: Cell<u64>,
}

impl Heap {
    /// Takes over `mutator`'s value stack (clearing it) and lays out the
    /// fixed roots.
    pub fn new(mutator: Mutator) -> Heap {
        mutator.stack_truncate(0);
        mutator.stack_reserve(STACK_BASE + INITIAL_STACK);
        for _ in 0..STACK_BASE {
            mutator.push(Value::NIL);
        }
        let (base, cap) = mutator.stack_buffer();
        Heap {
            mutator,
            base: Cell::new(base),
            cap: Cell::new(cap),
            sp: Cell::new(STACK_BASE),
            epoch: Cell::new(0),
        }
    }

    /// A counter that changes before every call that may collect (and so
    /// move objects): [`Heap::alloc`] through a safepoint (not one that
    /// needed none), [`Heap::collect`], [`Heap::safepoint`],
    /// [`Heap::mutator_mut`] and a growing [`Heap::reserve`]. While it keeps
    /// its value, an object reference read earlier (kept raw) still names
    /// the same object at the same address. It never reaches `u64::MAX`.
    #[inline(always)]
    pub fn epoch(&self) -> u64 {
        self.epoch.get()
    }

    /// The root buffer's capacity: root indices below it are inside the
    /// buffer at [`Heap::base`].
    #[inline(always)]
    pub fn capacity(&self) -> usize {
        self.cap.get()
    }

    /// The mutator (for statistics).
    pub fn mutator(&self) -> &Mutator {
        &self.mutator
    }

    /// The mutator, for calls that wait (statistics after a quiesce).
    pub fn mutator_mut(&mut self) -> &mut Mutator {
        self.sync();
        &mut self.mutator
    }

    /// Number of live root slots (the absolute index of the stack top).
    #[inline(always)]
    pub fn sp(&self) -> usize {
        self.sp.get()
    }

    /// Sets the stack top after the dispatch loop wrote slots through
    /// [`Heap::base`] (the slots below it must hold current values of this
    /// heap: the module's rules).
    ///
    /// # Panics
    /// If `sp` is below the fixed roots or above the capacity.
    #[inline(always)]
    pub fn set_sp(&self, sp: usize) {
        assert!(
            (STACK_BASE..=self.cap.get()).contains(&sp),
            "stack top {sp} out of range"
        );
        self.sp.set(sp);
    }

    /// The first root slot. Valid until the next call that may collect or
    /// grow the stack; slots are written under the module's rules.
    #[inline(always)]
    pub fn base(&self) -> *mut RawValue {
        self.base.get()
    }

    /// Slots available above the stack top without growing.
    #[inline(always)]
    pub fn headroom(&self) -> usize {
        self.cap.get() - self.sp.get()
    }

    /// A raw value read from a root slot or from an object reachable from
    /// one, as a value.
    ///
    /// # Safety
    /// `raw` was read since the last call that may collect (so it is
    /// current), from this heap.
    #[inline(always)]
    pub unsafe fn value(&self, raw: RawValue) -> Value<'_> {
        // SAFETY: the caller's promise; the result borrows `self`, so it
        // cannot outlive the next call that may collect (`&mut self`).
        unsafe { Value::from_raw(raw) }
    }

    /// Reads root slot `i`.
    ///
    /// # Panics
    /// If `i` is not below the top.
    #[inline(always)]
    pub fn get(&self, i: usize) -> Value<'_> {
        assert!(
            i < self.sp(),
            "root {i} read above the stack top {}",
            self.sp()
        );
        // SAFETY: i < sp <= cap, and every slot below sp holds a current
        // value (the module's rules: the collector keeps them current).
        unsafe { self.value(*self.base().add(i)) }
    }

    /// Writes root slot `i`.
    ///
    /// # Panics
    /// If `i` is not below the top.
    #[inline(always)]
    pub fn set(&self, i: usize, v: Value<'_>) {
        assert!(
            i < self.sp(),
            "root {i} written above the stack top {}",
            self.sp()
        );
        // SAFETY: i < sp <= cap: inside the buffer; `v` is current (it
        // borrows a heap, this one: the module's rules).
        unsafe { *self.base().add(i) = v.raw() }
    }

    /// Pushes a value on the root stack, growing it if needed.
    #[inline]
    pub fn push(&self, v: Value<'_>) {
        if self.sp() == self.cap.get() {
            self.reserve(1);
        }
        // SAFETY: sp < cap after the check above; `v` is current.
        unsafe { *self.base().add(self.sp()) = v.raw() };
        self.sp.set(self.sp() + 1);
    }

    /// Pops the top of the root stack.
    ///
    /// # Panics
    /// If only fixed roots remain.
    #[inline]
    pub fn pop(&self) -> Value<'_> {
        assert!(self.sp() > STACK_BASE, "root stack underflow");
        self.sp.set(self.sp() - 1);
        // SAFETY: the slot was below the old top, so it holds a current
        // value.
        unsafe { self.value(*self.base().add(self.sp())) }
    }

    /// Drops root slots down to `sp`.
    pub fn truncate(&self, sp: usize) {
        assert!(
            sp >= STACK_BASE && sp <= self.sp(),
            "bad truncation to {sp}"
        );
        self.sp.set(sp);
    }

    /// Makes room for `extra` more slots above the top; may move the buffer
    /// (reload [`Heap::base`] afterwards).
    pub fn reserve(&self, extra: usize) {
        if self.headroom() >= extra {
            return;
        }
        self.sync();
        self.mutator.stack_reserve(extra.max(self.cap.get()));
        self.refresh();
    }

    /// Brings the runtime's stack length up to the stack top, so that a
    /// collection sees exactly the live slots, and starts a new epoch.
    #[inline(always)]
    fn sync(&self) {
        self.epoch.set(self.epoch.get() + 1);
        debug_assert_eq!(
            self.mutator.stack_buffer().0,
            self.base(),
            "root buffer moved behind the VM's back"
        );
        // SAFETY: sp <= capacity, and every slot below sp holds a current
        // value of this heap (the module's rules).
        unsafe { self.mutator.set_stack_len(self.sp()) };
    }

    #[inline(always)]
    fn refresh(&self) {
        debug_assert_eq!(
            self.mutator.stack_len(),
            self.sp(),
            "a collection changed the root count"
        );
        let (base, cap) = self.mutator.stack_buffer();
        self.base.set(base);
        self.cap.set(cap);
    }

    /// Allocates an object, returned with the heap reborrowed shared (fill
    /// and store the object through it). May collect and move every object:
    /// afterwards only root slots hold valid references (and [`Heap::base`]
    /// may change).
    #[inline(always)]
    pub fn alloc(&mut self, spec: AllocSpec) -> Result<(&Heap, Gc<'_>), AllocError> {
        if let Some(obj) = self.mutator.alloc_without_safepoint(spec) {
            let raw = Value::from(obj).raw();
            // SAFETY: allocated just now without a safepoint; the value
            // borrows `self` (shared) like the object did.
            let obj = unsafe { self.value(raw).as_object_unchecked() };
            return Ok((&*self, obj));
        }
        self.alloc_slow(spec)
    }

    /// Allocates an object if that needs no safepoint (see
    /// [`Mutator::alloc_without_safepoint`]): nothing moves, the epoch stays,
    /// and values and raw pointers read before stay valid. `None`: use
    /// [`Heap::alloc`].
    #[inline(always)]
    pub fn alloc_without_safepoint(&self, spec: AllocSpec) -> Option<Gc<'_>> {
        self.mutator.alloc_without_safepoint(spec)
    }

    /// [`Heap::alloc`] through a safepoint: stores the stack top for the
    /// collector and reloads the buffer afterwards.
    #[inline(never)]
    fn alloc_slow(&mut self, spec: AllocSpec) -> Result<(&Heap, Gc<'_>), AllocError> {
        self.sync();
        let r = self.mutator.alloc(spec).map(|(_, o)| Value::from(o).raw());
        self.refresh();
        let raw = r?;
        // SAFETY: the object was allocated just now and nothing that may
        // collect ran since (`refresh` only reads the stack's buffer); the
        // value borrows `self`, like the mutator's own shared reborrow, and
        // is an object.
        let obj = unsafe { self.value(raw).as_object_unchecked() };
        Ok((&*self, obj))
    }

    /// Whether a pause or the collector waits for this thread (one load):
    /// the dispatch loop polls it at back-edges and calls, and only then
    /// saves its registers for [`Heap::safepoint`].
    #[inline(always)]
    pub fn safepoint_requested(&self) -> bool {
        self.mutator.safepoint_requested()
    }

    /// A safepoint: stops for a pause that waits, or runs the collector's
    /// next step. May collect and move every object, like [`Heap::alloc`].
    #[cold]
    #[inline(never)]
    pub fn safepoint(&mut self) {
        self.sync();
        self.mutator.safepoint();
        self.refresh();
    }

    /// Runs a full collection (the `gc()` native).
    pub fn collect(&mut self) -> Result<(), GcError> {
        self.sync();
        let r = self.mutator.collect();
        self.refresh();
        r
    }

    /// Stores into slot `i` of `obj` through the write barrier.
    #[inline(always)]
    pub fn write(&self, obj: Gc<'_>, i: usize, v: Value<'_>) {
        self.mutator.write(obj, i, v);
    }

    /// Reads weak slot `i` of `obj` for keeping (the weak-read barrier a
    /// concurrent marking needs; see `Mutator::load_weak`).
    #[inline(always)]
    pub fn load_weak(&self, obj: Gc<'_>, i: usize) -> Value<'_> {
        self.mutator.load_weak(obj, i)
    }
}
