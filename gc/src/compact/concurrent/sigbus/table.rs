//! The handler table: the cycles published to the SIGBUS handler, and the
//! protocol that lets the collector free a cycle once no handler can still
//! be using it.
//!
//! The collector publishes a cycle in its heap's slot at the flip and
//! withdraws it when every page is mapped; the caller frees the cycle once
//! [`Table::withdraw`] returns. A handler [`Table::enter`]s (counting
//! itself in `active`), reads slots, and leaves (the guard's drop). The
//! danger is a handler that reads the pointer while the collector, having
//! cleared it, still sees `active == 0` and frees the cycle under it:
//!
//! ```text
//! collector (withdraw)             handler (enter, get)
//! W  slot := null                  RMW active += 1
//! F1 fence(SeqCst)                 F2 fence(SeqCst)
//! R  active (loop until 0)         R  slot
//! ```
//!
//! This is the store-buffering shape: with only Release/Acquire accesses,
//! both reads may miss the other thread's write (each core's store may sit
//! in its store buffer while the load runs), so the handler can use a cycle
//! the collector is freeing. The two `SeqCst` fences forbid that outcome.
//! They are totally ordered (the order S of all SeqCst operations):
//!
//! - If F1 precedes F2 in S, the handler's read of the slot, sequenced
//!   after F2, sees the null (or a later publication, another cycle): it
//!   never sees the withdrawn cycle.
//! - If F2 precedes F1, the collector's reads of `active`, sequenced after
//!   F1, see the handler's increment or a later value. The count can only
//!   reach 0 again once every increment before that point in `active`'s
//!   modification order, this handler's included, has its decrement before
//!   it too; the decrement (Release) heads a release sequence that the
//!   later read-modify-writes of `active` continue, so the collector's
//!   Acquire read of 0 synchronizes with it, and everything the handler did
//!   with the cycle happens before the collector frees it.
//!
//! Publication is a plain Release store read by the handler's Acquire load,
//! so a handler that finds a cycle sees it fully built.
//!
//! The protocol is checked by a model checker: `gc/tests/sigbus_table_loom.rs`
//! compiles this file against `loom`'s atomics (which model the fences;
//! `loom` would not model SeqCst *accesses* as strong as the language does,
//! one more reason the protocol is written with fences) and explores every
//! interleaving and every value a read may return of a collector freeing a
//! cycle and handlers using it. The file uses its atomics through
//! `super::sync` so that it can be compiled both ways.

use std::ptr;

use super::sync::{fence, yield_now, AtomicPtr, AtomicUsize, Ordering};

/// `N` slots of published `T`s and the count of handlers inside.
pub struct Table<T, const N: usize> {
    /// The published items (null: none).
    pub(super) slots: [AtomicPtr<T>; N],
    /// Handlers between [`Table::enter`] and the guard's drop.
    pub(super) active: AtomicUsize,
}

impl<T, const N: usize> Table<T, N> {
    /// Publishes `item` in `slot`. The caller keeps it alive until
    /// [`Table::withdraw`] of that slot returns.
    pub fn publish(&self, slot: usize, item: &T) {
        self.slots[slot].store(item as *const T as *mut T, Ordering::Release);
    }

    /// Clears `slot` and returns once no handler can still be using what it
    /// held (module doc): the caller may free it then.
    pub fn withdraw(&self, slot: usize) {
        self.slots[slot].store(ptr::null_mut(), Ordering::Relaxed);
        fence(Ordering::SeqCst);
        while self.active.load(Ordering::Acquire) != 0 {
            yield_now();
        }
    }

    /// Counts a handler in; slots are read through the returned guard, and
    /// what they hold stays alive until it drops.
    pub fn enter(&self) -> Entered<'_, T, N> {
        self.active.fetch_add(1, Ordering::Relaxed);
        fence(Ordering::SeqCst);
        Entered { table: self }
    }
}

/// A handler inside the table ([`Table::enter`]).
pub struct Entered<'t, T, const N: usize> {
    table: &'t Table<T, N>,
}

impl<'t, T, const N: usize> Entered<'t, T, N> {
    /// What `slot` holds, alive while this guard lives.
    pub fn get(&self, slot: usize) -> Option<&T> {
        let item = self.table.slots[slot].load(Ordering::Acquire);
        // SAFETY: a published item stays alive until `withdraw` of its slot
        // returns, which waits for this guard to drop (module doc).
        unsafe { item.as_ref() }
    }
}

impl<T, const N: usize> Drop for Entered<'_, T, N> {
    fn drop(&mut self) {
        self.table.active.fetch_sub(1, Ordering::Release);
    }
}
