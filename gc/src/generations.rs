//! Generations in the moving space: an old prefix `[base, old_end)` that
//! young cycles neither mark nor move, and the young objects above it.
//!
//! Promotion is by one survival (age 1) or two (age 2,
//! [`Generations::promotion_age`]; docs/generational.md sections 2 and 11).
//! Sliding compaction keeps address order, so after a cycle its survivors
//! lie in `[old_end, aged_end)`, below everything born later: at the next
//! young cycle, what lies below `aged_end` has survived twice. A cycle's
//! source boundary is the top at its start (age 1, and every full cycle)
//! or `aged_end` (age 2, young cycles); the new `old_end` is where that
//! boundary lands, rounded down to a page boundary no survivor straddles
//! ([`Promotion::of`]); when every survivor lies below the boundary, the
//! new top rounded up, the rounding plugged with a filler. The survivors
//! between the new `old_end` and the landing of the cycle's start top stay
//! young with age 1; their end is the new `aged_end`. Young non-moving
//! objects have no age: every cycle promotes those that survive.
//!
//! `old_starts` marks every object start (fillers included) below
//! `old_end`: scanning a dirty card starts at the object covering its first
//! word. Young non-moving objects are those recorded by the non-moving
//! space since the last cycle ([`crate::heap::NonMovingSpace::is_young`]).
//!
//! With generational collection off, `old_end` stays at the base and no
//! cycle promotes.

use std::sync::atomic::{fence, AtomicBool, AtomicU8, AtomicUsize, Ordering};

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
    /// The end of the young objects that survived a cycle (`old_end` when
    /// there are none): an object start or the top.
    aged_end: AtomicUsize,
    /// Survivals a young object needs to become old: 1 or 2.
    promotion_age: AtomicU8,
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
            aged_end: AtomicUsize::new(base),
            promotion_age: AtomicU8::new(1),
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

    /// The end of the young objects that survived one cycle: they lie in
    /// `[old_end, aged_end)`, below every object born since.
    pub fn aged_end(&self) -> usize {
        self.aged_end.load(Ordering::Relaxed)
    }

    /// How many cycles a moving object survives before it is promoted: 1
    /// (the default) or 2.
    pub fn promotion_age(&self) -> u8 {
        self.promotion_age.load(Ordering::Relaxed)
    }

    /// Sets [`Generations::promotion_age`]: `2` promotes after two
    /// survivals, anything else after one. Takes effect at the next cycle.
    pub fn set_promotion_age(&self, age: u8) {
        let age = if age == 2 { 2 } else { 1 };
        self.promotion_age.store(age, Ordering::Relaxed);
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
/// space compacted up to its top, marks cleared): promotes what `p` says
/// ([`Promotion::of`], decided before compaction). With every survivor
/// promoted, every card is cleaned; else the promoted range's cards and
/// the old ones are cleaned where no slot holds a young reference
/// ([`clean_old_cards`]), and the non-moving cards stay as they are. With
/// generational collection off, a full cycle empties the old generation
/// and nothing else happens.
///
/// # Safety
/// The world is stopped and the moving space is walkable from the base (or
/// from the old end, for a young cycle) to its top.
pub(crate) unsafe fn promote_in_pause(heap: &Heap, p: Promotion) {
    let moving = heap.moving();
    // SAFETY: the caller's promise; `[pad_from, to)` is the free tail of
    // the last to-space page, mapped, written by no one while the world is
    // stopped.
    let Some(from) = (unsafe { record(heap, p) }) else {
        return;
    };
    if p.pad_from < p.to {
        // SAFETY: the world is stopped; the filler `record` wrote makes the
        // space walkable to `p.to`.
        unsafe { moving.reset_top(p.to) };
    }
    let (cards, nm) = (heap.cards(), heap.non_moving());
    if p.to >= moving.top() {
        cards.clear(moving.base(), p.to);
        cards.clear(nm.base(), nm.high_water());
    } else {
        cards.dirty_range(from, p.to);
        // SAFETY: the world is stopped and the old generation walkable.
        unsafe { clean_old_cards(heap) };
    }
    nm.clear_young();
}

/// The part of a promotion both collectors share: empties the old
/// generation for a full cycle; then, if generational collection is on,
/// plugs the padding with a filler, records the starts of the promoted
/// objects and publishes the new old end and aged end. Returns where the
/// promoted range starts (`None` with generational collection off).
///
/// # Safety
/// The moving space is compacted and mapped up to at least `p.to`, the
/// padding `[p.pad_from, p.to)` is written by no one else, and no one
/// changes a header below `p.to` meanwhile.
unsafe fn record(heap: &Heap, p: Promotion) -> Option<usize> {
    let gens = heap.generations();
    let base = heap.moving().base();
    let prev_end = gens.old_end();
    if p.full {
        gens.old_starts.clear_below(prev_end);
        gens.old_end.store(base, Ordering::Release);
        gens.aged_end.store(base, Ordering::Relaxed);
    }
    if !gens.is_enabled() {
        return None;
    }
    if p.pad_from < p.to {
        // SAFETY: the caller's promise.
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
    gens.aged_end.store(p.aged_end, Ordering::Relaxed);
    gens.old_end.store(p.to, Ordering::Release);
    Some(from)
}

/// What a cycle promotes, decided before its compaction (in the flip
/// pause of a concurrent cycle) and done after it.
#[derive(Clone, Copy, Debug)]
pub struct Promotion {
    /// The cycle slid the old generation too (full): the start map is
    /// rebuilt from the base.
    pub full: bool,
    /// The new old end: survivors below it (post-compaction) become old.
    pub to: usize,
    /// Where a filler up to `to` begins (`to` when there is none): the
    /// survivors' new top when every survivor is promoted, so the last
    /// page is plugged rather than left young.
    pub pad_from: usize,
    /// The new aged end (at least `to`): the survivors that predate the
    /// cycle end there; those between `to` and it stay young with age 1.
    pub aged_end: usize,
}

impl Promotion {
    /// The promotion of a cycle with `plan`, whose first pause found the
    /// moving space's top at `top_at_start`, above the old generation's
    /// page-aligned `floor` (its end in a young cycle, the base in a full
    /// one). Every survivor below `top_at_start` predates the cycle;
    /// objects allocated during it lie above (the runtime retires every
    /// allocation buffer in that pause) and stay young.
    ///
    /// The source boundary is `top_at_start` with promotion age 1 and in
    /// every full cycle, the aged end (what survived a cycle already) in a
    /// young cycle with age 2. If some survivor lies above it, the new old
    /// end is the boundary's post-compaction address rounded *down* to the
    /// last page boundary no survivor straddles: an object start found from
    /// the plan alone (the from-space word landing on a page's first word
    /// is a marked object start), so it is decided before any page is
    /// computed and needs no filler. The survivors between that boundary and
    /// the landing address stay young one cycle more. If none does, the
    /// survivors end at the plan's new top and the old end is that top
    /// rounded *up* to a page, plugged with a filler at the end of the
    /// cycle ([`Promotion::top`] is where allocation resumes). Reads the
    /// mark bitmap: call before the cycle clears it.
    pub fn of(
        heap: &Heap,
        plan: &ForwardingPlan,
        floor: usize,
        top_at_start: usize,
        young: bool,
    ) -> Promotion {
        let gens = heap.generations();
        let base = heap.moving().base();
        let full = !young;
        let new_top = plan.new_top();
        let start = top_at_start.min(plan.old_top());
        let source = if young && gens.promotion_age() == 2 {
            gens.aged_end().clamp(floor, start)
        } else {
            start
        };
        let landing = plan.forward(source);
        if landing >= new_top {
            let to = new_top.next_multiple_of(PAGE_SIZE);
            return Promotion {
                full,
                to,
                pad_from: new_top,
                aged_end: to,
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
            full,
            to,
            pad_from: to,
            aged_end: plan.forward(start).max(to),
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
/// promoted just before (`end_cycle`). With generational collection off, a full
/// cycle empties the old generation.
///
/// # Safety
/// The moving space is compacted and mapped up to at least `p.to`, and no
/// one changes a header below it meanwhile.
pub(crate) unsafe fn promote_after(heap: &Heap, p: Promotion) {
    // SAFETY: the caller's promise; `[pad_from, to)` is the tail of the
    // survivors' last page, mapped, below the top the flip set: no one
    // else writes it.
    let Some(from) = (unsafe { record(heap, p) }) else {
        return;
    };
    heap.cards().dirty_range(from, p.to);
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
