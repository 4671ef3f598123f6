//! UFFDIO_MOVE of a page shared copy-on-write with a forked child: EBUSY.
//!
//! In a test binary of its own: a fork shares every anonymous page of the
//! process with the child, so any other test moving pages at that moment
//! would see EBUSY too.

mod uffd_common;

use std::ptr;

use uffd::{InstallOutcome, OpenOptions, RegisterMode, PAGE_SIZE};
use uffd_common::{filled_page, probe_or_skip, Mapping};

#[test]
fn move_of_a_page_shared_with_a_forked_child_is_busy() {
    let Some(_) = probe_or_skip("move_shared_after_fork_busy", |f| f.moves, "UFFDIO_MOVE") else {
        return;
    };
    let uffd = uffd_common::open(OpenOptions::new());
    let heap = Mapping::anon(1);
    uffd.register(heap.ptr, heap.len, RegisterMode::Missing)
        .expect("register");
    let src = filled_page(5);

    let mut pipe = [0 as libc::c_int; 2];
    // SAFETY: pipe writes two fds into our array.
    assert_eq!(unsafe { libc::pipe(pipe.as_mut_ptr()) }, 0);
    // SAFETY: the child only calls async-signal-safe functions (read, _exit)
    // before exiting, so forking a multi-threaded test process is sound.
    let child = unsafe { libc::fork() };
    assert!(child >= 0, "fork failed");
    if child == 0 {
        let mut byte = 0u8;
        // SAFETY: close our copy of the write end (so the parent's close
        // ends the read), a blocking read of one byte into a stack
        // variable, then exit without running the parent's destructors.
        unsafe {
            libc::close(pipe[1]);
            libc::read(pipe[0], (&mut byte as *mut u8).cast(), 1);
            libc::_exit(0);
        }
    }
    // The child now shares `src`'s page copy-on-write, so it is no longer
    // exclusively ours: MOVE refuses with EBUSY (mark the heap MADV_DONTFORK).
    // SAFETY: `src` is referenced only through raw pointers in this test.
    let outcome = unsafe { uffd.r#move(heap.ptr, src.ptr, PAGE_SIZE, true, false) }.expect("move");
    // SAFETY: closing our pipe ends and reaping our child.
    unsafe {
        libc::close(pipe[1]);
        libc::close(pipe[0]);
        libc::waitpid(child, ptr::null_mut(), 0);
    }
    assert_eq!(outcome, InstallOutcome::Busy);
    // COPY is the fallback and works on the same source.
    assert_eq!(
        uffd.copy(heap.ptr, src.ptr, PAGE_SIZE, true).expect("copy"),
        InstallOutcome::Installed(PAGE_SIZE)
    );
}
