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
//! rooted, and [`set`] takes its key and value from the root stack's top.

use crate::rt::{AllocError, AllocSpec, Gc, Value};

use crate::heap::Heap;
use crate::object::{always_object, hash_of, obj, tag};

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
    #[inline(always)]
    pub fn load(self, heap: &Heap) -> Value<'_> {
        match self {
            Holder::Root(n) => heap.get(n),
            Holder::Slot { root, slot } => obj(heap.get(root)).slot(slot),
        }
    }

    fn store(self, heap: &Heap, table: Value<'_>) {
        match self {
            Holder::Root(n) => heap.set(n, table),
            Holder::Slot { root, slot } => heap.write(obj(heap.get(root)), slot, table),
        }
    }
}

/// The value stored under `key` in `table` (a table object or nil).
#[inline(always)]
pub fn get<'a>(table: Value<'a>, key: Value<'_>) -> Option<Value<'a>> {
    let t = table.as_object()?;
    match probe(t, key) {
        Ok(i) => Some(t.slot(2 * i + 1)),
        Err(_) => None,
    }
}

/// An entry [`find_hinted`] found.
#[derive(Clone, Copy, Debug)]
pub struct Entry<'a> {
    /// The table.
    pub table: Gc<'a>,
    /// The entry's index (its key is slot `2 * index`, its value the next).
    pub index: usize,
    /// The entry's value.
    pub value: Value<'a>,
    /// Whether the hint named the entry (else remember `index` for next
    /// time).
    pub hinted: bool,
}

/// An inline cache's remembered entry index, as a value: a number whose
/// bits are the index (what [`find_hinted`] reads back without converting).
#[inline(always)]
pub fn hint<'a>(index: usize) -> Value<'a> {
    Value::number(f64::from_bits(index as u64))
}

/// Finds `key` in `table` (a table object or nil), trying entry `hint`
/// first: an inline cache's remembered entry index ([`hint`]; any other
/// value, e.g. nil, has bits far above every table's size, so it is no
/// hint). Objects of one class get their fields in the same order, so
/// their tables put a key at the same entry, and a site reading `this.x`
/// hits its hint on every instance.
#[inline(always)]
pub fn find_hinted<'a>(table: Value<'a>, key: Value<'_>, hint: Value<'_>) -> Option<Entry<'a>> {
    let t = table.as_object()?;
    let i = hint.raw().to_bits();
    if i < (t.slot_count() / 2) as u64 {
        let i = i as usize;
        // SAFETY: both slots are inside the table (above), which is not
        // weak.
        let (k, value) = unsafe { (t.slot_unchecked(2 * i), t.slot_unchecked(2 * i + 1)) };
        if k == key {
            return Some(Entry {
                table: t,
                index: i,
                value,
                hinted: true,
            });
        }
    }
    let index = probe(t, key).ok()?;
    Some(Entry {
        table: t,
        index,
        value: t.slot(2 * index + 1),
        hinted: false,
    })
}

/// Finds `key`: `Ok(entry index)` if present, else `Err(empty entry index)`.
#[inline(always)]
fn probe(t: Gc<'_>, key: Value<'_>) -> Result<usize, usize> {
    let cap = t.slot_count() / 2;
    debug_assert!(
        cap.is_power_of_two(),
        "table capacity {cap} is not a power of two"
    );
    let mask = cap - 1;
    // SAFETY: table keys are interned strings (globals, fields and
    // methods are named by identifiers).
    let mut i = hash_of(unsafe { always_object(key) }) as usize & mask;
    loop {
        // SAFETY: i <= mask < cap, so slot 2i is in the object, and tables
        // are not weak.
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

/// Stores the value on the root stack's top under the key below it in the
/// table at `holder`, creating or growing the table as needed, and pops
/// both. Returns whether the key was new. May collect (only to grow).
pub fn set(heap: &mut Heap, holder: Holder) -> Result<bool, AllocError> {
    let top = heap.sp();
    {
        let (key, value) = (heap.get(top - 2), heap.get(top - 1));
        if let Some(t) = holder.load(heap).as_object() {
            match probe(t, key) {
                Ok(i) => {
                    heap.write(t, 2 * i + 1, value);
                    heap.truncate(top - 2);
                    return Ok(false);
                }
                Err(i) if !needs_growth(t) => {
                    insert_at(heap, t, i, key, value);
                    heap.truncate(top - 2);
                    return Ok(true);
                }
                Err(_) => {}
            }
        }
    }
    if let Err(e) = grow(heap, holder) {
        heap.truncate(top - 2);
        return Err(e);
    }
    // The growth may have collected: key, value and table are read again.
    let (key, value) = (heap.get(top - 2), heap.get(top - 1));
    let t = obj(holder.load(heap));
    let i = match probe(t, key) {
        Ok(i) | Err(i) => i,
    };
    insert_at(heap, t, i, key, value);
    heap.truncate(top - 2);
    Ok(true)
}

/// Puts a new entry in free entry `i` of table `t`.
#[inline(always)]
fn insert_at(heap: &Heap, t: Gc<'_>, i: usize, key: Value<'_>, value: Value<'_>) {
    heap.write(t, 2 * i, key);
    heap.write(t, 2 * i + 1, value);
    t.set_aux(t.aux() + 1);
}

/// Whether one more entry would fill table `t` past three quarters.
#[inline(always)]
fn needs_growth(t: Gc<'_>) -> bool {
    let cap = t.slot_count() / 2;
    (t.aux() as usize + 1) * 4 > cap * 3
}

/// Replaces the table at `holder` with one of twice the capacity.
fn grow(heap: &mut Heap, holder: Holder) -> Result<(), AllocError> {
    let cap = match holder.load(heap).as_object() {
        None => MIN_CAPACITY,
        Some(old) => old.slot_count(),
    };
    let (heap, new) = heap.alloc(AllocSpec {
        tag: tag::TABLE,
        slots: (2 * cap) as u32,
        bytes: 0,
        pinned: false,
        weak: false,
    })?;
    // The allocation may have moved the old table: it is read again here.
    if let Some(o) = holder.load(heap).as_object() {
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
    holder.store(heap, new.into());
    Ok(())
}

/// Makes the table at `to` a copy of the table at `from` (if any): `inherit`
/// copies the superclass's methods into a class that has none yet. May
/// collect; both holders are read again after the allocation.
pub fn copy_into(heap: &mut Heap, from: Holder, to: Holder) -> Result<(), AllocError> {
    let Some(src) = from.load(heap).as_object() else {
        return Ok(());
    };
    let slots = src.slot_count();
    let (heap, new) = heap.alloc(AllocSpec {
        tag: tag::TABLE,
        slots: slots as u32,
        bytes: 0,
        pinned: false,
        weak: false,
    })?;
    let src = obj(from.load(heap));
    for i in 0..slots {
        heap.write(new, i, src.slot(i));
    }
    new.set_aux(src.aux());
    to.store(heap, new.into());
    Ok(())
}

/// The table is missing or too full for one more entry: [`set`] grows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Full;

/// Stores `value` under `key` in `table` (a table object or nil) if that
/// needs no allocation: returns whether the key was new, or [`Full`] when
/// the table must be created or grown first ([`set`] does both). The fast
/// path of every store of a global, a field or a method.
#[inline(always)]
pub fn put(heap: &Heap, table: Value<'_>, key: Value<'_>, value: Value<'_>) -> Result<bool, Full> {
    let t = table.as_object().ok_or(Full)?;
    match probe(t, key) {
        Ok(i) => {
            heap.write(t, 2 * i + 1, value);
            Ok(false)
        }
        Err(i) if !needs_growth(t) => {
            insert_at(heap, t, i, key, value);
            Ok(true)
        }
        Err(_) => Err(Full),
    }
}
