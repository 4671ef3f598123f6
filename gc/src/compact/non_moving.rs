//! The non-moving space's part of a compaction: rewrite the references of
//! surviving objects in place, and free the dead.

use crate::compact::page::PageComputer;
use crate::heap::Heap;
use crate::object::{ObjRef, HEADER_WORDS, WORD};

/// Rewrites every slot of every marked non-moving object whose address is in
/// `[from, to)` through `pc.fix_value` (forwarded, or nil for dead weak
/// targets). `view_delta` is added to every address read or written, so the
/// update can go through a second view of the memfd.
/// Internal to the collector (hidden from the docs): the heap must be
/// stopped or under a compaction's protocol, as the collector's pauses and
/// threads hold it; not for embedders.
#[doc(hidden)]
pub fn update_references(
    pc: &PageComputer<'_>,
    heap: &Heap,
    from: usize,
    to: usize,
    view_delta: usize,
) {
    let marks = heap.marks();
    heap.non_moving().starts().for_each_set(to, |addr| {
        if addr < from || !marks.non_moving.test(addr) {
            return;
        }
        // SAFETY: a marked object start of the stopped heap, read through
        // the view the caller names.
        let view = unsafe { ObjRef::from_addr(addr + view_delta) };
        fix_slots(pc, view, 0, view.slot_count());
    });
}

/// Fixes slots `[first, end)` of the object whose (possibly second-view)
/// address is `view`.
///
/// Like [`PageComputer::compute_page`], it first asks for every slot's
/// forwarding entry, so that their cache misses overlap.
#[inline(always)]
fn fix_slots(pc: &PageComputer<'_>, view: ObjRef, first: usize, end: usize) {
    for i in first..end {
        // SAFETY: i < slot_count of a marked object, read through a view of
        // its memfd pages (as below); a plain read, nothing written.
        pc.prefetch_forwarding(unsafe { view.slot_unchecked(i) });
    }
    for i in first..end {
        // SAFETY: i < slot_count of a marked object; `view` maps the same
        // memfd pages as the object, and no mutator touches those slots
        // now (the world is stopped, or their page is not mapped yet).
        unsafe {
            let v = view.slot_unchecked(i);
            let fixed = pc.fix_value(v);
            if fixed != v {
                view.set_slot_raw(i, fixed);
            }
        }
    }
}

/// Rewrites the slots that lie in the non-moving page `[page, page + PAGE_SIZE)`
/// of every marked object overlapping it, reading and writing through the
/// view at `page + view_delta`. Objects allocated since the cycle's marking
/// are unmarked and left alone. No allocation, no locks: a fault handler may
/// call it for a page no mutator can touch yet. Constant work beyond the
/// page's own objects: the object reaching into the page from below comes
/// from the space's covering-object table.
#[doc(hidden)]
pub fn update_page(pc: &PageComputer<'_>, heap: &Heap, page: usize, view_delta: usize) {
    #[cfg(target_arch = "x86_64")]
    if crate::cpu::has_popcnt() {
        // SAFETY: the CPU has POPCNT (just checked).
        return unsafe { update_page_popcnt(pc, heap, page, view_delta) };
    }
    update_page_portable(pc, heap, page, view_delta)
}

/// [`update_page`] compiled with the POPCNT instruction (forwarding counts
/// live bits).
///
/// # Safety
/// The CPU supports POPCNT.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "popcnt")]
unsafe fn update_page_popcnt(pc: &PageComputer<'_>, heap: &Heap, page: usize, view_delta: usize) {
    update_page_portable(pc, heap, page, view_delta)
}

/// The body of [`update_page`].
#[inline(always)]
fn update_page_portable(pc: &PageComputer<'_>, heap: &Heap, page: usize, view_delta: usize) {
    let nm = heap.non_moving();
    let starts = nm.starts();
    let marks = &heap.marks().non_moving;
    let page_end = page + crate::units::PAGE_SIZE;
    let end_bit = starts.bit_of(page_end);
    // The object the page begins in (or the page's first object).
    let first = match nm.object_at_or_before(page) {
        Some(addr) => Some(starts.bit_of(addr)),
        None => starts.find_next_set(starts.bit_of(page), end_bit),
    };
    let Some(mut bit) = first else {
        return;
    };
    loop {
        let addr = starts.addr_of(bit);
        if marks.test(addr) {
            // SAFETY: a marked object start, read through the caller's view.
            let view = unsafe { ObjRef::from_addr(addr + view_delta) };
            let slots_start = addr + HEADER_WORDS * WORD;
            let first = page.saturating_sub(slots_start).div_ceil(WORD);
            let end = (page_end.saturating_sub(slots_start) / WORD).min(view.slot_count());
            if first < end {
                fix_slots(pc, view, first, end);
            }
        }
        match starts.find_next_set((bit + 1).max(starts.bit_of(page)), end_bit) {
            Some(b) => bit = b,
            None => return,
        }
    }
}

/// Frees every unmarked non-moving object not allocated during the cycle,
/// reading sizes at `address + view_delta` (a second view of the memfd, or
/// 0); returns (objects, bytes) freed.
/// Internal to the collector (hidden from the docs): the heap must be
/// stopped or under a compaction's protocol, as the collector's pauses and
/// threads hold it; not for embedders.
#[doc(hidden)]
pub fn sweep(heap: &Heap, view_delta: usize) -> (usize, usize) {
    let nm = heap.non_moving();
    let marks = heap.marks();
    let mut dead = Vec::new();
    nm.starts().for_each_set(nm.high_water(), |addr| {
        if !marks.non_moving.test(addr) && !nm.is_black(addr) {
            // SAFETY: a recorded object start of the stopped space, read
            // through the caller's view.
            let size = unsafe { ObjRef::from_addr(addr + view_delta) }.size_words() * WORD;
            dead.push((addr, size));
        }
    });
    let bytes = dead.iter().map(|&(_, b)| b).sum();
    for &(addr, b) in &dead {
        nm.free(addr, b);
    }
    (dead.len(), bytes)
}
