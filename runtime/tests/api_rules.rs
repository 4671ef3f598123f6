//! The embedding API's run-time rules, where the compiler cannot check
//! (compile-time rules are in `tests/compile_fail.rs`): a global of another
//! runtime, a reference of another runtime stored through a mutator of
//! this one, a weak slot read without the weak barrier, and raw bytes read
//! and written through the safe accessors.

use std::panic::{catch_unwind, AssertUnwindSafe};

use runtime::{AllocError, AllocSpec, Mode, Runtime, Value};

/// A stop-the-world runtime without generations: the tests count bytes in
/// use exactly, and a generational collection rounds the old generation up
/// to a page.
fn rt() -> Runtime {
    Runtime::builder()
        .mode(Mode::Stw)
        .heap_limit(16 << 20)
        .generational(false)
        .build()
        .expect("runtime")
}

fn panic_message(r: std::thread::Result<()>) -> String {
    let e = r.expect_err("it panics");
    e.downcast_ref::<String>()
        .cloned()
        .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default()
}

#[test]
fn a_global_of_another_runtime_panics_instead_of_reading_a_stranger() {
    let (a, b) = (rt(), rt());
    // Each runtime's first global has the same index: before the globals
    // carried their runtime, `b`'s mutator read `b`'s first global here.
    let ma = a.mutator().expect("mutator");
    let g = ma.add_global(Value::number(1.0));
    drop(ma);
    let mb = b.mutator().expect("mutator");
    let _own = mb.add_global(Value::number(2.0));
    let msg = panic_message(catch_unwind(AssertUnwindSafe(|| {
        let _ = mb.global(g);
    })));
    assert!(msg.contains("Global of runtime"), "{msg}");
    let msg = panic_message(catch_unwind(AssertUnwindSafe(|| {
        mb.set_global(g, Value::NIL);
    })));
    assert!(msg.contains("Global of runtime"), "{msg}");
    assert_eq!(mb.global(_own).as_number(), Some(2.0), "untouched");
}

#[test]
fn a_reference_of_another_runtime_is_refused_by_stores_and_roots() {
    let (a, b) = (rt(), rt());
    let mut ma = a.mutator().expect("mutator");
    let mut mb = b.mutator().expect("mutator");
    let spec = AllocSpec {
        slots: 1,
        ..Default::default()
    };
    let (mb2, in_b) = mb.alloc(spec).expect("alloc");
    mb2.push(in_b.into());
    let (ma2, in_a) = ma.alloc(spec).expect("alloc");
    ma2.push(in_a.into());
    let (ma, mb) = (&ma, &mb);
    let in_a = ma.stack_get(0).as_object().expect("object");
    let in_b = mb.stack_get(0).as_object().expect("object");
    // Storing a's object into b's heap (or b's roots) would leave b with a
    // reference a's next collection makes stale.
    for (what, f) in [
        (
            "value",
            Box::new(|| mb.write(in_b, 0, in_a.into())) as Box<dyn Fn()>,
        ),
        ("target", Box::new(|| mb.write(in_a, 0, Value::NIL))),
        ("stack", Box::new(|| mb.push(in_a.into()))),
        (
            "global",
            Box::new(|| {
                mb.add_global(in_a.into());
            }),
        ),
    ] {
        let msg = panic_message(catch_unwind(AssertUnwindSafe(f)));
        assert!(msg.contains("not in this runtime's heap"), "{what}: {msg}");
    }
    // Its own objects still store fine, on both.
    mb.write(in_b, 0, in_b.into());
    ma.write(in_a, 0, Value::number(3.0));
    assert_eq!(in_b.slot(0), Value::from(in_b));
    assert_eq!(in_a.slot(0).as_number(), Some(3.0));
}

#[test]
fn a_weak_slot_read_for_keeping_must_go_through_the_barrier() {
    let rt = rt();
    let mut m = rt.mutator().expect("mutator");
    let (m, weak) = m
        .alloc(AllocSpec {
            slots: 2,
            weak: true,
            ..Default::default()
        })
        .expect("alloc");
    m.write(weak, 0, Value::number(7.0));
    let msg = panic_message(catch_unwind(AssertUnwindSafe(|| {
        let _ = weak.slot(0);
    })));
    assert!(msg.contains("use Mutator::load_weak"), "{msg}");
    assert_eq!(m.load_weak(weak, 0).as_number(), Some(7.0));
    assert!(weak.slot_raw(1).is_nil());
}

#[test]
fn raw_bytes_round_trip_at_any_offset_and_are_bounds_checked() {
    let rt = rt();
    let mut m = rt.mutator().expect("mutator");
    let (_, o) = m
        .alloc(AllocSpec {
            bytes: 37,
            ..Default::default()
        })
        .expect("alloc");
    assert_eq!(
        o.byte_len(),
        48,
        "37 bytes round up to whole words and an even object size"
    );
    let data: Vec<u8> = (1..=29).collect();
    o.write_bytes(3, &data);
    let mut back = vec![0u8; 29];
    o.read_bytes(3, &mut back);
    assert_eq!(back, data);
    let mut all = [0u8; 48];
    o.read_bytes(0, &mut all);
    assert_eq!(&all[..3], &[0, 0, 0], "bytes before the write are kept");
    assert!(all[32..].iter().all(|&b| b == 0), "and after it");
    assert_eq!(o.raw_word(0).to_le_bytes()[3], 1);
    let r = catch_unwind(AssertUnwindSafe(|| o.read_bytes(46, &mut [0u8; 3])));
    assert!(panic_message(r).contains("outside the raw area"));
    let r = catch_unwind(AssertUnwindSafe(|| o.write_bytes(usize::MAX, &[1])));
    assert!(panic_message(r).contains("outside the raw area"));
}

#[test]
fn an_object_that_can_never_fit_is_too_large_not_out_of_memory() {
    let rt = rt();
    let mut m = rt.mutator().expect("mutator");
    for spec in [
        AllocSpec {
            bytes: 32 << 20,
            ..Default::default()
        },
        AllocSpec {
            slots: u32::MAX,
            ..Default::default()
        },
    ] {
        match m.alloc(spec) {
            Err(AllocError::TooLarge { limit, .. }) => assert_eq!(limit, 16 << 20),
            other => panic!("{spec:?}: expected TooLarge, got {other:?}"),
        }
    }
}

#[test]
fn a_handle_scope_drops_its_roots_and_keeps_its_objects_until_then() {
    let rt = rt();
    let mut m = rt.mutator().expect("mutator");
    let sum = m.scope(|s| {
        let spec = AllocSpec {
            slots: 1,
            ..Default::default()
        };
        let first = s.alloc_rooted(spec).expect("alloc");
        let (s2, second) = s.alloc(spec).expect("alloc");
        s2.write(second, 0, s2.get(first));
        let second = s2.root(second);
        s.collect().expect("collect");
        // Both survived the collection through their handles, linked.
        let (first, second) = (s.get(first), s.get(second));
        assert_eq!(
            second.as_object().expect("object").slot(0),
            first,
            "the link follows the move"
        );
        s.used_bytes()
    });
    assert_eq!(sum, 64, "two 32-byte objects live inside the scope");
    m.collect().expect("collect");
    assert_eq!(m.used_bytes(), 0, "the scope's roots went with it");
}

/// Values stored through the barrier while a concurrent marking runs on a
/// thread that registered before the marking started and one that
/// registered during it: both must take the slow path (their per-thread
/// flags are raised by the pause, or start raised).
#[test]
fn threads_registered_before_and_during_a_marking_record_overwritten_values() {
    let Some(rt) = Runtime::builder()
        .mode(Mode::Uffd)
        .heap_limit(32 << 20)
        .concurrent_mark_delay(std::time::Duration::from_millis(100))
        .build()
        .ok()
        .filter(|rt| rt.mode() == Mode::Uffd)
    else {
        eprintln!("SKIP: no uffd mode here");
        return;
    };
    let mut a = rt.mutator().expect("mutator");
    let spec = AllocSpec {
        slots: 1,
        ..Default::default()
    };
    // holder.0 -> hidden, holder in a global.
    let (a2, holder) = a.alloc(spec).expect("alloc");
    let g = a2.add_global(holder.into());
    let (a2, hidden) = a.alloc(spec).expect("alloc");
    hidden.set_aux(42);
    a2.write(a2.global(g).as_object().expect("holder"), 0, hidden.into());
    let out = a2.add_global(Value::NIL);
    // A write before the cycle lowers a's flag (no marking yet).
    let (a2, scratch) = a.alloc(spec).expect("alloc");
    a2.write(scratch, 0, Value::NIL);
    assert!(a.start_cycle());
    std::thread::scope(|s| {
        s.spawn(|| {
            // Registers during the marking: moves hidden out of holder.
            let mut b = rt.mutator().expect("mutator");
            let (b, newborn) = b.alloc(spec).expect("alloc");
            let holder = b.global(g).as_object().expect("holder");
            b.write(newborn, 0, holder.slot(0));
            b.write(holder, 0, Value::NIL);
            b.set_global(out, newborn.into());
        });
    });
    a.finish_cycle().expect("cycle");
    a.verify().expect("heap valid");
    let newborn = a.global(out).as_object().expect("newborn");
    let kept = newborn
        .slot(0)
        .as_object()
        .expect("the hidden object survived");
    assert_eq!(kept.aux(), 42);
}
