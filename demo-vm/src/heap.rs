//! The VM's handle on the runtime heap: allocation, the write path and the
//! root stack.
//!
//! Everything the VM must keep alive lives in the mutator's root stack, which
//! every collection scans and rewrites in place:
//!
//! ```text
//! [0] globals table   [1] string intern table (weak slots)   [2] "init"
//! [3] open-upvalue list head   [4 .. 4+64] each call frame's closure
//! [68 ..] the value stack (or, while compiling, the constants of every
//!         function under construction)
//! ```
//!
//! The value stack is the tail of the root vector itself. The VM reads and
//! writes it through a raw pointer and keeps its own top index; the vector's
//! length is brought up to date only before a call that can collect
//! ([`Heap::alloc`], [`Heap::collect`]), so pushes and pops cost one store
//! and one increment. After such a call every raw pointer (stack base, code,
//! constants) must be reloaded, since objects may have moved.

use crate::rt::{AllocSpec, GcError, Mutator, ObjRef, OutOfMemory, Value};

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

/// The mutator plus the VM's view of its root stack.
pub struct Heap {
    mutator: Mutator,
    /// `roots.as_mut_ptr()`, refreshed after every call that may collect.
    base: *mut Value,
    /// `roots.capacity()`.
    cap: usize,
    /// Number of live root slots: fixed roots plus the value stack.
    sp: usize,
}

impl Heap {
    /// Takes over `mutator`'s root stack (clearing it) and lays out the fixed
    /// roots.
    pub fn new(mut mutator: Mutator) -> Heap {
        let roots = mutator.roots();
        roots.clear();
        roots.reserve(STACK_BASE + INITIAL_STACK);
        roots.resize(STACK_BASE, Value::NIL);
        let (base, cap) = (roots.as_mut_ptr(), roots.capacity());
        Heap {
            mutator,
            base,
            cap,
            sp: STACK_BASE,
        }
    }

    /// The mutator (for statistics).
    pub fn mutator(&self) -> &Mutator {
        &self.mutator
    }

    /// Number of live root slots (the absolute index of the stack top).
    #[inline(always)]
    pub fn sp(&self) -> usize {
        self.sp
    }

    /// Sets the stack top (the VM writes slots below it through
    /// [`Heap::base`] before calling anything that may collect).
    ///
    /// # Panics
    /// If `sp` is below the fixed roots or above the capacity.
    #[inline(always)]
    pub fn set_sp(&mut self, sp: usize) {
        assert!(
            (STACK_BASE..=self.cap).contains(&sp),
            "stack top {sp} out of range"
        );
        self.sp = sp;
    }

    /// The first root slot. Valid until the next call that may collect or
    /// grow the stack.
    #[inline(always)]
    pub fn base(&self) -> *mut Value {
        self.base
    }

    /// Slots available above the stack top without growing.
    #[inline(always)]
    pub fn headroom(&self) -> usize {
        self.cap - self.sp
    }

    /// Reads root slot `i`.
    #[inline(always)]
    pub fn get(&self, i: usize) -> Value {
        assert!(i < self.sp, "root {i} read above the stack top {}", self.sp);
        // SAFETY: i < sp <= cap, and every slot below sp has been written.
        unsafe { *self.base.add(i) }
    }

    /// Writes root slot `i`.
    #[inline(always)]
    pub fn set(&mut self, i: usize, v: Value) {
        assert!(
            i < self.sp,
            "root {i} written above the stack top {}",
            self.sp
        );
        // SAFETY: i < sp <= cap: inside the vector's buffer.
        unsafe { *self.base.add(i) = v }
    }

    /// Pushes a value on the root stack, growing it if needed.
    #[inline]
    pub fn push(&mut self, v: Value) {
        if self.sp == self.cap {
            self.reserve(1);
        }
        // SAFETY: sp < cap after the check above.
        unsafe { *self.base.add(self.sp) = v };
        self.sp += 1;
    }

    /// Pops the top of the root stack.
    ///
    /// # Panics
    /// If only fixed roots remain.
    #[inline]
    pub fn pop(&mut self) -> Value {
        assert!(self.sp > STACK_BASE, "root stack underflow");
        self.sp -= 1;
        // SAFETY: the slot was below the old top, so it was written.
        unsafe { *self.base.add(self.sp) }
    }

    /// Drops root slots down to `sp`.
    pub fn truncate(&mut self, sp: usize) {
        assert!(sp >= STACK_BASE && sp <= self.sp, "bad truncation to {sp}");
        self.sp = sp;
    }

    /// Makes room for `extra` more slots above the top; may move the buffer
    /// (reload [`Heap::base`] afterwards).
    pub fn reserve(&mut self, extra: usize) {
        if self.cap - self.sp >= extra {
            return;
        }
        self.sync();
        let roots = self.mutator.roots();
        roots.reserve(extra.max(roots.capacity()));
        self.refresh();
    }

    /// Brings the root vector's length up to the stack top so that a
    /// collection sees exactly the live slots.
    #[inline(always)]
    fn sync(&mut self) {
        let sp = self.sp;
        let roots = self.mutator.roots();
        debug_assert_eq!(
            roots.as_mut_ptr(),
            self.base,
            "root vector moved behind the VM's back"
        );
        // SAFETY: sp <= capacity, every slot below sp has been written with a
        // valid Value (Copy, no destructor), so the prefix is initialised.
        unsafe { roots.set_len(sp) };
    }

    #[inline(always)]
    fn refresh(&mut self) {
        let roots = self.mutator.roots();
        debug_assert_eq!(roots.len(), self.sp, "a collection changed the root count");
        self.sp = roots.len();
        self.base = roots.as_mut_ptr();
        self.cap = roots.capacity();
    }

    /// Allocates an object. May collect and move every object: afterwards
    /// only root slots hold valid references (and [`Heap::base`] may change).
    #[inline]
    pub fn alloc(&mut self, spec: AllocSpec) -> Result<ObjRef, OutOfMemory> {
        self.sync();
        let r = self.mutator.alloc(spec);
        self.refresh();
        r
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
    pub fn write(&mut self, obj: ObjRef, i: usize, v: Value) {
        self.mutator.write(obj, i, v);
    }

    /// Reads weak slot `i` of `obj` for keeping (the weak-read barrier a
    /// concurrent marking needs; see `Mutator::load_weak`).
    #[inline(always)]
    pub fn load_weak(&mut self, obj: ObjRef, i: usize) -> Value {
        self.mutator.load_weak(obj, i)
    }
}
