//! The non-moving space's part of a compaction: rewrite the references of
//! surviving objects in place, and free the dead.

use crate::compact::page::PageComputer;
use crate::heap::Heap;
use crate::object::{ObjRef, WORD};

/// Rewrites every slot of every marked non-moving object whose address is in
/// `[from, to)` through `pc.fix_value` (forwarded, or nil for dead weak
/// targets). `view_delta` is added to object addresses before writing, so
/// the update can go through a second view of the memfd.
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
        let obj = ObjRef::from_addr(addr);
        let view = ObjRef::from_addr(addr + view_delta);
        for i in 0..obj.slot_count() {
            // SAFETY: i < slot_count of a marked object; `view` maps the same
            // memfd pages as `obj`, and the world does not touch them now.
            unsafe {
                let v = obj.slot_unchecked(i);
                let fixed = pc.fix_value(v);
                if fixed != v {
                    view.set_slot_raw(i, fixed);
                }
            }
        }
    });
}

/// Frees every unmarked non-moving object; returns (objects, bytes) freed.
pub fn sweep(heap: &Heap) -> (usize, usize) {
    let nm = heap.non_moving();
    let marks = heap.marks();
    let mut dead = Vec::new();
    nm.starts().for_each_set(nm.high_water(), |addr| {
        if !marks.non_moving.test(addr) {
            dead.push((addr, ObjRef::from_addr(addr).size_words() * WORD));
        }
    });
    let bytes = dead.iter().map(|&(_, b)| b).sum();
    for &(addr, b) in &dead {
        nm.free(addr, b);
    }
    (dead.len(), bytes)
}
