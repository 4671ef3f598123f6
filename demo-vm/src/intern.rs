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

use crate::rt::{AllocError, AllocSpec, Gc, Value};

use crate::heap::{Heap, ROOT_STRINGS};
use crate::object::{fill_payload, hash_of, obj, payload, payload_bytes, string_hash, tag};

const MIN_CAPACITY: usize = 64;

#[inline(always)]
fn marker_of(hash: u32) -> u32 {
    hash | 1
}

/// Marker `i` of the table (little-endian u32 `i` of its raw bytes).
#[inline(always)]
fn marker(t: Gc<'_>, i: usize) -> u32 {
    (t.raw_word(i / 2) >> (32 * (i % 2))) as u32
}

#[inline(always)]
fn set_marker(t: Gc<'_>, i: usize, m: u32) {
    let shift = 32 * (i % 2);
    let w = t.raw_word(i / 2) & !(0xffff_ffff << shift) | u64::from(m) << shift;
    t.set_raw_word(i / 2, w);
}

/// Finds the interned string equal to `bytes`. The hit is read through the
/// weak-read barrier: the program keeps it.
fn find<'h>(heap: &'h Heap, t: Gc<'_>, hash: u32, bytes: &[u8]) -> Option<Value<'h>> {
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
            if let Some(o) = s.as_object() {
                // SAFETY: strings are written once, before they are
                // interned, and never again.
                if unsafe { payload(o) } == bytes {
                    return Some(s);
                }
            }
        }
        i = (i + 1) & mask;
    }
}

/// Puts `s` into the first free or tombstone slot of its probe sequence.
fn insert(heap: &Heap, t: Gc<'_>, s: Gc<'_>) {
    let hash = hash_of(s);
    let mask = t.slot_count() - 1;
    let mut i = hash as usize & mask;
    loop {
        let m = marker(t, i);
        if m == 0 || t.slot_raw(i).is_nil() {
            if m == 0 {
                t.set_aux(t.aux() + 1);
            }
            set_marker(t, i, marker_of(hash));
            heap.write(t, i, s.into());
            return;
        }
        i = (i + 1) & mask;
    }
}

/// Pushes the interned string with contents `bytes` on the root stack,
/// creating it if needed. May collect. `bytes` must not point into the
/// heap.
pub fn intern(heap: &mut Heap, bytes: &[u8]) -> Result<(), AllocError> {
    let hash = string_hash(bytes);
    if let Some(table) = heap.get(ROOT_STRINGS).as_object() {
        if let Some(s) = find(heap, table, hash, bytes) {
            heap.push(s);
            return Ok(());
        }
    }
    ensure_room(heap)?;
    let (heap, s) = heap.alloc(AllocSpec {
        tag: tag::STRING,
        slots: 0,
        bytes: payload_bytes(bytes.len()),
        pinned: false,
        weak: false,
    })?;
    s.set_aux(hash);
    // SAFETY: allocated just now, not published yet.
    unsafe { fill_payload(s, bytes) };
    // The allocation may have collected (clearing dead entries, never adding
    // any), so the room made above is still there.
    insert(heap, obj(heap.get(ROOT_STRINGS)), s);
    heap.push(s.into());
    Ok(())
}

/// Tables at least this big are grown only after a collection has shown
/// that their entries are live: between collections, dead strings keep their
/// slots (the collector clears them), so the table would otherwise double on
/// garbage and could exhaust a small heap by itself.
const COLLECT_BEFORE_GROWING: usize = 1 << 16;

/// Makes room for one more entry: purges cleared slots in place when the
/// live strings fit, and only otherwise moves them to a table twice as big.
fn ensure_room(heap: &mut Heap) -> Result<(), AllocError> {
    let (cap, used) = match heap.get(ROOT_STRINGS).as_object() {
        None => (0, 0),
        Some(t) => (t.slot_count(), t.aux() as usize),
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
    let (heap, new) = heap.alloc(AllocSpec {
        tag: tag::INTERN,
        slots: new_cap as u32,
        bytes: new_cap * 4,
        pinned: false,
        weak: true,
    })?;
    if let Some(o) = heap.get(ROOT_STRINGS).as_object() {
        for i in 0..o.slot_count() {
            if let Some(s) = heap.load_weak(o, i).as_object() {
                insert(heap, new, s);
            }
        }
    }
    heap.set(ROOT_STRINGS, new.into());
    Ok(())
}

fn live_count(table: Value<'_>) -> usize {
    let Some(t) = table.as_object() else {
        return 0;
    };
    (0..t.slot_count())
        .filter(|&i| !t.slot_raw(i).is_nil())
        .count()
}

/// If the live strings fit at most half the table, re-inserts them in
/// place (dropping tombstones) and returns true. Allocates nothing.
fn fits_after_purge(heap: &Heap) -> bool {
    let table = heap.get(ROOT_STRINGS);
    let t = obj(table);
    let cap = t.slot_count();
    if (live_count(table) + 1) * 2 > cap {
        return false;
    }
    // Kept through the weak barrier, then re-inserted; nothing allocates.
    let live: Vec<Gc<'_>> = (0..cap)
        .filter_map(|i| heap.load_weak(t, i).as_object())
        .collect();
    for i in 0..cap {
        set_marker(t, i, 0);
        heap.write(t, i, Value::NIL);
    }
    t.set_aux(0);
    for s in live {
        insert(heap, t, s);
    }
    true
}
