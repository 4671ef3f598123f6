//! UFFDIO_MOVE (6.8+): zero-copy install of an anonymous page into a
//! registered missing page, and its EEXIST/EBUSY outcomes.

mod uffd_common;

use std::ptr;
use std::sync::atomic::AtomicU32;
use std::sync::Arc;

use uffd::{FaultKind, InstallOutcome, OpenOptions, RegisterMode, PAGE_SIZE};
use uffd_common::{filled_page, probe_or_skip, spawn_reader, Mapping, EVENT_TIMEOUT};

#[test]
fn move_serves_a_missing_fault_without_copying() {
    let Some(_) = probe_or_skip("move_serves_fault", |f| f.moves, "UFFDIO_MOVE") else {
        return;
    };
    let uffd = uffd_common::open(OpenOptions::new());
    let heap = Mapping::anon(2);
    let ioctls = uffd
        .register(heap.ptr, heap.len, RegisterMode::Missing)
        .expect("register");
    assert!(ioctls.moves());
    let src = filled_page(0x3c);

    let reader = spawn_reader(heap.page(1) as usize, Arc::new(AtomicU32::new(0)));
    let Some(event) = uffd.read_event(Some(EVENT_TIMEOUT)).expect("read_event") else {
        drop(uffd);
        let _ = reader.join();
        panic!("no fault event");
    };
    assert_eq!(event.kind, FaultKind::Missing);
    // SAFETY: nothing references `src` but this test, which reads it only
    // after the move, through a raw pointer.
    let outcome = unsafe { uffd.r#move(event.address as *mut u8, src.ptr, PAGE_SIZE, true, false) }
        .expect("move");
    assert_eq!(outcome, InstallOutcome::Installed(PAGE_SIZE));
    assert_eq!(reader.join().expect("reader"), 0x3c);
    // The page left the source: an unregistered empty anonymous page reads 0.
    // SAFETY: `src` is still a mapped (now empty) anonymous page.
    assert_eq!(unsafe { ptr::read_volatile(src.ptr) }, 0);
}

#[test]
fn move_onto_a_mapped_page_is_already_mapped() {
    let Some(_) = probe_or_skip("move_onto_mapped", |f| f.moves, "UFFDIO_MOVE") else {
        return;
    };
    let uffd = uffd_common::open(OpenOptions::new());
    let heap = Mapping::anon(1);
    uffd.register(heap.ptr, heap.len, RegisterMode::Missing)
        .expect("register");
    let first = filled_page(1);
    let second = filled_page(2);
    // SAFETY: the sources are referenced only through raw pointers here.
    let a = unsafe { uffd.r#move(heap.ptr, first.ptr, PAGE_SIZE, true, false) }.expect("move 1");
    // SAFETY: as above.
    let b = unsafe { uffd.r#move(heap.ptr, second.ptr, PAGE_SIZE, true, false) }.expect("move 2");
    assert_eq!(a, InstallOutcome::Installed(PAGE_SIZE));
    assert_eq!(b, InstallOutcome::AlreadyMapped);
    assert_eq!(
        // SAFETY: mapped pages.
        unsafe { (ptr::read_volatile(heap.ptr), ptr::read_volatile(second.ptr)) },
        (1, 2)
    );
}

#[test]
fn move_of_a_hole_is_gone_unless_holes_are_allowed() {
    let Some(_) = probe_or_skip("move_of_hole", |f| f.moves, "UFFDIO_MOVE") else {
        return;
    };
    let uffd = uffd_common::open(OpenOptions::new());
    let heap = Mapping::anon(1);
    uffd.register(heap.ptr, heap.len, RegisterMode::Missing)
        .expect("register");
    let hole = Mapping::anon(1); // never touched: no page to move
                                 // SAFETY: `hole` holds nothing anyone references.
    let strict = unsafe { uffd.r#move(heap.ptr, hole.ptr, PAGE_SIZE, true, false) }.expect("move");
    assert_eq!(strict, InstallOutcome::Gone);
    // SAFETY: as above.
    let lenient = unsafe { uffd.r#move(heap.ptr, hole.ptr, PAGE_SIZE, true, true) }.expect("move");
    assert_eq!(lenient, InstallOutcome::Installed(PAGE_SIZE));
}
