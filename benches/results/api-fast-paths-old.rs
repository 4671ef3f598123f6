//! # fast_paths: what the embedding API's fast paths cost
//!
//! The four paths an interpreter runs most, each 4096 times per iteration
//! so that the loop's overhead is small, in one group:
//!
//! - `alloc`: allocation of a 2-slot, 8-byte object (the TLAB bump, the
//!   header writes, the poll word; the heap is large, so collections are
//!   rare and cheap: nothing is live);
//! - `slot_read`: bounds-checked slot reads of a 1024-slot array, strided;
//! - `write_idle`: `Mutator::write` with no cycle in flight;
//! - `write_marking`: `Mutator::write` during a concurrent marking (uffd
//!   mode; skipped with the reason where it is missing).
//!
//! This is the version written against the API before issue 16 (raw
//! `ObjRef`s, `roots()`), for the before/after comparison: copy it to
//! `benches/benches/fast_paths.rs` in a checkout of 63efa1e.
//!
//! Run: `cargo bench -p benches --bench fast_paths`.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use runtime::{AllocSpec, CyclePhase, Mode, Mutator, Runtime, Value};

const OPS: usize = 4096;
const SLOTS: u32 = 1024;

/// The runtime of the first three paths: stop-the-world (no collector
/// threads competing for the CPUs), a large heap (a collection every few
/// hundred iterations of `alloc`, with nothing live).
fn runtime() -> Runtime {
    Runtime::builder()
        .mode(Mode::Stw)
        .heap_limit(1 << 30)
        .build()
        .expect("runtime")
}

/// The runtime of `write_marking`: a marker that waits long enough for the
/// whole measurement to run while it marks.
fn marking_runtime() -> Runtime {
    Runtime::builder()
        .mode(Mode::Uffd)
        .heap_limit(256 << 20)
        .concurrent_mark_delay(Duration::from_secs(30))
        .build()
        .expect("runtime")
}

const NODE: AllocSpec = AllocSpec {
    tag: 1,
    slots: 2,
    bytes: 8,
    pinned: false,
    weak: false,
};

/// An array of numbers in value-stack slot 0 and a target object in slot 1.
fn setup(m: &mut Mutator) {
    let arr = m
        .alloc(AllocSpec {
            tag: 1,
            slots: SLOTS,
            ..Default::default()
        })
        .expect("array");
    for i in 0..SLOTS as usize {
        m.write(arr, i, Value::number(i as f64));
    }
    m.roots().push(Value::object(arr));
    let target = m.alloc(NODE).expect("target");
    m.roots().push(Value::object(target));
}

fn allocs(m: &mut Mutator) {
    for _ in 0..OPS {
        let o = m.alloc(NODE).expect("the heap is large");
        black_box(o);
    }
}

fn reads(m: &mut Mutator) -> f64 {
    let arr = m.roots()[0].as_object();
    let mut i = 0usize;
    let mut sum = 0.0;
    for _ in 0..OPS {
        i = (i + 97) % SLOTS as usize;
        let v = black_box(arr).slot(i);
        sum += if v.is_number() { v.as_number() } else { 0.0 };
    }
    sum
}

fn writes(m: &mut Mutator) {
    let arr = m.roots()[0].as_object();
    let v = m.roots()[1];
    let mut i = 0usize;
    for _ in 0..OPS {
        i = (i + 97) % SLOTS as usize;
        m.write(arr, i, black_box(v));
    }
}

fn fast_paths(c: &mut Criterion) {
    let mut g = c.benchmark_group("fast_paths");
    {
        let rt = runtime();
        let mut m = rt.mutator().expect("mutator");
        setup(&mut m);
        g.bench_function("alloc", |b| b.iter(|| allocs(&mut m)));
        g.bench_function("slot_read", |b| b.iter(|| reads(&mut m)));
        g.bench_function("write_idle", |b| b.iter(|| writes(&mut m)));
    }
    // One runtime's mutator at a time on this thread (two would put every
    // store of both on the checked path).
    let rt = marking_runtime();
    let mut m = rt.mutator().expect("mutator");
    setup(&mut m);
    if rt.mode() == Mode::Uffd && m.start_cycle() {
        assert_eq!(m.cycle_phase(), CyclePhase::Marking);
        g.bench_function("write_marking", |b| b.iter(|| writes(&mut m)));
    } else {
        eprintln!(
            "fast_paths/write_marking skipped: no concurrent marking ({})",
            rt.fallback_reason().unwrap_or("mode unavailable")
        );
    }
    g.finish();
}

criterion_group!(benches, fast_paths);
criterion_main!(benches);
