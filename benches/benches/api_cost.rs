//! # api_cost: what each runtime call costs an interpreter, per operation
//!
//! An interpreter on this heap pays the runtime's embedding API on every
//! field access, store, allocation and root-stack change. This benchmark
//! times each operation alone, in batches of [`BATCH`] = 1000 calls per
//! criterion iteration, so **criterion's time per iteration in µs reads as
//! ns per operation**. All variants run in one process, side by side:
//!
//! | name | what one operation is |
//! |---|---|
//! | `slot_read_unchecked` | `Gc::slot_unchecked` (the acquire load alone; the floor) |
//! | `slot_read` | `Gc::slot` (bounds and weak check against the header, then the load) |
//! | `slot_write_raw` | `gc::ObjRef::set_slot_raw` (the store alone, no check, no barrier; the floor) |
//! | `slot_write_idle` | `Mutator::write` with no marking running (bounds check + barrier flag test + store) |
//! | `slot_write_marking_scalar` | `Mutator::write` during a concurrent marking, the old value a number (the barrier's slow path reads it and stops) |
//! | `slot_write_marking_object` | `Mutator::write` during a concurrent marking, the old value an object (recorded in the SATB buffer; every 1024th hands the buffer over) |
//! | `alloc_small` | `Mutator::alloc` of a 2-slot object (a Lox instance's size), garbage at once: amortised over the collections it triggers |
//! | `alloc_small_no_safepoint` | `Mutator::alloc_without_safepoint` of the same object, `Mutator::alloc` when it answers `None` (a full buffer past the trigger, a waiting pause): an interpreter's allocation that keeps its registers |
//! | `alloc_small_init` | `alloc_small` plus two initialising `Mutator::write`s, the first of a rooted object re-read after the allocation (what an instance or bound method costs) |
//! | `root_push_pop` | `Mutator::push` then `Mutator::pop` (the value stack) |
//! | `root_scope` | `Mutator::scope` around one `Scope::root` |
//! | `roots_access` | `Mutator::stack_len()` (reaching the value stack through the thread slot) |
//! | `handle_get` | `Mutator::get(handle)` |
//! | `safepoint_idle` | `Mutator::safepoint()` with nothing pending (one poll-word load) |
//!
//! Reads and writes go round 64 objects of 4 slots (slot `k % 4` of object
//! `k % 64`), so the bounds check reads a header per access as an
//! interpreter's does. The marking variants run with a concurrent cycle
//! started (uffd modes) and not polled: the barrier stays active for the
//! whole measurement (asserted after it); between measurements the cycle is
//! finished (draining the recorded values) and a new one started, outside
//! the timed part. Without userfaultfd (fallback to stw) they are skipped
//! with the reason.
//!
//! Each operation is measured here only: the write barrier's cost is
//! `slot_write_idle` and `slot_write_marking_object` against
//! `slot_write_raw`, allocation's is `alloc_small`. (Figures recorded before
//! 2026-12-07 under `--bench write_barrier` and `--bench fast_paths` came
//! from two earlier files with the same operations in other loops; they
//! are in the history: `git show 22a8f5c:benches/benches/write_barrier.rs`.)
//!
//! Porting: every operation is one small `#[inline(always)]` helper below
//! (`op_*`); when the embedding API changes, only those change.
//!
//! Run: `cargo bench -p benches --bench api_cost`.

// `criterion_group!` defines a public function it does not document.
#![allow(missing_docs)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Bencher, Criterion};
use gc::ObjRef;
use runtime::{AllocSpec, CyclePhase, Gc, Handle, Mode, Mutator, Runtime, Value};

/// Operations per criterion iteration (µs per iteration = ns per op).
const BATCH: usize = 1000;
/// Objects the read and write loops go round.
const OBJECTS: usize = 64;
/// Slots per object.
const SLOTS: u32 = 4;
/// The small object's spec (a Lox instance: class and field table).
const SMALL: AllocSpec = AllocSpec {
    tag: 7,
    slots: 2,
    bytes: 0,
    pinned: false,
    weak: false,
};

// ---- one helper per operation (the only code to port) ----

#[inline(always)]
fn op_slot_read(obj: Gc<'_>, i: usize) -> Value<'_> {
    obj.slot(i)
}

/// # Safety
/// 1. `i < obj.slot_count()` and the object is not weak.
#[inline(always)]
unsafe fn op_slot_read_unchecked(obj: Gc<'_>, i: usize) -> Value<'_> {
    // SAFETY: the caller's invariant 1.
    unsafe { obj.slot_unchecked(i) }
}

#[inline(always)]
fn op_slot_write(m: &Mutator, obj: Gc<'_>, i: usize, v: Value<'_>) {
    m.write(obj, i, v);
}

/// # Safety
/// 1. `obj` is live, `i < obj.slot_count()`, and no marking runs.
#[inline(always)]
unsafe fn op_slot_write_raw(obj: ObjRef, i: usize, v: Value<'_>) {
    // SAFETY: the caller's invariant 1.
    unsafe { obj.set_slot_raw(i, v.raw()) }
}

#[inline(always)]
fn op_alloc_small(m: &mut Mutator) -> (&Mutator, Gc<'_>) {
    m.alloc(SMALL)
        .expect("a 256 MiB heap holds the benchmark's live set")
}

#[inline(always)]
fn op_alloc_small_no_safepoint(m: &mut Mutator) {
    if let Some(o) = m.alloc_without_safepoint(SMALL) {
        black_box(o);
    } else {
        black_box(op_alloc_small(m));
    }
}

#[inline(always)]
fn op_root_push_pop(m: &Mutator, v: Value<'_>) {
    m.push(v);
    m.pop();
}

#[inline(always)]
fn op_root_scope(m: &mut Mutator, v: Value<'_>) {
    m.scope(|s| {
        black_box(s.root(v));
    })
}

#[inline(always)]
fn op_roots_access(m: &Mutator) -> usize {
    m.stack_len()
}

#[inline(always)]
fn op_handle_get<'m>(m: &'m Mutator, h: Handle<'_>) -> Value<'m> {
    m.get(h)
}

#[inline(always)]
fn op_safepoint(m: &mut Mutator) {
    m.safepoint();
}

// ---- set-up ----

/// The runtime demo-vm runs on by default (uffd), with a fixed limit.
fn runtime() -> Runtime {
    Runtime::builder()
        .mode(Mode::Uffd)
        .heap_limit(256 << 20)
        .build()
        .expect("runtime")
}

/// Value-stack slots 0..OBJECTS hold the objects, slot OBJECTS the store
/// target.
fn setup(m: &mut Mutator) {
    for _ in 0..OBJECTS {
        let (m, o) = m
            .alloc(AllocSpec {
                tag: 1,
                slots: SLOTS,
                bytes: 0,
                ..Default::default()
            })
            .expect("object");
        m.push(o.into());
    }
    let (m, target) = m
        .alloc(AllocSpec {
            tag: 2,
            slots: 0,
            bytes: 8,
            ..Default::default()
        })
        .expect("target");
    m.push(target.into());
}

/// The objects as they are now (they borrow the mutator: no safepoint
/// while they are used).
fn objects(m: &Mutator) -> [Gc<'_>; OBJECTS] {
    std::array::from_fn(|k| m.stack_get(k).as_object().expect("an object"))
}

/// The objects as raw references, for the raw-store floor.
///
/// # Safety
/// The caller uses them only before the mutator's next safepoint.
unsafe fn raw_objects(m: &Mutator) -> [ObjRef; OBJECTS] {
    // SAFETY: current values of this thread's roots, objects; the caller
    // keeps them within the next safepoint.
    std::array::from_fn(|k| unsafe { m.stack_get(k).raw().as_object() })
}

fn target(m: &Mutator) -> Value<'_> {
    m.stack_get(OBJECTS)
}

/// Fills every slot with `v` (untimed).
fn fill(m: &Mutator, v: Value<'_>) {
    for o in objects(m) {
        for i in 0..SLOTS as usize {
            m.write(o, i, v);
        }
    }
}

#[inline(always)]
fn at(k: usize) -> (usize, usize) {
    (k % OBJECTS, k % SLOTS as usize)
}

// ---- the batches ----

fn reads(objs: &[Gc<'_>; OBJECTS], checked: bool) -> u64 {
    let mut acc = 0u64;
    for k in 0..BATCH {
        let (o, i) = at(k);
        let v = if checked {
            op_slot_read(objs[o], i)
        } else {
            // SAFETY: i < SLOTS, and the objects are not weak.
            unsafe { op_slot_read_unchecked(objs[o], i) }
        };
        acc = acc.wrapping_add(v.raw().to_bits());
    }
    acc
}

fn writes(m: &Mutator, objs: &[Gc<'_>; OBJECTS], v: Value<'_>) {
    for k in 0..BATCH {
        let (o, i) = at(k);
        op_slot_write(m, objs[o], i, black_box(v));
    }
}

fn writes_raw(objs: &[ObjRef; OBJECTS], v: Value<'_>) {
    for k in 0..BATCH {
        let (o, i) = at(k);
        // SAFETY: live objects, i < SLOTS, and no marking runs (checked by
        // the caller).
        unsafe { op_slot_write_raw(objs[o], i, black_box(v)) };
    }
}

/// Whether the write barrier records old values in `phase`: while the
/// marker runs, and after it until the remark pause, which only this
/// thread runs (at an allocation or a safepoint, never during the
/// measured writes). On a small heap the marker may well be done before
/// the first write.
fn barrier_on(phase: CyclePhase) -> bool {
    matches!(phase, CyclePhase::Marking | CyclePhase::Marked)
}

/// Times `iters` batches of barriered writes of `v` over slots holding
/// `old`, with a concurrent marking running throughout.
fn marking_writes(
    b: &mut Bencher,
    rt: &Runtime,
    m: &mut Mutator,
    old: for<'a> fn(&'a Mutator) -> Value<'a>,
    v: for<'a> fn(&'a Mutator) -> Value<'a>,
) {
    let _ = rt;
    b.iter_custom(|iters| {
        if !barrier_on(m.cycle_phase()) {
            m.finish_cycle().expect("finish cycle");
            assert!(m.start_cycle(), "a cycle starts");
        }
        let elapsed = {
            let m = &*m;
            let (old, v) = (old(m), v(m));
            fill(m, old);
            let objs = objects(m);
            let t = Instant::now();
            for _ in 0..iters {
                writes(m, &objs, v);
            }
            t.elapsed()
        };
        assert!(
            barrier_on(m.cycle_phase()),
            "the marking ended during the measurement ({:?})",
            m.cycle_phase()
        );
        // Drain what was recorded, outside the timed part.
        m.finish_cycle().expect("finish cycle");
        elapsed
    });
}

fn api_cost(c: &mut Criterion) {
    let rt = runtime();
    let mut m = rt.mutator().expect("mutator");
    setup(&mut m);
    let mut g = c.benchmark_group("api_cost");
    g.warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));

    assert_eq!(m.cycle_phase(), CyclePhase::Idle, "no cycle in flight");
    {
        let m = &m;
        let objs = objects(m);
        // SAFETY: used only in this block, where nothing reaches a safepoint.
        let raw = unsafe { raw_objects(m) };
        let t = target(m);
        fill(m, t);
        g.bench_function("slot_read_unchecked", |b| b.iter(|| reads(&objs, false)));
        g.bench_function("slot_read", |b| b.iter(|| reads(&objs, true)));
        g.bench_function("slot_write_raw", |b| b.iter(|| writes_raw(&raw, t)));
        g.bench_function("slot_write_idle", |b| b.iter(|| writes(m, &objs, t)));
    }

    if rt.mode() == Mode::Uffd && m.start_cycle() {
        assert!(barrier_on(m.cycle_phase()));
        g.bench_function("slot_write_marking_scalar", |b| {
            marking_writes(
                b,
                &rt,
                &mut m,
                |_| Value::number(1.0),
                |_| Value::number(2.0),
            )
        });
        g.bench_function("slot_write_marking_object", |b| {
            marking_writes(b, &rt, &mut m, target, target)
        });
        m.finish_cycle().expect("finish cycle");
    } else {
        eprintln!(
            "api_cost/slot_write_marking_*: skipped, no concurrent marking ({})",
            rt.fallback_reason().unwrap_or("mode unavailable")
        );
    }

    let v = Value::number(1.0);
    g.bench_function("root_push_pop", |b| {
        b.iter(|| {
            for _ in 0..BATCH {
                op_root_push_pop(&m, black_box(v));
            }
        })
    });
    g.bench_function("root_scope", |b| {
        b.iter(|| {
            for _ in 0..BATCH {
                op_root_scope(&mut m, black_box(v));
            }
        })
    });
    g.bench_function("roots_access", |b| {
        b.iter(|| {
            let mut n = 0;
            for _ in 0..BATCH {
                n += op_roots_access(black_box(&m));
            }
            n
        })
    });
    m.scope(|s| {
        let h = s.root(v);
        g.bench_function("handle_get", |b| {
            b.iter(|| {
                let mut acc = 0u64;
                for _ in 0..BATCH {
                    acc = acc.wrapping_add(op_handle_get(s, black_box(h)).raw().to_bits());
                }
                acc
            })
        });
    });
    g.bench_function("safepoint_idle", |b| {
        b.iter(|| {
            for _ in 0..BATCH {
                op_safepoint(black_box(&mut m));
            }
        })
    });

    // Allocation last: it collects, which moves the objects above.
    let before = m.stats().cycles;
    g.bench_function("alloc_small", |b| {
        b.iter(|| {
            for _ in 0..BATCH {
                black_box(op_alloc_small(&mut m));
            }
        })
    });
    g.bench_function("alloc_small_no_safepoint", |b| {
        b.iter(|| {
            for _ in 0..BATCH {
                op_alloc_small_no_safepoint(black_box(&mut m));
            }
        })
    });
    g.bench_function("alloc_small_init", |b| {
        b.iter(|| {
            for _ in 0..BATCH {
                let (m, o) = op_alloc_small(&mut m);
                // Re-read after the allocation, which may have moved it.
                let t = target(m);
                op_slot_write(m, o, 0, t);
                op_slot_write(m, o, 1, Value::NIL);
                black_box(o);
            }
        })
    });
    m.quiesce();
    eprintln!(
        "api_cost/alloc_*: {} collections during the allocation benchmarks ({})",
        m.stats().cycles - before,
        rt.describe()
    );
    g.finish();
}

criterion_group!(benches, api_cost);
criterion_main!(benches);
