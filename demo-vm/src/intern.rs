//! The string intern table: every Lox string is interned, so string equality
//! and table lookups compare references.
//!
//! The table is a *weak* heap object (root [`ROOT_STRINGS`]): its slots do
//! not keep strings alive, and a collection clears the slot of a string that
//! died (and updates the slots of strings that moved). Because a cleared slot
//! must not end a probe sequence, each slot has a u32 marker in the object's
//! raw bytes (which the collector never touches): 0 = never used, else the
//! string's hash with the low bit set. A used marker over a nil slot is a
//! tombstone. The aux word counts used markers; a rebuild drops tombstones.

use crate::rt::{AllocSpec, ObjRef, OutOfMemory, Value};

use crate::heap::{Heap, ROOT_STRINGS};
use crate::object::{fill_payload, hash_bytes, payload, payload_bytes, tag};

const MIN_CAPACITY: usize = 64;

#[inline(always)]
fn marker_of(hash: u32) -> u32 {
    hash | 1
}

#[inline(always)]
fn marker(t: ObjRef, i: usize) -> u32 {
    assert!(
        (i + 1) * 4 <= t.byte_len(),
        "intern marker {i} out of range"
    );
    // SAFETY: in bounds (checked) and 4-byte aligned inside the live object.
    unsafe { (t.bytes_ptr() as *const u32).add(i).read() }
}

#[inline(always)]
fn set_marker(t: ObjRef, i: usize, m: u32) {
    assert!(
        (i + 1) * 4 <= t.byte_len(),
        "intern marker {i} out of range"
    );
    // SAFETY: as in `marker`; raw bytes are not traced, so no barrier.
    unsafe { (t.bytes_ptr() as *mut u32).add(i).write(m) }
}

/// Finds the interned string equal to `bytes`. The hit is read through the
/// weak-read barrier: the program keeps it.
fn find(heap: &mut Heap, t: ObjRef, hash: u32, bytes: &[u8]) -> Option<Value> {
    let cap = t.slot_count();
    let mask = cap - 1;
    let want = marker_of(hash);
    let mut i = hash as usize & mask;
    loop {
        let m = marker(t, i);
        if m == 0 {
            return None;
        }
        if m == want {
            let s = heap.load_weak(t, i);
            // SAFETY: a non-nil slot holds a live string, and nothing
            // allocates while the slice is in use.
            if !s.is_nil() && unsafe { payload(s.as_object()) } == bytes {
                return Some(s);
            }
        }
        i = (i + 1) & mask;
    }
}

/// Puts `s` into the first free or tombstone slot of its probe sequence.
fn insert(heap: &mut Heap, t: ObjRef, s: ObjRef) {
    let hash = s.aux();
    let mask = t.slot_count() - 1;
    let mut i = hash as usize & mask;
    loop {
        let m = marker(t, i);
        if m == 0 || t.slot(i).is_nil() {
            if m == 0 {
                t.set_aux(t.aux() + 1);
            }
            set_marker(t, i, marker_of(hash));
            heap.write(t, i, Value::object(s));
            return;
        }
        i = (i + 1) & mask;
    }
}

/// Returns the interned string with contents `bytes`, creating it if needed.
/// May collect. `bytes` must not point into the heap.
pub fn intern(heap: &mut Heap, bytes: &[u8]) -> Result<Value, OutOfMemory> {
    let hash = hash_bytes(bytes);
    let table = heap.get(ROOT_STRINGS);
    if !table.is_nil() {
        if let Some(s) = find(heap, table.as_object(), hash, bytes) {
            return Ok(s);
        }
    }
    ensure_room(heap)?;
    let s = heap.alloc(AllocSpec {
        tag: tag::STRING,
        slots: 0,
        bytes: payload_bytes(bytes.len()),
        pinned: false,
        weak: false,
    })?;
    s.set_aux(hash);
    fill_payload(s, bytes);
    // The allocation may have collected (clearing dead entries, never adding
    // any), so the room made above is still there.
    let t = heap.get(ROOT_STRINGS).as_object();
    insert(heap, t, s);
    Ok(Value::object(s))
}

/// Tables at least this big are grown only after a collection has shown
/// that their entries are live: between collections, dead strings keep their
/// slots (the collector clears them), so the table would otherwise double on
/// garbage and could exhaust a small heap by itself.
const COLLECT_BEFORE_GROWING: usize = 1 << 16;

/// Makes room for one more entry: purges cleared slots in place when the
/// live strings fit, and only otherwise moves them to a table twice as big.
fn ensure_room(heap: &mut Heap) -> Result<(), OutOfMemory> {
    let table = heap.get(ROOT_STRINGS);
    let (cap, used) = if table.is_nil() {
        (0, 0)
    } else {
        (
            table.as_object().slot_count(),
            table.as_object().aux() as usize,
        )
    };
    if (used + 1) * 4 <= cap * 3 {
        return Ok(());
    }
    if cap > 0 && fits_after_purge(heap) {
        return Ok(());
    }
    if cap >= COLLECT_BEFORE_GROWING {
        // A failed collection just means we grow as if it had not run.
        let _ = heap.collect();
        if fits_after_purge(heap) {
            return Ok(());
        }
    }
    let live = live_count(heap.get(ROOT_STRINGS));
    let mut new_cap = MIN_CAPACITY.max(cap);
    while (live + 1) * 2 > new_cap {
        new_cap *= 2;
    }
    let new = heap.alloc(AllocSpec {
        tag: tag::INTERN,
        slots: new_cap as u32,
        bytes: new_cap * 4,
        pinned: false,
        weak: true,
    })?;
    let old = heap.get(ROOT_STRINGS);
    if !old.is_nil() {
        let o = old.as_object();
        for i in 0..o.slot_count() {
            let s = o.slot(i);
            if !s.is_nil() {
                insert(heap, new, s.as_object());
            }
        }
    }
    heap.set(ROOT_STRINGS, Value::object(new));
    Ok(())
}

fn live_count(table: Value) -> usize {
    if table.is_nil() {
        return 0;
    }
    let t = table.as_object();
    (0..t.slot_count()).filter(|&i| !t.slot(i).is_nil()).count()
}

/// If the live strings fill at most half the table, re-inserts them in
/// place (dropping tombstones) and returns true. Allocates nothing.
fn fits_after_purge(heap: &mut Heap) -> bool {
    let table = heap.get(ROOT_STRINGS);
    let t = table.as_object();
    let cap = t.slot_count();
    if (live_count(table) + 1) * 2 > cap {
        return false;
    }
    // No heap allocation happens below, so these references stay valid.
    let live: Vec<Value> = (0..cap)
        .map(|i| t.slot(i))
        .filter(|s| !s.is_nil())
        .collect();
    for i in 0..cap {
        set_marker(t, i, 0);
        heap.write(t, i, Value::NIL);
    }
    t.set_aux(0);
    for s in live {
        insert(heap, t, s.as_object());
    }
    true
}
