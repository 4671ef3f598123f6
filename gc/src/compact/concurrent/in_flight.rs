//! One concurrent compaction in flight: its plan, the page states of both
//! spaces, and the code every thread runs to compute and install a page.
//!
//! The moving space's live pages (`[base, base + live pages)`, or in a young
//! cycle those above the old generation, which stays mapped) are
//! registered for MISSING faults and filled with `UFFDIO_COPY`; the pages
//! above them are not registered, so allocation there gets the kernel's zero
//! pages. In `uffd` mode the non-moving space (up to its high water at the
//! pause) is registered for MINOR faults: its page tables were flipped to
//! the second view, a page is updated through that view and then mapped back
//! with `UFFDIO_CONTINUE`.
//!
//! Everything reachable from a fault (`resolve`, `install_*`) allocates
//! nothing and takes no lock: it runs on worker threads that mutators wait
//! for, and must never wait for a mutator.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use nix::errno::Errno;

use super::fault_log::FaultLog;
use super::from_space::FromSpace;
use super::pages::PageStates;
use crate::compact::forwarding::{ForwardingPlan, PAGE_WORDS};
use crate::compact::non_moving::{sweep, update_page};
use crate::compact::page::PageComputer;
use crate::heap::Heap;
use crate::object::WORD;
use crate::report::CycleReport;
use crate::units::PAGE_SIZE;
use uffd::{InstallOutcome, UffdError, UserFaultFd};

/// A page-sized, page-aligned buffer to compute pages into.
#[repr(C, align(4096))]
pub struct PageBuf(pub [u64; PAGE_WORDS]);

impl PageBuf {
    /// A zeroed buffer (for statics).
    pub const ZERO: PageBuf = PageBuf([0; PAGE_WORDS]);

    /// A zeroed buffer.
    pub fn zeroed() -> PageBuf {
        PageBuf::ZERO
    }

    /// A zeroed buffer on the heap (allocate before serving faults).
    pub fn boxed() -> Box<PageBuf> {
        Box::new(PageBuf::zeroed())
    }
}

/// The non-moving space's part of a `uffd`-mode cycle.
pub struct NonMovingPart {
    /// States of the pages `[base, base + len * PAGE_SIZE)`.
    pub pages: PageStates,
    /// The space's base.
    pub base: usize,
    /// Second view address minus space address.
    pub view_delta: usize,
}

/// One concurrent compaction.
pub struct CycleInFlight {
    /// The heap being compacted.
    pub heap: Arc<Heap>,
    /// Where every live moving object goes.
    pub plan: ForwardingPlan,
    /// The userfaultfd both spaces are registered with.
    pub fd: Arc<UserFaultFd>,
    /// States of the moving space's live pages (a young cycle's old pages,
    /// below `first_page`, are mapped from the start).
    pub moving: PageStates,
    /// The first moving page the cycle flipped and registered: 0 in a full
    /// cycle, the old generation's pages in a young one.
    pub first_page: usize,
    /// What the end of the cycle promotes (generational collection).
    pub promotion: Option<crate::generations::Promotion>,
    /// The non-moving space's pages, in `uffd` mode.
    pub non_moving: Option<NonMovingPart>,
    /// Top of the non-moving space's objects at the pause.
    pub nm_top: usize,
    /// Sleep after each page a collector thread installs (tests slow the
    /// collector down with it so that mutators fault on most pages).
    pub page_delay: Duration,
    /// Pages installed by `UFFDIO_MOVE`.
    pub moved_pages: AtomicUsize,
    /// Drained from-space: MOVE destinations, discarded behind them.
    pub from_space: FromSpace,
    /// Collector threads walking the pages (each checks in when it takes
    /// the cycle's job). A collector computes a run before claiming it, so
    /// it may still read from-space after every page is mapped (by others):
    /// the cycle ends only once this is zero, and a thread that checks in
    /// after [`CycleInFlight::done`] was set leaves at once.
    pub collectors_busy: AtomicUsize,
    /// The next moving page a collector thread takes a chunk from.
    pub moving_cursor: AtomicUsize,
    /// The next non-moving page a collector thread takes a chunk from.
    pub nm_cursor: AtomicUsize,
    /// Set once every page is mapped; workers then go idle.
    pub done: AtomicBool,
    /// CPU time fault workers spent on cycles that have ended, ns (shared
    /// by all cycles; each report takes what has accumulated).
    pub worker_cpu_ns: Arc<AtomicU64>,
    /// Faults served.
    pub faults: FaultLog,
    /// CPU time of the collector threads and workers, ns.
    pub gc_cpu_ns: AtomicU64,
    /// Raised when the cycle has ended (mutators poll it).
    pub attention: Arc<AtomicBool>,
    /// The SIGBUS handler table slot this cycle is published in (SIGBUS
    /// mode).
    pub sigbus_slot: Option<usize>,
    /// When the pause began.
    pub started: std::time::Instant,
    /// Where the end of the cycle leaves ranges it failed to unregister
    /// (the compactor's list; the next flip retries them).
    pub stale: Arc<parking_lot::Mutex<Vec<(usize, usize)>>>,
    /// The report, completed by the coordinating collector thread.
    pub report: parking_lot::Mutex<CycleReport>,
}

/// Ends the process: a page that cannot be installed would leave a mutator
/// blocked forever or reading garbage, and there is no way back. May run in
/// the SIGBUS handler, so the message (the call, the page's address, the
/// error) is written without allocating ([`crate::fatal`]) before aborting.
#[cold]
fn fatal(what: &str, addr: usize, err: &dyn std::fmt::Display) -> ! {
    crate::fatal::abort(format_args!(
        "{what} failed on the heap page at {addr:#x}: {err}; aborting"
    ))
}

/// `ENOMEM` retries of one install in the SIGBUS handler, with a
/// `sched_yield` between them: the handler must not sleep (the faulting
/// thread may hold locks others wait for), so memory that is not back after
/// these is treated as gone.
const ENOMEM_RETRIES_IN_HANDLER: u32 = 64;
/// `ENOMEM` retries of one install on a collector or worker thread, 1 ms
/// apart.
const ENOMEM_RETRIES: u32 = 1000;

/// Before retry `*enomem + 1` of an install (`what` at `addr`) that failed
/// with `ENOMEM`: yields (in the SIGBUS handler) or sleeps 1 ms (elsewhere),
/// or ends the process once the retries are spent. The kernel could not
/// allocate a page or a page-table page: pressure that may pass, and a
/// claimed page has no other way in.
fn enomem_wait(what: &str, addr: usize, enomem: &mut u32) {
    *enomem += 1;
    if super::sigbus::in_handler() {
        if *enomem > ENOMEM_RETRIES_IN_HANDLER {
            fatal(
                what,
                addr,
                &"ENOMEM: out of memory for the page (after retries)",
            )
        }
        std::thread::yield_now();
    } else {
        if *enomem > ENOMEM_RETRIES {
            fatal(what, addr, &"ENOMEM: out of memory for the page for 1 s")
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// How an install loop goes on after an outcome it does not settle itself.
enum Then {
    /// `n` more bytes are in place (mapped already): go on after them.
    Skip(usize),
    /// Try the same range again.
    Again,
    /// The caller has dealt with the rest of the range.
    Stop,
}

/// The loop every install ioctl runs in: `op(done)` installs bytes
/// `[done, len)` of a range and is repeated until all `len` are in place.
/// An install counts its bytes; a partial one (`EAGAIN`: the mapping
/// changed under it) counts what it did and goes on after a yield; every
/// other outcome goes to `other(done, outcome)`, which says how to go on
/// (or ends the process). Returns the bytes that `op` reported installed.
fn install_loop(
    len: usize,
    mut op: impl FnMut(usize) -> Result<InstallOutcome, UffdError>,
    mut other: impl FnMut(usize, Result<InstallOutcome, UffdError>) -> Then,
) -> usize {
    let (mut done, mut installed) = (0, 0);
    while done < len {
        match op(done) {
            Ok(InstallOutcome::Installed(k)) => {
                done += k;
                installed += k;
            }
            Ok(InstallOutcome::Retry { done: k }) => {
                done += k;
                std::thread::yield_now();
            }
            outcome => match other(done, outcome) {
                Then::Skip(n) => done += n,
                Then::Again => {}
                Then::Stop => break,
            },
        }
    }
    installed
}

/// What COPY and CONTINUE do with the outcomes [`install_loop`] leaves to
/// them (`what` at `addr`): a page mapped already counts as in place,
/// `ENOMEM` is waited out ([`enomem_wait`], `enomem` counting the retries)
/// and anything else ends the process.
fn settle(
    what: &str,
    addr: usize,
    outcome: Result<InstallOutcome, UffdError>,
    enomem: &mut u32,
) -> Then {
    match outcome {
        Ok(InstallOutcome::AlreadyMapped) => Then::Skip(PAGE_SIZE),
        Ok(outcome) => fatal(what, addr, &outcome_name(outcome)),
        Err(e) if e.errno() == Some(Errno::ENOMEM) => {
            enomem_wait(what, addr, enomem);
            Then::Again
        }
        Err(e) => fatal(what, addr, &e),
    }
}

impl CycleInFlight {
    /// The page computer of this cycle.
    #[inline]
    pub fn computer(&self) -> PageComputer<'_> {
        PageComputer::new(&self.heap, &self.plan)
    }

    /// Address of moving page `page`.
    #[inline]
    pub fn moving_addr(&self, page: usize) -> usize {
        self.heap.moving().base() + page * PAGE_SIZE
    }

    /// Computes claimed moving page `page` into `buf` and installs it with
    /// `UFFDIO_COPY`, waking any thread faulting on it.
    pub fn install_moving(&self, page: usize, buf: &mut PageBuf) {
        self.computer().compute_page(page, &mut buf.0);
        self.copy_moving_run(page, 1, buf.0.as_ptr() as usize);
    }

    /// Installs the claimed moving pages `first .. first + n`, computed into
    /// the `n` pages at `src`, with one `UFFDIO_COPY`, waking any thread
    /// faulting on them.
    pub fn copy_moving_run(&self, first: usize, n: usize, src: usize) {
        self.copy_from(self.moving_addr(first), src, n * PAGE_SIZE);
        for page in first..first + n {
            self.moving.set_mapped(page);
        }
    }

    /// Moves the claimed moving pages `first .. first + n`, computed into
    /// the drained from-space pages at `src`, into place with `UFFDIO_MOVE`
    /// (no page allocation, no second copy), waking any thread faulting on
    /// them. Returns `false` if the kernel refused to move (`EBUSY`: pages
    /// shared with a forked child; or MOVE unsupported): the rest of the run
    /// was then installed with `UFFDIO_COPY` from `src`.
    pub fn move_moving_run(&self, first: usize, n: usize, src: usize) -> bool {
        let dst = self.moving_addr(first);
        let len = n * PAGE_SIZE;
        let mut moved_all = true;
        let moved = install_loop(
            len,
            // SAFETY: nothing references the drained source pages; they
            // vanish from from-space once moved.
            |done| unsafe {
                self.fd.r#move(
                    (dst + done) as *mut u8,
                    (src + done) as *mut u8,
                    len - done,
                    true,
                    false,
                )
            },
            |done, outcome| match outcome {
                Ok(InstallOutcome::AlreadyMapped) => {
                    fatal("UFFDIO_MOVE", dst + done, &"EEXIST on a claimed page")
                }
                Ok(InstallOutcome::Gone) => fatal("UFFDIO_MOVE", dst + done, &"ENOENT"),
                Ok(_) | Err(_) => {
                    // Refused (`EBUSY`) or failed: the rest is copied.
                    moved_all = false;
                    self.copy_from(dst + done, src + done, len - done);
                    Then::Stop
                }
            },
        );
        self.moved_pages
            .fetch_add(moved / PAGE_SIZE, Ordering::Relaxed);
        for page in first..first + n {
            self.moving.set_mapped(page);
        }
        moved_all
    }

    /// `UFFDIO_COPY` of `len` bytes from `src` to the claimed pages at `dst`.
    fn copy_from(&self, dst: usize, src: usize, len: usize) {
        let mut enomem = 0;
        install_loop(
            len,
            |done| {
                self.fd.copy(
                    (dst + done) as *mut u8,
                    (src + done) as *const u8,
                    len - done,
                    true,
                )
            },
            |done, outcome| settle("UFFDIO_COPY", dst + done, outcome, &mut enomem),
        );
    }

    /// Updates claimed non-moving page `page` through the second view and
    /// maps it with `UFFDIO_CONTINUE`, waking any thread faulting on it.
    pub fn install_non_moving(&self, part: &NonMovingPart, page: usize) {
        let addr = part.base + page * PAGE_SIZE;
        update_page(&self.computer(), &self.heap, addr, part.view_delta);
        self.continue_page(addr);
        part.pages.set_mapped(page);
    }

    /// Updates the claimed non-moving pages `first .. first + n` through the
    /// second view and maps them with one `UFFDIO_CONTINUE` (page by page
    /// where the run holds a hole, which CONTINUE refuses).
    pub fn install_non_moving_run(&self, part: &NonMovingPart, first: usize, n: usize) {
        let pc = self.computer();
        for page in first..first + n {
            update_page(
                &pc,
                &self.heap,
                part.base + page * PAGE_SIZE,
                part.view_delta,
            );
        }
        let addr = part.base + first * PAGE_SIZE;
        let len = n * PAGE_SIZE;
        let mut enomem = 0;
        install_loop(
            len,
            |done| {
                self.fd
                    .r#continue((addr + done) as *mut u8, len - done, true)
            },
            |done, outcome| match outcome {
                Err(e) if e.errno() == Some(Errno::EFAULT) => {
                    // A page without a page-cache page in the run: map the
                    // rest one by one (holes fault as ordinary misses).
                    for at in (addr + done..addr + len).step_by(PAGE_SIZE) {
                        self.continue_page(at);
                    }
                    Then::Stop
                }
                outcome => settle("UFFDIO_CONTINUE", addr + done, outcome, &mut enomem),
            },
        );
        for page in first..first + n {
            part.pages.set_mapped(page);
        }
    }

    /// `UFFDIO_CONTINUE` of one page; a hole (no page-cache page) is left to
    /// fault as an ordinary miss. `ENOMEM` is retried as for COPY.
    fn continue_page(&self, addr: usize) {
        let mut enomem = 0;
        install_loop(
            PAGE_SIZE,
            |done| {
                self.fd
                    .r#continue((addr + done) as *mut u8, PAGE_SIZE - done, true)
            },
            |done, outcome| match outcome {
                Err(e) if e.errno() == Some(Errno::EFAULT) => Then::Stop,
                outcome => settle("UFFDIO_CONTINUE", addr + done, outcome, &mut enomem),
            },
        );
    }

    /// Serves a fault at `addr`: computes and installs its page, or waits
    /// for the thread that claimed it and wakes the faulting thread.
    pub fn resolve(&self, addr: usize, buf: &mut PageBuf) {
        let page_addr = addr & !(PAGE_SIZE - 1);
        let base = self.heap.moving().base();
        if let Some(page) = page_addr.checked_sub(base).map(|o| o / PAGE_SIZE) {
            if page < self.moving.len() {
                if self.moving.try_claim(page) {
                    self.install_moving(page, buf);
                } else {
                    self.moving.wait_mapped(page);
                    self.wake(page_addr);
                }
                return;
            }
        }
        if let Some(part) = &self.non_moving {
            if let Some(page) = page_addr.checked_sub(part.base).map(|o| o / PAGE_SIZE) {
                if page < part.pages.len() {
                    if part.pages.try_claim(page) {
                        self.install_non_moving(part, page);
                    } else {
                        part.pages.wait_mapped(page);
                        self.wake(page_addr);
                    }
                    return;
                }
            }
        }
        // A stale event of an earlier cycle: the page is mapped or no longer
        // registered; waking is harmless.
        self.wake(page_addr);
    }

    fn wake(&self, page_addr: usize) {
        // Only fails when the range is no longer registered, where nobody
        // waits any more.
        let _ = self.fd.wake(page_addr as *mut u8, PAGE_SIZE);
    }

    /// Frees the non-moving space's dead objects (reading their sizes
    /// through the second view, as their pages may not be mapped yet) and
    /// accounts the sweep. Objects allocated since the flip are spared.
    pub fn sweep_non_moving(&self, part: &NonMovingPart) {
        let start = std::time::Instant::now();
        let (_, bytes) = sweep(&self.heap, part.view_delta);
        let mut report = self.report.lock();
        report.non_moving_freed_bytes = bytes;
        report.add_concurrent(crate::report::Phase::Sweep, start.elapsed());
    }

    /// Whether `addr` lies in a page this cycle installs.
    pub fn covers(&self, addr: usize) -> bool {
        let base = self.heap.moving().base();
        if addr.wrapping_sub(base) < self.moving.len() * PAGE_SIZE {
            return true;
        }
        self.non_moving
            .as_ref()
            .is_some_and(|p| addr.wrapping_sub(p.base) < p.pages.len() * PAGE_SIZE)
    }

    /// Whether every page of both spaces is mapped.
    pub fn all_mapped(&self) -> bool {
        self.moving.all_mapped()
            && self
                .non_moving
                .as_ref()
                .is_none_or(|part| part.pages.all_mapped())
    }

    /// The lowest from-space address that computing moving page `page` (or
    /// any later one) reads: the start of the object its first word belongs
    /// to. `old_top` when `page` is past the live pages.
    pub fn from_space_needed(&self, page: usize) -> usize {
        if page >= self.plan.live_pages() {
            return self.heap.from_base() + (self.plan.old_top() - self.heap.moving().base());
        }
        let first = self.plan.page_first_word(page);
        let start = match self.heap.marks().moving.find_prev_set(first) {
            Some(start) => start,
            // In the dense prefix a page's first word may be dead, with no
            // object before it: the page reads nothing below that word.
            None if first < self.plan.dense_words() => first,
            None => panic!("a live word has a marked object start at or before it"),
        };
        self.heap.from_base() + start * WORD
    }
}

fn outcome_name(outcome: InstallOutcome) -> &'static str {
    match outcome {
        InstallOutcome::Installed(_) => "installed",
        InstallOutcome::AlreadyMapped => "EEXIST",
        InstallOutcome::Retry { .. } => "EAGAIN",
        InstallOutcome::Busy => "EBUSY",
        InstallOutcome::Gone => "ENOENT (range no longer registered)",
    }
}
