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
//! without any forwarding pointer written into from-space. The plan keeps
//! `prefix[c]` and a copy of `live[c]` side by side in one 16-byte entry:
//! a page forwards hundreds of references to anywhere in the heap, and this
//! costs one cache miss per reference instead of two (bitmap word, then
//! count; measured in `benches/results/fault-path-s5-2026-11-30.md`). The
//! price is 16 bytes per 512 bytes of the moving space's high water,
//! resident from the first cycle on: the planner keeps the table's mapping
//! for the next plan ([`PlanTables`]).
//!
//! For every to-space page the plan also records the from-space word that
//! lands on its first word, so that each page can be computed alone, by any
//! thread, in any order.
//!
//! ## The dense prefix
//!
//! The longest run of leading pages whose live ratio reaches the heap's
//! threshold ([`crate::HeapConfig::dense_prefix_threshold`]) is not slid:
//! the plan counts every word below its end as live, so its objects forward
//! to themselves, its dead objects become fillers (written by
//! [`crate::compact::PageComputer`]) and sliding starts at its end. The end
//! is the last dense page's end, or the end of the live object crossing it
//! (such an object stays whole where it is); a dead object crossing it is
//! cut there by the filler.

use crate::error::HeapError;
use crate::heap::Heap;
use crate::mark::bitmap::Bitmap;
use crate::object::{ObjRef, WORD};
use crate::table::{Table, TableCache};
use crate::units::PAGE_SIZE;

/// Words per to-space page.
pub const PAGE_WORDS: usize = PAGE_SIZE / WORD;

/// One chunk's entry in the plan: its live bits (a copy of its live-bitmap
/// word) and the words that land before it. Both sit in one 16-byte entry,
/// so forwarding a reference reads one cache line at random, not two.
#[repr(C, align(16))]
#[derive(Clone, Copy)]
pub struct Chunk {
    /// The chunk's live-bitmap word as marking left it.
    live: u64,
    /// Live words before the chunk (see [`ForwardingPlan`]'s field).
    prefix: u32,
    _pad: u32,
}

// SAFETY: zero integers are valid.
unsafe impl crate::table::Zeroed for Chunk {}

/// The forwarding plans' chunk table, kept from cycle to cycle by whoever
/// plans (the concurrent collector, the runtime's stop-the-world mode): a
/// plan takes the one mapping and gives it back when dropped, so that the
/// next plan reuses it. Clones share the mapping.
#[derive(Clone, Default)]
pub struct PlanTables(TableCache<Chunk>);

/// Everything a compaction needs to know where live objects go.
pub struct ForwardingPlan {
    base: usize,
    /// Per chunk `c`: the live words before it, plus (in the chunk the dense
    /// prefix ends in) the dead words of the prefix in it, so that a live
    /// word `w` at or above the prefix lands on
    /// `chunks[c].prefix + popcount(live[c] below w)` with the plain bitmap,
    /// next to a copy of that bitmap word. (A table on huge pages, sized
    /// for the whole space: read at random.)
    chunk_table: Table<Chunk>,
    /// Entries of `chunk_table` in use.
    chunks: usize,
    /// Where `chunk_table` goes when the plan is dropped (the planner's:
    /// the next plan reuses the mapping).
    tables: TableCache<Chunk>,
    page_first: Vec<u32>,
    live_words: usize,
    old_top: usize,
    /// Words below this index (from the base) are the dense prefix: they
    /// keep their addresses.
    dense_words: usize,
    /// Words below this index (from the base) are the old generation of a
    /// young cycle: neither marked nor moved, every object there forwards
    /// to itself; the chunk entries below it are not built.
    start_words: usize,
    /// The larger of `dense_words` and `start_words`: below it, `slide` is
    /// the identity.
    fixed_words: usize,
}

/// Index of the `k`-th set bit (0-based) of `word`.
#[inline(always)]
fn select_bit(mut word: u64, k: u32) -> u32 {
    for _ in 0..k {
        word &= word - 1;
    }
    word.trailing_zeros()
}

/// The bits of words below `dense_words` in chunk `c`.
#[inline(always)]
fn dense_mask(dense_words: usize, c: usize) -> u64 {
    let start = c * 64;
    if dense_words >= start + 64 {
        u64::MAX
    } else if dense_words <= start {
        0
    } else {
        (1u64 << (dense_words - start)) - 1
    }
}

/// The end (a word index from the space's base) of the dense prefix below
/// `old_top` for `threshold`: the longest run of leading pages each holding
/// at least `threshold * PAGE_SIZE` live bytes, extended to the end of a live
/// object crossing its last page's end. 0 when the threshold is 1.0 or more
/// or the first page is not dense. Reads the headers of live objects, which
/// nobody writes (mutators may run).
#[doc(hidden)]
pub fn dense_prefix_words(heap: &Heap, old_top: usize, threshold: f64) -> usize {
    if !(threshold > 0.0 && threshold < 1.0) {
        return 0;
    }
    let base = heap.moving().base();
    let marks = heap.marks();
    let need = (threshold * PAGE_WORDS as f64).ceil() as u32;
    let chunks_per_page = PAGE_WORDS / 64;
    let full_pages = (old_top - base) / PAGE_SIZE;
    let dense_pages = (0..full_pages)
        .find(|&p| {
            let live: u32 = (p * chunks_per_page..(p + 1) * chunks_per_page)
                .map(|c| marks.live.word(c).count_ones())
                .sum();
            live < need
        })
        .unwrap_or(full_pages);
    let end = dense_pages * PAGE_WORDS;
    if end == 0 {
        return 0;
    }
    match marks.moving.find_prev_set(end - 1) {
        Some(start) => {
            // SAFETY: a marked object start below the old top of the
            // stopped heap.
            let size = unsafe { ObjRef::from_addr(base + start * WORD) }.size_words();
            end.max(start + size)
        }
        None => end,
    }
}

impl ForwardingPlan {
    /// Builds the plan from the heap's live bitmap for objects below
    /// `old_top`, with the heap's dense-prefix threshold, in a chunk table
    /// taken from `tables` (given back when the plan is dropped). Costs O(chunks):
    /// one popcount per 512 bytes of heap.
    #[doc(hidden)]
    /// `Err` if the plan's chunk table cannot be mapped.
    pub fn build(
        heap: &Heap,
        old_top: usize,
        tables: &PlanTables,
    ) -> Result<ForwardingPlan, HeapError> {
        ForwardingPlan::build_with_threshold(heap, old_top, heap.dense_prefix_threshold(), tables)
    }

    /// [`ForwardingPlan::build`] with a given dense-prefix threshold (1.0 or
    /// more: no prefix).
    #[doc(hidden)]
    pub fn build_with_threshold(
        heap: &Heap,
        old_top: usize,
        threshold: f64,
        tables: &PlanTables,
    ) -> Result<ForwardingPlan, HeapError> {
        let base = heap.moving().base();
        let mut plan = ForwardingPlan {
            base,
            // One entry per chunk of the space, plus the end.
            chunk_table: tables
                .0
                .take(heap.moving().capacity().div_ceil(WORD * 64) + 1)
                .map_err(HeapError::SideTable)?,
            chunks: 0,
            tables: tables.0.clone(),
            page_first: Vec::new(),
            live_words: 0,
            old_top: base,
            dense_words: dense_prefix_words(heap, old_top, threshold),
            start_words: 0,
            fixed_words: 0,
        };
        plan.fixed_words = plan.dense_words;
        plan.push_chunk(plan.prefix_dead(&heap.marks().live, 0), 0);
        plan.extend(heap, old_top);
        Ok(plan)
    }

    /// The plan of a young cycle: objects below `start` (the old end, page
    /// aligned) keep their addresses whether marked or not; those above
    /// slide down to `start`. No dense prefix. Costs O(chunks above
    /// `start`) plus one word per page below it.
    #[doc(hidden)]
    pub fn build_young(
        heap: &Heap,
        start: usize,
        old_top: usize,
        tables: &PlanTables,
    ) -> Result<ForwardingPlan, HeapError> {
        let base = heap.moving().base();
        assert!(
            start >= base && start <= old_top && (start - base).is_multiple_of(PAGE_SIZE),
            "a young plan starts at a page of the space, below its top"
        );
        let start_words = (start - base) / WORD;
        let mut plan = ForwardingPlan {
            base,
            chunk_table: tables
                .0
                .take(heap.moving().capacity().div_ceil(WORD * 64) + 1)
                .map_err(HeapError::SideTable)?,
            chunks: start_words / 64,
            tables: tables.0.clone(),
            page_first: (0..start_words / PAGE_WORDS)
                .map(|p| (p * PAGE_WORDS) as u32)
                .collect(),
            live_words: start_words,
            old_top: start,
            dense_words: 0,
            start_words,
            fixed_words: start_words,
        };
        plan.push_chunk(start_words, 0);
        plan.extend(heap, old_top);
        Ok(plan)
    }

    /// Dead words of the dense prefix in chunk `c` (counted as live).
    #[inline]
    fn prefix_dead(&self, live: &Bitmap, c: usize) -> usize {
        match dense_mask(self.dense_words, c) {
            // Also for the chunk at the space's end, past the bitmap.
            0 => 0,
            mask => (mask & !live.word(c)).count_ones() as usize,
        }
    }

    /// Extends the plan to objects below `new_top` (at least the current
    /// old top), whose live bits may have been set since the plan was built
    /// (objects allocated marked above the old top). Costs O(new chunks): the
    /// flip pause extends a plan built concurrently this way.
    #[doc(hidden)]
    pub fn extend(&mut self, heap: &Heap, new_top: usize) {
        assert!(new_top >= self.old_top, "a plan only grows");
        let live = &heap.marks().live;
        // Redo the chunk the old top fell in: it may have gained live bits
        // (above the old top, so above the dense prefix: the prefix's dead
        // words in it are what they were).
        let first = (self.old_top - self.base) / (WORD * 64);
        let mut total = self.chunk_table[first].prefix as usize - self.prefix_dead(live, first);
        self.chunks = first;
        self.page_first.truncate(total.div_ceil(PAGE_WORDS));
        let chunks = (new_top - self.base).div_ceil(WORD * 64);
        for c in first..chunks {
            let bits = live.word(c);
            self.push_chunk(total + self.prefix_dead(live, c), bits);
            // The prefix counts as live: its dead words are fillers.
            let w = bits | dense_mask(self.dense_words, c);
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
        self.push_chunk(total, 0);
        self.live_words = total;
        self.old_top = new_top;
    }

    /// Prepares, outside a pause, what extending the plan up to `top`
    /// writes: makes the chunk table resident that far and reserves the
    /// per-page list. The flip pause extends the plan over what was
    /// allocated since it was built; without this, that pause would take
    /// the table's page faults.
    pub fn prepare_extend(&mut self, top: usize) {
        let chunks = (top.saturating_sub(self.base)).div_ceil(WORD * 64) + 1;
        self.chunk_table.prefault(self.chunks..chunks);
        let pages = (chunks * 64).div_ceil(PAGE_WORDS);
        self.page_first
            .reserve(pages.saturating_sub(self.page_first.len()));
    }

    /// Appends the next chunk: the words before it and its live bits.
    #[inline]
    fn push_chunk(&mut self, words: usize, live: u64) {
        self.chunk_table[self.chunks] = Chunk {
            live,
            prefix: words as u32,
            _pad: 0,
        };
        self.chunks += 1;
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

    /// Words (from the space's base) of the dense prefix: below it every
    /// object keeps its address.
    pub fn dense_words(&self) -> usize {
        self.dense_words
    }

    /// Pages of the old generation a young plan leaves alone (0 in a full
    /// cycle's plan).
    pub fn old_pages(&self) -> usize {
        self.start_words / PAGE_WORDS
    }

    /// Pages wholly inside the dense prefix: each is its from-space page
    /// with references fixed and dead objects turned into fillers, nothing
    /// slid. (The page the prefix ends in, if it ends inside one, is part
    /// prefix, part slid.)
    pub fn dense_pages(&self) -> usize {
        self.dense_words / PAGE_WORDS
    }

    /// The from-space word index (relative to the space base) that lands on
    /// the first word of to-space page `page`.
    #[inline(always)]
    pub fn page_first_word(&self, page: usize) -> usize {
        self.page_first[page] as usize
    }

    /// The post-compaction address of the moving object at `addr`, or
    /// `None` if marking did not find it live (or it lies past the plan).
    /// One table entry answers both (an object's first word is live exactly
    /// when it is marked), so a reference costs one cache line at random.
    #[inline(always)]
    pub fn forward_marked(&self, addr: usize) -> Option<usize> {
        let w = (addr - self.base) / WORD;
        if w < self.start_words {
            return Some(addr);
        }
        let (chunk, bit) = (w / 64, w % 64);
        if chunk >= self.chunks {
            // Entries past the plan may hold an earlier plan's bits.
            return None;
        }
        let entry = self.chunk_table[chunk];
        if entry.live & (1u64 << bit) == 0 {
            return None;
        }
        Some(self.slide(addr, w, entry))
    }

    /// Starts loading what forwarding `addr` reads (its chunk's entry) into
    /// cache: a hint, harmless for any address.
    #[inline(always)]
    pub fn prefetch(&self, addr: usize) {
        self.chunk_table
            .prefetch(addr.wrapping_sub(self.base) / (WORD * 64));
    }

    /// The post-compaction address of the live moving object at `addr`.
    #[inline(always)]
    pub fn forward(&self, addr: usize) -> usize {
        let w = (addr - self.base) / WORD;
        if w < self.start_words {
            return addr;
        }
        self.slide(addr, w, self.chunk_table[w / 64])
    }

    /// Where the object at `addr` (word `w` of the space, in chunk `entry`)
    /// lands: in place in the dense prefix, else after the live words below
    /// it.
    #[inline(always)]
    fn slide(&self, addr: usize, w: usize, entry: Chunk) -> usize {
        if w < self.fixed_words {
            return addr;
        }
        let below = entry.live & ((1u64 << (w % 64)) - 1);
        self.base + (entry.prefix as usize + below.count_ones() as usize) * WORD
    }
}

impl Drop for ForwardingPlan {
    fn drop(&mut self) {
        self.tables
            .give_back(std::mem::replace(&mut self.chunk_table, Table::empty()));
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

    #[test]
    fn dense_mask_covers_the_prefix_words_of_a_chunk() {
        assert_eq!(dense_mask(0, 0), 0);
        assert_eq!(dense_mask(64, 0), u64::MAX);
        assert_eq!(dense_mask(64, 1), 0);
        assert_eq!(dense_mask(70, 1), 0b11_1111);
        assert_eq!(dense_mask(70, 0), u64::MAX);
        assert_eq!(dense_mask(70, 2), 0);
    }
}
