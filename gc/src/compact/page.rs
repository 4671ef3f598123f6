//! `compute_page`: fill one to-space page from from-space.
//!
//! This is the heart of every compaction mode: the stop-the-world mode calls
//! it for each page in the pause, the userfaultfd modes call it from
//! collector threads and fault handlers. It is pure with respect to the heap
//! (reads from-space and the bitmaps, writes only the caller's buffer),
//! allocates nothing, takes no lock and never panics (a broken invariant
//! aborts with a message), so any thread may call it for any page in any order, any
//! number of times, with the same result.
//!
//! Pages of the plan's dense prefix are not slid: a page there is its
//! from-space page with the live objects' references fixed and every run of
//! dead words turned into one filler object (at most two pages long: every
//! prefix page holds live data). The stop-the-world mode leaves those pages
//! in place and updates them there ([`PageComputer::update_in_place`]).
//!
//! A broken invariant (a corrupt bitmap or header) ends the process with a
//! message written without allocating (`broken`) rather than a panic: a
//! panic's message allocates, and the SIGBUS handler computes pages too.

use crate::compact::forwarding::{ForwardingPlan, PAGE_WORDS};
use crate::heap::Heap;
use crate::object::{Header, FILLER_TAG, HEADER_WORDS, WORD};
use crate::units::PAGE_SIZE;
use crate::value::Value;

/// The reference slots of one page being computed: word ranges of the
/// page, one per object piece with slots (an object takes at least its two
/// header words, so a page holds at most `PAGE_WORDS / 2 + 1` pieces).
struct SlotRuns {
    runs: [(u16, u16); PAGE_WORDS / HEADER_WORDS + 1],
    len: usize,
}

impl SlotRuns {
    fn new() -> SlotRuns {
        SlotRuns {
            runs: [(0, 0); PAGE_WORDS / HEADER_WORDS + 1],
            len: 0,
        }
    }

    /// Adds the words `start .. end` of the page.
    #[inline(always)]
    fn push(&mut self, start: usize, end: usize) {
        self.runs[self.len] = (start as u16, end as u16);
        self.len += 1;
    }

    fn as_slice(&self) -> &[(u16, u16)] {
        &self.runs[..self.len]
    }
}

/// Ends the process for a broken heap invariant met computing to-space page
/// `page`: the heap is corrupt and no page computed from it can be trusted.
/// Signal-safe (no allocation, no panic).
#[cold]
fn broken(page: usize, rule: &str) -> ! {
    crate::fatal::abort(format_args!(
        "computing to-space page {page}: a heap invariant is broken ({rule}); aborting"
    ))
}

/// A read-only view of one compaction: the heap, its plan and where the
/// from-space copy of the moving space now lives.
pub struct PageComputer<'a> {
    heap: &'a Heap,
    plan: &'a ForwardingPlan,
    base: usize,
    from_base: usize,
    /// Words (from the base) below which the source is the moving space
    /// itself, not from-space: the dense pages a stop-the-world compaction
    /// left in place.
    in_place_words: usize,
}

impl<'a> PageComputer<'a> {
    /// A view for the heap's current compaction.
    #[doc(hidden)]
    pub fn new(heap: &'a Heap, plan: &'a ForwardingPlan) -> PageComputer<'a> {
        PageComputer {
            heap,
            plan,
            base: heap.moving().base(),
            from_base: heap.from_base(),
            in_place_words: 0,
        }
    }

    /// A view for a compaction whose first `pages` dense pages were not
    /// moved to from-space (they are updated in place, see
    /// [`PageComputer::update_in_place`]).
    #[doc(hidden)]
    pub fn with_in_place(
        heap: &'a Heap,
        plan: &'a ForwardingPlan,
        pages: usize,
    ) -> PageComputer<'a> {
        assert!(
            pages <= plan.dense_pages(),
            "only dense pages stay in place ({pages} > {})",
            plan.dense_pages()
        );
        PageComputer {
            in_place_words: pages * PAGE_WORDS,
            ..PageComputer::new(heap, plan)
        }
    }

    /// The plan this view computes from.
    pub fn plan(&self) -> &ForwardingPlan {
        self.plan
    }

    #[inline(always)]
    fn read_from_space(&self, word_index: usize) -> u64 {
        let base = if word_index < self.in_place_words {
            self.base
        } else {
            self.from_base
        };
        // SAFETY: word_index lies below the old top, whose pages were moved to
        // from-space by the flip and stay mapped until the cycle ends, or
        // below `in_place_words`, pages the flip left in place (the world is
        // stopped and nothing else holds them).
        unsafe { ((base + word_index * WORD) as *const u64).read() }
    }

    /// `n` from-space words starting at word `word_index`.
    #[inline(always)]
    fn read_from_space_words(&self, word_index: usize, n: usize) -> &[u64] {
        debug_assert!(
            word_index >= self.in_place_words,
            "pages left in place are updated, never copied"
        );
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
            match self.plan.forward_marked(addr) {
                Some(new) => Value::from_bits(v.to_bits() - addr as u64 + new as u64),
                None => Value::NIL,
            }
        } else if self.heap.non_moving().contains(addr) && !marks.non_moving.test(addr) {
            Value::NIL
        } else {
            v
        }
    }

    /// Starts loading what [`PageComputer::fix_value`] reads for `v` (a
    /// moving reference's forwarding entry): a hint, harmless for any value.
    #[inline(always)]
    pub fn prefetch_forwarding(&self, v: Value) {
        if v.is_object() {
            self.plan.prefetch(v.object_addr());
        }
    }

    /// Fixes the slots of `runs` in `buf` ([`PageComputer::fix_value`]).
    ///
    /// A reference may point anywhere in the heap, so forwarding it reads
    /// its chunk's entry at a random place: nearly always a cache miss.
    /// Every reference's entry is requested first, so that a page waits for
    /// its misses together rather than one at a time.
    #[inline(always)]
    fn fix_runs(&self, buf: &mut [u64; PAGE_WORDS], runs: &SlotRuns) {
        for &(start, end) in runs.as_slice() {
            for &w in &buf[start as usize..end as usize] {
                self.prefetch_forwarding(Value::from_bits(w));
            }
        }
        for &(start, end) in runs.as_slice() {
            for w in &mut buf[start as usize..end as usize] {
                *w = self.fix_value(Value::from_bits(*w)).to_bits();
            }
        }
    }

    /// Fills `buf` with the contents of to-space page `page` (page index
    /// from the moving space's base). Pages past the live data are zero.
    ///
    /// Safe to run in a fault handler: no allocation, no locks.
    pub fn compute_page(&self, page: usize, buf: &mut [u64; PAGE_WORDS]) {
        #[cfg(target_arch = "x86_64")]
        if crate::cpu::has_popcnt() {
            // SAFETY: the CPU has POPCNT (just checked).
            unsafe { self.compute_page_popcnt(page, buf) };
            return;
        }
        self.compute_page_portable(page, buf);
    }

    /// [`PageComputer::compute_page`] compiled with the POPCNT instruction:
    /// forwarding a reference counts the live bits below it in one
    /// instruction (measured in `benches/results/fault-path-s5-2026-11-30.md`).
    ///
    /// # Safety
    /// The CPU supports POPCNT.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "popcnt")]
    unsafe fn compute_page_popcnt(&self, page: usize, buf: &mut [u64; PAGE_WORDS]) {
        self.compute_page_portable(page, buf);
    }

    /// [`PageComputer::compute_page`] without CPU-specific instructions
    /// (its body, inlined into each variant; public so that tests can
    /// compare the variants).
    #[inline(always)]
    pub fn compute_page_portable(&self, page: usize, buf: &mut [u64; PAGE_WORDS]) {
        let dest_start = page * PAGE_WORDS;
        let dest_end = (dest_start + PAGE_WORDS).min(self.plan.live_words());
        if dest_start >= dest_end {
            buf.fill(0);
            return;
        }
        let marks = self.heap.marks();
        let old_top_bit = (self.plan.old_top() - self.base) / WORD;
        let dense = self.plan.dense_words();
        let mut d = dest_start;
        let mut runs = SlotRuns::new();
        let (mut obj, mut offset) = if dest_start < dense {
            // The dense prefix: copied as it is, then updated.
            let stop = dense.min(dest_end);
            let out = &mut buf[..stop - dest_start];
            out.copy_from_slice(self.read_from_space_words(dest_start, stop - dest_start));
            self.update_dense(dest_start, out);
            d = stop;
            if d == dest_end {
                buf[d - dest_start..].fill(0);
                return;
            }
            // The rest of the page slides from the first live object above
            // the prefix (none crosses its end).
            let Some(first) = marks.moving.find_next_set(dense, old_top_bit) else {
                broken(
                    page,
                    "live words remain above the prefix, so a marked object follows",
                )
            };
            (first, 0)
        } else {
            let first = self.plan.page_first_word(page);
            let Some(obj) = marks.moving.find_prev_set(first) else {
                broken(
                    page,
                    "a live word has a marked object start at or before it",
                )
            };
            (obj, first - obj)
        };
        loop {
            let header = Header::decode(self.read_from_space(obj), self.read_from_space(obj + 1));
            let size = header.size_words as usize;
            if size <= offset {
                broken(
                    page,
                    "a live object is longer than the offset into it (header)",
                );
            }
            let n = (size - offset).min(dest_end - d);
            let out = &mut buf[d - dest_start..d - dest_start + n];
            out.copy_from_slice(self.read_from_space_words(obj + offset, n));
            // The reference slots that fall in this piece, fixed below.
            let first_slot = offset.max(HEADER_WORDS);
            let end_slot = (offset + n).min(HEADER_WORDS + header.slots as usize);
            if end_slot > first_slot {
                // `first_slot >= offset`: the piece's words are the object's
                // from `offset` on.
                let at = d - dest_start;
                runs.push(at + first_slot - offset, at + end_slot - offset);
            }
            d += n;
            if d == dest_end {
                break;
            }
            obj = match marks.moving.find_next_set(obj + size, old_top_bit) {
                Some(next) => next,
                None => broken(page, "live words remain, so a marked object follows"),
            };
            offset = 0;
        }
        buf[dest_end - dest_start..].fill(0);
        self.fix_runs(buf, &runs);
    }

    /// Updates dense page `page` where it is (its objects keep their
    /// addresses): fixes its live objects' references and turns its runs of
    /// dead words into fillers. For the pages a stop-the-world compaction
    /// left in place ([`PageComputer::with_in_place`]); any order.
    ///
    /// # Safety
    /// 1. `page` is below the `pages` this view was made with.
    /// 2. The world is stopped and nothing else reads or writes the page
    ///    while this runs (other pages may be updated concurrently).
    pub unsafe fn update_in_place(&self, page: usize) {
        assert!(
            (page + 1) * PAGE_WORDS <= self.in_place_words,
            "page {page} was not left in place"
        );
        let addr = self.base + page * PAGE_SIZE;
        // SAFETY: the page is mapped in the moving space (the flip left it),
        // and it is ours alone (invariant 2).
        let out = unsafe { std::slice::from_raw_parts_mut(addr as *mut u64, PAGE_WORDS) };
        self.update_dense(page * PAGE_WORDS, out);
    }

    /// Updates `out`, the prefix words `[start, start + out.len())` as they
    /// were before compaction: fixes the slots of the live objects in it and
    /// writes a filler header at the start of every run of dead words that
    /// starts in it. Reads only `out`, the bitmaps and, for an object
    /// starting before `start`, its header.
    fn update_dense(&self, start: usize, out: &mut [u64]) {
        let end = start + out.len();
        let dense = self.plan.dense_words();
        debug_assert!(end <= dense, "words past the dense prefix slide");
        let marks = &self.heap.marks().moving;
        let header_at = |obj: usize, out: &[u64]| {
            if obj >= start {
                Header::decode(out[obj - start], out[obj - start + 1])
            } else {
                Header::decode(self.read_from_space(obj), self.read_from_space(obj + 1))
            }
        };
        // The live object covering `start`, or where the dead run covering
        // it starts.
        let mut at = match marks.find_prev_set(start) {
            Some(obj) => {
                let obj_end = obj + header_at(obj, out).size_words as usize;
                if obj_end > start {
                    obj
                } else {
                    obj_end
                }
            }
            None => 0,
        };
        while at < end {
            if marks.test_bit(at) {
                let header = header_at(at, out);
                let slots = at + HEADER_WORDS..at + HEADER_WORDS + header.slots as usize;
                for i in slots.start.max(start)..slots.end.min(end) {
                    let w = &mut out[i - start];
                    *w = self.fix_value(Value::from_bits(*w)).to_bits();
                }
                at += header.size_words as usize;
            } else {
                // No live object crosses the prefix's end, so a dead run
                // ends at the next live object or there.
                let run_end = marks.find_next_set(at, dense).unwrap_or(dense);
                if at >= start {
                    let Ok(size_words) = u32::try_from(run_end - at) else {
                        broken(
                            at / PAGE_WORDS,
                            "a dead run in the dense prefix is under two pages",
                        )
                    };
                    let filler = Header {
                        size_words,
                        slots: 0,
                        tag: FILLER_TAG,
                        flags: 0,
                        aux: 0,
                    };
                    // Object starts and the prefix's end are even word
                    // indices, so both header words are in `out`.
                    out[at - start] = filler.word0();
                    out[at - start + 1] = filler.word1();
                }
                at = run_end;
            }
        }
    }
}
