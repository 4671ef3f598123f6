//! The uffd modes under pressure: mutators racing a deliberately slowed
//! compactor, several threads faulting on the same pages, system calls on
//! pages not compacted yet, and a full cycle in a process that dropped root.

use std::time::Duration;

use runtime::{AllocSpec, Mode, Mutator, RawValue, Runtime, Value};

/// Builds a list of `n` nodes (2 slots: next, and a node 7 places back;
/// 48 payload bytes holding the node's index), with as much garbage
/// allocated in between, so the compaction moves every survivor. Leaves the
/// head in value-stack slot 0.
fn build_list(m: &mut Mutator, n: usize) {
    m.push(Value::NIL);
    let mut recent: Vec<usize> = Vec::new();
    for i in 0..n {
        let _garbage = m
            .alloc(AllocSpec {
                tag: 2,
                slots: 1,
                bytes: 40,
                ..Default::default()
            })
            .expect("garbage");
        let (m, node) = m
            .alloc(AllocSpec {
                tag: 1,
                slots: 2,
                bytes: 48,
                ..Default::default()
            })
            .expect("node");
        node.set_raw_word(0, i as u64);
        m.write(node, 0, m.stack_get(0));
        if let Some(&back) = recent.get(recent.len().saturating_sub(7)) {
            m.write(node, 1, m.stack_get(back));
        }
        m.stack_set(0, node.into());
        // Keep a few in the value stack for the back links.
        if i % 7 == 0 {
            m.push(node.into());
            recent.push(m.stack_len() - 1);
        }
    }
}

fn slowed_runtime(mode: Mode, delay: Duration) -> Runtime {
    Runtime::builder()
        .mode(mode)
        .heap_limit(256 << 20)
        .compaction_page_delay(delay)
        .build()
        .expect("runtime")
}

fn uffd_or_skip(rt: &Runtime, test: &str) -> bool {
    if rt.mode() == rt.requested_mode() {
        return true;
    }
    eprintln!(
        "SKIP {test}: {}",
        rt.fallback_reason().unwrap_or("uffd mode unavailable")
    );
    false
}

#[test]
fn a_slowed_compactor_makes_the_mutator_fault_on_most_pages() {
    for mode in [
        Mode::UffdCopy,
        Mode::UffdWorkers,
        Mode::UffdMove,
        Mode::Sigbus,
        Mode::Uffd,
    ] {
        let rt = slowed_runtime(mode, Duration::from_micros(300));
        if !uffd_or_skip(&rt, "slowed compactor") {
            return;
        }
        let mut m = rt.mutator().expect("mutator");
        build_list(&mut m, 40_000);
        let before = m.checksum();
        m.collect().expect("collect");
        // Walk everything at once: the collector is far behind.
        assert_eq!(m.checksum(), before, "{mode}: graph changed");
        m.verify().expect("heap valid");
        assert_eq!(
            m.checksum(),
            before,
            "{mode}: graph changed after the cycle"
        );
        let stats = rt.stats();
        let pages = stats.last_used_after / 4096;
        assert!(
            stats.faults as usize * 2 >= pages,
            "{mode}: the mutator should fault on most of the {pages} pages, got {} faults",
            stats.faults
        );
    }
}

#[test]
fn several_threads_fault_on_the_same_pages() {
    for mode in [Mode::UffdWorkers, Mode::Sigbus, Mode::Uffd] {
        several_threads_fault_on_the_same_pages_in(mode);
    }
}

fn several_threads_fault_on_the_same_pages_in(mode: Mode) {
    let rt = slowed_runtime(mode, Duration::from_micros(300));
    if !uffd_or_skip(&rt, "several faulting threads") {
        return;
    }
    let mut m = rt.mutator().expect("mutator");
    build_list(&mut m, 40_000);
    let before = m.checksum();
    m.collect().expect("collect");
    // Four readers walk the same graph from the same roots at once (the
    // mutator only waits, so nothing writes the heap meanwhile).
    let roots: Vec<RawValue> = (0..m.stack_len()).map(|i| m.stack_get(i).raw()).collect();
    let sums: Vec<u64> = std::thread::scope(|s| {
        let walkers: Vec<_> = (0..4)
            .map(|_| {
                let mut r = roots.clone();
                // SAFETY: the roots were read from the only mutator, which
                // reaches no safepoint and writes nothing until the walkers
                // are joined: the graph stays in place and unchanged (pages
                // are filled in by faults, which is what is tested).
                s.spawn(move || unsafe { gc::verify::graph_checksum(&mut r) })
            })
            .collect();
        walkers
            .into_iter()
            .map(|w| w.join().expect("walker"))
            .collect()
    });
    for sum in sums {
        assert_eq!(sum, before, "a concurrent walker saw a different graph");
    }
    m.verify().expect("heap valid");
    assert!(rt.stats().faults > 0, "the walkers faulted on pages");
}

/// Whether the page holding `addr` is resident in this process.
fn resident(addr: usize) -> bool {
    let page = addr & !4095;
    let mut vec = [0u8; 1];
    // SAFETY: mincore reads the page tables of one page of our own address
    // space and writes one byte to `vec`.
    let r = unsafe { libc::mincore(page as *mut libc::c_void, 4096, vec.as_mut_ptr()) };
    assert_eq!(r, 0, "mincore on a heap page");
    vec[0] & 1 == 1
}

/// Writes `len` bytes at `ptr` into a pipe and reads them back; `Err(errno)`
/// when the write fails.
fn through_a_pipe(ptr: *const u8, len: usize) -> Result<Vec<u8>, i32> {
    let mut fds = [0; 2];
    // SAFETY: pipe writes two fds into the array.
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
    // SAFETY: the kernel reads [ptr, ptr + len) as write(2) would; a missing
    // page yields EFAULT, never undefined behaviour.
    let n = unsafe { libc::write(fds[1], ptr.cast(), len) };
    let result = if n < 0 {
        Err(std::io::Error::last_os_error().raw_os_error().unwrap_or(0))
    } else {
        let mut buf = vec![0u8; n as usize];
        // SAFETY: reads at most buf.len() bytes into buf.
        let r = unsafe { libc::read(fds[0], buf.as_mut_ptr().cast(), buf.len()) };
        assert_eq!(r, n, "read back what was written");
        Ok(buf)
    };
    // SAFETY: closing the two fds we own.
    unsafe {
        libc::close(fds[0]);
        libc::close(fds[1]);
    }
    result
}

#[test]
fn make_resident_lets_a_system_call_read_a_page_not_yet_compacted() {
    let rt = slowed_runtime(Mode::Uffd, Duration::from_millis(2));
    if !uffd_or_skip(&rt, "make_resident") {
        return;
    }
    let user_mode_only = rt.describe().contains("USER_MODE_ONLY");
    let mut m = rt.mutator().expect("mutator");
    build_list(&mut m, 30_000);
    let text = b"hello from a page the compactor has not reached yet\n";
    let (m2, s) = m
        .alloc(AllocSpec {
            tag: 3,
            slots: 0,
            bytes: text.len(),
            ..Default::default()
        })
        .expect("string");
    s.write_bytes(0, text);
    m2.push(s.into());
    m.collect().expect("collect");
    // The object is near the end of ~600 live pages and the collector
    // sleeps 2 ms per page: it is far from this page now. Its payload
    // follows the two header words (no slots); computing the address this
    // way reads nothing (`bytes_ptr` would read the header, faulting the
    // page in).
    let s = m.stack_top().and_then(|v| v.as_object()).expect("string");
    let ptr = (s.addr() + 16) as *const u8;
    let len = text.len();
    if user_mode_only && !resident(ptr as usize) {
        assert_eq!(
            through_a_pipe(ptr, len),
            Err(libc::EFAULT),
            "a kernel access to a missing page of a user-mode-only userfaultfd fails"
        );
        eprintln!("write(2) before make_resident failed with EFAULT, as expected");
    }
    m.make_resident(s, 0..len);
    assert!(resident(ptr as usize), "make_resident maps the page");
    assert_eq!(through_a_pipe(ptr, len).expect("write(2)"), text.to_vec());
    m.verify().expect("heap valid");
}

#[path = "../../uffd/tests/child/mod.rs"]
mod child;
use child::nobody::{self, NOBODY};

const CHILD_ENV: &str = "RUNTIME_UFFD_UNPRIVILEGED_CHILD";

/// A full uffd cycle; returns an exit code naming the failed step.
fn unprivileged_cycle() -> i32 {
    let rt = match Runtime::builder()
        .mode(Mode::Uffd)
        .heap_limit(64 << 20)
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("child: {e}");
            return 10;
        }
    };
    if rt.mode() != Mode::Uffd {
        eprintln!("child: fell back: {:?}", rt.fallback_reason());
        return 11;
    }
    if !rt.describe().contains("USER_MODE_ONLY") {
        eprintln!("child: opened as {}", rt.describe());
        return 12;
    }
    let mut m = rt.mutator().expect("mutator");
    build_list(&mut m, 20_000);
    let (m2, pinned) = m
        .alloc(AllocSpec {
            tag: 4,
            slots: 4,
            bytes: 8,
            pinned: true,
            weak: false,
        })
        .expect("pinned");
    m2.write(pinned, 0, m2.stack_get(0));
    m2.push(pinned.into());
    let before = m.checksum();
    if m.collect().is_err() {
        return 13;
    }
    if m.checksum() != before {
        return 14;
    }
    if m.verify().is_err() {
        return 15;
    }
    0
}

#[test]
fn a_process_without_root_runs_a_full_uffd_cycle() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        assert_eq!(unprivileged_cycle(), 0, "uffd cycle as a non-root user");
        return;
    }
    let Some(status) = nobody::run_as_nobody(
        "uffd cycle as nobody",
        "unprivileged_child_entry",
        CHILD_ENV,
    ) else {
        return;
    };
    child::assert_exit_zero(
        "child as nobody",
        status,
        &[
            (10, "the runtime could not be built"),
            (11, "uffd fell back to stw"),
            (
                12,
                "the userfaultfd was not opened with UFFD_USER_MODE_ONLY",
            ),
            (13, "the collection failed"),
            (14, "the graph changed"),
            (15, "the heap failed verification"),
            (16, "the child did not run as nobody"),
        ],
    );
}

/// The re-executed child's entry; ignored in normal runs.
#[test]
#[ignore = "entry point of the child process spawned by the unprivileged test"]
fn unprivileged_child_entry() {
    let code = unprivileged_cycle();
    if std::env::var_os(CHILD_ENV).is_some() {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != NOBODY {
            std::process::exit(16);
        }
        std::process::exit(code);
    }
    assert_eq!(code, 0);
}

/// A 256 MiB runtime in `mode` with three collector threads.
fn three_collectors(mode: Mode) -> Runtime {
    Runtime::builder()
        .mode(mode)
        .heap_limit(256 << 20)
        .compaction_threads(3)
        .build()
        .expect("runtime")
}

#[test]
fn several_compaction_threads_share_the_pages() {
    for mode in [Mode::UffdWorkers, Mode::UffdMove, Mode::Sigbus, Mode::Uffd] {
        let rt = three_collectors(mode);
        if !uffd_or_skip(&rt, "several compaction threads") {
            return;
        }
        assert!(
            rt.describe().contains("3 collector thread(s)"),
            "{}",
            rt.describe()
        );
        let mut m = rt.mutator().expect("mutator");
        build_list(&mut m, 60_000);
        let before = m.checksum();
        for _ in 0..3 {
            m.collect().expect("collect");
            assert_eq!(m.checksum(), before, "{mode}: graph changed");
        }
        m.verify().expect("heap valid");
    }
}

/// Collectors compute runs before claiming them: with several collectors
/// and a mutator faulting pages in under them, one collector's run may lose
/// its pages to the mutator while another drains from-space or the cycle
/// ends. The graph must come out whole every time (this crashed before
/// runs were registered with the from-space and the cycle waited for every
/// collector).
#[test]
fn several_collectors_and_a_faulting_mutator_keep_the_graph() {
    for mode in [Mode::Uffd, Mode::UffdMove, Mode::UffdWorkers] {
        let rt = three_collectors(mode);
        if !uffd_or_skip(&rt, "several collectors with faulting mutators") {
            return;
        }
        let mut m = rt.mutator().expect("mutator");
        build_list(&mut m, 150_000);
        let before = m.checksum();
        for cycle in 0..12 {
            m.collect().expect("collect");
            // Walks the whole list while the collectors still run.
            assert_eq!(
                m.checksum(),
                before,
                "{mode}: graph changed in cycle {cycle}"
            );
        }
        m.verify().expect("heap valid");
    }
}

#[test]
fn a_fork_during_a_move_cycle_still_completes() {
    let rt = slowed_runtime(Mode::UffdMove, Duration::from_micros(200));
    if !uffd_or_skip(&rt, "fork during a MOVE cycle") {
        return;
    }
    let mut m = rt.mutator().expect("mutator");
    build_list(&mut m, 40_000);
    let before = m.checksum();
    m.collect().expect("collect");
    // The child shares every page of the parent until it exits; the
    // collector keeps moving (pages it writes become the parent's alone) or
    // falls back to COPY where the kernel refuses.
    // SAFETY: the child only sleeps and exits (async-signal-safe calls).
    let child = unsafe { libc::fork() };
    assert!(child >= 0, "fork");
    if child == 0 {
        // SAFETY: as above.
        unsafe {
            libc::usleep(300_000);
            libc::_exit(0);
        }
    }
    assert_eq!(m.checksum(), before, "graph changed");
    m.verify().expect("heap valid");
    let mut status = 0;
    // SAFETY: waiting for our own child.
    assert_eq!(unsafe { libc::waitpid(child, &mut status, 0) }, child);
    eprintln!("notes of the cycle: {:?}", rt.stats().last_notes);
    assert_eq!(m.checksum(), before);
}

#[test]
fn a_huge_array_spanning_many_pages_has_every_slot_updated() {
    for mode in Mode::ALL {
        let rt = Runtime::builder()
            .mode(mode)
            .heap_limit(256 << 20)
            .build()
            .expect("runtime");
        let mut m = rt.mutator().expect("mutator");
        // 200_000 slots: 1.6 MB of non-moving array over ~390 pages, each
        // slot naming a small moving object with garbage around it.
        let n = 200_000usize;
        let (m2, array) = m
            .alloc(AllocSpec {
                tag: 5,
                slots: n as u32,
                pinned: true,
                ..Default::default()
            })
            .expect("array");
        m2.push(array.into());
        for i in 0..n {
            let _garbage = m.alloc(AllocSpec {
                tag: 2,
                slots: 1,
                bytes: 8,
                ..Default::default()
            });
            let (m, o) = m
                .alloc(AllocSpec {
                    tag: 1,
                    slots: 0,
                    bytes: 8,
                    ..Default::default()
                })
                .expect("element");
            o.set_raw_word(0, i as u64);
            let array = m.stack_get(0).as_object().expect("array");
            m.write(array, i, o.into());
        }
        let before = m.checksum();
        m.collect().expect("collect");
        // Read the array from its end (the pages the compactor reaches last).
        let array = m.stack_get(0).as_object().expect("array");
        for i in (0..n).rev().step_by(997) {
            let o = array.slot(i).as_object().expect("element");
            assert_eq!(o.raw_word(0), i as u64, "{mode}: slot {i}");
        }
        assert_eq!(m.checksum(), before, "{mode}: graph changed");
        m.verify().expect("heap valid");
    }
}
