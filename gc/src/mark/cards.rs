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

use crate::heap::Heap;
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
        }
    }

    /// Calls `f` on every slot of `obj` that lies in `[from, to)`.
    fn visit(&self, obj: ObjRef, from: usize, to: usize, f: &mut dyn FnMut(&mut Value)) {
        if self.marking && obj.is_weak() {
            return;
        }
        let n = obj.slot_count();
        let first = from.saturating_sub(obj.slot_addr(0)).div_ceil(8);
        let end = to.saturating_sub(obj.slot_addr(0)).div_ceil(8).min(n);
        for i in first..end {
            // SAFETY: slot `i < slot_count` of a live old object (the
            // stopped world, see `new`), an aligned word no one else
            // touches while `f` runs; `Value` is a transparent u64.
            f(unsafe { &mut *(obj.slot_addr(i) as *mut Value) });
        }
    }
}

impl RootSet for CardRoots<'_> {
    fn for_each_root(&mut self, f: &mut dyn FnMut(&mut Value)) {
        self.roots.for_each_root(f);
        let heap = self.heap;
        let cards = heap.cards();
        let card_bytes = crate::remembered::CARD_BYTES;
        let base = heap.moving().base();
        let old_end = heap.generations().old_end();
        let starts = heap.generations().old_starts();
        cards.for_each_dirty(base, old_end, |card| {
            let end = card + card_bytes;
            let bit = starts
                .find_prev_set(starts.bit_of(card))
                .expect("the old generation starts with an object");
            let mut addr = starts.addr_of(bit);
            while addr < end {
                // SAFETY: an object start of the walkable old generation
                // (every start below the old end is in `old_starts`).
                let obj = unsafe { ObjRef::from_addr(addr) };
                self.visit(obj, card, end, f);
                addr += obj.size_words() * crate::object::WORD;
            }
        });
        if !self.marking {
            return;
        }
        let nm = heap.non_moving();
        let nm_starts = nm.starts();
        cards.for_each_dirty(nm.base(), nm.high_water(), |card| {
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
                next = b + 1;
            }
        });
    }
}
