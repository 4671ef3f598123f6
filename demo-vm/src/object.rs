//! Lox object layouts in the runtime heap.
//!
//! Every Lox object is a heap object whose header tag says what it is. Slots
//! hold [`Value`]s (the collector traces and updates them); raw bytes hold
//! what the collector must not interpret. Lengths are stored explicitly in
//! the first raw word because the heap rounds byte capacities up to 8.
//!
//! | tag | slots | raw bytes | aux |
//! |-----|-------|-----------|-----|
//! | string | – | len, bytes | FNV-1a hash (31 bits), field-name bit |
//! | function | name, code, constants, lines | arity, upvalue count, max stack | – |
//! | native | – | native id | – |
//! | closure | function, upvalues… | – | – |
//! | upvalue | closed value, next open | stack index (or closed) | – |
//! | class | name, methods, init | – | – |
//! | instance | class, fields | – | – |
//! | bound method | receiver, method | – | – |
//! | table | key, value pairs | – | entry count |
//! | array | values | – | – |
//! | bytes | – | len, bytes | – |
//! | intern table (weak) | strings | one u32 marker per slot | used count |

use crate::rt::{Gc, Value};

/// Object tags (the header's embedder tag).
pub mod tag {
    /// An interned string.
    pub const STRING: u16 = 1;
    /// A compiled function.
    pub const FUNCTION: u16 = 2;
    /// A native function.
    pub const NATIVE: u16 = 3;
    /// A closure.
    pub const CLOSURE: u16 = 4;
    /// A captured variable.
    pub const UPVALUE: u16 = 5;
    /// A class.
    pub const CLASS: u16 = 6;
    /// An instance.
    pub const INSTANCE: u16 = 7;
    /// A method bound to its receiver.
    pub const BOUND_METHOD: u16 = 8;
    /// An open-addressing table keyed by interned strings.
    pub const TABLE: u16 = 9;
    /// A plain array of values (constant pools).
    pub const ARRAY: u16 = 10;
    /// A byte array (code, line tables).
    pub const BYTES: u16 = 11;
    /// The weak string intern table.
    pub const INTERN: u16 = 12;
}

/// Function slot: name string (nil for the script).
pub const FN_NAME: usize = 0;
/// Function slot: code (bytes object).
pub const FN_CODE: usize = 1;
/// Function slot: constant pool (array object): each constant followed by
/// its inline-cache slots ([`constant_slot`], [`cache_slot`]).
pub const FN_CONSTANTS: usize = 2;
/// Inline-cache slots that follow each constant in a constant pool.
pub const CACHE_SLOTS: usize = 4;

/// Slots of the constant pool of a function with `n` constants.
pub fn constants_slots(n: usize) -> u32 {
    ((1 + CACHE_SLOTS) * n) as u32
}

/// The slot of constant `k` in a constant pool: each constant is followed
/// by its [`CACHE_SLOTS`] inline-cache slots ([`cache_slot`]).
#[inline(always)]
pub fn constant_slot(k: usize) -> usize {
    (1 + CACHE_SLOTS) * k
}

/// The first inline-cache slot of constant `k`. Every instruction that
/// names an identifier has its own constant (the compiler never shares
/// them), so the constant's index names the instruction: `GetGlobal`,
/// `SetGlobal`, `GetProperty` and `SetProperty` keep the entry index of
/// their last hit in the first ([`crate::table::hint`]), `Invoke` and
/// `SuperInvoke` two classes they called and their methods (class, method,
/// class, method). All start nil.
#[inline(always)]
pub fn cache_slot(k: usize) -> usize {
    constant_slot(k) + 1
}

/// Function slot: line table (bytes object of `(offset, line)` u32 pairs).
pub const FN_LINES: usize = 3;
/// Number of function slots.
pub const FN_SLOTS: u32 = 4;

/// Closure slot: the function; upvalues follow.
pub const CLOSURE_FUNCTION: usize = 0;
/// Upvalue slot: the value once closed.
pub const UPVALUE_CLOSED: usize = 0;
/// Upvalue slot: the next open upvalue (lower stack index), or nil.
pub const UPVALUE_NEXT: usize = 1;
/// Raw stack index of a closed upvalue.
pub const UPVALUE_IS_CLOSED: u64 = u64::MAX;
/// Class slot: name.
pub const CLASS_NAME: usize = 0;
/// Class slot: method table (nil until the first method).
pub const CLASS_METHODS: usize = 1;
/// Class slot: the `init` method, cached (nil if none).
pub const CLASS_INIT: usize = 2;
/// Instance slot: class.
pub const INSTANCE_CLASS: usize = 0;
/// Instance slot: field table (nil until the first field).
pub const INSTANCE_FIELDS: usize = 1;
/// Bound method slot: receiver.
pub const BOUND_RECEIVER: usize = 0;
/// Bound method slot: the method closure.
pub const BOUND_METHOD: usize = 1;

/// Whether `v` is an object with tag `t`.
#[inline(always)]
pub fn is_obj(v: Value<'_>, t: u16) -> bool {
    v.is_object_tagged(t)
}

/// The object `v` refers to.
///
/// # Panics
/// If `v` is not an object (the compiler and the VM's type checks put only
/// objects where this is called).
#[inline(always)]
pub fn obj(v: Value<'_>) -> Gc<'_> {
    match v.as_object() {
        Some(o) => o,
        None => not_an_object(),
    }
}

#[cold]
#[inline(never)]
fn not_an_object() -> ! {
    panic!("the VM expected an object here")
}

/// Reads raw word `i` of `obj`.
///
/// # Panics
/// If the word lies outside the object's raw area.
#[inline(always)]
pub fn raw_word(obj: Gc<'_>, i: usize) -> u64 {
    obj.raw_word(i)
}

/// Writes raw word `i` of `obj` (raw bytes need no barrier: the collector
/// never reads them as references).
///
/// # Panics
/// If the word lies outside the object's raw area.
#[inline(always)]
pub fn set_raw_word(obj: Gc<'_>, i: usize, w: u64) {
    obj.set_raw_word(i, w)
}

/// The payload of a length-prefixed byte object (strings, code, lines).
///
/// # Safety
/// Nobody writes the object's bytes during `'a`: it is a string or a code
/// or line table, which [`fill_payload`] wrote once, before the object was
/// published (the VM never changes them), and the VM has one thread.
#[inline(always)]
pub unsafe fn payload<'a>(obj: Gc<'a>) -> &'a [u8] {
    // SAFETY: the caller's promise: no writer during 'a; the object is live
    // and in place for 'a (a `Gc<'a>`).
    let bytes = unsafe { obj.bytes() };
    let len = word_of(bytes) as usize;
    &bytes[8..8 + len]
}

/// The first word of a byte area.
#[inline(always)]
fn word_of(bytes: &[u8]) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&bytes[..8]);
    u64::from_le_bytes(w)
}

/// Fills a fresh length-prefixed byte object with `data` (one `memcpy`:
/// strings are made often).
///
/// # Safety
/// `obj` was just allocated by this thread and not published yet: nobody
/// else reads or writes its bytes meanwhile.
///
/// # Panics
/// If `data` does not fit the object's raw area.
pub unsafe fn fill_payload(obj: Gc<'_>, data: &[u8]) {
    assert!(
        data.len() + 8 <= obj.byte_len(),
        "payload larger than the object"
    );
    // SAFETY: the caller's promise: the fresh object's bytes are ours alone
    // while the slice lives (it ends with this function).
    let bytes = unsafe { obj.bytes_mut() };
    bytes[..8].copy_from_slice(&(data.len() as u64).to_le_bytes());
    bytes[8..8 + data.len()].copy_from_slice(data);
}

/// Raw bytes needed for a length-prefixed payload of `len` bytes.
#[inline]
pub fn payload_bytes(len: usize) -> usize {
    len + 8
}

/// A function's static facts, packed into its raw word.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FunctionInfo {
    /// Declared parameters.
    pub arity: u8,
    /// Upvalues its closures capture.
    pub upvalue_count: u16,
    /// Most stack slots a call of it can use (slot 0 included).
    pub max_stack: u32,
}

impl FunctionInfo {
    /// Packs into one word.
    pub fn encode(self) -> u64 {
        u64::from(self.arity) | u64::from(self.upvalue_count) << 8 | u64::from(self.max_stack) << 32
    }

    /// Unpacks from one word.
    #[inline(always)]
    pub fn decode(w: u64) -> FunctionInfo {
        FunctionInfo {
            arity: w as u8,
            upvalue_count: (w >> 8) as u16,
            max_stack: (w >> 32) as u32,
        }
    }

    /// The info of a live function object.
    #[inline(always)]
    pub fn of(function: Gc<'_>) -> FunctionInfo {
        FunctionInfo::decode(raw_word(function, 0))
    }
}

/// The function of a closure.
///
/// # Panics
/// If `closure` has no slots.
#[inline(always)]
pub fn closure_function(closure: Gc<'_>) -> Gc<'_> {
    let f = closure.slot(CLOSURE_FUNCTION);
    // SAFETY: slot 0 of a closure holds its function (the layout above: the
    // VM writes a function there when it makes the closure, and nothing
    // else), and the only other objects the VM calls this on are closures.
    unsafe { always_object(f) }
}

/// A closure whose tag was checked once: its function, code and constants
/// are then read without further checks (the dispatch loop's call path).
///
/// Rests on the layout invariant of this module: every object with tag
/// [`tag::CLOSURE`] has at least one slot, and slot 0 holds a
/// [`tag::FUNCTION`] object (the VM allocates closures with `1 + upvalues`
/// slots and writes their function first, nowhere else); every function has
/// [`FN_SLOTS`] slots and at least one raw word (its [`FunctionInfo`]),
/// `FN_CODE` holds a bytes object (no slots, an 8-byte length, the code)
/// and `FN_CONSTANTS` an array object.
#[derive(Clone, Copy, Debug)]
pub struct ClosureView<'m>(Gc<'m>);

impl<'m> ClosureView<'m> {
    /// `o` as a closure, if its tag says it is one.
    #[inline(always)]
    pub fn of(o: Gc<'m>) -> Option<ClosureView<'m>> {
        (o.tag() == tag::CLOSURE).then_some(ClosureView(o))
    }

    /// `o` as a closure, unchecked in release builds.
    ///
    /// # Safety
    /// `o` is a closure: it was read from a root or slot that the layouts
    /// say holds one (a frame's root, a method table, a class's `init`), or
    /// its tag was checked.
    #[inline(always)]
    pub unsafe fn new_unchecked(o: Gc<'m>) -> ClosureView<'m> {
        debug_assert_eq!(o.tag(), tag::CLOSURE);
        ClosureView(o)
    }

    /// The closure object.
    #[inline(always)]
    pub fn gc(self) -> Gc<'m> {
        self.0
    }

    /// The closure's function.
    #[inline(always)]
    pub fn function(self) -> FunctionView<'m> {
        // SAFETY: a closure has slot 0 and it holds a function (the layout
        // invariant above); closures are not weak.
        let f = unsafe { always_object(self.0.slot_unchecked(CLOSURE_FUNCTION)) };
        debug_assert_eq!(f.tag(), tag::FUNCTION);
        FunctionView(f)
    }
}

/// A function object reached through a [`ClosureView`] (so known to be
/// one): its facts, code and constants without per-read checks.
#[derive(Clone, Copy, Debug)]
pub struct FunctionView<'m>(Gc<'m>);

impl<'m> FunctionView<'m> {
    /// The function's arity, upvalue count and maximum stack height.
    #[inline(always)]
    pub fn info(self) -> FunctionInfo {
        // SAFETY: a function has a raw word 0 (the layout invariant of
        // `ClosureView`), aligned, inside the live object; it is written
        // once before the function is published and only read after, and
        // the VM has one thread.
        let w = unsafe { (self.0.bytes_ptr() as *const u64).read() };
        FunctionInfo::decode(w)
    }

    /// The first byte of the function's code.
    #[inline(always)]
    pub fn code(self) -> *const u8 {
        // SAFETY: FN_CODE < FN_SLOTS slots of a function, which holds a
        // bytes object (the layout invariant); functions are not weak.
        let code = unsafe { always_object(self.0.slot_unchecked(FN_CODE)) };
        // SAFETY: the payload starts 8 bytes into the bytes object's raw
        // area (after its length), inside the object.
        unsafe { code.bytes_ptr().add(8) }
    }

    /// The function's constant pool (an array object).
    #[inline(always)]
    pub fn constants(self) -> Gc<'m> {
        // SAFETY: as for `code`: FN_CONSTANTS holds an array object.
        unsafe { always_object(self.0.slot_unchecked(FN_CONSTANTS)) }
    }
}

/// `v` as an object, where the VM's layout says it is one (no check in
/// release builds: this is the dispatch loop's fast path).
///
/// # Safety
/// `v` is an object: it was read from a slot or root that the layout above
/// (or the root layout in [`crate::heap`]) says holds an object, or its type
/// was checked.
#[inline(always)]
pub unsafe fn always_object(v: Value<'_>) -> Gc<'_> {
    // SAFETY: the caller's promise.
    unsafe { v.as_object_unchecked() }
}

/// The bits of a string's aux word that hold its hash.
pub const STRING_HASH_MASK: u32 = 0x7fff_ffff;
/// The bit of a string's aux word that says some instance has (or had) a
/// field of that name: an `Invoke` of a name without it cannot find a field
/// and goes straight to the class's methods.
const STRING_FIELD_NAME: u32 = 1 << 31;

/// The hash a string is interned and looked up under: FNV-1a (clox's),
/// cut to the bits of [`STRING_HASH_MASK`].
#[inline]
pub fn string_hash(bytes: &[u8]) -> u32 {
    hash_bytes(bytes) & STRING_HASH_MASK
}

/// The hash of interned string `s`.
#[inline(always)]
pub fn hash_of(s: Gc<'_>) -> u32 {
    s.aux() & STRING_HASH_MASK
}

/// Records that string `name` names a field of some instance.
#[inline(always)]
pub fn mark_field_name(name: Gc<'_>) {
    let aux = name.aux();
    if aux & STRING_FIELD_NAME == 0 {
        name.set_aux(aux | STRING_FIELD_NAME);
    }
}

/// Whether string `name` ever named a field ([`mark_field_name`]).
#[inline(always)]
pub fn may_name_a_field(name: Gc<'_>) -> bool {
    name.aux() & STRING_FIELD_NAME != 0
}

/// An instance whose tag was checked once: its class and field table are
/// then read without further checks. Every object tagged
/// [`tag::INSTANCE`] has two slots (`INSTANCE_CLASS`, `INSTANCE_FIELDS`):
/// `call_class` allocates it so.
#[derive(Clone, Copy, Debug)]
pub struct InstanceView<'m>(Gc<'m>);

impl<'m> InstanceView<'m> {
    /// `v` as an instance, if it is one.
    #[inline(always)]
    pub fn of(v: Value<'m>) -> Option<InstanceView<'m>> {
        v.as_object()
            .filter(|o| o.tag() == tag::INSTANCE)
            .map(InstanceView)
    }

    /// The instance's class.
    #[inline(always)]
    pub fn class(self) -> Value<'m> {
        // SAFETY: an instance has INSTANCE_CLASS < 2 slots (above) and is
        // not weak.
        unsafe { self.0.slot_unchecked(INSTANCE_CLASS) }
    }

    /// The instance's field table (nil before its first field).
    #[inline(always)]
    pub fn fields(self) -> Value<'m> {
        // SAFETY: as for `class`.
        unsafe { self.0.slot_unchecked(INSTANCE_FIELDS) }
    }
}

/// FNV-1a, as clox hashes strings.
pub fn hash_bytes(bytes: &[u8]) -> u32 {
    let mut h: u32 = 2_166_136_261;
    for &b in bytes {
        h ^= u32::from(b);
        h = h.wrapping_mul(16_777_619);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn function_info_round_trips() {
        let i = FunctionInfo {
            arity: 255,
            upvalue_count: 256,
            max_stack: 70_000,
        };
        assert_eq!(FunctionInfo::decode(i.encode()), i);
    }

    #[test]
    fn the_field_name_bit_leaves_the_hash_alone() {
        let rt = crate::rt::Runtime::builder()
            .mode(crate::rt::Mode::Stw)
            .build()
            .expect("a runtime");
        let mut m = rt.mutator().expect("a mutator");
        let (_, s) = m
            .alloc(crate::rt::AllocSpec {
                tag: tag::STRING,
                ..Default::default()
            })
            .expect("room for a string");
        let h = string_hash(b"field");
        s.set_aux(h);
        assert!(!may_name_a_field(s));
        mark_field_name(s);
        assert!(may_name_a_field(s));
        assert_eq!(hash_of(s), h);
        assert_eq!(h & !STRING_HASH_MASK, 0);
    }

    #[test]
    fn fnv1a_matches_known_values() {
        assert_eq!(hash_bytes(b""), 2_166_136_261);
        assert_eq!(hash_bytes(b"a"), 0xe40c_292c);
    }
}
