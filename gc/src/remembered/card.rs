//! The card table: one byte per 512 bytes of the heap's reservation.
//!
//! `Mutator::write` stores [`DIRTY`] on the card of the *slot* it wrote,
//! unconditionally (no filtering by holder or target: one byte store, no
//! load, no branch). The table covers the moving space, from-space and the
//! non-moving space of the reservation with one array, so the barrier needs
//! no branch on the space; from-space cards are never written and cost no
//! memory. Card state is what generational collection reads: between cycles
//! every slot of an old object holding a reference to a young object lies
//! on a non-clean card (checked by [`crate::verify::verify`]).
//!
//! A card is 512 bytes: one mark-bitmap word, one forwarding-plan chunk, so
//! card scans and chunk arithmetic share indices.

use std::sync::atomic::{AtomicU8, Ordering};

use mremap_shim::sys::SysError;

use crate::table::Table;

/// log2 of [`CARD_BYTES`].
pub const CARD_SHIFT: u32 = 9;
/// Bytes of heap one card covers.
pub const CARD_BYTES: usize = 1 << CARD_SHIFT;

/// A card no old-to-young reference was written to since it was last
/// processed.
pub const CLEAN: u8 = 0;
/// A card the write barrier stored to.
pub const DIRTY: u8 = 1;

/// One byte per [`CARD_BYTES`] of `[base, base + covered)`.
pub struct CardTable {
    base: usize,
    cards: Table<AtomicU8>,
    /// `cards`' start minus `base >> CARD_SHIFT` (wrapping): the barrier's
    /// card for a slot at `addr` is `biased + (addr >> CARD_SHIFT)`.
    biased: *mut u8,
}

// SAFETY: the table's bytes are atomics; `biased` is only an address into
// the table's own mapping, which lives as long as the table.
unsafe impl Send for CardTable {}
// SAFETY: as above: every access through `biased` is a byte store to
// memory the table owns, made by the barrier with the table alive.
unsafe impl Sync for CardTable {}

impl CardTable {
    /// A clean table covering `[base, base + covered)` (`base` card-aligned),
    /// or the failed `mmap`'s error.
    pub fn try_new(base: usize, covered: usize) -> Result<CardTable, SysError> {
        debug_assert!(base.is_multiple_of(CARD_BYTES));
        let cards: Table<AtomicU8> = Table::try_new(covered.div_ceil(CARD_BYTES))?;
        let biased = (cards.as_ptr() as *mut u8).wrapping_sub(base >> CARD_SHIFT);
        Ok(CardTable {
            base,
            cards,
            biased,
        })
    }

    /// First address the table covers.
    pub fn base(&self) -> usize {
        self.base
    }

    /// Cards in the table.
    pub fn len(&self) -> usize {
        self.cards.len()
    }

    /// Whether the table has no cards.
    pub fn is_empty(&self) -> bool {
        self.cards.is_empty()
    }

    /// The barrier's pointer: the card of a covered address `addr` is the
    /// byte at `biased().wrapping_add(addr >> CARD_SHIFT)`. Valid while the
    /// table lives; only covered addresses may be stored through.
    #[inline(always)]
    pub fn biased(&self) -> *mut u8 {
        self.biased
    }

    /// Index of the card holding `addr` (covered).
    #[inline(always)]
    pub fn index(&self, addr: usize) -> usize {
        debug_assert!(addr >= self.base);
        (addr - self.base) >> CARD_SHIFT
    }

    /// First address of card `i`.
    #[inline(always)]
    pub fn card_start(&self, i: usize) -> usize {
        self.base + (i << CARD_SHIFT)
    }

    /// Dirties the card of `addr` (what the barrier does, checked).
    #[inline(always)]
    pub fn dirty(&self, addr: usize) {
        self.cards[self.index(addr)].store(DIRTY, Ordering::Relaxed);
    }

    /// Whether the card of `addr` is not clean.
    #[inline(always)]
    pub fn is_dirty(&self, addr: usize) -> bool {
        self.cards[self.index(addr)].load(Ordering::Relaxed) != CLEAN
    }

    /// Cleans every card of `[from, to)` (card-aligned outward).
    pub fn clear(&self, from: usize, to: usize) {
        self.set_range(from, to, CLEAN);
    }

    /// Dirties every card of `[from, to)` (card-aligned outward).
    pub fn dirty_range(&self, from: usize, to: usize) {
        self.set_range(from, to, DIRTY);
    }

    fn set_range(&self, from: usize, to: usize, state: u8) {
        if to <= from {
            return;
        }
        let (first, last) = (self.index(from), self.index(to - 1) + 1);
        let last = last.min(self.len());
        for c in &self.cards[first..last] {
            c.store(state, Ordering::Relaxed);
        }
    }

    /// Cleans the card of `addr`.
    pub fn clean(&self, addr: usize) {
        self.cards[self.index(addr)].store(CLEAN, Ordering::Relaxed);
    }

    /// Calls `f(start)` with the first address of every non-clean card
    /// overlapping `[from, to)`, in address order.
    pub fn for_each_dirty(&self, from: usize, to: usize, mut f: impl FnMut(usize)) {
        if to <= from {
            return;
        }
        let (first, last) = (self.index(from), (self.index(to - 1) + 1).min(self.len()));
        let cards = &self.cards[first..last];
        // Eight cards at a time: most of an old generation is clean.
        let mut i = 0;
        while i < cards.len() {
            if i + 8 <= cards.len() && i.is_multiple_of(8) {
                // SAFETY: eight consecutive `AtomicU8`s of the table, read
                // as one unaligned u64 (racy writes of single bytes by the
                // barrier only make a card read as either state).
                let word = unsafe { (cards.as_ptr().add(i) as *const u64).read_unaligned() };
                if word == 0 {
                    i += 8;
                    continue;
                }
            }
            if cards[i].load(Ordering::Relaxed) != CLEAN {
                f(self.card_start(first + i));
            }
            i += 1;
        }
    }

    /// Non-clean cards among `[from, to)`, counting stopped at the first
    /// past `limit` (then `limit + 1`).
    pub fn count_dirty_up_to(&self, from: usize, to: usize, limit: usize) -> usize {
        let mut n = 0;
        let mut at = from;
        // In slices, so that a heap full of dirty cards stops early.
        const SLICE: usize = 1 << 20;
        while at < to && n <= limit {
            let end = (at + SLICE).min(to);
            self.for_each_dirty(at, end, |_| n += 1);
            at = end;
        }
        n.min(limit + 1)
    }

    /// Non-clean cards among `[from, to)` (tests and statistics).
    pub fn count_dirty(&self, from: usize, to: usize) -> usize {
        let mut n = 0;
        self.for_each_dirty(from, to, |_| n += 1);
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_math_and_the_biased_pointer_agree() {
        let base = 1 << 30;
        let t = CardTable::try_new(base, 1 << 20).expect("table");
        assert_eq!(t.len(), (1 << 20) / CARD_BYTES);
        assert_eq!(t.index(base), 0);
        assert_eq!(t.index(base + 511), 0);
        assert_eq!(t.index(base + 512), 1);
        assert_eq!(t.card_start(3), base + 3 * 512);
        let addr = base + 5 * 512 + 40;
        // SAFETY: `addr` is covered, so the biased pointer lands in the table.
        unsafe { *t.biased().wrapping_add(addr >> CARD_SHIFT) = DIRTY };
        assert!(t.is_dirty(addr));
        assert!(!t.is_dirty(addr + 512) && !t.is_dirty(addr - 512));
        assert_eq!(t.count_dirty(base, base + (1 << 20)), 1);
    }

    #[test]
    fn for_each_dirty_visits_exactly_the_dirty_cards_in_range() {
        let base = 1 << 30;
        let t = CardTable::try_new(base, 1 << 20).expect("table");
        let dirty = [0usize, 7, 8, 9, 63, 64, 100, 2047];
        for &c in &dirty {
            t.dirty(t.card_start(c) + 8);
        }
        let mut seen = Vec::new();
        t.for_each_dirty(base, base + (1 << 20), |a| seen.push(t.index(a)));
        assert_eq!(seen, dirty);
        seen.clear();
        // A range starting and ending inside cards takes the cards it overlaps.
        t.for_each_dirty(t.card_start(8) + 100, t.card_start(64) + 1, |a| {
            seen.push(t.index(a))
        });
        assert_eq!(seen, [8, 9, 63, 64]);
        t.clear(t.card_start(8) + 1, t.card_start(64));
        assert_eq!(t.count_dirty(base, base + (1 << 20)), 5);
        assert!(t.is_dirty(t.card_start(64)), "the end is exclusive");
    }
}
