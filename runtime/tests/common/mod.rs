//! Helpers shared by the runtime's integration tests (each test file is its
//! own crate and uses what it needs).
#![allow(dead_code)]

use runtime::{AllocSpec, Mode, Mutator, Runtime, RuntimeBuilder, Value};

/// Builds `builder` in `mode`, or prints why the mode is unavailable here
/// (the kernel lacks what it needs) and returns `None`, so the caller skips.
pub fn in_mode(builder: RuntimeBuilder, mode: Mode) -> Option<Runtime> {
    let rt = builder.mode(mode).build().expect("runtime");
    if rt.mode() != mode {
        eprintln!(
            "SKIP {mode}: {}",
            rt.fallback_reason().unwrap_or("mode unavailable")
        );
        return None;
    }
    Some(rt)
}

/// An object with `slots` slots (weak ones if `weak`) whose first raw word
/// is `id`.
pub fn obj(m: &mut Mutator, id: u64, slots: u32, weak: bool) -> Value {
    let o = m
        .alloc(AllocSpec {
            tag: 1,
            slots,
            bytes: 16,
            pinned: false,
            weak,
        })
        .expect("alloc");
    // SAFETY: fresh object, no safepoint until the write is done.
    unsafe { o.bytes_mut()[..8].copy_from_slice(&id.to_le_bytes()) };
    Value::object(o)
}

/// The id `obj` stored.
pub fn id(v: Value) -> u64 {
    // SAFETY: v is a live object read since the caller's last safepoint.
    u64::from_le_bytes(unsafe { v.as_object().bytes() }[..8].try_into().expect("8"))
}
