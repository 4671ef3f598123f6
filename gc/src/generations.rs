//! Generations in the moving space: an old prefix `[base, old_end)` that
//! young cycles neither mark nor move, and the young objects above it.
//!
//! Promotion is by one survival (age 1, docs/generational.md section 2):
//! after every successful stop-the-world cycle, young or full, every
//! survivor is old. The new `old_end` is the post-compaction top rounded up
//! to a page, the rounding plugged with a filler, so no object straddles
//! it and a young cycle flips whole pages above it. With no young object
//! left, every card is clean afterwards; the write barrier dirties cards
//! again as old objects are written.
//!
//! `old_starts` marks every object start (fillers included) below
//! `old_end`: scanning a dirty card starts at the object covering its first
//! word. Young non-moving objects are those recorded by the non-moving
//! space since the last cycle ([`crate::heap::NonMovingSpace::is_young`]).
//!
//! With generational collection off, `old_end` stays at the base and no
//! cycle promotes.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use mremap_shim::sys::SysError;

use crate::heap::Heap;
use crate::mark::bitmap::Bitmap;
use crate::object::{init_filler, ObjRef, WORD};
use crate::units::PAGE_SIZE;

/// The generational state of a heap.
pub struct Generations {
    enabled: AtomicBool,
    old_end: AtomicUsize,
    old_starts: Bitmap,
}

impl Generations {
    /// Off, with an empty old generation at `base` of a moving space of
    /// `capacity` bytes; `Err` if the start bitmap cannot be mapped.
    pub fn new(base: usize, capacity: usize) -> Result<Generations, SysError> {
        Ok(Generations {
            enabled: AtomicBool::new(false),
            old_end: AtomicUsize::new(base),
            old_starts: Bitmap::try_new(base, capacity)?,
        })
    }

    /// Whether cycles promote survivors (young cycles need it on).
    pub fn is_enabled(&self) -> bool {
        self.enabled.load(Ordering::Relaxed)
    }

    /// Turns promotion on or off. Turning it off takes effect at the next
    /// full cycle, which leaves no old generation.
    pub fn set_enabled(&self, on: bool) {
        self.enabled.store(on, Ordering::Relaxed);
    }

    /// The end of the old generation (page-aligned; the base when empty).
    #[inline(always)]
    pub fn old_end(&self) -> usize {
        self.old_end.load(Ordering::Relaxed)
    }

    /// The start bitmap of the old generation's objects.
    pub fn old_starts(&self) -> &Bitmap {
        &self.old_starts
    }
}

/// After a successful stop-the-world cycle (the world stopped, the moving
/// space compacted up to its top, marks cleared): makes every survivor old
/// and cleans every card. `full`: the cycle slid the old generation too, so
/// its start map is rebuilt from the base; else only the survivors above
/// the old end are added. With generational collection off, a full cycle
/// empties the old generation and nothing else happens.
///
/// # Safety
/// The world is stopped and the moving space is walkable from the base (or
/// from the old end, for a young cycle) to its top.
pub(crate) unsafe fn promote_all(heap: &Heap, full: bool) {
    let gens = heap.generations();
    let moving = heap.moving();
    let base = moving.base();
    let prev_end = gens.old_end();
    if full {
        gens.old_starts.clear_below(prev_end);
        gens.old_end.store(base, Ordering::Relaxed);
    }
    if !gens.is_enabled() {
        return;
    }
    let walk_from = gens.old_end();
    let top = moving.top();
    let end = top.next_multiple_of(PAGE_SIZE);
    if end > top {
        // SAFETY: `[top, end)` is the free tail of the last to-space page
        // (mapped, written by no one while the world is stopped), a
        // multiple of the object alignment.
        unsafe { init_filler(top, (end - top) / WORD) };
        // SAFETY: the world is stopped; the filler makes the space walkable
        // to `end`.
        unsafe { moving.reset_top(end) };
    }
    let mut addr = walk_from;
    while addr < end {
        gens.old_starts.set(addr);
        // SAFETY: an object start of the stopped, walkable space.
        addr += unsafe { ObjRef::from_addr(addr) }.size_words() * WORD;
    }
    gens.old_end.store(end, Ordering::Relaxed);
    let cards = heap.cards();
    cards.clear(base, end);
    let nm = heap.non_moving();
    cards.clear(nm.base(), nm.high_water());
    nm.clear_young();
}
