//! Object layout and the [`ObjRef`] address type.
//!
//! Every object starts with a two-word header and is a multiple of two words
//! (16 bytes), so that any gap in the moving space can hold a filler object
//! and the heap stays walkable:
//!
//! ```text
//! word 0: size in words (u32, header included) | reference slots (31 bits) << 32
//!         | weak (1 bit) << 63
//! word 1: embedder tag (u16) | gc flags (u16) << 16 | aux (u32) << 32
//! word 2..2+slots: Value slots
//! then raw bytes up to the end of the object
//! ```
//!
//! Mark state lives in side bitmaps, never in the header: pages are computed
//! from a read-only from-space, and concurrent markers never write objects.

use crate::value::Value;
use std::sync::atomic::{AtomicU64, Ordering};

/// Bytes in a heap word.
pub const WORD: usize = 8;
/// Words in an object header.
pub const HEADER_WORDS: usize = 2;
/// Every object's size is a multiple of this many words.
pub const OBJECT_ALIGN_WORDS: usize = 2;
/// Embedder tag of filler objects that plug allocation-buffer tails.
pub const FILLER_TAG: u16 = u16::MAX;

/// GC flag: every slot of this object is weak.
pub const FLAG_WEAK: u16 = 1;
/// GC flag: the object lives in the non-moving space.
pub const FLAG_NON_MOVING: u16 = 2;

/// Most reference slots an object can have (the slot count is 31 bits: the
/// top bit of header word 0 repeats [`FLAG_WEAK`]).
pub const MAX_SLOTS: u32 = (1 << 31) - 1;
/// Header word 0's copy of [`FLAG_WEAK`]: a weak object's word 0 is
/// negative as an `i64`, so [`ObjRef::strong_slot_limit`] tells a slot
/// that may be read without the weak-read barrier from one that may not
/// with the same one load the bounds check makes anyway.
const WORD0_WEAK: u64 = 1 << 63;
const SLOTS_MASK: u64 = MAX_SLOTS as u64;

/// The decoded header of an object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// Size in words, header included; a multiple of [`OBJECT_ALIGN_WORDS`].
    pub size_words: u32,
    /// Number of reference slots after the header.
    pub slots: u32,
    /// The embedder's type tag (the collector never needs it).
    pub tag: u16,
    /// Collector flags ([`FLAG_WEAK`], [`FLAG_NON_MOVING`]).
    pub flags: u16,
    /// Free for the embedder (e.g. a cached string hash).
    pub aux: u32,
}

impl Header {
    /// Encodes the first header word.
    #[inline(always)]
    pub fn word0(&self) -> u64 {
        // FLAG_WEAK is bit 0 of the flags: shifted to bit 63, branch-free.
        let weak = ((self.flags & FLAG_WEAK) as u64) << 63;
        self.size_words as u64 | (self.slots as u64 & SLOTS_MASK) << 32 | weak
    }

    /// Encodes the second header word.
    #[inline(always)]
    pub fn word1(&self) -> u64 {
        self.tag as u64 | (self.flags as u64) << 16 | (self.aux as u64) << 32
    }

    /// Decodes a header from its two words.
    #[inline(always)]
    pub fn decode(word0: u64, word1: u64) -> Header {
        Header {
            size_words: word0 as u32,
            slots: (word0 >> 32 & SLOTS_MASK) as u32,
            tag: word1 as u16,
            flags: (word1 >> 16) as u16,
            aux: (word1 >> 32) as u32,
        }
    }

    /// Whether every slot is weak.
    #[inline(always)]
    pub fn is_weak(&self) -> bool {
        self.flags & FLAG_WEAK != 0
    }

    /// Whether the sizes are self-consistent (used by the verifier).
    pub fn is_sane(&self) -> bool {
        let size = self.size_words as usize;
        size >= HEADER_WORDS
            && self.slots <= MAX_SLOTS
            && size.is_multiple_of(OBJECT_ALIGN_WORDS)
            && HEADER_WORDS + self.slots as usize <= size
    }
}

/// Object size in words for `slots` reference slots and `bytes` raw bytes.
/// Returns `None` when the size does not fit the header.
#[inline(always)]
pub fn size_in_words(slots: u32, bytes: usize) -> Option<usize> {
    if slots > MAX_SLOTS {
        return None;
    }
    let raw_words = bytes.checked_add(WORD - 1)? / WORD;
    let words = HEADER_WORDS
        .checked_add(slots as usize)?
        .checked_add(raw_words)?;
    let aligned = words.checked_add(OBJECT_ALIGN_WORDS - 1)? & !(OBJECT_ALIGN_WORDS - 1);
    (aligned <= u32::MAX as usize).then_some(aligned)
}

/// The address of an object's header in the heap: the collector's raw,
/// lifetime-free object reference.
///
/// An `ObjRef` names a live object (its type invariant): its safe
/// accessors read and write that object's header and slots, checking slot
/// indices and byte ranges against the header. It stays valid only until
/// the object moves or dies (the next safepoint of the thread that holds
/// it, in the runtime's terms), which no type here can check: making one is
/// `unsafe` ([`ObjRef::from_addr`], [`Value::as_object`]), and its maker
/// answers for every later use. Embedders use the runtime's `Gc<'m>`,
/// whose lifetime carries that rule.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(transparent)]
pub struct ObjRef(usize);

impl ObjRef {
    /// Wraps an address.
    ///
    /// # Safety
    /// `addr` is the header of a live object (as a heap allocation returned
    /// it, or as the collector found it while walking a stopped heap), and
    /// the object neither moves nor dies for as long as the result, or any
    /// copy of it, is used.
    #[inline(always)]
    pub unsafe fn from_addr(addr: usize) -> ObjRef {
        ObjRef(addr)
    }

    /// The header's address.
    #[inline(always)]
    pub fn addr(self) -> usize {
        self.0
    }

    #[inline(always)]
    fn word_ptr(self, index: usize) -> *mut u64 {
        (self.0 + index * WORD) as *mut u64
    }

    /// The word at `index` as an atomic: slots and the aux word may be read
    /// by a concurrent marker while the mutator writes them, so both sides
    /// use (relaxed, on x86 plain) atomic accesses.
    ///
    /// # Safety
    /// `self` names a live object and `index` is inside it.
    #[inline(always)]
    unsafe fn atomic_word<'a>(self, index: usize) -> &'a AtomicU64 {
        // SAFETY: the caller guarantees the word is inside a live object;
        // object words are 8-byte aligned and only ever accessed atomically
        // while other threads may see the object.
        unsafe { AtomicU64::from_ptr(self.word_ptr(index)) }
    }

    /// Reads header word `index` (0 or 1).
    #[inline(always)]
    fn header_word(self, index: usize) -> u64 {
        debug_assert!(index < HEADER_WORDS);
        // SAFETY: an ObjRef names a live object (type invariant), whose two
        // header words are mapped and 8-byte aligned.
        unsafe { self.atomic_word(index) }.load(Ordering::Relaxed)
    }

    /// The decoded header.
    #[inline(always)]
    pub fn header(self) -> Header {
        Header::decode(self.header_word(0), self.header_word(1))
    }

    /// Size in words, header included.
    #[inline(always)]
    pub fn size_words(self) -> usize {
        self.header_word(0) as u32 as usize
    }

    /// Number of reference slots.
    #[inline(always)]
    pub fn slot_count(self) -> usize {
        (self.header_word(0) >> 32 & SLOTS_MASK) as usize
    }

    /// The number of slots a plain read may touch: [`ObjRef::slot_count`]
    /// for an ordinary object, 0 for a weak one (whose slots must be read
    /// through the weak-read barrier). Costs what `slot_count` costs: the
    /// weak bit is the sign of header word 0.
    #[inline(always)]
    pub fn strong_slot_limit(self) -> usize {
        let w = self.header_word(0) as i64;
        // An arithmetic shift keeps the weak bit as the sign.
        (w >> 32).max(0) as usize
    }

    /// Whether every slot is weak.
    #[inline(always)]
    pub fn is_weak(self) -> bool {
        self.header_word(0) & WORD0_WEAK != 0
    }

    /// The embedder's type tag.
    #[inline(always)]
    pub fn tag(self) -> u16 {
        self.header_word(1) as u16
    }

    /// The embedder's aux word.
    #[inline(always)]
    pub fn aux(self) -> u32 {
        (self.header_word(1) >> 32) as u32
    }

    /// Sets the embedder's aux word.
    #[inline(always)]
    pub fn set_aux(self, aux: u32) {
        let w = self.header_word(1) & 0xffff_ffff | (aux as u64) << 32;
        // SAFETY: header word 1 of a live object is mapped and writable; the
        // aux bits are the embedder's and the collector never reads them.
        unsafe { self.atomic_word(1) }.store(w, Ordering::Relaxed)
    }

    /// Reads slot `i` (no read barrier is ever needed).
    ///
    /// # Panics
    /// If `i` is not below [`ObjRef::slot_count`].
    #[inline(always)]
    pub fn slot(self, i: usize) -> Value {
        assert!(i < self.slot_count(), "slot {i} out of range");
        // SAFETY: bounds checked above; slots are aligned words of the object.
        unsafe { self.slot_unchecked(i) }
    }

    /// Reads slot `i` without a bounds check.
    ///
    /// # Safety
    /// 1. `self` names a live object (see the type docs).
    /// 2. `i < self.slot_count()`.
    #[inline(always)]
    pub unsafe fn slot_unchecked(self, i: usize) -> Value {
        // SAFETY: the caller guarantees the slot exists (invariants 1 and 2).
        // Acquire pairs with the release store that published the value, so
        // an object another mutator thread just initialised is seen whole.
        Value::from_bits(unsafe { self.atomic_word(HEADER_WORDS + i) }.load(Ordering::Acquire))
    }

    /// The address of slot `i` (not checked against the slot count): the
    /// card the write barrier dirties for a store into it.
    #[inline(always)]
    pub fn slot_addr(self, i: usize) -> usize {
        self.addr() + (HEADER_WORDS + i) * WORD
    }

    /// Stores into slot `i` without the write barrier: for the collector and
    /// for initialising stores; embedders store through the runtime.
    ///
    /// # Safety
    /// 1. `self` names a live object and `i < self.slot_count()`.
    /// 2. No concurrent marking is running, or the caller has applied the
    ///    write barrier for the overwritten value.
    /// 3. With generational collection, the slot's card is dirtied after the
    ///    store ([`crate::Heap::cards`]) unless `v` is no young object or
    ///    `self` is young (allocated since the last collection).
    #[inline(always)]
    pub unsafe fn set_slot_raw(self, i: usize, v: Value) {
        // SAFETY: the caller guarantees the slot exists (invariant 1).
        // Release publishes the stored object's initialisation to other
        // mutator threads (free on x86: a plain store either way).
        unsafe { self.atomic_word(HEADER_WORDS + i) }.store(v.to_bits(), Ordering::Release)
    }

    /// Capacity of the raw byte area in bytes (a multiple of 8).
    #[inline(always)]
    pub fn byte_len(self) -> usize {
        self.raw_words().1 * WORD
    }

    /// The raw area's first word index (after the header and the slots) and
    /// its length in words, from one read of header word 0.
    #[inline(always)]
    pub fn raw_words(self) -> (usize, usize) {
        let w = self.header_word(0);
        let slots = (w >> 32 & SLOTS_MASK) as usize;
        let first = HEADER_WORDS + slots;
        (first, (w as u32 as usize).wrapping_sub(first))
    }

    /// Start of the raw byte area.
    #[inline(always)]
    pub fn bytes_ptr(self) -> *mut u8 {
        (self.0 + (HEADER_WORDS + self.slot_count()) * WORD) as *mut u8
    }

    /// The raw byte area as a slice.
    ///
    /// # Safety
    /// 1. `self` names a live object for all of `'a` (no safepoint in `'a`).
    /// 2. No `bytes_mut` borrow of the same object overlaps `'a`.
    #[inline(always)]
    pub unsafe fn bytes<'a>(self) -> &'a [u8] {
        // SAFETY: the area lies inside the object (header sizes), and the
        // caller keeps the object alive and unaliased (invariants 1, 2).
        unsafe { std::slice::from_raw_parts(self.bytes_ptr(), self.byte_len()) }
    }

    /// The raw byte area as a mutable slice.
    ///
    /// # Safety
    /// 1. `self` names a live object for all of `'a` (no safepoint in `'a`).
    /// 2. No other borrow of the same object's bytes overlaps `'a`.
    #[inline(always)]
    pub unsafe fn bytes_mut<'a>(self) -> &'a mut [u8] {
        // SAFETY: as for `bytes`, plus exclusivity from invariant 2.
        unsafe { std::slice::from_raw_parts_mut(self.bytes_ptr(), self.byte_len()) }
    }
}

impl std::fmt::Debug for ObjRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ObjRef({:#x})", self.0)
    }
}

/// Writes a fresh header and nil slots (and zero raw words) at `addr`.
///
/// # Safety
/// 1. `[addr, addr + header.size_words * 8)` is mapped, writable memory that
///    this thread owns exclusively (a fresh allocation).
/// 2. `header.is_sane()`.
#[inline(always)]
pub unsafe fn init_object(addr: usize, header: Header, zero_raw: bool) -> ObjRef {
    debug_assert!(
        header.is_sane(),
        "init_object with an insane header {header:?}"
    );
    let p = addr as *mut u64;
    // SAFETY: invariant 1 covers every word written below.
    unsafe {
        p.write(header.word0());
        p.add(1).write(header.word1());
        let slots = header.slots as usize;
        for i in 0..slots {
            p.add(HEADER_WORDS + i).write(Value::NIL.to_bits());
        }
        if zero_raw {
            let first_raw = HEADER_WORDS + slots;
            std::ptr::write_bytes(p.add(first_raw), 0, header.size_words as usize - first_raw);
        }
    }
    ObjRef(addr)
}

/// Writes a filler object of `words` words at `addr` (plugs a TLAB tail).
///
/// # Safety
/// Same as [`init_object`] invariant 1; `words` is even and at least 2.
pub unsafe fn init_filler(addr: usize, words: usize) {
    debug_assert!(words >= HEADER_WORDS && words.is_multiple_of(OBJECT_ALIGN_WORDS));
    let h = Header {
        size_words: words as u32,
        slots: 0,
        tag: FILLER_TAG,
        flags: 0,
        aux: 0,
    };
    let p = addr as *mut u64;
    // SAFETY: the caller owns the two header words (invariant 1).
    unsafe {
        p.write(h.word0());
        p.add(1).write(h.word1());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trips_every_field() {
        let h = Header {
            size_words: 1234,
            slots: 77,
            tag: 0xbeef,
            flags: FLAG_WEAK,
            aux: 0xdead_beef,
        };
        assert_eq!(Header::decode(h.word0(), h.word1()), h);
        assert!(h.is_weak());
    }

    #[test]
    fn a_weak_object_has_no_strongly_readable_slot() {
        let mut buf = vec![0u64; 8];
        let h = Header {
            size_words: 8,
            slots: 3,
            tag: 5,
            flags: FLAG_WEAK,
            aux: 0,
        };
        // SAFETY: buf is 8 owned words.
        let obj = unsafe { init_object(buf.as_mut_ptr() as usize, h, true) };
        assert_eq!(obj.slot_count(), 3, "the weak bit is not part of the count");
        assert_eq!(obj.header(), h);
        assert!(obj.is_weak());
        assert_eq!(obj.strong_slot_limit(), 0);
        let most = Header {
            slots: MAX_SLOTS,
            flags: 0,
            ..h
        };
        assert_eq!(Header::decode(most.word0(), most.word1()).slots, MAX_SLOTS);
    }

    #[test]
    fn sizes_round_up_to_two_words_and_refuse_overflow() {
        assert_eq!(size_in_words(0, 0), Some(2));
        assert_eq!(size_in_words(1, 0), Some(4));
        assert_eq!(size_in_words(2, 0), Some(4));
        assert_eq!(size_in_words(0, 1), Some(4));
        assert_eq!(size_in_words(0, 16), Some(4));
        assert_eq!(size_in_words(0, 17), Some(6));
        assert_eq!(size_in_words(u32::MAX, usize::MAX), None);
        assert_eq!(size_in_words(0, (u32::MAX as usize) * 8), None);
        assert_eq!(size_in_words(MAX_SLOTS + 1, 0), None);
    }

    #[test]
    fn accessors_read_what_init_wrote() {
        let mut buf = vec![0xffu64; 8];
        let h = Header {
            size_words: 8,
            slots: 3,
            tag: 5,
            flags: 0,
            aux: 9,
        };
        // SAFETY: buf is 8 owned words.
        let obj = unsafe { init_object(buf.as_mut_ptr() as usize, h, true) };
        assert_eq!(obj.slot_count(), 3);
        assert_eq!(obj.size_words(), 8);
        assert_eq!(obj.tag(), 5);
        assert_eq!(obj.aux(), 9);
        obj.set_aux(42);
        assert_eq!(obj.aux(), 42);
        assert_eq!(obj.tag(), 5, "set_aux must keep the tag");
        assert_eq!(obj.slot(2), Value::NIL);
        assert_eq!(obj.strong_slot_limit(), 3);
        assert!(!obj.is_weak());
        assert_eq!(obj.byte_len(), 24);
        // SAFETY: obj lives in buf, which outlives this borrow.
        assert!(unsafe { obj.bytes() }.iter().all(|&b| b == 0));
    }
}
