//! Helpers shared by the runtime's integration tests (each test file is its
//! own crate and uses what it needs).
#![allow(dead_code)]

use runtime::{AllocSpec, Gc, Mode, Mutator, Runtime, RuntimeBuilder, Value};

/// The modes that mark and compact beside the mutators (every mode but
/// stw), UffdCopy first.
pub const CONCURRENT: [Mode; 5] = [
    Mode::UffdCopy,
    Mode::UffdWorkers,
    Mode::UffdMove,
    Mode::Sigbus,
    Mode::Uffd,
];

/// Builds `builder` in `mode`, or prints why the mode is unavailable here
/// (the kernel lacks what it needs) and returns `None`, so the caller skips.
/// The `SKIP` line goes to stdout, where a parent test reading a child's
/// output looks for it.
pub fn in_mode(builder: RuntimeBuilder, mode: Mode) -> Option<Runtime> {
    let rt = builder.mode(mode).build().expect("runtime");
    if rt.mode() != mode {
        println!(
            "SKIP {mode}: {}",
            rt.fallback_reason().unwrap_or("mode unavailable")
        );
        return None;
    }
    Some(rt)
}

/// An object with `slots` slots (weak ones if `weak`) whose first raw word
/// is `id`, with the mutator reborrowed shared (see `Mutator::alloc`).
pub fn obj(m: &mut Mutator, id: u64, slots: u32, weak: bool) -> (&Mutator, Gc<'_>) {
    let (m, o) = m
        .alloc(AllocSpec {
            tag: 1,
            slots,
            bytes: 16,
            pinned: false,
            weak,
        })
        .expect("alloc");
    o.set_raw_word(0, id);
    (m, o)
}

/// Allocates like [`obj`] and pushes the object on the value stack.
pub fn push_obj(m: &mut Mutator, id: u64, slots: u32, weak: bool) {
    let (m, o) = obj(m, id, slots, weak);
    m.push(o.into());
}

/// Roots a list of `n` nodes (node `i` holds `i` in its first raw word)
/// with garbage between them, so that a cycle moves it, in value-stack
/// slot 0.
pub fn build_list_with_garbage(m: &mut Mutator, n: u64) {
    m.push(Value::NIL);
    for i in 0..n {
        let _garbage = m.alloc(AllocSpec {
            tag: 2,
            slots: 1,
            bytes: 24,
            ..Default::default()
        });
        let (m, node) = m
            .alloc(AllocSpec {
                tag: 1,
                slots: 1,
                bytes: 8,
                ..Default::default()
            })
            .expect("node");
        node.set_raw_word(0, i);
        m.write(node, 0, m.stack_get(0));
        m.stack_set(0, node.into());
    }
}

/// The id `obj` stored.
pub fn id(v: Value<'_>) -> u64 {
    v.as_object().expect("an object").raw_word(0)
}
