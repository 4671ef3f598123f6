//! Roots: what keeps objects alive, and their references valid, across
//! safepoints.
//!
//! Three kinds, all scanned and rewritten by every collection:
//! - **handle scopes** ([`Mutator::scope`], [`Scope`], [`Handle`]): roots for
//!   structured embedder code; a handle is tied by its lifetime to the
//!   scope that made it, and the scope drops its roots when it ends;
//! - **the value stack** ([`Mutator::push`] and friends): a thread's stack
//!   of roots for an interpreter, with a documented raw fast path;
//! - **globals** ([`Mutator::add_global`], [`Global`]): roots every thread of
//!   a runtime shares, tagged with the runtime's identity.
//!
//! Reading a root yields a [`Value`] that borrows the mutator, like any
//! read: it is valid until the next safepoint, the root itself for as long
//! as it exists.

use std::marker::PhantomData;

use crate::value::{Gc, RawValue, Value};
use crate::{AllocError, AllocSpec, Mutator};

/// A root in a handle scope: a position on the thread's handle stack,
/// valid for the scope's lifetime `'s` (the compiler rejects a handle that
/// outlives its scope). One word, `Copy`, tied to its thread.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Handle<'s> {
    index: usize,
    _scope: PhantomData<&'s Mutator>,
}

/// A handle scope: the mutator, plus the right to make [`Handle`]s that
/// live as long as the scope (`'s`). Dereferences to the [`Mutator`], so
/// every mutator method works on it. Made by [`Mutator::scope`], which
/// drops the scope's roots when its closure returns.
pub struct Scope<'s> {
    m: &'s mut Mutator,
}

/// A root shared by every thread of a runtime (an embedder's global
/// variable, a queue between threads), returned by
/// [`Mutator::add_global`]. Valid for the runtime's life, with every
/// mutator of that runtime.
///
/// A global names its runtime: using it with a mutator of another runtime
/// panics (it would read or overwrite an unrelated root there).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Global {
    runtime: u64,
    index: usize,
}

impl Mutator {
    /// Runs `f` in a new handle scope, then drops every handle root it made.
    /// Handles cannot leave the closure (its result cannot name the
    /// scope's lifetime); values that must, leave rooted elsewhere (the
    /// value stack, a global, an object reachable from one) or as raw data.
    pub fn scope<R>(&mut self, f: impl for<'s> FnOnce(&mut Scope<'s>) -> R) -> R {
        let depth = self.local().handles.len();
        /// Drops the scope's roots even if `f` unwinds.
        struct Truncate<'a>(&'a mut Mutator, usize);
        impl Drop for Truncate<'_> {
            fn drop(&mut self) {
                self.0.local().handles.truncate(self.1);
            }
        }
        let guard = Truncate(self, depth);
        let mut scope = Scope { m: &mut *guard.0 };
        f(&mut scope)
    }

    /// Checks that a value stored in a root or a slot belongs to this
    /// runtime, where it might not: on threads with mutators of two
    /// runtimes (see [`Mutator::write`]).
    #[inline(always)]
    pub(crate) fn check_own(&self, v: RawValue) {
        if v.is_object() && self.foreign_possible() {
            self.check_own_slow(v.object_addr());
        }
    }

    #[cold]
    #[inline(never)]
    pub(crate) fn check_own_slow(&self, addr: usize) {
        assert!(
            self.shared.heap.contains(addr),
            "a reference to {addr:#x}, which is not in this runtime's heap (an object of another \
             runtime?), stored through a mutator of this one"
        );
    }

    // ------------------------------------------------------- the value stack

    /// Pushes `v` on the thread's value stack (a root until popped).
    ///
    /// # Panics
    /// If `v` is an object of another runtime (see [`Mutator::write`]).
    #[inline]
    pub fn push(&self, v: Value<'_>) {
        self.check_own(v.raw());
        self.local().stack.push(v.raw());
    }

    /// Pops the top of the value stack (`None` when it is empty).
    #[inline]
    pub fn pop(&self) -> Option<Value<'_>> {
        // SAFETY: a root of this thread, read now: valid until the next
        // safepoint, which the borrow of `self` excludes.
        self.local()
            .stack
            .pop()
            .map(|raw| unsafe { Value::from_raw(raw) })
    }

    /// Value-stack slot `i` (0 is the bottom).
    ///
    /// # Panics
    /// If `i` is not below [`Mutator::stack_len`].
    #[inline]
    pub fn stack_get(&self, i: usize) -> Value<'_> {
        let raw = self.local().stack[i];
        // SAFETY: as in `pop`.
        unsafe { Value::from_raw(raw) }
    }

    /// Replaces value-stack slot `i`.
    ///
    /// # Panics
    /// If `i` is not below [`Mutator::stack_len`], or `v` is an object of
    /// another runtime.
    #[inline]
    pub fn stack_set(&self, i: usize, v: Value<'_>) {
        self.check_own(v.raw());
        self.local().stack[i] = v.raw();
    }

    /// The top of the value stack, if any.
    #[inline]
    pub fn stack_top(&self) -> Option<Value<'_>> {
        let raw = self.local().stack.last().copied();
        // SAFETY: as in `pop`.
        raw.map(|raw| unsafe { Value::from_raw(raw) })
    }

    /// Values on the stack.
    #[inline]
    pub fn stack_len(&self) -> usize {
        self.local().stack.len()
    }

    /// Drops the stack down to `len` values (no-op if it is not longer).
    #[inline]
    pub fn stack_truncate(&self, len: usize) {
        self.local().stack.truncate(len);
    }

    /// Makes room for `extra` more values without reallocating (the raw
    /// buffer may move: see [`Mutator::stack_buffer`]).
    pub fn stack_reserve(&self, extra: usize) {
        self.local().stack.reserve(extra);
    }

    /// The value stack's buffer and capacity, for an interpreter that reads
    /// and writes its operand stack through raw pointers (the demo VM's
    /// fast path). Slots `[0, stack_len)` are the roots; slots above hold
    /// nothing the collector sees until [`Mutator::set_stack_len`] takes
    /// them in.
    ///
    /// Reading and writing through the pointer is `unsafe`, under these
    /// rules (which [`Mutator::set_stack_len`] relies on):
    /// 1. The pointer is valid until the next call of any `stack_*` method,
    ///    [`Mutator::push`] or [`Mutator::pop`], or any safepoint (the
    ///    collector rewrites the slots in place); get it again after one.
    /// 2. A raw value read from a slot below the length is valid as
    ///    [`Value::from_raw`] requires until this thread's next safepoint.
    /// 3. Only values of this runtime are written (raw values read from
    ///    it, or non-references).
    #[inline]
    pub fn stack_buffer(&self) -> (*mut RawValue, usize) {
        let stack = &mut self.local().stack;
        (stack.as_mut_ptr(), stack.capacity())
    }

    /// Sets the value stack's length: the collector scans and rewrites
    /// slots `[0, len)` from here on.
    ///
    /// # Safety
    /// `len` is at most the capacity, and every slot in `[0, len)` holds a
    /// value written by this runtime's API or through
    /// [`Mutator::stack_buffer`] under its rules (so no uninitialised or
    /// foreign reference becomes a root).
    #[inline]
    pub unsafe fn set_stack_len(&self, len: usize) {
        let stack = &mut self.local().stack;
        debug_assert!(len <= stack.capacity());
        // SAFETY: the caller's promise: initialised, valid values up to len.
        unsafe { stack.set_len(len) }
    }

    // -------------------------------------------------------------- globals

    /// Adds a root every thread of this runtime can read and write
    /// ([`Mutator::global`], [`Mutator::set_global`]).
    ///
    /// # Panics
    /// If `v` is an object of another runtime.
    pub fn add_global(&self, v: Value<'_>) -> Global {
        self.check_own(v.raw());
        let mut globals = self.shared.registry.globals.lock();
        globals.push(v.raw());
        Global {
            runtime: self.shared.id,
            index: globals.len() - 1,
        }
    }

    fn global_index(&self, g: Global) -> usize {
        assert_eq!(
            g.runtime, self.shared.id,
            "a Global of runtime #{} used with a mutator of runtime #{}",
            g.runtime, self.shared.id
        );
        g.index
    }

    /// The current value of a global root.
    ///
    /// # Panics
    /// If `g` came from another runtime.
    pub fn global(&self, g: Global) -> Value<'_> {
        let i = self.global_index(g);
        let raw = self.shared.registry.globals.lock()[i];
        // SAFETY: a root of this runtime, read now; valid until this
        // thread's next safepoint, which the borrow of `self` excludes.
        unsafe { Value::from_raw(raw) }
    }

    /// Replaces a global root.
    ///
    /// # Panics
    /// If `g` came from another runtime, or `v` is an object of another
    /// runtime.
    pub fn set_global(&self, g: Global, v: Value<'_>) {
        let i = self.global_index(g);
        self.check_own(v.raw());
        self.shared.registry.globals.lock()[i] = v.raw();
    }
}

impl<'s> Scope<'s> {
    /// Roots `v` until the scope ends.
    ///
    /// # Panics
    /// If `v` is an object of another runtime (see [`Mutator::write`]).
    #[inline]
    pub fn root<'a>(&self, v: impl Into<Value<'a>>) -> Handle<'s> {
        let raw = v.into().raw();
        self.m.check_own(raw);
        let handles = &mut self.m.local().handles;
        handles.push(raw);
        Handle {
            index: handles.len() - 1,
            _scope: PhantomData,
        }
    }

    /// Allocates an object, as [`Mutator::alloc`] does, and returns it with
    /// the scope reborrowed shared (so that the new object can be filled,
    /// rooted and stored while the scope is still usable for reads).
    #[inline]
    pub fn alloc(&mut self, spec: AllocSpec) -> Result<(&Self, Gc<'_>), AllocError> {
        let obj = self.m.alloc_obj(spec)?;
        Ok((&*self, Gc::wrap(obj)))
    }

    /// Allocates an object and roots it in this scope at once.
    #[inline]
    pub fn alloc_rooted(&mut self, spec: AllocSpec) -> Result<Handle<'s>, AllocError> {
        let (s, obj) = self.alloc(spec)?;
        Ok(s.root(obj))
    }
}

impl std::ops::Deref for Scope<'_> {
    type Target = Mutator;
    #[inline(always)]
    fn deref(&self) -> &Mutator {
        self.m
    }
}

impl std::ops::DerefMut for Scope<'_> {
    #[inline(always)]
    fn deref_mut(&mut self) -> &mut Mutator {
        self.m
    }
}

impl Mutator {
    /// The current value of a handle's root.
    ///
    /// # Panics
    /// If `h` is not a live handle of this thread's mutator (one of another
    /// runtime's mutator, say).
    #[inline]
    pub fn get(&self, h: Handle<'_>) -> Value<'_> {
        let raw = self.local().handles[h.index];
        // SAFETY: a root of this thread, read now: valid until the next
        // safepoint, which the borrow of `self` excludes.
        unsafe { Value::from_raw(raw) }
    }

    /// Replaces a handle's root.
    ///
    /// # Panics
    /// As for [`Mutator::get`], and if `v` is an object of another runtime.
    #[inline]
    pub fn set<'a>(&self, h: Handle<'_>, v: impl Into<Value<'a>>) {
        let raw = v.into().raw();
        self.check_own(raw);
        self.local().handles[h.index] = raw;
    }
}
