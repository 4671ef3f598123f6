//! Concurrent marking (uffd modes): the write barrier keeps what the
//! program hides from the marker, objects born during marking survive, and
//! weak slots read during marking keep what the program picked up.

use std::time::Duration;

use runtime::{CyclePhase, Gc, Mode, Mutator, Runtime, Value};

mod common;
use common::{id, obj, push_obj};

/// A runtime whose marker waits 100 ms before tracing, so everything the
/// test does right after starting a cycle happens while it is marking.
fn runtime(mode: Mode) -> Option<Runtime> {
    common::in_mode(
        Runtime::builder()
            .heap_limit(64 << 20)
            .concurrent_mark_delay(Duration::from_millis(100)),
        mode,
    )
}

/// The object in value-stack slot `i`.
fn at(m: &Mutator, i: usize) -> Gc<'_> {
    m.stack_get(i).as_object().expect("an object")
}

#[test]
fn a_reference_moved_behind_the_markers_back_stays_alive() {
    for mode in [Mode::UffdCopy, Mode::UffdWorkers, Mode::Sigbus, Mode::Uffd] {
        let Some(rt) = runtime(mode) else { continue };
        let mut m = rt.mutator().expect("mutator");
        // stack: [a, x]; a.0 -> b (b reachable only through a).
        push_obj(&mut m, 1, 1, false);
        let (m2, b) = obj(&mut m, 2, 0, false);
        m2.write(at(m2, 0), 0, b.into());
        push_obj(&mut m, 3, 1, false);
        assert!(m.start_cycle(), "{mode}: a cycle starts");
        assert_eq!(m.cycle_phase(), CyclePhase::Marking);
        // The classic lost-object race: copy b into x, then cut a -> b.
        let (a, x) = (at(&m, 0), at(&m, 1));
        let b = a.slot(0);
        m.write(x, 0, b);
        m.write(a, 0, Value::NIL);
        // And the same with an object born during marking as the holder.
        push_obj(&mut m, 4, 1, false);
        let x = at(&m, 1);
        let b = x.slot(0);
        m.write(at(&m, 2), 0, b);
        m.write(x, 0, Value::NIL);
        assert_eq!(
            m.cycle_phase(),
            CyclePhase::Marking,
            "{mode}: still marking"
        );
        m.finish_cycle().expect("cycle");
        m.verify().expect("heap valid");
        let b = at(&m, 2).slot(0);
        assert!(b.is_object(), "{mode}: the hidden object survived");
        assert_eq!(id(b), 2, "{mode}: and it is still b");
        assert_eq!(rt.stats().cycles, 1);
    }
}

#[test]
fn objects_born_during_marking_survive_and_garbage_goes_a_cycle_later() {
    for mode in [Mode::UffdCopy, Mode::UffdWorkers, Mode::Sigbus, Mode::Uffd] {
        let Some(rt) = runtime(mode) else { continue };
        let mut m = rt.mutator().expect("mutator");
        push_obj(&mut m, 1, 1, false);
        assert!(m.start_cycle());
        // Born during marking: one kept (linked from an old object), many
        // dropped at once.
        let (m2, newborn) = obj(&mut m, 7, 0, false);
        m2.write(at(m2, 0), 0, newborn.into());
        for i in 0..10_000 {
            obj(&mut m, 100 + i, 2, false);
        }
        m.finish_cycle().expect("cycle");
        m.verify().expect("heap valid");
        assert_eq!(id(at(&m, 0).slot(0)), 7, "{mode}: the newborn survived");
        let after_first = m.used_bytes();
        // The dropped newborns were live for the first cycle (born marked);
        // a second cycle frees them.
        m.collect().expect("second cycle");
        m.finish_cycle().expect("second cycle ends");
        let after_second = m.used_bytes();
        assert!(
            after_second + 10_000 * 32 <= after_first,
            "{mode}: floating garbage freed by the next cycle ({after_first} -> {after_second})"
        );
        assert_eq!(id(at(&m, 0).slot(0)), 7);
    }
}

#[test]
fn a_weak_slot_read_during_marking_keeps_its_target() {
    for mode in [Mode::UffdCopy, Mode::UffdWorkers, Mode::Sigbus, Mode::Uffd] {
        let Some(rt) = runtime(mode) else { continue };
        let mut m = rt.mutator().expect("mutator");
        // stack: [table (weak), weak2 (weak)]; table.0 -> s and weak2.0 ->
        // dead, both otherwise unreachable.
        push_obj(&mut m, 1, 1, true);
        let (m2, s) = obj(&mut m, 2, 0, false);
        m2.write(at(m2, 0), 0, s.into());
        push_obj(&mut m, 5, 1, true);
        let (m2, dead) = obj(&mut m, 4, 0, false);
        m2.write(at(m2, 1), 0, dead.into());
        assert!(m.start_cycle());
        // The program looks s up through the weak table and keeps it in an
        // object born during marking (which the marker never scans).
        let (m2, holder) = obj(&mut m, 3, 1, false);
        m2.push(holder.into());
        let found = m2.load_weak(at(m2, 0), 0);
        m2.write(holder, 0, found);
        m.finish_cycle().expect("cycle");
        m.verify().expect("heap valid");
        let kept = at(&m, 2).slot(0);
        assert!(kept.is_object(), "{mode}: the object picked up survived");
        assert_eq!(id(kept), 2, "{mode}: and it is still s");
        let table = at(&m, 0);
        assert_eq!(
            id(m.load_weak(table, 0)),
            2,
            "{mode}: and the weak slot follows it"
        );
        assert!(
            at(&m, 1).slot_raw(0).is_nil(),
            "{mode}: an untouched weak target died"
        );
    }
}
