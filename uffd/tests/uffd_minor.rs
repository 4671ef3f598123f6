//! MINOR faults on a memfd `MAP_SHARED` mapping, resolved with CONTINUE after
//! the page was written through a second view of the same memfd: the
//! non-moving space's update-in-place path.

mod uffd_common;

use std::ptr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use uffd::{FaultKind, InstallOutcome, OpenOptions, RegisterMode, PAGE_SIZE};
use uffd_common::{memfd, probe_or_skip, spawn_reader, Mapping, EVENT_TIMEOUT};

#[test]
fn minor_fault_on_memfd_is_served_with_continue_after_writing_a_second_view() {
    let Some(_) = probe_or_skip(
        "minor_fault_continue",
        |f| f.minor_shmem && f.continues,
        "MINOR shmem + CONTINUE",
    ) else {
        return;
    };
    let uffd = uffd_common::open(OpenOptions::new().minor_shmem(true));
    let fd = memfd(2);
    let heap = Mapping::shared(&fd, 2);
    let view = Mapping::shared(&fd, 2);
    let ioctls = uffd
        .register(heap.ptr, heap.len, RegisterMode::Minor)
        .expect("register MINOR");
    assert!(ioctls.continues(), "CONTINUE usable on the memfd range");

    // The collector updates the page in place through its own view: this
    // puts the page in the page cache without mapping it in `heap`.
    // SAFETY: `view` is our writable shared mapping.
    unsafe { ptr::write_bytes(view.page(1), 0x77, PAGE_SIZE) };

    let tid = Arc::new(AtomicU32::new(0));
    let reader = spawn_reader(heap.page(1) as usize + 5, tid.clone());
    let Some(event) = uffd.read_event(Some(EVENT_TIMEOUT)).expect("read_event") else {
        drop(uffd);
        let _ = reader.join();
        panic!("no minor fault event");
    };
    assert_eq!(event.kind, FaultKind::Minor);
    assert_eq!(event.address, heap.page(1) as usize);
    if uffd.has_thread_id() {
        assert_eq!(event.thread_id, Some(tid.load(Ordering::SeqCst)));
    }
    assert_eq!(
        uffd.r#continue(heap.page(1), PAGE_SIZE, true)
            .expect("continue"),
        InstallOutcome::Installed(PAGE_SIZE)
    );
    assert_eq!(
        reader.join().expect("reader"),
        0x77,
        "the mutator sees the second view's write"
    );

    // The same physical page: a later write through the view shows in heap.
    // SAFETY: both mappings are ours and mapped.
    unsafe { ptr::write_volatile(view.page(1), 0x11) };
    // SAFETY: as above.
    assert_eq!(unsafe { ptr::read_volatile(heap.page(1)) }, 0x11);
}

#[test]
fn continue_on_an_already_mapped_page_is_already_mapped() {
    let Some(_) = probe_or_skip(
        "continue_already_mapped",
        |f| f.minor_shmem && f.continues,
        "MINOR shmem + CONTINUE",
    ) else {
        return;
    };
    let uffd = uffd_common::open(OpenOptions::new().minor_shmem(true));
    let fd = memfd(1);
    let heap = Mapping::shared(&fd, 1);
    let view = Mapping::shared(&fd, 1);
    uffd.register(heap.ptr, heap.len, RegisterMode::Minor)
        .expect("register MINOR");
    // SAFETY: our writable shared mapping.
    unsafe { ptr::write_volatile(view.ptr, 1) };
    assert_eq!(
        uffd.r#continue(heap.ptr, PAGE_SIZE, true)
            .expect("first continue"),
        InstallOutcome::Installed(PAGE_SIZE)
    );
    assert_eq!(
        uffd.r#continue(heap.ptr, PAGE_SIZE, true)
            .expect("second continue"),
        InstallOutcome::AlreadyMapped
    );
}
