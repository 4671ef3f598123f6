//! The tagged 64-bit slot value (NaN-boxing).
//!
//! Every reference slot of a heap object holds a [`Value`]. The tag scheme
//! belongs to the collector so that marking, compaction and fault handlers
//! recognise a reference without calling the embedder:
//!
//! - a number is any `f64` whose bits are not a quiet NaN with the [`QNAN`]
//!   pattern (NaNs are canonicalised to `0x7ff8_0000_0000_0000` on boxing);
//! - `nil`, `false` and `true` are [`QNAN`] with the low tag 1, 2 and 3;
//! - an object reference is `SIGN | QNAN | address` (48-bit addresses).

use crate::object::ObjRef;

/// The quiet-NaN bits every non-number value carries.
pub const QNAN: u64 = 0x7ffc_0000_0000_0000;
const SIGN: u64 = 0x8000_0000_0000_0000;
const OBJ_TAG: u64 = SIGN | QNAN;
const ADDR_MASK: u64 = 0x0000_ffff_ffff_ffff;
const TAG_NIL: u64 = 1;
const TAG_FALSE: u64 = 2;
const TAG_TRUE: u64 = 3;
const CANONICAL_NAN: u64 = 0x7ff8_0000_0000_0000;

/// A NaN-boxed value: a number, `nil`, a boolean or an object reference.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
#[repr(transparent)]
pub struct Value(u64);

impl Value {
    /// `nil`.
    pub const NIL: Value = Value(QNAN | TAG_NIL);
    /// `false`.
    pub const FALSE: Value = Value(QNAN | TAG_FALSE);
    /// `true`.
    pub const TRUE: Value = Value(QNAN | TAG_TRUE);

    /// Boxes a number; every NaN becomes the one canonical NaN so that no
    /// number can be mistaken for a tagged value.
    #[inline(always)]
    pub fn number(n: f64) -> Value {
        if n.is_nan() {
            Value(CANONICAL_NAN)
        } else {
            Value(n.to_bits())
        }
    }

    /// Boxes a boolean.
    #[inline(always)]
    pub fn bool(b: bool) -> Value {
        if b {
            Value::TRUE
        } else {
            Value::FALSE
        }
    }

    /// Boxes an object reference.
    #[inline(always)]
    pub fn object(obj: ObjRef) -> Value {
        Value(OBJ_TAG | obj.addr() as u64)
    }

    /// Whether this is a number.
    #[inline(always)]
    pub fn is_number(self) -> bool {
        self.0 & QNAN != QNAN
    }

    /// Whether this is `nil`.
    #[inline(always)]
    pub fn is_nil(self) -> bool {
        self == Value::NIL
    }

    /// Whether this is `true` or `false`.
    #[inline(always)]
    pub fn is_bool(self) -> bool {
        self.0 | 1 == Value::TRUE.0
    }

    /// Whether this is an object reference.
    #[inline(always)]
    pub fn is_object(self) -> bool {
        self.0 & OBJ_TAG == OBJ_TAG
    }

    /// The number inside (meaningful only when [`Value::is_number`]).
    #[inline(always)]
    pub fn as_number(self) -> f64 {
        debug_assert!(self.is_number(), "as_number on a non-number value");
        f64::from_bits(self.0)
    }

    /// The boolean inside (meaningful only when [`Value::is_bool`]).
    #[inline(always)]
    pub fn as_bool(self) -> bool {
        debug_assert!(self.is_bool(), "as_bool on a non-boolean value");
        self == Value::TRUE
    }

    /// The object reference inside.
    ///
    /// # Safety
    /// As for [`ObjRef::from_addr`]: the value is an object reference
    /// ([`Value::is_object`]) to a live object that neither moves nor dies
    /// while the result is used (raw bits are not checked: any `u64` makes a
    /// `Value` through [`Value::from_bits`]).
    #[inline(always)]
    pub unsafe fn as_object(self) -> ObjRef {
        debug_assert!(self.is_object(), "as_object on a non-object value");
        // SAFETY: the caller's promise (see above).
        unsafe { ObjRef::from_addr((self.0 & ADDR_MASK) as usize) }
    }

    /// The address an object value refers to, without building an [`ObjRef`].
    #[inline(always)]
    pub fn object_addr(self) -> usize {
        (self.0 & ADDR_MASK) as usize
    }

    /// The raw bits.
    #[inline(always)]
    pub fn to_bits(self) -> u64 {
        self.0
    }

    /// Rebuilds a value from raw bits produced by [`Value::to_bits`].
    #[inline(always)]
    pub fn from_bits(bits: u64) -> Value {
        Value(bits)
    }
}

impl Default for Value {
    fn default() -> Self {
        Value::NIL
    }
}

impl std::fmt::Debug for Value {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.is_number() {
            write!(f, "Number({})", self.as_number())
        } else if self.is_nil() {
            f.write_str("Nil")
        } else if self.is_bool() {
            write!(f, "Bool({})", self.as_bool())
        } else if self.is_object() {
            write!(f, "Object({:#x})", self.object_addr())
        } else {
            write!(f, "Value({:#x})", self.0)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_round_trip_and_are_not_tagged() {
        for n in [
            0.0,
            -0.0,
            1.5,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::MIN_POSITIVE,
            1e300,
        ] {
            let v = Value::number(n);
            assert!(v.is_number() && !v.is_object() && !v.is_nil() && !v.is_bool());
            assert_eq!(v.as_number().to_bits(), n.to_bits());
        }
    }

    #[test]
    fn every_nan_is_canonicalised_into_a_number() {
        let weird = f64::from_bits(OBJ_TAG | 0x1234);
        assert!(weird.is_nan());
        let v = Value::number(weird);
        assert!(v.is_number(), "a NaN payload must not become a reference");
        assert!(v.as_number().is_nan());
        assert!(!Value::number(-f64::NAN).is_object());
    }

    #[test]
    fn singletons_are_distinct_and_classified() {
        assert!(Value::NIL.is_nil() && !Value::NIL.is_bool() && !Value::NIL.is_number());
        assert!(Value::TRUE.is_bool() && Value::TRUE.as_bool());
        assert!(Value::FALSE.is_bool() && !Value::FALSE.as_bool());
        assert_ne!(Value::TRUE, Value::FALSE);
        assert_eq!(Value::bool(true), Value::TRUE);
    }

    #[test]
    fn object_values_keep_their_address() {
        let addr = 0x7f12_3456_7890usize;
        // SAFETY: only the address is used, never dereferenced.
        let v = Value::object(unsafe { ObjRef::from_addr(addr) });
        assert!(v.is_object() && !v.is_number() && !v.is_nil() && !v.is_bool());
        assert_eq!(v.object_addr(), addr);
    }
}
