//! A failed flip: the flip pause is transactional. A
//! moving-space flip that fails completes the cycle in the pause, a
//! non-moving flip that fails after the moving one succeeded loses nothing,
//! a concurrently marked cycle whose flip fails leaves no panic behind, and
//! a flip that keeps failing makes the compactor fall back to compacting in
//! the pause and say why. Failures are injected (`gc::inject`), which is
//! process-wide: the tests of this binary take turns.

use std::sync::{Mutex, MutexGuard};

use gc::inject::{self, Errno, Site};
use runtime::{AllocSpec, CyclePhase, Mode, Mutator, Runtime, Value};

mod common;
use common::CONCURRENT;
#[path = "common/graph_workload.rs"]
mod graph_workload;

static TURN: Mutex<()> = Mutex::new(());

/// Takes this binary's turn at injecting (a failed test must not stop
/// the others from running).
fn turn() -> MutexGuard<'static, ()> {
    let guard = TURN.lock().unwrap_or_else(|e| e.into_inner());
    inject::disarm_all();
    guard
}

fn runtime_in(mode: Mode) -> Option<Runtime> {
    common::in_mode(graph_workload::builder(mode), mode)
}

/// A list of `n` nodes (every 40th large, so in the non-moving space) with
/// garbage between them, rooted at value-stack slot 0.
fn build_list(m: &mut Mutator, n: u64) {
    m.push(Value::NIL);
    for i in 0..n {
        m.alloc(AllocSpec {
            tag: 1,
            slots: 1,
            bytes: 32,
            ..Default::default()
        })
        .expect("garbage");
        let (m, node) = m
            .alloc(AllocSpec {
                tag: 2,
                slots: 1,
                bytes: if i.is_multiple_of(40) { 6 << 10 } else { 16 },
                ..Default::default()
            })
            .expect("node");
        node.set_raw_word(0, i);
        m.write(node, 0, m.stack_get(0));
        m.stack_set(0, node.into());
    }
}

/// Allocates `n` small objects (a safepoint each).
fn churn(m: &mut Mutator, n: usize) {
    for _ in 0..n {
        m.alloc(AllocSpec {
            tag: 1,
            slots: 1,
            bytes: 24,
            ..Default::default()
        })
        .expect("allocation after the failed flip");
    }
}

/// Every note of the cycles that ended since the last call (the runtime
/// keeps the last cycle's).
fn last_notes(rt: &Runtime) -> String {
    rt.stats().last_notes.join("\n")
}

#[test]
fn a_failed_moving_flip_completes_the_cycle_in_the_pause() {
    let _turn = turn();
    for mode in CONCURRENT {
        let Some(rt) = runtime_in(mode) else { continue };
        let mut m = rt.mutator().expect("mutator");
        build_list(&mut m, 4000);
        let before = m.checksum();
        let fired = inject::fired(Site::Mremap);
        // The next mremap is the moving space's flip.
        inject::arm(Site::Mremap, 1, Errno::ENOMEM, 1);
        m.collect()
            .unwrap_or_else(|e| panic!("{mode}: a failed flip is not an error: {e}"));
        inject::disarm_all();
        assert_eq!(
            inject::fired(Site::Mremap),
            fired + 1,
            "{mode}: the flip failed"
        );
        assert_eq!(m.checksum(), before, "{mode}: the graph survives");
        m.quiesce();
        let notes = last_notes(&rt);
        assert!(
            notes.contains("flipping the moving space failed") && notes.contains("in the pause"),
            "{mode}: the report says what happened: {notes}"
        );
        churn(&mut m, 20_000);
        m.collect().expect("the next cycle");
        assert_eq!(m.checksum(), before, "{mode}: and the next cycle");
        m.verify().expect("heap valid");
    }
}

#[test]
fn a_failed_non_moving_flip_after_the_moving_one_loses_nothing() {
    let _turn = turn();
    // uffd-copy updates the non-moving space in the pause: no second flip.
    for mode in &CONCURRENT[1..] {
        let Some(rt) = runtime_in(*mode) else {
            continue;
        };
        let mut m = rt.mutator().expect("mutator");
        build_list(&mut m, 4000);
        let before = m.checksum();
        let fired = inject::fired(Site::Mremap);
        // The moving flip passes, the non-moving one fails.
        inject::arm(Site::Mremap, 2, Errno::ENOMEM, 1);
        m.collect()
            .unwrap_or_else(|e| panic!("{mode}: a failed flip is not an error: {e}"));
        inject::disarm_all();
        assert_eq!(
            inject::fired(Site::Mremap),
            fired + 1,
            "{mode}: a flip failed"
        );
        assert_eq!(m.checksum(), before, "{mode}: nothing is lost");
        m.quiesce();
        let notes = last_notes(&rt);
        assert!(
            notes.contains("flipping the non-moving space failed"),
            "{mode}: the report says so: {notes}"
        );
        m.verify().expect("heap valid");
    }
}

#[test]
fn a_concurrently_marked_cycle_whose_flip_fails_leaves_allocation_working() {
    let _turn = turn();
    for mode in CONCURRENT {
        let Some(rt) = runtime_in(mode) else { continue };
        let mut m = rt.mutator().expect("mutator");
        build_list(&mut m, 4000);
        let before = m.checksum();
        assert!(m.start_cycle(), "{mode}: a cycle starts");
        // Marking and planning make no mremap: the next is the flip's.
        inject::arm(Site::Mremap, 1, Errno::ENOMEM, 1);
        m.finish_cycle()
            .unwrap_or_else(|e| panic!("{mode}: a failed flip is not an error: {e}"));
        inject::disarm_all();
        assert_eq!(m.cycle_phase(), CyclePhase::Idle, "{mode}: the cycle ended");
        churn(&mut m, 20_000);
        assert_eq!(m.checksum(), before, "{mode}: the graph survives");
        m.verify().expect("heap valid");
    }
}

#[test]
fn a_flip_that_keeps_failing_falls_back_to_compacting_in_the_pause() {
    let _turn = turn();
    for mode in CONCURRENT {
        let Some(rt) = runtime_in(mode) else { continue };
        let mut m = rt.mutator().expect("mutator");
        build_list(&mut m, 4000);
        let before = m.checksum();
        inject::arm(Site::Mremap, 1, Errno::EPERM, u64::MAX);
        for _ in 0..3 {
            m.collect().expect("a collection with mremap failing");
            churn(&mut m, 20_000);
            assert_eq!(m.checksum(), before, "{mode}: the graph survives");
        }
        m.verify().expect("heap valid");
        inject::disarm_all();
        let described = rt.describe();
        assert!(
            described.contains("fell back to stw") && described.contains("EPERM"),
            "{mode}: the runtime says why it compacts in the pause: {described}"
        );
        m.quiesce();
        assert_eq!(
            rt.stats().last_notes.first().map(String::as_str),
            Some(
                "compacted in the pause: the compactor fell back to stw after repeated flip \
                 failures"
            ),
            "{mode}: every later cycle says so"
        );
    }
}

/// Resident pages of from-space.
fn from_space_resident(rt: &Runtime) -> usize {
    let heap = rt.heap();
    mremap_shim::sys::mincore(heap.from_space_base(), heap.space_bytes())
        .expect("from-space is mapped (PROT_NONE or not)")
        .into_iter()
        .filter(|&r| r)
        .count()
}

#[test]
fn a_failed_release_is_noted_and_from_space_is_discarded() {
    let _turn = turn();
    for mode in [Mode::Stw, Mode::UffdWorkers, Mode::Uffd] {
        let Some(rt) = runtime_in(mode) else { continue };
        let mut m = rt.mutator().expect("mutator");
        build_list(&mut m, 4000);
        let before = m.checksum();
        // The release and its retry both fail.
        inject::arm(Site::Release, 1, Errno::ENOMEM, 2);
        m.collect().expect("a collection whose release fails");
        m.quiesce();
        inject::disarm_all();
        let notes = last_notes(&rt);
        assert!(
            notes.contains("releasing from-space failed") && notes.contains("discarded"),
            "{mode}: the report says so: {notes}"
        );
        assert_eq!(
            from_space_resident(&rt),
            0,
            "{mode}: from-space holds no pages after its failed release"
        );
        assert_eq!(m.checksum(), before, "{mode}: the graph survives");
        churn(&mut m, 20_000);
        m.collect().expect("the next cycle");
        assert_eq!(m.checksum(), before, "{mode}: and the next cycle");
        m.verify().expect("heap valid");
    }
}

/// Allocates `n` objects of 8 raw words, each word written non-zero, and
/// checks each reads zero when allocated (`what` names the phase).
fn allocate_checking_zero(m: &mut Mutator, n: usize, what: &str) {
    for i in 0..n {
        let (_, o) = m
            .alloc(AllocSpec {
                tag: 1,
                slots: 1,
                bytes: 64,
                ..Default::default()
            })
            .expect("alloc");
        for w in 0..8 {
            assert_eq!(o.raw_word(w), 0, "{what}: object {i} reads garbage");
            o.set_raw_word(w, 0xA5A5_A5A5_0000_0000 | i as u64);
        }
    }
}

/// A young cycle moves from-space pages back above the top (recycled:
/// garbage until a claim zeroes it); a stop-the-world cycle whose flip then
/// fails copies from-space instead. The recycled pages the top had not
/// reached must still read zero to allocation afterwards (they used to
/// stay behind with their garbage, forgotten as recycled).
#[test]
fn recycled_pages_read_zero_after_a_flip_that_failed() {
    let _turn = turn();
    let rt = Runtime::builder()
        .mode(Mode::Stw)
        .generational(true)
        .heap_limit(64 << 20)
        .build()
        .expect("runtime");
    let mut m = rt.mutator().expect("mutator");
    build_list(&mut m, 100);
    m.collect().expect("full: the list becomes old");
    allocate_checking_zero(&mut m, 40_000, "before the young cycle");
    m.collect_young().expect("young cycle");
    let recycled = rt.stats().pages_recycled;
    assert!(recycled > 0, "the young cycle recycled pages");
    let before = m.checksum();
    let fired = inject::fired(Site::Mremap);
    // The next mremap is the moving space's flip.
    inject::arm(Site::Mremap, 1, Errno::ENOMEM, 1);
    m.collect().expect("a failed flip is not an error");
    inject::disarm_all();
    assert_eq!(inject::fired(Site::Mremap), fired + 1, "the flip failed");
    let notes = last_notes(&rt);
    assert!(
        notes.contains("the flip failed"),
        "from-space was copied: {notes}"
    );
    assert_eq!(m.checksum(), before, "the graph survives");
    allocate_checking_zero(&mut m, 60_000, "after the failed flip");
    m.verify().expect("heap valid");
}
