//! Object references and values bound to a mutator borrow: [`Gc`] and
//! [`Value`].
//!
//! Both are one word and `Copy`, and both carry a lifetime `'m` that
//! borrows the [`Mutator`] they were read through *shared*. Every mutator
//! method that can reach a safepoint (and so move objects) takes
//! `&mut self`, so the compiler rejects any `Gc` or `Value` held across
//! one: within `'m` the object cannot move or die. That is the whole
//! safety argument of the safe accessors below. A reference that must live
//! longer is rooted ([`crate::Handle`], the value stack, a
//! [`crate::Global`]), and read back after the safepoint.
//!
//! Raw, lifetime-free values ([`RawValue`], the collector's `gc::Value`)
//! are the storage format of roots and heap slots. They can be copied
//! freely but not dereferenced: turning one back into a `Value` is
//! [`Value::from_raw`], which is `unsafe`.

use std::marker::PhantomData;
use std::sync::atomic::{AtomicU64, Ordering};

use gc::object::WORD;
use gc::ObjRef;

use crate::Mutator;

/// The collector's lifetime-free NaN-boxed value: what roots and heap slots
/// store. Inert: nothing dereferences it without `unsafe`.
pub use gc::Value as RawValue;

/// A value read through a mutator: a number, `nil`, a boolean or an object
/// reference ([`Gc`]), valid while the mutator is borrowed for `'m`.
///
/// Equality is identity: the same bits (the same object, the same number
/// bits; `0.0` and `-0.0` differ). Compare numbers with
/// [`Value::as_number`].
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
#[repr(transparent)]
pub struct Value<'m> {
    raw: RawValue,
    /// Borrows a mutator (which is neither `Send` nor `Sync`, so neither is
    /// this).
    _m: PhantomData<&'m Mutator>,
}

/// A reference to a live heap object, valid while the mutator it was read
/// through is borrowed for `'m` (no safepoint can happen meanwhile, so the
/// object neither moves nor dies). One word; neither `Send` nor `Sync`.
///
/// Slot and byte accessors check indices against the object's header, so a
/// `Gc` never reaches memory outside its object. Slot writes go through the
/// mutator's write barrier ([`Mutator::write`]); raw bytes need none.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
#[repr(transparent)]
pub struct Gc<'m> {
    obj: ObjRef,
    _m: PhantomData<&'m Mutator>,
}

impl<'m> Value<'m> {
    /// `nil`.
    pub const NIL: Value<'m> = Value::wrap(RawValue::NIL);
    /// `false`.
    pub const FALSE: Value<'m> = Value::wrap(RawValue::FALSE);
    /// `true`.
    pub const TRUE: Value<'m> = Value::wrap(RawValue::TRUE);

    #[inline(always)]
    const fn wrap(raw: RawValue) -> Value<'m> {
        Value {
            raw,
            _m: PhantomData,
        }
    }

    /// Boxes a number (every NaN becomes the one canonical NaN).
    #[inline(always)]
    pub fn number(n: f64) -> Value<'m> {
        Value::wrap(RawValue::number(n))
    }

    /// Boxes a boolean.
    #[inline(always)]
    pub fn bool(b: bool) -> Value<'m> {
        Value::wrap(RawValue::bool(b))
    }

    /// Boxes an object reference.
    #[inline(always)]
    pub fn object(obj: Gc<'m>) -> Value<'m> {
        Value::wrap(RawValue::object(obj.obj))
    }

    /// Rebuilds a value from its raw form.
    ///
    /// # Safety
    /// If `raw` is an object reference, it names a live object of the
    /// runtime whose mutator `'m` borrows, and `'m` ends before that
    /// thread's next safepoint (the object may move there). A raw value read
    /// from a root of this thread, or from a slot of an object reachable
    /// from one, since its last safepoint, qualifies.
    #[inline(always)]
    pub unsafe fn from_raw(raw: RawValue) -> Value<'m> {
        Value::wrap(raw)
    }

    /// The raw form (for storage; it loses the lifetime, and with it the
    /// right to dereference).
    #[inline(always)]
    pub fn raw(self) -> RawValue {
        self.raw
    }

    /// Whether this is a number.
    #[inline(always)]
    pub fn is_number(self) -> bool {
        self.raw.is_number()
    }

    /// Whether this is `nil`.
    #[inline(always)]
    pub fn is_nil(self) -> bool {
        self.raw.is_nil()
    }

    /// Whether this is `true` or `false`.
    #[inline(always)]
    pub fn is_bool(self) -> bool {
        self.raw.is_bool()
    }

    /// Whether this is an object reference.
    #[inline(always)]
    pub fn is_object(self) -> bool {
        self.raw.is_object()
    }

    /// The number, if this is one.
    #[inline(always)]
    pub fn as_number(self) -> Option<f64> {
        self.raw.is_number().then(|| self.raw.as_number())
    }

    /// The boolean, if this is one.
    #[inline(always)]
    pub fn as_bool(self) -> Option<bool> {
        self.raw.is_bool().then(|| self.raw.as_bool())
    }

    /// The object, if this is a reference.
    #[inline(always)]
    pub fn as_object(self) -> Option<Gc<'m>> {
        if self.raw.is_object() {
            // SAFETY: an object value of this type names a live object for
            // 'm (the type's invariant, established where it was made).
            Some(Gc::wrap(unsafe { self.raw.as_object() }))
        } else {
            None
        }
    }

    /// The object inside, without [`Value::as_object`]'s check (for an
    /// interpreter's hot paths, where its own layout says what a slot
    /// holds).
    ///
    /// # Safety
    /// `self.is_object()`.
    #[inline(always)]
    pub unsafe fn as_object_unchecked(self) -> Gc<'m> {
        debug_assert!(self.raw.is_object());
        // SAFETY: an object value (the caller's promise) of this type names a
        // live object for 'm.
        Gc::wrap(unsafe { self.raw.as_object() })
    }

    /// Whether this is a reference to an object with embedder tag `tag`.
    #[inline(always)]
    pub fn is_object_tagged(self, tag: u16) -> bool {
        self.as_object().is_some_and(|o| o.tag() == tag)
    }
}

impl Default for Value<'_> {
    fn default() -> Self {
        Value::NIL
    }
}

impl<'m> From<Gc<'m>> for Value<'m> {
    #[inline(always)]
    fn from(obj: Gc<'m>) -> Value<'m> {
        Value::object(obj)
    }
}

impl std::fmt::Debug for Value<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.raw.fmt(f)
    }
}

impl PartialEq<RawValue> for Value<'_> {
    fn eq(&self, other: &RawValue) -> bool {
        self.raw == *other
    }
}

impl<'m> Gc<'m> {
    #[inline(always)]
    pub(crate) fn wrap(obj: ObjRef) -> Gc<'m> {
        Gc {
            obj,
            _m: PhantomData,
        }
    }

    /// The collector's reference (crate-internal: it has no lifetime).
    #[inline(always)]
    pub(crate) fn obj(self) -> ObjRef {
        self.obj
    }

    /// The object's address (identity within `'m`; it changes when the
    /// object moves).
    #[inline(always)]
    pub fn addr(self) -> usize {
        self.obj.addr()
    }

    /// The embedder's type tag.
    #[inline(always)]
    pub fn tag(self) -> u16 {
        self.obj.tag()
    }

    /// The embedder's aux word.
    #[inline(always)]
    pub fn aux(self) -> u32 {
        self.obj.aux()
    }

    /// Sets the embedder's aux word (the collector never reads it).
    #[inline(always)]
    pub fn set_aux(self, aux: u32) {
        self.obj.set_aux(aux)
    }

    /// Number of reference slots.
    #[inline(always)]
    pub fn slot_count(self) -> usize {
        self.obj.slot_count()
    }

    /// Whether every slot is weak (read them with [`Mutator::load_weak`]).
    #[inline(always)]
    pub fn is_weak(self) -> bool {
        self.obj.is_weak()
    }

    /// Reads slot `i` (no read barrier is ever needed for strong slots).
    ///
    /// # Panics
    /// If `i` is not below [`Gc::slot_count`], or the object is weak: a
    /// weak slot's referent may die in the cycle in flight, so a weak slot
    /// read for keeping goes through [`Mutator::load_weak`], and one only
    /// inspected through [`Gc::slot_raw`].
    #[inline(always)]
    pub fn slot(self, i: usize) -> Value<'m> {
        if i >= self.obj.strong_slot_limit() {
            self.bad_slot(i);
        }
        // SAFETY: in bounds and not weak (checked above); the object is live
        // for 'm.
        Value::wrap(unsafe { self.obj.slot_unchecked(i) })
    }

    #[cold]
    #[inline(never)]
    fn bad_slot(self, i: usize) -> ! {
        if self.is_weak() && i < self.slot_count() {
            panic!("slot {i} of a weak object read with Gc::slot: use Mutator::load_weak")
        }
        panic!("slot {i} out of range ({} slots)", self.slot_count())
    }

    /// Reads slot `i` without the checks of [`Gc::slot`].
    ///
    /// # Safety
    /// `i < self.slot_count()` and the object is not weak.
    #[inline(always)]
    pub unsafe fn slot_unchecked(self, i: usize) -> Value<'m> {
        debug_assert!(i < self.obj.strong_slot_limit());
        // SAFETY: the caller's promise; the object is live for 'm.
        Value::wrap(unsafe { self.obj.slot_unchecked(i) })
    }

    /// Reads slot `i` as a raw value, weak slots included: for inspecting
    /// (`is_nil`, comparing), never for keeping.
    ///
    /// # Panics
    /// If `i` is not below [`Gc::slot_count`].
    #[inline(always)]
    pub fn slot_raw(self, i: usize) -> RawValue {
        self.obj.slot(i)
    }

    /// Capacity of the raw byte area in bytes (a multiple of 8).
    #[inline(always)]
    pub fn byte_len(self) -> usize {
        self.obj.byte_len()
    }

    /// Start of the raw byte area, for system calls (see
    /// [`Mutator::make_resident`]); dereferencing it is the caller's
    /// `unsafe`.
    #[inline(always)]
    pub fn bytes_ptr(self) -> *mut u8 {
        self.obj.bytes_ptr()
    }

    /// Raw word `i` as an atomic. Raw bytes are read and written a word at a
    /// time, atomically (relaxed: plain moves on x86), so that threads
    /// sharing an object race only on values, never into undefined
    /// behaviour.
    #[inline(always)]
    fn word(self, i: usize) -> &'m AtomicU64 {
        // One read of the header gives both the bound and the offset.
        let (first, len) = self.obj.raw_words();
        if i >= len {
            self.bad_word(i);
        }
        let at = (self.addr() + (first + i) * WORD) as *mut u64;
        // SAFETY: word i lies inside the object's raw area (checked above),
        // which starts on a word boundary; the object is live for 'm; raw
        // words are only accessed atomically through this type (the unsafe
        // slice views promise no concurrent access).
        unsafe { AtomicU64::from_ptr(at) }
    }

    #[cold]
    #[inline(never)]
    fn bad_word(self, i: usize) -> ! {
        panic!("raw word {i} out of range ({} bytes)", self.byte_len())
    }

    /// Reads raw word `i` (bytes `8 i .. 8 i + 8`, little-endian).
    ///
    /// # Panics
    /// If the word lies outside the raw area.
    #[inline(always)]
    pub fn raw_word(self, i: usize) -> u64 {
        self.word(i).load(Ordering::Relaxed)
    }

    /// Writes raw word `i` (raw bytes need no write barrier: the collector
    /// never reads them as references).
    ///
    /// # Panics
    /// If the word lies outside the raw area.
    #[inline(always)]
    pub fn set_raw_word(self, i: usize, w: u64) {
        self.word(i).store(w, Ordering::Relaxed)
    }

    fn check_bytes(self, offset: usize, len: usize) {
        let fits = offset
            .checked_add(len)
            .is_some_and(|e| e <= self.byte_len());
        assert!(
            fits,
            "bytes {offset}..+{len} outside the raw area ({} bytes)",
            self.byte_len()
        );
    }

    /// Copies raw bytes `offset .. offset + dst.len()` out.
    ///
    /// # Panics
    /// If the range is not inside the raw area.
    pub fn read_bytes(self, offset: usize, dst: &mut [u8]) {
        self.check_bytes(offset, dst.len());
        let mut pos = offset;
        let mut out = 0;
        while out < dst.len() {
            let (w, at) = (pos / WORD, pos % WORD);
            let n = (WORD - at).min(dst.len() - out);
            let bytes = self.raw_word(w).to_le_bytes();
            dst[out..out + n].copy_from_slice(&bytes[at..at + n]);
            out += n;
            pos += n;
        }
    }

    /// Copies `src` into raw bytes `offset .. offset + src.len()`.
    ///
    /// # Panics
    /// If the range is not inside the raw area.
    pub fn write_bytes(self, offset: usize, src: &[u8]) {
        self.check_bytes(offset, src.len());
        let mut pos = offset;
        let mut done = 0;
        while done < src.len() {
            let (w, at) = (pos / WORD, pos % WORD);
            let n = (WORD - at).min(src.len() - done);
            let word = self.word(w);
            if n == WORD {
                let bytes: [u8; WORD] = src[done..done + WORD].try_into().expect("a word");
                word.store(u64::from_le_bytes(bytes), Ordering::Relaxed);
            } else {
                // A part of a word: merge, so that another thread's bytes of
                // the same word are kept.
                let _ = word.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |old| {
                    let mut bytes = old.to_le_bytes();
                    bytes[at..at + n].copy_from_slice(&src[done..done + n]);
                    Some(u64::from_le_bytes(bytes))
                });
            }
            done += n;
            pos += n;
        }
    }

    /// The raw byte area as a slice, for reading it in place.
    ///
    /// # Safety
    /// Nobody writes the object's raw bytes during `'m` (no other thread,
    /// and not this one through [`Gc::write_bytes`], [`Gc::set_raw_word`]
    /// or [`Gc::bytes_mut`]).
    #[inline(always)]
    pub unsafe fn bytes(self) -> &'m [u8] {
        // SAFETY: the area is inside the object, which is live and in place
        // for 'm; the caller rules out writers.
        unsafe { self.obj.bytes() }
    }

    /// The raw byte area as a mutable slice, for filling it in place.
    ///
    /// # Safety
    /// Nobody else reads or writes the object's raw bytes during `'m` (no
    /// other thread, no other view or accessor on this one).
    #[inline(always)]
    #[allow(clippy::mut_from_ref)]
    pub unsafe fn bytes_mut(self) -> &'m mut [u8] {
        // SAFETY: as for `bytes`, with exclusivity from the caller.
        unsafe { self.obj.bytes_mut() }
    }
}

impl std::fmt::Debug for Gc<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Gc({:#x}, tag {})", self.addr(), self.tag())
    }
}
