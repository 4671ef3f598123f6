//! Generational collection in the uffd modes, where young cycles mark
//! concurrently: what mutators do between the remark and the flip pause
//! (weak reads of old objects, stores of young references into old slots,
//! from the driving thread and from another thread) and what the cards say
//! after the cycle. Modes whose kernel support is missing are skipped with
//! a message.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use runtime::{CyclePhase, Gc, Mode, Mutator, Runtime, Value};

mod common;
use common::{id, obj, push_obj, CONCURRENT};

/// A generational runtime whose marker waits 20 ms before tracing, so that
/// what a test does right after starting a cycle happens while it marks.
fn runtime(mode: Mode) -> Option<Runtime> {
    common::in_mode(
        Runtime::builder()
            .heap_limit(64 << 20)
            .generational(true)
            .concurrent_mark_delay(Duration::from_millis(20))
            .verify(true),
        mode,
    )
}

/// The object in value-stack slot `i`.
fn at(m: &Mutator, i: usize) -> Gc<'_> {
    m.stack_get(i).as_object().expect("an object")
}

/// Starts a young cycle and runs its remark pause, leaving it planning or
/// planned: the flip has not run, so the mutator is between the two pauses
/// until its next allocation or safepoint.
fn young_cycle_until_remarked(m: &mut Mutator, mode: Mode) {
    assert!(m.start_young_cycle(), "{mode}: a young cycle starts");
    remark(m, mode);
}

/// Waits for the marking in flight and runs the remark pause.
fn remark(m: &mut Mutator, mode: Mode) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while m.cycle_phase() == CyclePhase::Marking {
        assert!(Instant::now() < deadline, "{mode}: marking never ended");
        std::thread::sleep(Duration::from_millis(1));
    }
    m.safepoint();
    let phase = m.cycle_phase();
    assert!(
        matches!(phase, CyclePhase::Planning | CyclePhase::Planned),
        "{mode}: between remark and flip, not {phase:?}"
    );
}

#[test]
fn a_weak_read_of_an_old_object_between_remark_and_flip_finds_it() {
    for mode in CONCURRENT {
        let Some(rt) = runtime(mode) else { continue };
        let mut m = rt.mutator().expect("mutator");
        // stack: [weak holder, target]; both become old, then the target
        // is reachable only through the weak slot.
        push_obj(&mut m, 1, 1, true);
        push_obj(&mut m, 2, 0, false);
        m.write(at(&m, 0), 0, m.stack_get(1));
        m.collect().expect("full: both become old");
        m.finish_cycle().expect("compaction");
        assert!(
            rt.heap().old_generation_bytes() > 0,
            "{mode}: an old generation"
        );
        m.pop();
        young_cycle_until_remarked(&mut m, mode);
        // The young cycle neither marks nor frees old objects: a weak read
        // must not take the unmarked old target for a dead one.
        let found = m.load_weak(at(&m, 0), 0);
        assert_eq!(id(found), 2, "{mode}: the old target is found");
        m.push(found);
        m.finish_cycle().expect("cycle");
        m.verify().expect("heap valid");
        assert_eq!(id(m.stack_get(1)), 2, "{mode}: and it survives");
        assert_eq!(rt.stats().young_cycles, 1, "{mode}");
    }
}

#[test]
fn an_old_slot_written_between_remark_and_flip_follows_its_young_target() {
    for mode in CONCURRENT {
        let Some(rt) = runtime(mode) else { continue };
        let mut m = rt.mutator().expect("mutator");
        // stack: [old holder (64 slots, moving), y1, y2].
        push_obj(&mut m, 1, 64, false);
        m.collect().expect("full: the holder becomes old");
        m.finish_cycle().expect("compaction");
        push_obj(&mut m, 10, 0, false); // young before the cycle: promoted
        for i in 0..1000 {
            // Garbage below it, so that the young survivors move.
            obj(&mut m, 1000 + i, 1, false);
        }
        assert!(m.start_young_cycle(), "{mode}");
        push_obj(&mut m, 11, 0, false); // born during the cycle: stays young
        assert_eq!(m.cycle_phase(), CyclePhase::Marking, "{mode}");
        remark(&mut m, mode);
        // Stores of young references into old slots, the only references
        // left to them: the flip pause must forward them (the cards).
        let holder = at(&m, 0);
        m.write(holder, 40, m.stack_get(1));
        m.write(holder, 63, m.stack_get(2));
        m.stack_truncate(1);
        let before = m.checksum();
        m.finish_cycle().expect("cycle");
        // The verifier checks that the slot to the still-young object lies
        // on a dirty card.
        m.verify().expect("heap valid");
        assert_eq!(m.checksum(), before, "{mode}: the graph is intact");
        let holder = at(&m, 0);
        assert_eq!(id(holder.slot(40)), 10, "{mode}");
        assert_eq!(id(holder.slot(63)), 11, "{mode}");
        assert!(
            rt.heap().card_dirty(holder.addr() + (2 + 63) * 8),
            "{mode}: the old slot to a young object keeps its card dirty"
        );
        // A second young cycle keeps the young object through the card.
        m.collect_young().expect("second young cycle");
        assert_eq!(m.checksum(), before, "{mode}: the graph is intact");
        assert_eq!(rt.stats().young_cycles, 2, "{mode}");
    }
}

#[test]
fn a_writer_thread_stores_old_to_young_references_across_young_cycles() {
    for mode in CONCURRENT {
        let Some(rt) = runtime(mode) else { continue };
        const SLOTS: usize = 256;
        let stop = AtomicBool::new(false);
        std::thread::scope(|s| {
            let (rt, stop) = (&rt, &stop);
            let writer = s.spawn(move || {
                let mut m = rt.mutator().expect("writer");
                push_obj(&mut m, 1, SLOTS as u32, false);
                m.collect().expect("full: the holder becomes old");
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) || n < 20_000 {
                    // A new object, stored only in the old holder: what a
                    // slot held before becomes garbage.
                    let (m2, y) = obj(&mut m, 100 + n, 1, false);
                    let holder = at(m2, 0);
                    m2.write(holder, n as usize % SLOTS, y.into());
                    n += 1;
                    if n.is_multiple_of(64) {
                        m.safepoint();
                    }
                }
                let holder = at(&m, 0);
                for i in 0..SLOTS {
                    let v = holder.slot(i);
                    assert!(v.is_object(), "{mode}: slot {i} lost its object");
                    assert_eq!(id(v) % SLOTS as u64, (100 + i as u64) % SLOTS as u64);
                }
                m.verify().expect("heap valid");
            });
            let mut m = rt.mutator().expect("driver");
            for round in 0..20 {
                if round % 5 == 4 {
                    m.collect().expect("full");
                } else {
                    m.collect_young().expect("young");
                }
                // A concurrently marked young cycle the writer runs through.
                m.start_young_cycle();
                m.finish_cycle().expect("cycle");
            }
            stop.store(true, Ordering::Relaxed);
            drop(m);
            writer.join().expect("writer");
        });
        assert!(rt.stats().young_cycles > 0, "{mode}");
    }
}

#[test]
fn an_old_value_written_during_marking_is_kept_by_the_barrier() {
    for mode in CONCURRENT {
        let Some(rt) = runtime(mode) else { continue };
        let mut m = rt.mutator().expect("mutator");
        // stack: [old a, old x]; a.0 -> y (young, reachable only through a).
        push_obj(&mut m, 1, 1, false);
        push_obj(&mut m, 2, 1, false);
        m.collect().expect("full: both old");
        m.finish_cycle().expect("compaction");
        let (m2, y) = obj(&mut m, 3, 0, false);
        m2.write(at(m2, 0), 0, y.into());
        assert!(m.start_young_cycle(), "{mode}");
        // Move y from a to x behind the marker's back (old slots both).
        let y = at(&m, 0).slot(0);
        m.write(at(&m, 1), 0, y);
        m.write(at(&m, 0), 0, Value::NIL);
        m.finish_cycle().expect("cycle");
        m.verify().expect("heap valid");
        assert_eq!(id(at(&m, 1).slot(0)), 3, "{mode}: y survived");
    }
}

#[test]
fn a_young_cycle_with_too_many_dirty_old_cards_runs_full() {
    for mode in CONCURRENT {
        let Some(rt) = runtime(mode) else { continue };
        let mut m = rt.mutator().expect("mutator");
        // 600 old 1 KiB objects (two cards each), then one store into each.
        for i in 0..600 {
            push_obj(&mut m, i, 120, false);
        }
        m.collect().expect("full: all old");
        m.finish_cycle().expect("compaction");
        for i in 0..600 {
            m.write(at(&m, i), 100, Value::number(1.0));
        }
        m.collect_young().expect("collection");
        assert_eq!(
            rt.stats().young_cycles,
            0,
            "{mode}: the young cycle ran full (its flip pause would fix 600 cards)"
        );
        m.write(at(&m, 0), 100, Value::number(2.0));
        m.collect_young().expect("collection");
        assert_eq!(
            rt.stats().young_cycles,
            1,
            "{mode}: a few dirty cards: young"
        );
    }
}
