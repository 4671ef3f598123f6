//! # write_barrier: what the SATB barrier's fast path costs a write
//!
//! The runtime's `Mutator::write` checks this thread's write-barrier flag
//! (one load through a pointer the mutator keeps, and a branch) before it
//! stores; off marking, that check is the whole barrier. This benchmark
//! times a write-heavy loop, 4096 reference stores into a 1024-slot array
//! per iteration (the slot index strided so stores do not coalesce), three
//! ways in one group so they run side by side:
//!
//! - `raw_store`: the store alone (`gc::ObjRef::set_slot_raw`, no barrier,
//!   reached through `unsafe`);
//! - `barrier_idle`: `Mutator::write` with no cycle in flight (the fast
//!   path the issue asks about);
//! - `barrier_marking`: `Mutator::write` while a concurrent marking runs
//!   (each store also records the old value; uffd modes only, skipped with
//!   the reason otherwise).
//!
//! The ratio `barrier_idle / raw_store` is the fast path's cost.
//!
//! Run: `cargo bench -p benches --bench write_barrier`.

// `criterion_group!` defines a public function it does not document.
#![allow(missing_docs)]

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use runtime::{AllocSpec, CyclePhase, Mode, Mutator, Runtime};

const STORES: usize = 4096;
const SLOTS: u32 = 1024;

/// A runtime whose marker waits long enough that a whole measurement
/// (criterion's 3 s warm-up and 5 s sample) runs while it marks; the
/// process waits out the rest at exit.
fn runtime() -> Runtime {
    Runtime::builder()
        .mode(Mode::Uffd)
        .heap_limit(256 << 20)
        .concurrent_mark_delay(Duration::from_secs(15))
        .build()
        .expect("runtime")
}

/// An array in value-stack slot 0 and a target object in slot 1.
fn setup(m: &mut Mutator) {
    let (m2, arr) = m
        .alloc(AllocSpec {
            tag: 1,
            slots: SLOTS,
            bytes: 0,
            ..Default::default()
        })
        .expect("array");
    m2.push(arr.into());
    let (m2, target) = m
        .alloc(AllocSpec {
            tag: 2,
            slots: 0,
            bytes: 8,
            ..Default::default()
        })
        .expect("target");
    m2.push(target.into());
}

fn stores(m: &mut Mutator, barrier: bool) {
    let arr = m.stack_get(0).as_object().expect("array");
    let v = m.stack_get(1);
    // SAFETY: the array is live and stays in place until this function
    // returns (no safepoint here); only the raw variant uses it.
    let arr_raw = unsafe { runtime::Value::from(arr).raw().as_object() };
    let mut i = 0usize;
    for _ in 0..STORES {
        i = (i + 97) % SLOTS as usize;
        if barrier {
            m.write(arr, i, black_box(v));
        } else {
            // SAFETY: i < SLOTS; no marking runs in this variant.
            unsafe { arr_raw.set_slot_raw(i, black_box(v.raw())) };
        }
    }
}

fn write_barrier(c: &mut Criterion) {
    let mut g = c.benchmark_group("write_barrier");
    let rt = runtime();
    let mut m = rt.mutator().expect("mutator");
    setup(&mut m);
    g.bench_function("raw_store", |b| b.iter(|| stores(&mut m, false)));
    g.bench_function("barrier_idle", |b| b.iter(|| stores(&mut m, true)));
    if rt.mode() == Mode::Uffd && m.start_cycle() {
        assert_eq!(m.cycle_phase(), CyclePhase::Marking);
        g.bench_function("barrier_marking", |b| b.iter(|| stores(&mut m, true)));
    } else {
        eprintln!(
            "write_barrier/barrier_marking skipped: no concurrent marking ({})",
            rt.fallback_reason().unwrap_or("mode unavailable")
        );
    }
    g.finish();
}

criterion_group!(benches, write_barrier);
criterion_main!(benches);
