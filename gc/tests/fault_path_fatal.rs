//! The fault path's failures: computing a page of a corrupt heap ends the
//! process with a written message (no panic: a panic allocates, and the
//! SIGBUS handler computes pages too), and the non-moving space's memfd
//! cannot be truncated under the heap (it is sealed against shrinking).
//!
//! A test that must end a process re-runs this test binary as a child with
//! `FAULT_PATH_CHILD` naming what the child does, and checks how it ended.

use std::os::fd::AsRawFd;
use std::time::Duration;

use gc::compact::{ForwardingPlan, PageComputer, PlanTables, PAGE_WORDS};
use gc::{AllocRequest, Heap, HeapConfig, Tlab, Value};

mod by_hand;
#[path = "../../uffd/tests/child/mod.rs"]
mod child;

const CHILD: &str = "FAULT_PATH_CHILD";

/// How long the slowest child may take before it counts as hung.
const CHILD_TIMEOUT: Duration = Duration::from_secs(120);

/// Runs the test `child` of this binary in a child process with
/// `FAULT_PATH_CHILD=role`.
fn run_child(role: &str) -> child::Ended {
    let mut cmd = child::this_test("child", false);
    cmd.env(CHILD, role);
    child::run(cmd, CHILD_TIMEOUT)
}

/// The child's entry: does what `FAULT_PATH_CHILD` says (nothing without
/// it, so the normal test run passes it by).
#[test]
fn child() {
    match std::env::var(CHILD).as_deref() {
        Ok("corrupt-compute") => compute_a_page_of_a_corrupt_heap(),
        Ok(other) => panic!("unknown child role {other}"),
        Err(_) => {}
    }
}

fn heap_with_garbage() -> (Heap, Vec<Value>) {
    let heap = Heap::new(HeapConfig {
        heap_limit: 32 << 20,
        ..Default::default()
    })
    .expect("heap");
    let mut tlab = Tlab::empty();
    let mut roots = Vec::new();
    for i in 0..20_000u64 {
        let req = AllocRequest {
            tag: 3,
            slots: 1,
            bytes: 8 + (i as usize * 37) % 300,
            pinned: false,
            weak: false,
        };
        let o = by_hand::alloc(&heap, &mut tlab, &req).expect("room");
        if i % 2 == 0 {
            roots.push(Value::object(o));
        }
    }
    by_hand::retire(&mut tlab);
    (heap, roots)
}

/// Plans a compaction, then clears the mark bitmap it was planned from:
/// computing a sliding page then finds no object start for a live word.
fn compute_a_page_of_a_corrupt_heap() {
    let (heap, mut roots) = heap_with_garbage();
    by_hand::mark(&heap, &mut roots, 1);
    let plan =
        ForwardingPlan::build(&heap, heap.moving().top(), &PlanTables::default()).expect("plan");
    let page = plan.live_pages() - 1;
    assert!(page >= plan.dense_pages(), "the last live page slides");
    heap.marks().moving.clear_below(heap.moving().top());
    let mut buf = Box::new([0u64; PAGE_WORDS]);
    PageComputer::new(&heap, &plan).compute_page(page, &mut buf);
    println!("computed a page of a corrupt heap");
}

#[test]
fn computing_a_page_of_a_corrupt_heap_aborts_with_a_message_instead_of_panicking() {
    let ended = run_child("corrupt-compute");
    let stderr = &ended.stderr;
    assert!(
        ended.killed_by(libc::SIGABRT),
        "the child ends by abort: {}",
        ended.describe()
    );
    assert!(
        stderr.contains("[gc] fatal: computing to-space page")
            && stderr.contains("a live word has a marked object start at or before it"),
        "the message names the page and the broken rule:\n{stderr}"
    );
    assert!(!stderr.contains("panicked"), "no panic:\n{stderr}");
}

#[test]
fn the_non_moving_spaces_memfd_cannot_be_truncated() {
    let (heap, _) = heap_with_garbage();
    let fd = heap.non_moving_region().fd();
    let len = heap.non_moving_region().len() as libc::off_t;
    // SAFETY: ftruncate on the heap's own fd (expected to fail).
    let r = unsafe { libc::ftruncate(fd.as_raw_fd(), 0) };
    assert_eq!(
        (r, std::io::Error::last_os_error().raw_os_error()),
        (-1, Some(libc::EPERM)),
        "ftruncate to 0 is refused"
    );
    // As another process of the same user would reach it.
    let path = format!("/proc/self/fd/{}", fd.as_raw_fd());
    let other = std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .expect("open through /proc");
    let err = other.set_len(4096).expect_err("shrinking through /proc");
    assert_eq!(err.raw_os_error(), Some(libc::EPERM), "{err}");
    let st = nix::sys::stat::fstat(fd).expect("fstat");
    assert_eq!(st.st_size, len, "the file keeps its size");
}
