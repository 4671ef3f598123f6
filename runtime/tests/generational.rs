//! Generational collection in every mode (the uffd modes are skipped, with
//! a message, where userfaultfd is unavailable): young cycles keep what
//! only an old object refers to (through the card the write barrier
//! dirtied), clear weak slots of old objects to dead young objects, free
//! young garbage, and leave old garbage to the next full cycle. The
//! verifier (on here) checks the card invariant after every cycle.
//!
//! Removing the card store from `Mutator::write` makes
//! `a_young_object_reachable_only_from_an_old_one_survives` fail in every
//! mode (the young cycle frees the object: the verifier reports a dangling
//! reference).

mod common;

use runtime::{AllocSpec, Gc, Mode, Mutator, Runtime};

fn runtime(generational: bool) -> Runtime {
    runtime_in(generational, Mode::Stw).expect("stw runs everywhere")
}

/// A runtime in `mode`, or `None` (with a SKIP line) where it cannot run.
fn runtime_in(generational: bool, mode: Mode) -> Option<Runtime> {
    let builder = Runtime::builder()
        .heap_limit(64 << 20)
        .generational(generational)
        .verify(true);
    common::in_mode(builder, mode)
}

/// Runs `f` on a generational runtime in every mode that runs here.
fn in_every_mode(f: impl Fn(Mode, Runtime)) {
    for mode in Mode::ALL {
        if let Some(rt) = runtime_in(true, mode) {
            f(mode, rt);
        }
    }
}

/// Pushes an object of `slots` slots (`pinned`: non-moving) with id `id`.
fn push_holder(m: &mut Mutator, id: u64, slots: u32, pinned: bool) {
    let (m, o) = m
        .alloc(AllocSpec {
            tag: 1,
            slots,
            bytes: 16,
            pinned,
            weak: false,
        })
        .expect("holder");
    o.set_raw_word(0, id);
    m.push(o.into());
}

fn holder(m: &Mutator, i: usize) -> Gc<'_> {
    m.stack_get(i).as_object().expect("a holder")
}

#[test]
fn a_young_object_reachable_only_from_an_old_one_survives() {
    // Holders: a 16 KiB moving object, a 64 KiB non-moving array, a pinned
    // small one; the written slot lies far from each header's card.
    let cases = [
        (2048u32, false, 1900usize),
        (8192, false, 7000),
        (4, true, 3),
    ];
    in_every_mode(|mode, rt| {
        for (slots, pinned, slot) in cases {
            young_reachable_only_from_old(mode, &rt, slots, pinned, slot);
        }
    });
}

fn young_reachable_only_from_old(mode: Mode, rt: &Runtime, slots: u32, pinned: bool, slot: usize) {
    {
        let mut m = rt.mutator().expect("mutator");
        m.stack_truncate(0);
        let young_before = rt.stats().young_cycles;
        push_holder(&mut m, 1, slots, pinned);
        m.collect().expect("full: the holder becomes old");
        m.finish_cycle().expect("compaction");
        if !pinned && slots * 8 <= 32 << 10 {
            // A moving holder (larger ones are non-moving).
            assert!(
                rt.heap().old_generation_bytes() >= slots as usize * 8,
                "{mode}: the holder is old ({} bytes old)",
                rt.heap().old_generation_bytes()
            );
        }
        common::push_obj(&mut m, 42, 0, false);
        for i in 0..1000 {
            common::push_obj(&mut m, 100 + i, 1, false);
            m.pop();
        }
        let young = m.pop().expect("the young object");
        // SAFETY: popped just now, no safepoint since.
        let young = unsafe { runtime::Value::from_raw(young.raw()) };
        m.write(holder(&m, 0), slot, young);
        let before = m.checksum();
        let cards_before = rt.stats().young_cards_scanned;
        let fixed_before = rt.stats().young_cards_fixed;
        m.collect_young().expect("young collection");
        let stats = rt.stats();
        assert_eq!(
            stats.young_cycles,
            young_before + 1,
            "{mode}: a young cycle ran"
        );
        assert!(
            stats.young_cards_scanned > cards_before,
            "{mode}: marking walked the written slot's dirty card"
        );
        if !pinned && slots * 8 <= 32 << 10 {
            assert!(
                stats.young_cards_fixed > fixed_before,
                "{mode}: the moving holder's dirty card was forwarded"
            );
        }
        assert_eq!(
            m.checksum(),
            before,
            "{mode}, {slots} slots: the graph is intact"
        );
        assert_eq!(common::id(holder(&m, 0).slot(slot)), 42, "{mode}");
    }
}

#[test]
fn a_weak_slot_of_an_old_object_to_a_dead_young_object_reads_nil() {
    in_every_mode(weak_slot_of_old_object);
}

fn weak_slot_of_old_object(mode: Mode, rt: Runtime) {
    let mut m = rt.mutator().expect("mutator");
    common::push_obj(&mut m, 1, 2, true);
    m.collect().expect("full: the weak holder becomes old");
    common::push_obj(&mut m, 2, 0, false); // stays rooted
    common::push_obj(&mut m, 3, 0, false); // dies
    let dying = m.pop().expect("dying");
    // SAFETY: popped just now, no safepoint since.
    let dying = unsafe { runtime::Value::from_raw(dying.raw()) };
    let weak = holder(&m, 0);
    m.write(weak, 0, m.stack_get(1));
    m.write(weak, 1, dying);
    m.collect_young().expect("young collection");
    assert_eq!(rt.stats().young_cycles, 1, "{mode}");
    let weak = holder(&m, 0);
    assert_eq!(
        common::id(m.load_weak(weak, 0)),
        2,
        "{mode}: a live target follows"
    );
    assert!(
        m.load_weak(weak, 1).is_nil(),
        "{mode}: a dead target reads nil"
    );
}

#[test]
fn young_cycles_free_young_garbage_and_keep_old_garbage_until_a_full_one() {
    in_every_mode(young_and_old_garbage);
}

fn young_and_old_garbage(mode: Mode, rt: Runtime) {
    let mut m = rt.mutator().expect("mutator");
    common::push_obj(&mut m, 1, 1, false); // old, dropped below
    push_holder(&mut m, 2, 8192, false); // old large array, dropped below
    m.collect().expect("full: both old");
    let old_used = m.used_bytes();
    m.stack_truncate(0);
    for i in 0..2000 {
        common::push_obj(&mut m, 10 + i, 1, false);
        m.pop();
    }
    push_holder(&mut m, 3, 8192, false); // young large garbage
    m.pop();
    m.collect_young().expect("young collection");
    assert_eq!(rt.stats().young_cycles, 1, "{mode}");
    assert_eq!(
        m.used_bytes(),
        old_used,
        "{mode}: young garbage freed, old kept"
    );

    m.collect().expect("full collection");
    m.finish_cycle().expect("compaction");
    assert_eq!(m.used_bytes(), 0, "{mode}: a full cycle frees old garbage");
}

#[test]
fn the_live_size_after_a_young_cycle_counts_the_old_generation() {
    in_every_mode(live_after_young);
}

fn live_after_young(mode: Mode, rt: Runtime) {
    let mut m = rt.mutator().expect("mutator");
    push_holder(&mut m, 1, 8192, false); // 64 KiB, old after the full cycle
    m.collect().expect("full");
    m.finish_cycle().expect("compaction");
    let old = rt.stats().last_live;
    assert!(old >= 8192 * 8, "{mode}: {old}");
    for i in 0..4000 {
        common::push_obj(&mut m, 10 + i, 1, false); // young survivors
    }
    m.collect_young().expect("young collection");
    m.finish_cycle().expect("compaction");
    assert_eq!(rt.stats().young_cycles, 1, "{mode}");
    // What the young marking saw (the survivors) and the old generation.
    let live = rt.stats().last_live;
    assert!(
        live >= old + 4000 * 24,
        "{mode}: last_live {live} after a young cycle, {old} old"
    );
}

#[test]
fn without_generational_collection_a_young_request_runs_a_full_cycle() {
    let rt = runtime(false);
    let mut m = rt.mutator().expect("mutator");
    common::push_obj(&mut m, 1, 1, false);
    m.collect().expect("full");
    m.stack_truncate(0);
    m.collect_young().expect("collection");
    assert_eq!(rt.stats().young_cycles, 0);
    assert_eq!(m.used_bytes(), 0);
}

#[test]
fn allocation_driven_cycles_alternate_young_and_full() {
    let rt = Runtime::builder()
        .mode(Mode::Stw)
        .heap_limit(32 << 20)
        .generational(true)
        .verify(true)
        .build()
        .expect("runtime");
    let mut m = rt.mutator().expect("mutator");
    for i in 0..1_000_000u64 {
        let (m2, o) = m
            .alloc(AllocSpec {
                tag: 1,
                slots: 1,
                bytes: 200,
                ..Default::default()
            })
            .expect("alloc");
        o.set_raw_word(0, i);
        m2.push(o.into());
        if i % 100 != 0 {
            m.pop();
        }
        if m.stack_len() > 2000 {
            m.stack_truncate(1000);
        }
    }
    let stats = rt.stats();
    assert!(stats.cycles >= 8, "{stats}");
    assert!(
        stats.young_cycles > 0 && stats.young_cycles < stats.cycles,
        "young and full cycles: {stats}"
    );
}

#[test]
fn after_a_young_cycle_the_trigger_leaves_room_above_the_old_generation() {
    let rt = runtime(true);
    let mut m = rt.mutator().expect("mutator");
    // 21 MiB of old objects: more than the smallest trigger step (16 MiB).
    for i in 0..700 {
        let (m2, o) = m
            .alloc(AllocSpec {
                tag: 1,
                slots: 0,
                bytes: 30 << 10,
                ..Default::default()
            })
            .expect("alloc");
        o.set_raw_word(0, i);
        m2.push(o.into());
    }
    m.collect().expect("full: all old");
    common::push_obj(&mut m, 1, 0, false);
    m.collect_young().expect("young collection");
    assert_eq!(rt.stats().young_cycles, 1);
    let heap = rt.heap();
    assert!(
        heap.trigger() > heap.used_bytes() + (8 << 20),
        "trigger {} with {} bytes in use: the next allocation would collect again",
        heap.trigger(),
        heap.used_bytes()
    );
}

/// Young cycles of a runtime from `builder` (16 MiB) after one young
/// request, and the mode it runs.
fn young_cycles_on_request(builder: runtime::RuntimeBuilder) -> (u64, Mode) {
    let rt = builder.heap_limit(16 << 20).build().expect("runtime");
    let mut m = rt.mutator().expect("mutator");
    m.collect_young().expect("collection");
    m.finish_cycle().expect("the cycle ends");
    drop(m);
    (rt.stats().young_cycles, rt.mode())
}

#[test]
fn generational_collection_is_on_by_default_in_every_mode_and_the_builder_turns_it_off() {
    let stw = || runtime::RuntimeBuilder::default().mode(Mode::Stw);
    assert_eq!(young_cycles_on_request(stw()).0, 1, "on by default in stw");
    assert_eq!(
        young_cycles_on_request(stw().generational(false)).0,
        0,
        "generational(false) turns it off"
    );
    let (young, mode) = young_cycles_on_request(runtime::RuntimeBuilder::default());
    if mode == Mode::Stw {
        eprintln!("skipped the concurrent default: the default mode fell back to stw");
    } else {
        assert_eq!(
            young, 1,
            "{mode}: on by default in the concurrent modes too"
        );
        let (young, _) =
            young_cycles_on_request(runtime::RuntimeBuilder::default().generational(false));
        assert_eq!(young, 0, "{mode}: generational(false) turns it off");
    }
}

#[test]
fn a_young_cycle_that_leaves_allocation_failing_at_the_limit_is_followed_by_a_full_one() {
    let lines: std::sync::Arc<std::sync::Mutex<Vec<String>>> = Default::default();
    let sink = lines.clone();
    let rt = Runtime::builder()
        .mode(Mode::Stw)
        .heap_limit(16 << 20)
        .generational(true)
        .log(true)
        .log_to(move |l| sink.lock().expect("lines").push(l.to_string()))
        .build()
        .expect("runtime");
    let mut m = rt.mutator().expect("mutator");
    // 10 MiB of 64 KiB arrays made old, then dropped: old garbage a young
    // cycle keeps.
    for i in 0..160 {
        push_holder(&mut m, i, 8192, false);
    }
    m.collect().expect("full: all old");
    m.stack_truncate(0);
    // 7.5 MiB more, all rooted: fits under the 16 MiB limit only once a
    // full collection frees the old garbage.
    for i in 0..120 {
        push_holder(&mut m, 1000 + i, 8192, false);
    }
    let lines = lines.lock().expect("lines");
    let at = |needle: &str| {
        lines
            .iter()
            .position(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("no {needle:?} in:\n{}", lines.join("\n")))
    };
    assert!(
        at(" Young (after-full) ") < at(" Full (limit) "),
        "{}",
        lines.join("\n")
    );
    let causes = rt.stats().kind_causes;
    assert!(
        causes.contains(&(runtime::CycleKind::Full, runtime::KindCause::Limit, 1)),
        "{causes:?}"
    );
}
