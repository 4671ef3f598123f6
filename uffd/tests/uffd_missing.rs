//! MISSING faults on private anonymous memory, resolved with COPY and
//! ZEROPAGE, and the race outcomes of COPY.

mod uffd_common;

use std::ptr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use uffd::{FaultKind, InstallOutcome, OpenOptions, RegisterMode, PAGE_SIZE};
use uffd_common::{filled_page, probe_or_skip, spawn_reader, Mapping, EVENT_TIMEOUT};

#[test]
fn missing_fault_is_served_by_another_thread_with_copy() {
    let Some(_) = probe_or_skip(
        "missing_fault_served_with_copy",
        |f| f.missing_anon,
        "MISSING on anon",
    ) else {
        return;
    };
    let uffd = uffd_common::open(OpenOptions::new());
    let heap = Mapping::anon(4);
    let ioctls = uffd
        .register(heap.ptr, heap.len, RegisterMode::Missing)
        .expect("register anon range");
    assert!(ioctls.copy() && ioctls.wake());
    let src = filled_page(0x5a);

    let tid = Arc::new(AtomicU32::new(0));
    let target = heap.page(2) as usize + 123;
    let reader = spawn_reader(target, tid.clone());

    let event = uffd.read_event(Some(EVENT_TIMEOUT)).expect("read_event");
    let Some(event) = event else {
        drop(uffd); // unregisters and wakes the reader, so the join returns
        let _ = reader.join();
        panic!("no fault event within {EVENT_TIMEOUT:?}");
    };
    assert_eq!(event.kind, FaultKind::Missing);
    assert!(!event.write, "the mutator only read");
    assert_eq!(
        event.address,
        heap.page(2) as usize,
        "address is page-aligned"
    );
    if uffd.has_thread_id() {
        assert_eq!(event.thread_id, Some(tid.load(Ordering::SeqCst)));
    }
    let outcome = uffd
        .copy(event.address as *mut u8, src.ptr, PAGE_SIZE, true)
        .expect("copy");
    assert_eq!(outcome, InstallOutcome::Installed(PAGE_SIZE));
    assert_eq!(
        reader.join().expect("reader thread"),
        0x5a,
        "the faulting thread sees the copied data"
    );
}

#[test]
fn second_copy_of_a_page_is_already_mapped() {
    let Some(_) = probe_or_skip(
        "second_copy_already_mapped",
        |f| f.missing_anon,
        "MISSING on anon",
    ) else {
        return;
    };
    let uffd = uffd_common::open(OpenOptions::new());
    let heap = Mapping::anon(1);
    uffd.register(heap.ptr, heap.len, RegisterMode::Missing)
        .expect("register");
    let first = filled_page(1);
    let second = filled_page(2);
    assert_eq!(
        uffd.copy(heap.ptr, first.ptr, PAGE_SIZE, true)
            .expect("first copy"),
        InstallOutcome::Installed(PAGE_SIZE)
    );
    assert_eq!(
        uffd.copy(heap.ptr, second.ptr, PAGE_SIZE, true)
            .expect("second copy"),
        InstallOutcome::AlreadyMapped
    );
    assert_eq!(
        // SAFETY: the page is mapped now (installed above).
        unsafe { ptr::read_volatile(heap.ptr) },
        1,
        "the loser's data must not land"
    );
}

#[test]
fn copy_stopping_at_a_mapped_page_retries_with_bytes_done() {
    let Some(_) = probe_or_skip("copy_partial_retry", |f| f.missing_anon, "MISSING on anon") else {
        return;
    };
    let uffd = uffd_common::open(OpenOptions::new());
    let heap = Mapping::anon(2);
    uffd.register(heap.ptr, heap.len, RegisterMode::Missing)
        .expect("register");
    let src = Mapping::anon(2);
    // SAFETY: our own two writable pages.
    unsafe { ptr::write_bytes(src.ptr, 7, src.len) };
    assert_eq!(
        uffd.copy(heap.page(1), src.page(1), PAGE_SIZE, true)
            .expect("copy page 1"),
        InstallOutcome::Installed(PAGE_SIZE)
    );
    // Page 0 is missing, page 1 mapped: the kernel copies page 0, then stops
    // with EAGAIN and a positive byte count (not a bogus huge one).
    let outcome = uffd
        .copy(heap.ptr, src.ptr, 2 * PAGE_SIZE, true)
        .expect("copy both");
    assert_eq!(outcome, InstallOutcome::Retry { done: PAGE_SIZE });
    assert_eq!(outcome.bytes(), PAGE_SIZE);
}

#[test]
fn copy_after_unregister_is_gone() {
    let Some(_) = probe_or_skip(
        "copy_after_unregister_gone",
        |f| f.missing_anon,
        "MISSING on anon",
    ) else {
        return;
    };
    let uffd = uffd_common::open(OpenOptions::new());
    let heap = Mapping::anon(1);
    uffd.register(heap.ptr, heap.len, RegisterMode::Missing)
        .expect("register");
    uffd.unregister(heap.ptr, heap.len).expect("unregister");
    let src = filled_page(3);
    assert_eq!(
        uffd.copy(heap.ptr, src.ptr, PAGE_SIZE, true).expect("copy"),
        InstallOutcome::Gone
    );
}

#[test]
fn zeropage_fills_a_missing_page_with_zeroes() {
    let Some(_) = probe_or_skip("zeropage_fills", |f| f.zeropage, "UFFDIO_ZEROPAGE") else {
        return;
    };
    let uffd = uffd_common::open(OpenOptions::new());
    let heap = Mapping::anon(1);
    uffd.register(heap.ptr, heap.len, RegisterMode::Missing)
        .expect("register");
    assert_eq!(
        uffd.zeropage(heap.ptr, PAGE_SIZE, true).expect("zeropage"),
        InstallOutcome::Installed(PAGE_SIZE)
    );
    // SAFETY: mapped by the zeropage ioctl above.
    assert_eq!(unsafe { ptr::read_volatile(heap.ptr.add(100)) }, 0);
    let src = filled_page(9);
    assert_eq!(
        uffd.copy(heap.ptr, src.ptr, PAGE_SIZE, true).expect("copy"),
        InstallOutcome::AlreadyMapped
    );
}

#[test]
fn read_event_times_out_with_none_when_nothing_faults() {
    let Some(_) = probe_or_skip(
        "read_event_times_out",
        |f| f.missing_anon,
        "MISSING on anon",
    ) else {
        return;
    };
    let uffd = uffd_common::open(OpenOptions::new());
    let heap = Mapping::anon(1);
    uffd.register(heap.ptr, heap.len, RegisterMode::Missing)
        .expect("register");
    let event = uffd
        .read_event(Some(std::time::Duration::from_millis(1)))
        .expect("read_event");
    assert_eq!(event, None);
}

#[test]
fn copy_with_dontwake_leaves_the_waiter_until_wake() {
    let Some(_) = probe_or_skip(
        "copy_dontwake_then_wake",
        |f| f.missing_anon,
        "MISSING on anon",
    ) else {
        return;
    };
    let uffd = uffd_common::open(OpenOptions::new());
    let heap = Mapping::anon(1);
    uffd.register(heap.ptr, heap.len, RegisterMode::Missing)
        .expect("register");
    let src = filled_page(0x42);
    let reader = spawn_reader(heap.ptr as usize, Arc::new(AtomicU32::new(0)));
    let Some(event) = uffd.read_event(Some(EVENT_TIMEOUT)).expect("read_event") else {
        drop(uffd);
        let _ = reader.join();
        panic!("no fault event");
    };
    let outcome = uffd
        .copy(event.address as *mut u8, src.ptr, PAGE_SIZE, false)
        .expect("copy");
    assert_eq!(outcome, InstallOutcome::Installed(PAGE_SIZE));
    uffd.wake(heap.ptr, PAGE_SIZE).expect("wake");
    assert_eq!(reader.join().expect("reader"), 0x42);
}
