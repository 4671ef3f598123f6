//! Open-addressing hash tables keyed by interned strings (globals, fields,
//! methods), stored as heap objects.
//!
//! A table is an object of `2 * capacity` slots holding key/value pairs
//! (capacity a power of two, empty key = nil) whose aux word counts the
//! entries. Keys are interned, so a key matches by identity; the probe
//! starts at the string's cached hash. Lox never deletes a global, field or
//! method, so there are no tombstones. A table grows by allocating a bigger
//! one and re-inserting; since that allocation may move everything, the
//! table is reached through a [`Holder`] that names where its reference is
//! rooted, and key and value are parked on the root stack meanwhile.

use crate::rt::{AllocSpec, ObjRef, OutOfMemory, Value};

use crate::heap::Heap;
use crate::object::tag;

/// Smallest capacity a table is created with.
const MIN_CAPACITY: usize = 8;

/// Where the reference to a table lives.
#[derive(Clone, Copy, Debug)]
pub enum Holder {
    /// Directly in root slot `n` (the globals table).
    Root(usize),
    /// In slot `slot` of the object held by root slot `root` (an instance's
    /// fields, a class's methods).
    Slot {
        /// Root slot holding the owner object.
        root: usize,
        /// The owner's slot holding the table.
        slot: usize,
    },
}

impl Holder {
    /// The table (or nil when none exists yet).
    #[inline]
    pub fn load(self, heap: &Heap) -> Value {
        match self {
            Holder::Root(n) => heap.get(n),
            Holder::Slot { root, slot } => heap.get(root).as_object().slot(slot),
        }
    }

    fn store(self, heap: &mut Heap, table: Value) {
        match self {
            Holder::Root(n) => heap.set(n, table),
            Holder::Slot { root, slot } => {
                let owner = heap.get(root).as_object();
                heap.write(owner, slot, table);
            }
        }
    }
}

/// The value stored under `key` in `table` (a table object or nil).
#[inline]
pub fn get(table: Value, key: Value) -> Option<Value> {
    if table.is_nil() {
        return None;
    }
    let t = table.as_object();
    match probe(t, key) {
        Ok(i) => Some(t.slot(2 * i + 1)),
        Err(_) => None,
    }
}

/// Finds `key`: `Ok(entry index)` if present, else `Err(empty entry index)`.
#[inline(always)]
fn probe(t: ObjRef, key: Value) -> Result<usize, usize> {
    let cap = t.slot_count() / 2;
    debug_assert!(
        cap.is_power_of_two(),
        "table capacity {cap} is not a power of two"
    );
    let mask = cap - 1;
    let mut i = key.as_object().aux() as usize & mask;
    loop {
        // SAFETY: i <= mask < cap, so slot 2i is in the object (t is live).
        let k = unsafe { t.slot_unchecked(2 * i) };
        if k == key {
            return Ok(i);
        }
        if k.is_nil() {
            return Err(i);
        }
        i = (i + 1) & mask;
    }
}

/// Stores `value` under `key` in the table at `holder`, creating or growing
/// the table as needed. Returns whether the key was new. May collect.
pub fn set(heap: &mut Heap, holder: Holder, key: Value, value: Value) -> Result<bool, OutOfMemory> {
    let mut table = holder.load(heap);
    if !table.is_nil() {
        let t = table.as_object();
        if let Ok(i) = probe(t, key) {
            heap.write(t, 2 * i + 1, value);
            return Ok(false);
        }
    }
    let (mut key, mut value) = (key, value);
    if needs_growth(table) {
        heap.push(key);
        heap.push(value);
        let grown = grow(heap, holder);
        value = heap.pop();
        key = heap.pop();
        table = grown?;
    }
    let t = table.as_object();
    let i = match probe(t, key) {
        Ok(i) | Err(i) => i,
    };
    heap.write(t, 2 * i, key);
    heap.write(t, 2 * i + 1, value);
    t.set_aux(t.aux() + 1);
    Ok(true)
}

fn needs_growth(table: Value) -> bool {
    if table.is_nil() {
        return true;
    }
    let t = table.as_object();
    let cap = t.slot_count() / 2;
    (t.aux() as usize + 1) * 4 > cap * 3
}

/// Replaces the table at `holder` with one of twice the capacity.
fn grow(heap: &mut Heap, holder: Holder) -> Result<Value, OutOfMemory> {
    let old = holder.load(heap);
    let cap = if old.is_nil() {
        MIN_CAPACITY
    } else {
        old.as_object().slot_count()
    };
    let new = heap.alloc(AllocSpec {
        tag: tag::TABLE,
        slots: (2 * cap) as u32,
        bytes: 0,
        pinned: false,
        weak: false,
    })?;
    // The allocation may have moved the old table: reload it.
    let old = holder.load(heap);
    if !old.is_nil() {
        let o = old.as_object();
        for i in 0..o.slot_count() / 2 {
            let k = o.slot(2 * i);
            if !k.is_nil() {
                let j = match probe(new, k) {
                    Ok(j) | Err(j) => j,
                };
                heap.write(new, 2 * j, k);
                heap.write(new, 2 * j + 1, o.slot(2 * i + 1));
            }
        }
        new.set_aux(o.aux());
    }
    let new = Value::object(new);
    holder.store(heap, new);
    Ok(new)
}

/// Makes the table at `to` a copy of the table at `from` (if any): `inherit`
/// copies the superclass's methods into a class that has none yet. May
/// collect; both holders are re-read after the allocation.
pub fn copy_into(heap: &mut Heap, from: Holder, to: Holder) -> Result<(), OutOfMemory> {
    let src = from.load(heap);
    if src.is_nil() {
        return Ok(());
    }
    let slots = src.as_object().slot_count();
    let new = heap.alloc(AllocSpec {
        tag: tag::TABLE,
        slots: slots as u32,
        bytes: 0,
        pinned: false,
        weak: false,
    })?;
    let src = from.load(heap).as_object();
    for i in 0..slots {
        heap.write(new, i, src.slot(i));
    }
    new.set_aux(src.aux());
    to.store(heap, Value::object(new));
    Ok(())
}

/// Overwrites the value under `key` if the table (or nil) has it; never
/// allocates. Returns whether the key was present.
#[inline]
pub fn replace(heap: &mut Heap, table: Value, key: Value, value: Value) -> bool {
    if table.is_nil() {
        return false;
    }
    let t = table.as_object();
    match probe(t, key) {
        Ok(i) => {
            heap.write(t, 2 * i + 1, value);
            true
        }
        Err(_) => false,
    }
}
