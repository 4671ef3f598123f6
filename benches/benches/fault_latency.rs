//! # fault_latency: what one 4 KiB missing-page fault costs the mutator
//!
//! Five ways of resolving one fault, as benchmarks of one criterion group
//! (`fault_latency/<method>`) so they run side by side:
//!
//! - `copy`: `UFFDIO_COPY` of a prepared page into a MISSING-registered
//!   anonymous page, by the calling thread, with no fault taken (the ioctl
//!   alone).
//! - `move`: `UFFDIO_MOVE` of a populated anonymous page into such a page
//!   (skipped when the kernel lacks MOVE).
//! - `continue`: `UFFDIO_CONTINUE` of a memfd page (written through a second
//!   mapping first) into a MINOR-registered shared mapping.
//! - `sigbus_self_service`: the thread touches a missing page of a range on a
//!   SIGBUS-mode userfaultfd; this file's async-signal-safe SIGBUS handler
//!   installs the page with COPY and returns. Timed from before the touch to
//!   after it.
//! - `worker_handoff`: the thread touches a missing page of a range on an
//!   event-mode userfaultfd; a worker thread blocked in `read_event` installs
//!   it with COPY (and wake). Timed from before the touch to after it.
//!
//! Every iteration works on a fresh page: each method maps a 256 MiB region
//! and walks it page by page; when the walk wraps, the region is re-armed
//! with `MADV_DONTNEED`. Re-arming and per-page preparation (populating a
//! MOVE source, writing the memfd page) run outside the timed span
//! (`iter_custom` times each operation alone). Besides criterion's estimates
//! each method prints the per-operation p50/p99/max of every timed operation
//! (warm-up included), since a fault's tail matters as much as its median.
//!
//! Where userfaultfd (or the feature a method needs) is unavailable, the
//! method prints why and is skipped.
//!
//! Run: `cargo bench -p benches --bench fault_latency`.

// `criterion_group!` defines a public function it does not document.
#![allow(missing_docs)]

use std::hint::black_box;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::ptr;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use criterion::measurement::WallTime;
use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion};
use hdrhistogram::Histogram;
use uffd::{InstallOutcome, OpenOptions, RegisterMode, UffdFeatures, UserFaultFd, PAGE_SIZE};

/// Size of each method's region: the walk's length before a re-arm.
const REGION_BYTES: usize = 256 << 20;
/// Pages in a region.
const REGION_PAGES: usize = REGION_BYTES / PAGE_SIZE;
/// How long the hand-off worker waits in `read_event` before it checks
/// whether to stop (a shutdown bound, not part of any measurement).
const WORKER_POLL: Duration = Duration::from_millis(50);

/// A private anonymous or memfd-shared mapping, unmapped on drop.
struct Region {
    ptr: *mut u8,
    len: usize,
}

impl Region {
    /// `len` bytes of private anonymous memory, not yet touched.
    fn anon(len: usize) -> Result<Region, String> {
        Self::map(len, libc::MAP_PRIVATE | libc::MAP_ANONYMOUS, -1)
    }

    /// A `MAP_SHARED` view of `memfd` from offset 0.
    fn shared(memfd: &OwnedFd, len: usize) -> Result<Region, String> {
        Self::map(len, libc::MAP_SHARED, memfd.as_raw_fd())
    }

    fn map(len: usize, flags: libc::c_int, fd: libc::c_int) -> Result<Region, String> {
        // SAFETY: a fresh mapping at an address of the kernel's choosing:
        // it overlaps nothing of ours.
        let ptr = unsafe {
            libc::mmap(
                ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                flags,
                fd,
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(format!("mmap: {}", std::io::Error::last_os_error()));
        }
        let region = Region {
            ptr: ptr.cast(),
            len,
        };
        // 4 KiB pages only: a huge page would make MOVE split it and COPY
        // targets are never huge anyway. Advisory; failure changes nothing
        // this bench relies on.
        // SAFETY: madvise on our own fresh mapping.
        unsafe { libc::madvise(region.ptr.cast(), len, libc::MADV_NOHUGEPAGE) };
        Ok(region)
    }

    /// Address of page `i`.
    fn page(&self, i: usize) -> *mut u8 {
        assert!(i * PAGE_SIZE < self.len, "page {i} outside the region");
        // SAFETY: in bounds of the mapping (asserted above).
        unsafe { self.ptr.add(i * PAGE_SIZE) }
    }

    /// `MADV_DONTNEED` the whole region: anonymous pages become missing
    /// again; a shared mapping loses its PTEs (the page cache stays).
    fn rearm(&self) {
        // SAFETY: our own mapping; no Rust reference points into it.
        let ret = unsafe { libc::madvise(self.ptr.cast(), self.len, libc::MADV_DONTNEED) };
        assert_eq!(ret, 0, "madvise: {}", std::io::Error::last_os_error());
    }

    /// Writes `byte` to every byte of page `i`.
    fn fill_page(&self, i: usize, byte: u8) {
        // SAFETY: page `i` is in bounds (checked by `page`) and writable, and
        // no Rust reference points into the region.
        unsafe { ptr::write_bytes(self.page(i), byte, PAGE_SIZE) };
    }
}

impl Drop for Region {
    fn drop(&mut self) {
        // SAFETY: unmapping exactly the range this value mapped.
        unsafe { libc::munmap(self.ptr.cast(), self.len) };
    }
}

/// A memfd of `len` bytes.
fn memfd(len: usize) -> Result<OwnedFd, String> {
    // SAFETY: NUL-terminated literal name; returns a new fd or -1.
    let raw = unsafe { libc::memfd_create(c"fault-latency".as_ptr(), libc::MFD_CLOEXEC) };
    if raw < 0 {
        return Err(format!("memfd_create: {}", std::io::Error::last_os_error()));
    }
    // SAFETY: `raw` is a new fd that nothing else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    // SAFETY: ftruncate of our own fd.
    let ret = unsafe { libc::ftruncate(fd.as_raw_fd(), len as libc::off_t) };
    if ret != 0 {
        return Err(format!("ftruncate: {}", std::io::Error::last_os_error()));
    }
    Ok(fd)
}

/// Walks a region's pages, re-arming it when the walk wraps, and times one
/// operation per page.
struct Walk<'a> {
    region: &'a Region,
    next: usize,
    /// Every timed operation, in nanoseconds.
    hist: Histogram<u64>,
}

impl<'a> Walk<'a> {
    fn new(region: &'a Region) -> Self {
        Walk {
            region,
            next: 0,
            hist: Histogram::new_with_bounds(1, 10_000_000_000, 3).expect("histogram bounds"),
        }
    }

    /// Runs `iters` operations: for each, picks the next page (re-arming the
    /// region on wrap), runs `setup(page index)` untimed, then times
    /// `op(page address)`. Returns the summed time of the operations.
    fn run(
        &mut self,
        iters: u64,
        mut setup: impl FnMut(usize),
        mut op: impl FnMut(*mut u8),
    ) -> Duration {
        let mut total = Duration::ZERO;
        for _ in 0..iters {
            if self.next == REGION_PAGES {
                self.region.rearm();
                self.next = 0;
            }
            let index = self.next;
            self.next += 1;
            setup(index);
            let page = self.region.page(index);
            let start = Instant::now();
            op(page);
            let took = start.elapsed();
            total += took;
            self.hist.saturating_record(took.as_nanos() as u64);
        }
        total
    }

    /// Prints the per-operation distribution.
    fn report(&self, method: &str, extra: &str) {
        let us = |q: f64| self.hist.value_at_quantile(q) as f64 / 1000.0;
        println!(
            "fault_latency/{method}: per-op over {} timed ops (warm-up included): \
             p50 {:.2} us, p90 {:.2} us, p99 {:.2} us, max {:.2} us{extra}",
            self.hist.len(),
            us(0.5),
            us(0.9),
            us(0.99),
            self.hist.max() as f64 / 1000.0,
        );
    }
}

/// Prints a skip line for `method`.
fn skip(method: &str, why: &str) {
    println!("SKIP fault_latency/{method}: {why}");
}

/// Opens a userfaultfd, or prints why not and returns `None`.
fn open(method: &str, options: &OpenOptions) -> Option<UserFaultFd> {
    match UserFaultFd::open(options) {
        Ok(uffd) => Some(uffd),
        Err(err) => {
            skip(method, &format!("opening the userfaultfd failed: {err}"));
            None
        }
    }
}

/// Maps a region and registers it with `uffd`, or prints why not.
fn registered_anon(method: &str, uffd: &UserFaultFd) -> Option<Region> {
    let region = match Region::anon(REGION_BYTES) {
        Ok(region) => region,
        Err(err) => {
            skip(method, &err);
            return None;
        }
    };
    match uffd.register(region.ptr, region.len, RegisterMode::Missing) {
        Ok(_) => Some(region),
        Err(err) => {
            skip(method, &format!("register MISSING failed: {err}"));
            None
        }
    }
}

/// A page-aligned page of `byte`s, the source every COPY reads.
fn source_page(byte: u8) -> Region {
    let page = Region::anon(PAGE_SIZE).expect("mmap of one source page");
    page.fill_page(0, byte);
    page
}

fn expect_installed(method: &str, outcome: Result<InstallOutcome, uffd::UffdError>) {
    match outcome {
        Ok(InstallOutcome::Installed(n)) if n == PAGE_SIZE => {}
        other => panic!("fault_latency/{method}: expected one installed page, got {other:?}"),
    }
}

fn bench_copy(group: &mut BenchmarkGroup<'_, WallTime>) {
    let Some(uffd) = open("copy", &OpenOptions::new()) else {
        return;
    };
    let Some(dst) = registered_anon("copy", &uffd) else {
        return;
    };
    let src = source_page(0x5a);
    let mut walk = Walk::new(&dst);
    group.bench_function("copy", |b| {
        b.iter_custom(|iters| {
            walk.run(
                iters,
                |_| {},
                |page| expect_installed("copy", uffd.copy(page, src.ptr, PAGE_SIZE, true)),
            )
        });
    });
    walk.report("copy", "");
}

fn bench_move(group: &mut BenchmarkGroup<'_, WallTime>) {
    let Some(uffd) = open("move", &OpenOptions::new()) else {
        return;
    };
    let Some(dst) = registered_anon("move", &uffd) else {
        return;
    };
    // Source pages are populated in the untimed setup, one per iteration, at
    // the same index as the destination; a moved page leaves a hole, which
    // the next lap of the walk populates again.
    let src = match Region::anon(REGION_BYTES) {
        Ok(src) => src,
        Err(err) => return skip("move", &err),
    };
    // The source page at the destination's offset in its own region.
    let src_of = |page: *mut u8| src.page((page as usize - dst.ptr as usize) / PAGE_SIZE);
    let mut walk = Walk::new(&dst);
    group.bench_function("move", |b| {
        b.iter_custom(|iters| {
            walk.run(
                iters,
                |i| src.fill_page(i, 0xa5),
                |page| {
                    let from = src_of(page);
                    // SAFETY: the source page is reached only through raw
                    // pointers (`fill_page` in the setup); no reference
                    // points into it when it vanishes.
                    let outcome = unsafe { uffd.r#move(page, from, PAGE_SIZE, true, false) };
                    expect_installed("move", outcome);
                },
            )
        });
    });
    walk.report("move", "");
}

fn bench_continue(group: &mut BenchmarkGroup<'_, WallTime>) {
    let Some(uffd) = open("continue", &OpenOptions::new().minor_shmem(true)) else {
        return;
    };
    let mapped = memfd(REGION_BYTES).and_then(|fd| {
        let heap = Region::shared(&fd, REGION_BYTES)?;
        let view = Region::shared(&fd, REGION_BYTES)?;
        Ok((fd, heap, view))
    });
    let (_fd, heap, view) = match mapped {
        Ok(mapped) => mapped,
        Err(err) => return skip("continue", &err),
    };
    match uffd.register(heap.ptr, heap.len, RegisterMode::Minor) {
        Ok(ioctls) if ioctls.continues() => {}
        Ok(_) => return skip("continue", "UFFDIO_CONTINUE not offered on the memfd range"),
        Err(err) => return skip("continue", &format!("register MINOR failed: {err}")),
    }
    // Every page of the memfd exists in the page cache before the walk (the
    // collector updates pages in place through its own view); each iteration
    // writes its page once more through the view, untimed.
    for i in 0..REGION_PAGES {
        view.fill_page(i, 0x11);
    }
    let mut walk = Walk::new(&heap);
    group.bench_function("continue", |b| {
        b.iter_custom(|iters| {
            walk.run(
                iters,
                |i| {
                    // SAFETY: page `i` of our writable view; no reference
                    // points into it.
                    unsafe { ptr::write_volatile(view.page(i), 0x77) };
                },
                |page| expect_installed("continue", uffd.r#continue(page, PAGE_SIZE, true)),
            )
        });
    });
    walk.report("continue", "");
}

/// The SIGBUS-mode fd while the `sigbus_self_service` bench runs (null
/// otherwise). Owned by `bench_sigbus`, which clears this before dropping it.
static SIGBUS_UFFD: AtomicPtr<UserFaultFd> = AtomicPtr::new(ptr::null_mut());
/// Address of the page the handler copies from (0: none).
static SIGBUS_SOURCE: AtomicUsize = AtomicUsize::new(0);
/// Faults the handler resolved.
static SIGBUS_RESOLVED: AtomicU64 = AtomicU64::new(0);

/// Resolves a userfaultfd SIGBUS by installing the source page at the
/// faulting page, then returns so the access is retried. Async-signal-safe:
/// atomics, one ioctl on a stack argument, errno saved and restored; no
/// allocation, no locks, no panics.
extern "C" fn on_sigbus(_sig: libc::c_int, info: *mut libc::siginfo_t, _ctx: *mut libc::c_void) {
    // SAFETY: errno is thread-local; reading it is async-signal-safe.
    let saved_errno = unsafe { *libc::__errno_location() };
    // SAFETY: the kernel passes a valid siginfo to an SA_SIGINFO handler;
    // for SIGBUS si_addr is the faulting address.
    let addr = unsafe { (*info).si_addr() } as usize;
    let page = addr & !(PAGE_SIZE - 1);
    let src = SIGBUS_SOURCE.load(Ordering::Acquire);
    let uffd = SIGBUS_UFFD.load(Ordering::Acquire);
    // SAFETY: a non-null pointer is the live fd owned by `bench_sigbus`,
    // which nulls it before the fd is dropped; only that bench's thread
    // touches the registered range, so no fault outlives the fd.
    let resolved = !uffd.is_null()
        && src != 0
        && matches!(
            unsafe { &*uffd }.copy(page as *mut u8, src as *const u8, PAGE_SIZE, false),
            Ok(InstallOutcome::Installed(_) | InstallOutcome::AlreadyMapped)
        );
    if resolved {
        SIGBUS_RESOLVED.fetch_add(1, Ordering::Relaxed);
    } else {
        // Not ours: restore the default action so the retried access kills
        // the process with a real SIGBUS instead of looping.
        // SAFETY: signal() with SIG_DFL is async-signal-safe.
        unsafe { libc::signal(libc::SIGBUS, libc::SIG_DFL) };
    }
    // SAFETY: as above.
    unsafe { *libc::__errno_location() = saved_errno };
}

/// The `sa_sigaction` signature.
type SigactionHandler = extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void);

/// Installs `on_sigbus`; returns the previous action, to restore.
fn install_sigbus_handler() -> Result<libc::sigaction, String> {
    let handler: SigactionHandler = on_sigbus;
    // SAFETY: an all-zero sigaction is a valid value (no handler, empty
    // flags); the fields that matter are set below.
    let mut action: libc::sigaction = unsafe { std::mem::zeroed() };
    action.sa_sigaction = handler as usize;
    action.sa_flags = libc::SA_SIGINFO;
    // SAFETY: as above, for the struct the old action is written to.
    let mut old: libc::sigaction = unsafe { std::mem::zeroed() };
    // SAFETY: sigemptyset initialises the mask inside our own struct;
    // sigaction reads `action` and writes `old`, both on our stack.
    let ret = unsafe {
        libc::sigemptyset(&mut action.sa_mask);
        libc::sigaction(libc::SIGBUS, &action, &mut old)
    };
    if ret != 0 {
        return Err(format!("sigaction: {}", std::io::Error::last_os_error()));
    }
    Ok(old)
}

fn restore_sigbus_handler(old: &libc::sigaction) {
    // SAFETY: reinstalls the action sigaction gave us, read from our stack.
    unsafe { libc::sigaction(libc::SIGBUS, old, ptr::null_mut()) };
}

/// A volatile one-byte read: the access really happens, and faults if the
/// page is missing.
fn touch(page: *mut u8) {
    // SAFETY: `page` is a page of a live registered region; when it is
    // missing, the fault is resolved (by the SIGBUS handler or the worker)
    // before the retried load completes.
    black_box(unsafe { ptr::read_volatile(page) });
}

fn bench_sigbus(group: &mut BenchmarkGroup<'_, WallTime>) {
    let Some(uffd) = open("sigbus_self_service", &OpenOptions::new().sigbus(true)) else {
        return;
    };
    let uffd = Box::new(uffd);
    let Some(heap) = registered_anon("sigbus_self_service", &uffd) else {
        return;
    };
    let src = source_page(0x6b);
    let old = match install_sigbus_handler() {
        Ok(old) => old,
        Err(err) => return skip("sigbus_self_service", &err),
    };
    SIGBUS_SOURCE.store(src.ptr as usize, Ordering::Release);
    SIGBUS_UFFD.store(
        ptr::from_ref::<UserFaultFd>(&uffd).cast_mut(),
        Ordering::Release,
    );
    let before = SIGBUS_RESOLVED.load(Ordering::Relaxed);
    let mut walk = Walk::new(&heap);
    group.bench_function("sigbus_self_service", |b| {
        b.iter_custom(|iters| walk.run(iters, |_| {}, touch));
    });
    SIGBUS_UFFD.store(ptr::null_mut(), Ordering::Release);
    SIGBUS_SOURCE.store(0, Ordering::Release);
    restore_sigbus_handler(&old);
    let resolved = SIGBUS_RESOLVED.load(Ordering::Relaxed) - before;
    walk.report(
        "sigbus_self_service",
        &format!("; {resolved} faults resolved by the handler"),
    );
    assert_eq!(
        resolved,
        walk.hist.len(),
        "every touch should raise exactly one SIGBUS"
    );
}

fn bench_worker(group: &mut BenchmarkGroup<'_, WallTime>) {
    let Some(uffd) = open("worker_handoff", &OpenOptions::new()) else {
        return;
    };
    let Some(heap) = registered_anon("worker_handoff", &uffd) else {
        return;
    };
    let src = source_page(0x3c);
    let stop = AtomicBool::new(false);
    let served = AtomicU64::new(0);
    let (src_addr, heap_addr, heap_len) = (src.ptr as usize, heap.ptr as usize, heap.len);
    let mut walk = Walk::new(&heap);
    std::thread::scope(|scope| {
        scope.spawn(|| {
            while !stop.load(Ordering::Acquire) {
                let event = match uffd.read_event(Some(WORKER_POLL)) {
                    Ok(Some(event)) => event,
                    Ok(None) => continue,
                    Err(err) => {
                        eprintln!("fault_latency/worker_handoff: worker: read_event: {err}");
                        break;
                    }
                };
                let outcome = uffd.copy(
                    event.address as *mut u8,
                    src_addr as *const u8,
                    PAGE_SIZE,
                    true,
                );
                match outcome {
                    Ok(InstallOutcome::Installed(_) | InstallOutcome::AlreadyMapped) => {
                        served.fetch_add(1, Ordering::Relaxed);
                    }
                    other => {
                        eprintln!("fault_latency/worker_handoff: worker: copy: {other:?}");
                        break;
                    }
                }
            }
            if !stop.load(Ordering::Acquire) {
                // The worker failed: unregister (which wakes the waiting
                // mutator; its page then reads as zero) rather than leave
                // the bench thread blocked forever.
                let _ = uffd.unregister(heap_addr as *mut u8, heap_len);
            }
        });
        group.bench_function("worker_handoff", |b| {
            b.iter_custom(|iters| walk.run(iters, |_| {}, touch));
        });
        stop.store(true, Ordering::Release);
    });
    let served = served.load(Ordering::Relaxed);
    walk.report(
        "worker_handoff",
        &format!("; {served} faults served by the worker"),
    );
    assert_eq!(served, walk.hist.len(), "every touch should fault once");
}

fn fault_latency(c: &mut Criterion) {
    let features = UffdFeatures::probe();
    println!("fault_latency: {}", features.summary());
    let mut group = c.benchmark_group("fault_latency");
    if !features.is_available() {
        let why = features
            .unavailable_reason()
            .unwrap_or("userfaultfd unavailable");
        for method in [
            "copy",
            "move",
            "continue",
            "sigbus_self_service",
            "worker_handoff",
        ] {
            skip(method, why);
        }
        group.finish();
        return;
    }
    bench_copy(&mut group);
    if features.moves {
        bench_move(&mut group);
    } else {
        skip(
            "move",
            "the kernel lacks UFFDIO_MOVE (UffdFeatures::probe().moves is false; needs 6.8+)",
        );
    }
    if features.minor_shmem && features.continues {
        bench_continue(&mut group);
    } else {
        skip(
            "continue",
            "the kernel lacks MINOR faults on shmem or UFFDIO_CONTINUE",
        );
    }
    if features.sigbus {
        bench_sigbus(&mut group);
    } else {
        skip(
            "sigbus_self_service",
            "the kernel lacks UFFD_FEATURE_SIGBUS",
        );
    }
    bench_worker(&mut group);
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(60)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5));
    targets = fault_latency
}
criterion_main!(benches);
