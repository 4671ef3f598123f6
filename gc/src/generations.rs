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

use std::sync::atomic::{fence, AtomicBool, AtomicUsize, Ordering};

use mremap_shim::sys::SysError;

use crate::compact::forwarding::ForwardingPlan;
use crate::heap::Heap;
use crate::mark::bitmap::Bitmap;
use crate::mark::cards::{for_each_old_object_on_card, slots_within};
use crate::object::{init_filler, ObjRef, WORD};
use crate::units::PAGE_SIZE;

/// The generational state of a heap.
pub struct Generations {
    enabled: AtomicBool,
    old_end: AtomicUsize,
    old_starts: Bitmap,
    /// While a young cycle marks (up to its flip): its old end, below which
    /// moving objects count as marked; 0 otherwise.
    young_floor: AtomicUsize,
}

impl Generations {
    /// Off, with an empty old generation at `base` of a moving space of
    /// `capacity` bytes; `Err` if the start bitmap cannot be mapped.
    pub fn new(base: usize, capacity: usize) -> Result<Generations, SysError> {
        Ok(Generations {
            enabled: AtomicBool::new(false),
            old_end: AtomicUsize::new(base),
            old_starts: Bitmap::try_new(base, capacity)?,
            young_floor: AtomicUsize::new(0),
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

    /// Below this address moving objects count as marked in the cycle in
    /// flight: the old end while a young cycle runs, 0 otherwise (every
    /// object is traced).
    #[inline(always)]
    pub fn young_floor(&self) -> usize {
        self.young_floor.load(Ordering::Acquire)
    }

    /// Sets the floor of [`Generations::young_floor`] (a cycle's first
    /// pause: the old end for a young cycle, 0 for a full one).
    pub(crate) fn set_young_floor(&self, floor: usize) {
        self.young_floor.store(floor, Ordering::Release);
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

/// What a concurrent cycle promotes, decided in its flip pause and done at
/// its end (by the collector, at the end of the cycle).
#[derive(Clone, Copy, Debug)]
pub struct Promotion {
    /// The cycle slid the old generation too (full): the start map is
    /// rebuilt from the base.
    pub full: bool,
    /// The new old end: survivors below it (post-compaction) become old.
    pub to: usize,
    /// Where a filler up to `to` begins (`to` when there is none): the
    /// survivors' new top when no object allocated during the cycle
    /// survived, so the last page is plugged rather than left young.
    pub pad_from: usize,
}

impl Promotion {
    /// The promotion of a concurrent cycle with `plan`, whose first pause
    /// found the moving space's top at `top_at_start`, above the old
    /// generation's page-aligned `floor` (its end in a young cycle, the
    /// base in a full one). Every survivor below `top_at_start` predates
    /// the cycle; objects allocated during it lie above (the runtime
    /// retires every allocation buffer in that pause) and stay young (age
    /// 1).
    ///
    /// If some of those survived, the new old end is the post-compaction
    /// address of `top_at_start` rounded *down* to the last page boundary
    /// no survivor straddles: an object start found from the plan alone
    /// (the from-space word landing on a page's first word is a marked
    /// object start), so it is decided in the flip pause before any page
    /// is computed and needs no filler. The survivors between that boundary
    /// and the landing address stay young one cycle more. If none did, the
    /// survivors end at the plan's new top and the old end is that top
    /// rounded *up* to a page, plugged with a filler at the end of the
    /// cycle ([`Promotion::top`] is where allocation resumes). Reads the
    /// mark bitmap: call before the cycle clears it.
    pub fn of(heap: &Heap, plan: &ForwardingPlan, floor: usize, top_at_start: usize) -> Promotion {
        let base = heap.moving().base();
        let new_top = plan.new_top();
        let landing = plan.forward(top_at_start.min(plan.old_top()));
        if landing >= new_top {
            let to = new_top.next_multiple_of(PAGE_SIZE);
            return Promotion {
                full: floor == base,
                to,
                pad_from: new_top,
            };
        }
        let floor_page = (floor - base) / PAGE_SIZE;
        let marks = &heap.marks().moving;
        let mut page = (landing - base) / PAGE_SIZE;
        while page > floor_page && !marks.test_bit(plan.page_first_word(page)) {
            page -= 1;
        }
        let to = base + page.max(floor_page) * PAGE_SIZE;
        Promotion {
            full: floor == base,
            to,
            pad_from: to,
        }
    }

    /// Where allocation resumes after the flip: above the filler, if any.
    pub fn top(&self, new_top: usize) -> usize {
        new_top.max(self.to)
    }
}

/// After a concurrent cycle's compaction, every page mapped, mutators
/// running: makes the survivors below `p.to` old. Their starts go into
/// `old_starts`, and every non-clean old card (the promoted range's cards
/// all count as non-clean: the survivors moved, so their cards say
/// nothing) is cleaned and then dirtied again if one of its slots holds a
/// young reference ([`clean_old_cards`]). Young non-moving objects were
/// promoted in the flip pause. With generational collection off, a full
/// cycle empties the old generation.
///
/// # Safety
/// The moving space is compacted and mapped up to at least `p.to`, and no
/// one changes a header below it meanwhile.
pub(crate) unsafe fn promote_after(heap: &Heap, p: Promotion) {
    let gens = heap.generations();
    let base = heap.moving().base();
    let prev_end = gens.old_end();
    if p.full {
        gens.old_starts.clear_below(prev_end);
        gens.old_end.store(base, Ordering::Release);
    }
    if !gens.is_enabled() {
        return;
    }
    if p.pad_from < p.to {
        // SAFETY: `[pad_from, to)` is the tail of the survivors' last page,
        // mapped, below the top the flip set: no one else writes it.
        unsafe { init_filler(p.pad_from, (p.to - p.pad_from) / WORD) };
    }
    let from = gens.old_end();
    let mut addr = from;
    while addr < p.to {
        gens.old_starts.set(addr);
        // SAFETY: an object start of the compacted, mapped range (the
        // caller's promise).
        addr += unsafe { ObjRef::from_addr(addr) }.size_words() * WORD;
    }
    debug_assert_eq!(addr.max(p.to), p.to, "an object straddles the old end");
    heap.cards().dirty_range(from, p.to);
    gens.old_end.store(p.to, Ordering::Release);
    // SAFETY: the old generation is walkable (its starts are recorded
    // above and below it), its headers unchanging.
    unsafe { clean_old_cards(heap) };
}

/// Non-clean cards cleaned per batch before the fence and the rescan.
const CLEAN_BATCH: usize = 256;

/// Cleans every non-clean card of the moving old generation whose slots
/// hold no young reference (moving at or above the old end, or a young
/// non-moving object), while mutators may write: a batch of cards is
/// stored clean, then a full fence, then their slots are read and a card
/// with a young reference is dirtied again. A mutator's store lands before
/// its card store (`Mutator::write`), so one that raced with the cleaning
/// either dirtied the card after it was cleaned or is seen by the rescan.
///
/// # Safety
/// The old generation is walkable and its headers unchanging.
unsafe fn clean_old_cards(heap: &Heap) {
    let gens = heap.generations();
    let (moving, nm, cards) = (heap.moving(), heap.non_moving(), heap.cards());
    let (base, old_end) = (moving.base(), gens.old_end());
    let young = |v: crate::value::Value| {
        v.is_object() && {
            let a = v.object_addr();
            if moving.contains(a) {
                a >= old_end
            } else {
                nm.is_young(a)
            }
        }
    };
    let card_bytes = crate::remembered::CARD_BYTES;
    let mut batch = Vec::with_capacity(CLEAN_BATCH);
    let flush = |batch: &mut Vec<usize>| {
        for &card in batch.iter() {
            cards.clean(card);
        }
        fence(Ordering::SeqCst);
        for &card in batch.iter() {
            let mut holds_young = false;
            // SAFETY: the caller's promise.
            unsafe {
                for_each_old_object_on_card(heap, card, |obj| {
                    holds_young |=
                        slots_within(obj, card, card + card_bytes).any(|i| young(obj.slot(i)));
                })
            };
            if holds_young {
                cards.dirty(card);
            }
        }
        batch.clear();
    };
    cards.for_each_dirty(base, old_end, |card| {
        batch.push(card);
        if batch.len() == CLEAN_BATCH {
            flush(&mut batch);
        }
    });
    flush(&mut batch);
}
