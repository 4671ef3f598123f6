//! `compute_page`: fill one to-space page from from-space.
//!
//! This is the heart of every compaction mode: the stop-the-world mode calls
//! it for each page in the pause, the userfaultfd modes call it from
//! collector threads and fault handlers. It is pure with respect to the heap
//! (reads from-space and the bitmaps, writes only the caller's buffer),
//! allocates nothing, takes no lock and panics on nothing but broken
//! invariants, so any thread may call it for any page in any order, any
//! number of times, with the same result.

use crate::compact::forwarding::{ForwardingPlan, PAGE_WORDS};
use crate::heap::Heap;
use crate::object::{Header, HEADER_WORDS, WORD};
use crate::value::Value;

/// A read-only view of one compaction: the heap, its plan and where the
/// from-space copy of the moving space now lives.
pub struct PageComputer<'a> {
    heap: &'a Heap,
    plan: &'a ForwardingPlan,
    base: usize,
    from_base: usize,
}

impl<'a> PageComputer<'a> {
    /// A view for the heap's current compaction.
    pub fn new(heap: &'a Heap, plan: &'a ForwardingPlan) -> PageComputer<'a> {
        PageComputer {
            heap,
            plan,
            base: heap.moving().base(),
            from_base: heap.from_base(),
        }
    }

    /// The plan this view computes from.
    pub fn plan(&self) -> &ForwardingPlan {
        self.plan
    }

    #[inline(always)]
    fn read_from_space(&self, word_index: usize) -> u64 {
        // SAFETY: word_index lies below the old top, whose pages were moved to
        // from-space by the flip and stay mapped until the cycle ends.
        unsafe { ((self.from_base + word_index * WORD) as *const u64).read() }
    }

    /// `n` from-space words starting at word `word_index`.
    #[inline(always)]
    fn read_from_space_words(&self, word_index: usize, n: usize) -> &[u64] {
        // SAFETY: the range lies below the old top (it is part of one live
        // object), whose pages were moved to from-space by the flip and stay
        // mapped, unchanged, until no page left to compute reads them.
        unsafe { std::slice::from_raw_parts((self.from_base + word_index * WORD) as *const u64, n) }
    }

    /// Rewrites a slot value to what it must hold after compaction: moving
    /// targets are forwarded, dead targets (only weak slots can hold them)
    /// become nil, everything else is unchanged. Signal- and fault-safe.
    #[inline(always)]
    pub fn fix_value(&self, v: Value) -> Value {
        if !v.is_object() {
            return v;
        }
        let addr = v.object_addr();
        let marks = self.heap.marks();
        if self.heap.moving().contains(addr) {
            if marks.moving.test(addr) {
                let new = self.plan.forward(&marks.live, addr);
                Value::from_bits(v.to_bits() - addr as u64 + new as u64)
            } else {
                Value::NIL
            }
        } else if self.heap.non_moving().contains(addr) && !marks.non_moving.test(addr) {
            Value::NIL
        } else {
            v
        }
    }

    /// Fills `buf` with the contents of to-space page `page` (page index
    /// from the moving space's base). Pages past the live data are zero.
    ///
    /// Safe to run in a fault handler: no allocation, no locks.
    pub fn compute_page(&self, page: usize, buf: &mut [u64; PAGE_WORDS]) {
        let dest_start = page * PAGE_WORDS;
        let dest_end = (dest_start + PAGE_WORDS).min(self.plan.live_words());
        if dest_start >= dest_end {
            buf.fill(0);
            return;
        }
        let marks = self.heap.marks();
        let old_top_bit = (self.plan.old_top() - self.base) / WORD;
        let first = self.plan.page_first_word(page);
        let mut obj = marks
            .moving
            .find_prev_set(first)
            .expect("a live word has a marked object start at or before it");
        let mut offset = first - obj;
        let mut d = dest_start;
        loop {
            let header = Header::decode(self.read_from_space(obj), self.read_from_space(obj + 1));
            let size = header.size_words as usize;
            let n = (size - offset).min(dest_end - d);
            let out = &mut buf[d - dest_start..d - dest_start + n];
            out.copy_from_slice(self.read_from_space_words(obj + offset, n));
            // Fix the reference slots that fall in this piece.
            let first_slot = offset.max(HEADER_WORDS);
            let end_slot = (offset + n).min(HEADER_WORDS + header.slots as usize);
            for i in first_slot..end_slot {
                let w = &mut out[i - offset];
                *w = self.fix_value(Value::from_bits(*w)).to_bits();
            }
            d += n;
            if d == dest_end {
                break;
            }
            obj = marks
                .moving
                .find_next_set(obj + size, old_top_bit)
                .expect("live words remain, so a marked object follows");
            offset = 0;
        }
        buf[dest_end - dest_start..].fill(0);
    }
}
