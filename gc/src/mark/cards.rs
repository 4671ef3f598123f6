//! Card roots: the old slots a young cycle must treat as roots.
//!
//! Every old slot that may hold a reference to a young object lies on a
//! dirty card (the write barrier's invariant, checked by the verifier). A
//! young cycle visits the slots on those cards as roots twice: marking
//! (strong slots only: weak objects' slots keep nothing alive) and, after
//! compaction, updating (every slot, so that a weak slot to a dead young
//! object reads nil; moving holders only, since the non-moving update
//! already rewrites every marked non-moving object and a slot fixed twice
//! would be forwarded twice). Old targets pass through both unchanged.

use std::time::{Duration, Instant};

use crate::heap::Heap;
use crate::mark::tracer::MarkStats;
use crate::object::ObjRef;
use crate::roots::RootSet;
use crate::value::Value;

/// `roots` plus the slots of old objects on dirty cards.
pub struct CardRoots<'a> {
    heap: &'a Heap,
    roots: &'a mut dyn RootSet,
    /// Marking: skip the slots of weak objects, include non-moving
    /// holders. Updating: every slot of moving holders.
    marking: bool,
    /// Dirty cards walked so far.
    cards: usize,
    /// Time spent walking them.
    card_time: Duration,
}

impl<'a> CardRoots<'a> {
    /// The roots of a young cycle over `heap`'s current old generation,
    /// for marking (`marking`) or for the update after compaction.
    ///
    /// # Safety
    /// The world is stopped with every allocation buffer retired (the old
    /// generation and the non-moving space are walkable), and nothing but
    /// the returned root set writes the old slots while it is used.
    pub unsafe fn new(heap: &'a Heap, roots: &'a mut dyn RootSet, marking: bool) -> Self {
        CardRoots {
            heap,
            roots,
            marking,
            cards: 0,
            card_time: Duration::ZERO,
        }
    }

    /// Dirty cards walked so far (moving and non-moving).
    pub fn cards(&self) -> usize {
        self.cards
    }

    /// Adds the cards walked and the time it took to a marking's counts.
    pub fn add_to(&self, stats: &mut MarkStats) {
        stats.cards += self.cards;
        stats.card_time += self.card_time;
    }

    /// Calls `f` on every slot of `obj` that lies in `[from, to)`.
    fn visit(&self, obj: ObjRef, from: usize, to: usize, f: &mut dyn FnMut(&mut Value)) {
        if self.marking && obj.is_weak() {
            return;
        }
        for i in slots_within(obj, from, to) {
            // SAFETY: slot `i < slot_count` of a live old object (the
            // stopped world, see `new`), an aligned word no one else
            // touches while `f` runs; `Value` is a transparent u64.
            f(unsafe { &mut *(obj.slot_addr(i) as *mut Value) });
        }
    }
}

impl CardRoots<'_> {
    /// Calls `f` on the slots of the old non-moving holders on dirty
    /// cards; answers how many cards it walked.
    fn visit_non_moving(&self, f: &mut dyn FnMut(&mut Value)) -> usize {
        let card_bytes = crate::remembered::CARD_BYTES;
        let nm = self.heap.non_moving();
        let nm_starts = nm.starts();
        let mut walked = 0;
        self.heap
            .cards()
            .for_each_dirty(nm.base(), nm.high_water(), |card| {
                walked += 1;
                let end = card + card_bytes;
                let mut next = match nm.object_at_or_before(card) {
                    Some(addr) => nm_starts.bit_of(addr),
                    None => nm_starts.bit_of(card),
                };
                let limit = nm_starts.bit_of(end);
                while let Some(b) = nm_starts.find_next_set(next, limit) {
                    let addr = nm_starts.addr_of(b);
                    if !nm.is_young(addr) {
                        // SAFETY: an allocated non-moving object of the
                        // stopped heap.
                        self.visit(unsafe { ObjRef::from_addr(addr) }, card, end, f);
                    }
                    // On from the card's own first bit: the bits between
                    // the covering object's start and the card are that
                    // object's inside (searching them again for every card
                    // of a large array made the walk quadratic in its size).
                    next = (b + 1).max(nm_starts.bit_of(card));
                }
            });
        walked
    }
}

impl RootSet for CardRoots<'_> {
    fn for_each_root(&mut self, f: &mut dyn FnMut(&mut Value)) {
        self.roots.for_each_root(f);
        let started = Instant::now();
        let heap = self.heap;
        let card_bytes = crate::remembered::CARD_BYTES;
        let mut walked = 0;
        heap.cards()
            .for_each_dirty(heap.moving().base(), heap.generations().old_end(), |card| {
                walked += 1;
                // SAFETY: the old generation is walkable (see `new`).
                unsafe {
                    for_each_old_object_on_card(heap, card, |obj| {
                        self.visit(obj, card, card + card_bytes, f)
                    })
                };
            });
        if self.marking {
            walked += self.visit_non_moving(f);
        }
        self.cards += walked;
        self.card_time += started.elapsed();
    }
}

/// Sets the mark bit of every old non-moving object, so that tracing,
/// updating and sweeping treat them as live. Safe while mutators allocate:
/// an allocation sets its young bit before its start bit, and each word's
/// start bits are read before its young bits, so a new object is never
/// taken for an old one (it is born marked anyway while marking runs).
pub(crate) fn mark_old_non_moving(heap: &Heap) {
    let nm = heap.non_moving();
    let (starts, young, marks) = (nm.starts(), nm.young(), &heap.marks().non_moving);
    let words = starts.bit_of(nm.high_water()).div_ceil(64);
    for i in 0..words {
        let s = starts.word(i);
        marks.or_word(i, s & !young.word(i));
    }
}

/// Calls `f` on every old moving object overlapping the card at `card`
/// (below the old end), from the one covering its first word.
///
/// # Safety
/// The old generation is walkable: every object start below the old end
/// is in `old_starts` and no one changes a header there meanwhile.
pub(crate) unsafe fn for_each_old_object_on_card(
    heap: &Heap,
    card: usize,
    mut f: impl FnMut(ObjRef),
) {
    let starts = heap.generations().old_starts();
    let end = card + crate::remembered::CARD_BYTES;
    let bit = starts
        .find_prev_set(starts.bit_of(card))
        .expect("the old generation starts with an object");
    let mut addr = starts.addr_of(bit);
    while addr < end {
        // SAFETY: an object start of the walkable old generation (every
        // start below the old end is in `old_starts`; the caller's promise).
        let obj = unsafe { ObjRef::from_addr(addr) };
        f(obj);
        addr += obj.size_words() * crate::object::WORD;
    }
}

/// The indices of `obj`'s slots that lie in `[from, to)`.
pub(crate) fn slots_within(obj: ObjRef, from: usize, to: usize) -> std::ops::Range<usize> {
    let word = crate::object::WORD;
    let first = from.saturating_sub(obj.slot_addr(0)).div_ceil(word);
    let end = to.saturating_sub(obj.slot_addr(0)).div_ceil(word);
    first..end.min(obj.slot_count())
}
