//! TEMPORARY stand-in for the `gc`/`runtime` API (same names and contract),
//! used only until the real crates build. A semispace copying collector:
//! every collection moves every object and poisons the old space, so any
//! reference the VM fails to root shows up as a crash.
#![allow(missing_docs, clippy::all)]

use std::fmt;

const QNAN: u64 = 0x7ffc_0000_0000_0000;
const SIGN: u64 = 0x8000_0000_0000_0000;
const OBJ_TAG: u64 = SIGN | QNAN;
const ADDR_MASK: u64 = 0x0000_ffff_ffff_ffff;

#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Value(u64);
impl Value {
    pub const NIL: Value = Value(QNAN | 1);
    pub const FALSE: Value = Value(QNAN | 2);
    pub const TRUE: Value = Value(QNAN | 3);
    #[inline(always)]
    pub fn number(n: f64) -> Value {
        if n.is_nan() {
            Value(0x7ff8_0000_0000_0000)
        } else {
            Value(n.to_bits())
        }
    }
    #[inline(always)]
    pub fn bool(b: bool) -> Value {
        if b {
            Value::TRUE
        } else {
            Value::FALSE
        }
    }
    #[inline(always)]
    pub fn object(o: ObjRef) -> Value {
        Value(OBJ_TAG | o.0 as u64)
    }
    #[inline(always)]
    pub fn is_number(self) -> bool {
        self.0 & QNAN != QNAN
    }
    #[inline(always)]
    pub fn is_nil(self) -> bool {
        self == Value::NIL
    }
    #[inline(always)]
    pub fn is_bool(self) -> bool {
        self.0 | 1 == Value::TRUE.0
    }
    #[inline(always)]
    pub fn is_object(self) -> bool {
        self.0 & OBJ_TAG == OBJ_TAG
    }
    #[inline(always)]
    pub fn as_number(self) -> f64 {
        f64::from_bits(self.0)
    }
    #[inline(always)]
    pub fn as_bool(self) -> bool {
        self == Value::TRUE
    }
    #[inline(always)]
    pub fn as_object(self) -> ObjRef {
        debug_assert!(self.is_object());
        ObjRef((self.0 & ADDR_MASK) as usize)
    }
    pub fn to_bits(self) -> u64 {
        self.0
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct ObjRef(usize);
impl ObjRef {
    #[inline(always)]
    fn w(self, i: usize) -> *mut u64 {
        (self.0 + i * 8) as *mut u64
    }
    #[inline(always)]
    fn h0(self) -> u64 {
        unsafe { *self.w(0) }
    }
    #[inline(always)]
    fn h1(self) -> u64 {
        unsafe { *self.w(1) }
    }
    pub fn addr(self) -> usize {
        self.0
    }
    #[inline(always)]
    pub fn tag(self) -> u16 {
        self.h1() as u16
    }
    #[inline(always)]
    pub fn aux(self) -> u32 {
        (self.h1() >> 32) as u32
    }
    #[inline(always)]
    pub fn set_aux(self, a: u32) {
        unsafe { *self.w(1) = self.h1() & 0xffff_ffff | (a as u64) << 32 }
    }
    #[inline(always)]
    pub fn slot_count(self) -> usize {
        (self.h0() >> 32) as usize
    }
    fn size_words(self) -> usize {
        self.h0() as u32 as usize
    }
    #[inline(always)]
    pub fn slot(self, i: usize) -> Value {
        assert!(i < self.slot_count(), "slot out of range");
        unsafe { self.slot_unchecked(i) }
    }
    #[inline(always)]
    pub unsafe fn slot_unchecked(self, i: usize) -> Value {
        Value(unsafe { *self.w(2 + i) })
    }
    #[inline(always)]
    pub unsafe fn set_slot_raw(self, i: usize, v: Value) {
        unsafe { *self.w(2 + i) = v.0 }
    }
    #[inline(always)]
    pub fn byte_len(self) -> usize {
        (self.size_words() - 2 - self.slot_count()) * 8
    }
    #[inline(always)]
    pub fn bytes_ptr(self) -> *mut u8 {
        self.w(2 + self.slot_count()) as *mut u8
    }
}

#[derive(Clone, Copy, Debug)]
pub struct AllocSpec {
    pub tag: u16,
    pub slots: u32,
    pub bytes: usize,
    pub pinned: bool,
    pub weak: bool,
}

#[derive(Debug, Clone, thiserror::Error)]
#[error("out of memory")]
pub struct OutOfMemory;
#[derive(Debug, thiserror::Error)]
#[error("gc error")]
pub struct GcError;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Stw,
    UffdCopy,
    Uffd,
}
impl std::str::FromStr for Mode {
    type Err = ConfigError;
    fn from_str(s: &str) -> Result<Mode, ConfigError> {
        match s {
            "stw" => Ok(Mode::Stw),
            "uffd-copy" => Ok(Mode::UffdCopy),
            "uffd" => Ok(Mode::Uffd),
            _ => Err(ConfigError(format!(
                "invalid mode {s:?}: expected one of stw, uffd-copy, uffd"
            ))),
        }
    }
}
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(String);
pub fn parse_size(s: &str) -> Result<usize, ConfigError> {
    let t = s.trim();
    let (d, sh) = match t.chars().last() {
        Some('k' | 'K') => (&t[..t.len() - 1], 10),
        Some('m' | 'M') => (&t[..t.len() - 1], 20),
        Some('g' | 'G') => (&t[..t.len() - 1], 30),
        _ => (t, 0),
    };
    let n: usize = d
        .parse()
        .map_err(|_| ConfigError(format!("invalid size {s:?}")))?;
    n.checked_mul(1 << sh)
        .ok_or(ConfigError(format!("invalid size {s:?}")))
}

#[derive(Clone, Default)]
pub struct GcStats {
    pub cycles: u64,
}
impl fmt::Display for GcStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "gc: {} cycles", self.cycles)
    }
}

pub struct Runtime {
    limit: usize,
    stress: bool,
    log: bool,
}
pub struct RuntimeBuilder(Runtime);
impl Runtime {
    pub fn builder() -> RuntimeBuilder {
        RuntimeBuilder(Runtime {
            limit: 256 << 20,
            stress: false,
            log: false,
        })
    }
    pub fn mutator(&self) -> Result<Mutator, GcError> {
        let words = self.limit / 16;
        Ok(Mutator {
            space: vec![0; words],
            top: 0,
            roots: Vec::new(),
            stress: self.stress,
            log: self.log,
            stats: GcStats::default(),
        })
    }
}
impl RuntimeBuilder {
    pub fn mode(self, _m: Mode) -> Self {
        self
    }
    pub fn heap_limit(mut self, n: usize) -> Self {
        self.0.limit = n;
        self
    }
    pub fn log(mut self, b: bool) -> Self {
        self.0.log = b;
        self
    }
    pub fn stress(mut self, b: bool) -> Self {
        self.0.stress = b;
        self
    }
    pub fn build(self) -> Result<Runtime, ConfigError> {
        Ok(self.0)
    }
}

const FORWARDED: u64 = u64::MAX;
const WEAK: u64 = 1 << 16;

pub struct Mutator {
    space: Vec<u64>,
    top: usize,
    roots: Vec<Value>,
    stress: bool,
    log: bool,
    stats: GcStats,
}
impl Mutator {
    pub fn roots(&mut self) -> &mut Vec<Value> {
        &mut self.roots
    }
    pub fn stats(&self) -> GcStats {
        self.stats.clone()
    }
    #[inline(always)]
    pub fn write(&mut self, o: ObjRef, i: usize, v: Value) {
        assert!(i < o.slot_count());
        unsafe { o.set_slot_raw(i, v) }
    }
    pub fn alloc(&mut self, s: AllocSpec) -> Result<ObjRef, OutOfMemory> {
        let words = (2 + s.slots as usize + (s.bytes + 7) / 8 + 1) & !1;
        if self.stress {
            self.collect().map_err(|_| OutOfMemory)?;
        }
        if self.top + words > self.space.len() {
            self.collect().map_err(|_| OutOfMemory)?;
            if self.top + words > self.space.len() {
                return Err(OutOfMemory);
            }
        }
        let at = self.top;
        self.top += words;
        let p = &mut self.space[at..at + words];
        p[0] = words as u64 | (s.slots as u64) << 32;
        p[1] = s.tag as u64 | if s.weak { WEAK } else { 0 };
        for w in &mut p[2..2 + s.slots as usize] {
            *w = Value::NIL.0;
        }
        for w in &mut p[2 + s.slots as usize..] {
            *w = 0;
        }
        Ok(ObjRef(self.space.as_ptr() as usize + at * 8))
    }
    fn in_from(&self, a: usize) -> bool {
        let b = self.space.as_ptr() as usize;
        a >= b && a < b + self.top * 8
    }
    pub fn collect(&mut self) -> Result<(), GcError> {
        let mut to: Vec<u64> = vec![0; self.space.len()];
        let mut to_top = 0usize;
        let tb = to.as_mut_ptr() as usize;
        let fwd = |v: Value, to: &mut Vec<u64>, to_top: &mut usize, me: &Mutator| -> Value {
            if !v.is_object() {
                return v;
            }
            let o = v.as_object();
            assert!(me.in_from(o.0), "reference {:#x} outside the heap", o.0);
            if o.h0() == FORWARDED {
                return Value::object(ObjRef(o.h1() as usize));
            }
            let n = o.size_words();
            let src = unsafe { std::slice::from_raw_parts(o.0 as *const u64, n) };
            to[*to_top..*to_top + n].copy_from_slice(src);
            let new = ObjRef(to.as_ptr() as usize + *to_top * 8);
            *to_top += n;
            unsafe {
                *o.w(0) = FORWARDED;
                *o.w(1) = new.0 as u64;
            }
            Value::object(new)
        };
        let mut roots = std::mem::take(&mut self.roots);
        for r in roots.iter_mut() {
            *r = fwd(*r, &mut to, &mut to_top, self);
        }
        let mut scan = 0;
        let mut weak = Vec::new();
        while scan < to_top {
            let o = ObjRef(tb + scan * 8);
            let n = o.size_words();
            if o.h1() & WEAK != 0 {
                weak.push(o);
            } else {
                for i in 0..o.slot_count() {
                    let v = o.slot(i);
                    let nv = fwd(v, &mut to, &mut to_top, self);
                    unsafe { o.set_slot_raw(i, nv) };
                }
            }
            scan += n;
        }
        for o in weak {
            for i in 0..o.slot_count() {
                let v = o.slot(i);
                if v.is_object() {
                    let t = v.as_object();
                    let nv = if t.h0() == FORWARDED {
                        Value::object(ObjRef(t.h1() as usize))
                    } else {
                        Value::NIL
                    };
                    unsafe { o.set_slot_raw(i, nv) };
                }
            }
        }
        self.roots = roots;
        for w in &mut self.space[..self.top] {
            *w = 0xdddd_dddd_dddd_dddd;
        }
        self.space = to;
        self.top = to_top;
        self.stats.cycles += 1;
        if self.log {
            eprintln!("[standin gc] #{} live {} words", self.stats.cycles, to_top);
        }
        Ok(())
    }
}
