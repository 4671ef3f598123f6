//! Post-compaction addresses from the live-words bitmap.
//!
//! The moving space is cut into *chunks* of 64 words (one live-bitmap word
//! each). `prefix[c]` counts the live words before chunk `c`, so a live
//! object at word `w` moves to
//!
//! ```text
//! base + 8 * (prefix[w / 64] + popcount(live[w / 64] & ((1 << w % 64) - 1)))
//! ```
//!
//! without any forwarding pointer written into from-space. For every to-space
//! page the plan also records the from-space word that lands on its first
//! word, so that each page can be computed alone, by any thread, in any order.

use crate::heap::{Heap, PAGE_SIZE};
use crate::mark::bitmap::Bitmap;
use crate::object::WORD;

/// Words per to-space page.
pub const PAGE_WORDS: usize = PAGE_SIZE / WORD;

/// Everything a compaction needs to know where live objects go.
pub struct ForwardingPlan {
    base: usize,
    chunk_prefix: Vec<u32>,
    page_first: Vec<u32>,
    live_words: usize,
    old_top: usize,
}

/// Index of the `k`-th set bit (0-based) of `word`.
#[inline(always)]
fn select_bit(mut word: u64, k: u32) -> u32 {
    for _ in 0..k {
        word &= word - 1;
    }
    word.trailing_zeros()
}

impl ForwardingPlan {
    /// Builds the plan from the heap's live bitmap for objects below `old_top`.
    /// Costs O(chunks): one popcount per 512 bytes of heap.
    pub fn build(heap: &Heap, old_top: usize) -> ForwardingPlan {
        let base = heap.moving().base();
        let mut plan = ForwardingPlan {
            base,
            chunk_prefix: vec![0],
            page_first: Vec::new(),
            live_words: 0,
            old_top: base,
        };
        plan.extend(heap, old_top);
        plan
    }

    /// Extends the plan to objects below `new_top` (at least the current
    /// old top), whose live bits may have been set since the plan was built
    /// (objects allocated marked above the old top). Costs O(new chunks): the
    /// flip pause extends a plan built concurrently this way.
    pub fn extend(&mut self, heap: &Heap, new_top: usize) {
        assert!(new_top >= self.old_top, "a plan only grows");
        let live = &heap.marks().live;
        // Redo the chunk the old top fell in: it may have gained live bits.
        let first = (self.old_top - self.base) / (WORD * 64);
        let mut total = self.chunk_prefix[first] as usize;
        self.chunk_prefix.truncate(first);
        self.page_first.truncate(total.div_ceil(PAGE_WORDS));
        let chunks = (new_top - self.base).div_ceil(WORD * 64);
        for c in first..chunks {
            self.chunk_prefix.push(total as u32);
            let w = live.word(c);
            let n = w.count_ones() as usize;
            // Pages whose first word is filled from this chunk.
            let mut next_page_word = self.page_first.len() * PAGE_WORDS;
            while next_page_word < total + n {
                let k = (next_page_word - total) as u32;
                self.page_first.push((c * 64) as u32 + select_bit(w, k));
                next_page_word += PAGE_WORDS;
            }
            total += n;
        }
        self.chunk_prefix.push(total as u32);
        self.live_words = total;
        self.old_top = new_top;
    }

    /// Live words in the moving space (its size after compaction).
    pub fn live_words(&self) -> usize {
        self.live_words
    }

    /// The moving space's top after compaction.
    pub fn new_top(&self) -> usize {
        self.base + self.live_words * WORD
    }

    /// The moving space's top before compaction.
    pub fn old_top(&self) -> usize {
        self.old_top
    }

    /// To-space pages that receive live data.
    pub fn live_pages(&self) -> usize {
        self.page_first.len()
    }

    /// The from-space word index (relative to the space base) that lands on
    /// the first word of to-space page `page`.
    #[inline(always)]
    pub fn page_first_word(&self, page: usize) -> usize {
        self.page_first[page] as usize
    }

    /// The post-compaction address of the live moving object at `addr`.
    #[inline(always)]
    pub fn forward(&self, live: &Bitmap, addr: usize) -> usize {
        let w = (addr - self.base) / WORD;
        let (chunk, bit) = (w / 64, w % 64);
        let below = live.word(chunk) & ((1u64 << bit) - 1);
        self.base + (self.chunk_prefix[chunk] as usize + below.count_ones() as usize) * WORD
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn select_finds_kth_bit() {
        let w = 0b1011_0100u64;
        assert_eq!(select_bit(w, 0), 2);
        assert_eq!(select_bit(w, 1), 4);
        assert_eq!(select_bit(w, 2), 5);
        assert_eq!(select_bit(w, 3), 7);
    }
}
