//! The SIGBUS mode's handler: it allocates nothing, and a SIGBUS that is not
//! a heap fault reaches the handler the embedder installed before the
//! runtime. Its own test binary: the allocator and the signal disposition
//! are process-wide.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicI32, AtomicUsize, Ordering};
use std::time::Duration;

use gc::compact::concurrent::sigbus::in_handler;

mod common;
use runtime::{Mode, Runtime};

/// Counts allocations made inside the runtime's SIGBUS handler.
struct Counting;

static HANDLER_ALLOCS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: defers to the system allocator; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if in_handler() {
            HANDLER_ALLOCS.fetch_add(1, Ordering::SeqCst);
        }
        // SAFETY: the caller's layout contract is passed on unchanged.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if in_handler() {
            HANDLER_ALLOCS.fetch_add(1, Ordering::SeqCst);
        }
        // SAFETY: as for alloc.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// The embedder's memfd whose file is too short: touching its mapping
/// raises SIGBUS, and the embedder's handler grows the file.
static EMBEDDER_FD: AtomicI32 = AtomicI32::new(-1);
static EMBEDDER_CALLS: AtomicUsize = AtomicUsize::new(0);

extern "C" fn embedder_handler(
    _sig: libc::c_int,
    _info: *mut libc::siginfo_t,
    _ctx: *mut libc::c_void,
) {
    EMBEDDER_CALLS.fetch_add(1, Ordering::SeqCst);
    // SAFETY: ftruncate is async-signal-safe; the fd is the test's memfd.
    unsafe { libc::ftruncate(EMBEDDER_FD.load(Ordering::SeqCst), 4096) };
}

fn install_embedder_handler() {
    // SAFETY: a zeroed sigaction with an SA_SIGINFO handler that only does
    // async-signal-safe work.
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = embedder_handler as *const () as usize;
        sa.sa_flags = libc::SA_SIGINFO;
        assert_eq!(libc::sigaction(libc::SIGBUS, &sa, std::ptr::null_mut()), 0);
    }
}

/// Maps one page of an empty memfd (touching it raises SIGBUS).
fn short_memfd_page() -> *mut u8 {
    // SAFETY: plain syscalls on our own fd and a fresh mapping.
    unsafe {
        let fd = libc::memfd_create(c"embedder".as_ptr(), 0);
        assert!(fd >= 0, "memfd_create");
        EMBEDDER_FD.store(fd, Ordering::SeqCst);
        let p = libc::mmap(
            std::ptr::null_mut(),
            4096,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED,
            fd,
            0,
        );
        assert_ne!(p, libc::MAP_FAILED, "mmap");
        p.cast()
    }
}

#[test]
fn the_handler_allocates_nothing_and_chains_to_the_embedders_handler() {
    install_embedder_handler();
    let builder = Runtime::builder()
        .heap_limit(128 << 20)
        .compaction_page_delay(Duration::from_micros(200));
    let Some(rt) = common::in_mode(builder, Mode::Sigbus) else {
        return;
    };
    let mut m = rt.mutator().expect("mutator");
    // A list of 30000 nodes with garbage in between, so the cycle moves it.
    common::build_list_with_garbage(&mut m, 30_000);
    let before = m.checksum();
    m.collect().expect("collect");
    // The collector sleeps after every page: this walk faults on most of
    // them, each served by the handler on this thread.
    assert_eq!(m.checksum(), before);
    m.verify().expect("heap valid");
    let faults = rt.stats().faults;
    assert!(
        faults > 50,
        "the walk raised SIGBUS on many pages ({faults})"
    );
    assert_eq!(
        HANDLER_ALLOCS.load(Ordering::SeqCst),
        0,
        "the SIGBUS handler allocated or freed memory"
    );
    // A SIGBUS outside the heap goes to the embedder's handler, which
    // grows the file so the access succeeds when it repeats.
    let p = short_memfd_page();
    // SAFETY: p maps one page; the first access raises SIGBUS, handled above.
    unsafe { p.write_volatile(42) };
    // SAFETY: the page is backed now.
    assert_eq!(unsafe { p.read_volatile() }, 42);
    assert_eq!(EMBEDDER_CALLS.load(Ordering::SeqCst), 1, "chained once");
}
