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
//! | `slot_read_unchecked` | `ObjRef::slot_unchecked` (the acquire load alone; the floor) |
//! | `slot_read` | `ObjRef::slot` (bounds check against the header's slot count, then the load) |
//! | `slot_write_raw` | `ObjRef::set_slot_raw` (the store alone, no check, no barrier; the floor) |
//! | `slot_write_idle` | `Mutator::write` with no marking running (bounds check + barrier flag test + store) |
//! | `slot_write_marking_scalar` | `Mutator::write` during a concurrent marking, the old value a number (the barrier's slow path reads it and stops) |
//! | `slot_write_marking_object` | `Mutator::write` during a concurrent marking, the old value an object (recorded in the SATB buffer; every 1024th hands the buffer over) |
//! | `alloc_small` | `Mutator::alloc` of a 2-slot object (a Lox instance's size), garbage at once: amortised over the collections it triggers |
//! | `alloc_small_init` | `alloc_small` plus two initialising `Mutator::write`s, the first of a rooted object re-read after the allocation (what an instance or bound method costs) |
//! | `root_push_pop` | `Mutator::push_root` then `roots().pop()` |
//! | `root_scope` | `Mutator::scope` around one `push_root` |
//! | `roots_access` | `Mutator::roots().len()` (reaching the root vector through the thread slot) |
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
//! Porting: every operation is one small `#[inline(always)]` helper below
//! (`op_*`); when the embedding API changes, only those change.
//!
//! Run: `cargo bench -p benches --bench api_cost`.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Bencher, Criterion};
use runtime::{AllocSpec, CyclePhase, Handle, Mode, Mutator, ObjRef, Runtime, Value};

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
fn op_slot_read(obj: ObjRef, i: usize) -> Value {
    obj.slot(i)
}

/// # Safety
/// 1. `obj` is live and `i < obj.slot_count()`.
#[inline(always)]
unsafe fn op_slot_read_unchecked(obj: ObjRef, i: usize) -> Value {
    // SAFETY: the caller's invariant 1.
    unsafe { obj.slot_unchecked(i) }
}

#[inline(always)]
fn op_slot_write(m: &mut Mutator, obj: ObjRef, i: usize, v: Value) {
    m.write(obj, i, v);
}

/// # Safety
/// 1. `obj` is live, `i < obj.slot_count()`, and no marking runs.
#[inline(always)]
unsafe fn op_slot_write_raw(obj: ObjRef, i: usize, v: Value) {
    // SAFETY: the caller's invariant 1.
    unsafe { obj.set_slot_raw(i, v) }
}

#[inline(always)]
fn op_alloc_small(m: &mut Mutator) -> ObjRef {
    m.alloc(SMALL)
        .expect("a 256 MiB heap holds the benchmark's live set")
}

#[inline(always)]
fn op_root_push_pop(m: &mut Mutator, v: Value) {
    m.push_root(v);
    m.roots().pop();
}

#[inline(always)]
fn op_root_scope(m: &mut Mutator, v: Value) -> Handle {
    m.scope(|m| m.push_root(v))
}

#[inline(always)]
fn op_roots_access(m: &mut Mutator) -> usize {
    m.roots().len()
}

#[inline(always)]
fn op_handle_get(m: &Mutator, h: Handle) -> Value {
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

/// Roots 0..OBJECTS hold the objects, root OBJECTS the store target.
fn setup(m: &mut Mutator) {
    for _ in 0..OBJECTS {
        let o = m
            .alloc(AllocSpec {
                tag: 1,
                slots: SLOTS,
                bytes: 0,
                ..Default::default()
            })
            .expect("object");
        m.roots().push(Value::object(o));
    }
    let target = m
        .alloc(AllocSpec {
            tag: 2,
            slots: 0,
            bytes: 8,
            ..Default::default()
        })
        .expect("target");
    m.roots().push(Value::object(target));
}

/// The objects as they are now (reload after anything that may collect).
fn objects(m: &mut Mutator) -> [ObjRef; OBJECTS] {
    let roots = m.roots();
    std::array::from_fn(|k| roots[k].as_object())
}

fn target(m: &mut Mutator) -> Value {
    m.roots()[OBJECTS]
}

/// Fills every slot with `v` (untimed).
fn fill(m: &mut Mutator, v: Value) {
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

fn reads(objs: &[ObjRef; OBJECTS], checked: bool) -> u64 {
    let mut acc = 0u64;
    for k in 0..BATCH {
        let (o, i) = at(k);
        let v = if checked {
            op_slot_read(objs[o], i)
        } else {
            // SAFETY: objects are live (rooted, no safepoint in the loop)
            // and i < SLOTS.
            unsafe { op_slot_read_unchecked(objs[o], i) }
        };
        acc = acc.wrapping_add(v.to_bits());
    }
    acc
}

fn writes(m: &mut Mutator, objs: &[ObjRef; OBJECTS], v: Value) {
    for k in 0..BATCH {
        let (o, i) = at(k);
        op_slot_write(m, objs[o], i, black_box(v));
    }
}

fn writes_raw(objs: &[ObjRef; OBJECTS], v: Value) {
    for k in 0..BATCH {
        let (o, i) = at(k);
        // SAFETY: live objects, i < SLOTS, and no marking runs (checked by
        // the caller).
        unsafe { op_slot_write_raw(objs[o], i, black_box(v)) };
    }
}

/// Times `iters` batches of barriered writes of `v` over slots holding
/// `old`, with a concurrent marking running throughout.
fn marking_writes(
    b: &mut Bencher,
    rt: &Runtime,
    m: &mut Mutator,
    old: fn(&mut Mutator) -> Value,
    v: fn(&mut Mutator) -> Value,
) {
    b.iter_custom(|iters| {
        if !rt.heap().is_satb_active() {
            m.finish_cycle().expect("finish cycle");
            assert!(m.start_cycle(), "a cycle starts");
        }
        let (old, v) = (old(m), v(m));
        fill(m, old);
        let objs = objects(m);
        let t = Instant::now();
        for _ in 0..iters {
            writes(m, &objs, v);
        }
        let elapsed = t.elapsed();
        assert!(
            rt.heap().is_satb_active(),
            "the marking ended during the measurement"
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

    assert!(!rt.heap().is_satb_active(), "no cycle in flight");
    let objs = objects(&mut m);
    let t = target(&mut m);
    fill(&mut m, t);
    g.bench_function("slot_read_unchecked", |b| b.iter(|| reads(&objs, false)));
    g.bench_function("slot_read", |b| b.iter(|| reads(&objs, true)));
    g.bench_function("slot_write_raw", |b| b.iter(|| writes_raw(&objs, t)));
    g.bench_function("slot_write_idle", |b| b.iter(|| writes(&mut m, &objs, t)));

    if rt.mode() == Mode::Uffd && m.start_cycle() {
        assert_eq!(m.cycle_phase(), CyclePhase::Marking);
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
                op_root_push_pop(&mut m, black_box(v));
            }
        })
    });
    g.bench_function("root_scope", |b| {
        b.iter(|| {
            for _ in 0..BATCH {
                black_box(op_root_scope(&mut m, black_box(v)));
            }
        })
    });
    g.bench_function("roots_access", |b| {
        b.iter(|| {
            let mut n = 0;
            for _ in 0..BATCH {
                n += op_roots_access(black_box(&mut m));
            }
            n
        })
    });
    let h = m.push_root(v);
    g.bench_function("handle_get", |b| {
        b.iter(|| {
            let mut acc = 0u64;
            for _ in 0..BATCH {
                acc = acc.wrapping_add(op_handle_get(&m, black_box(h)).to_bits());
            }
            acc
        })
    });
    m.roots().pop();
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
    g.bench_function("alloc_small_init", |b| {
        b.iter(|| {
            for _ in 0..BATCH {
                let o = op_alloc_small(&mut m);
                // Re-read after the allocation, which may have moved it.
                let t = target(&mut m);
                op_slot_write(&mut m, o, 0, t);
                op_slot_write(&mut m, o, 1, Value::NIL);
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
