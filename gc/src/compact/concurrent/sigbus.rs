//! SIGBUS self-service: with `UFFD_FEATURE_SIGBUS`, a thread touching a heap
//! page that is not ready yet gets `SIGBUS`, and this handler computes and
//! installs the page on that thread, then returns so the access retries.
//! No hand-off to a worker thread, no event queue.
//!
//! The handler is async-signal-safe: it allocates nothing, takes no lock,
//! and never panics on its path. It finds the cycle covering the faulting
//! address in a fixed table of atomic pointers, borrows a page buffer from
//! a static pool (claimed with a compare-and-swap, prepared in advance), and
//! runs the same per-page state machine as the collector ([`Cycle::resolve`]:
//! claim and compute, or wait for the claimer). A `SIGBUS` that is not a
//! heap fault goes to the handler installed before ours (or the default
//! action), so an embedder's own handler keeps working.
//!
//! A cycle is published in the table at its flip and withdrawn once every
//! page is mapped; withdrawal waits until no handler still uses it.

use std::cell::{Cell, UnsafeCell};
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::Instant;

use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};

use super::cycle::{Cycle, PageBuf};

/// Cycles (of different heaps) that may be in flight at once.
const SLOTS: usize = 16;
/// Page buffers for handlers running at the same time.
const BUFFERS: usize = 64;

static CYCLES: [AtomicPtr<Cycle>; SLOTS] = [const { AtomicPtr::new(std::ptr::null_mut()) }; SLOTS];
/// Handlers currently using a cycle from the table.
static ACTIVE: AtomicUsize = AtomicUsize::new(0);

struct Pool {
    bufs: [UnsafeCell<PageBuf>; BUFFERS],
    busy: [AtomicBool; BUFFERS],
}

// SAFETY: a buffer is only touched by the thread that won its `busy` flag.
unsafe impl Sync for Pool {}

static POOL: Pool = Pool {
    bufs: [const { UnsafeCell::new(PageBuf::ZERO) }; BUFFERS],
    busy: [const { AtomicBool::new(false) }; BUFFERS],
};

thread_local! {
    /// Set while this thread runs the handler (for signal-safety tests).
    static IN_HANDLER: Cell<bool> = const { Cell::new(false) };
    /// Heap faults this thread's handler has served.
    static SERVED: Cell<u64> = const { Cell::new(0) };
}

/// How many heap faults the calling thread has served in the SIGBUS
/// handler so far (its own faults, in SIGBUS modes). A benchmark reads it
/// around a load to tell a fault from any other stall.
pub fn faults_served() -> u64 {
    SERVED.with(Cell::get)
}

/// Whether the calling thread is inside the SIGBUS handler (a test hook:
/// a counting allocator checks that the handler never allocates).
pub fn in_handler() -> bool {
    IN_HANDLER.with(Cell::get)
}

/// The handler that was installed before ours.
static PREVIOUS: OnceLock<SigAction> = OnceLock::new();
static INSTALL: Mutex<()> = Mutex::new(());

/// Installs the process-wide SIGBUS handler (once), keeping the previous
/// one for faults that are not ours.
pub fn install() -> Result<(), String> {
    let _guard = INSTALL.lock().map_err(|_| "SIGBUS install lock poisoned")?;
    if PREVIOUS.get().is_some() {
        return Ok(());
    }
    // The handler computes pages, which asks for CPU features.
    crate::cpu::detect();
    let ours = SigAction::new(
        SigHandler::SigAction(on_sigbus),
        SaFlags::SA_SIGINFO | SaFlags::SA_RESTART | SaFlags::SA_NODEFER,
        SigSet::empty(),
    );
    // SAFETY: `on_sigbus` is async-signal-safe (module doc); the previous
    // action is kept and chained for faults outside the heap.
    let previous = unsafe { sigaction(Signal::SIGBUS, &ours) }
        .map_err(|e| format!("installing the SIGBUS handler failed: {e}"))?;
    let _ = PREVIOUS.set(previous);
    Ok(())
}

/// Slots handed out to compactors (a heap in SIGBUS mode owns one).
static RESERVED: [AtomicBool; SLOTS] = [const { AtomicBool::new(false) }; SLOTS];

/// The address ranges (start, length) of the heap owning each slot.
static RANGES: [[(AtomicUsize, AtomicUsize); 2]; SLOTS] =
    [const { [const { (AtomicUsize::new(0), AtomicUsize::new(0)) }; 2] }; SLOTS];

/// Reserves a table slot for one heap whose registered spaces lie in
/// `ranges` (start, length).
pub fn reserve_slot(ranges: [(usize, usize); 2]) -> Result<usize, String> {
    let slot = RESERVED
        .iter()
        .position(|r| {
            r.compare_exchange(false, true, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
        })
        .ok_or_else(|| format!("more than {SLOTS} heaps in SIGBUS mode"))?;
    for (r, (start, len)) in RANGES[slot].iter().zip(ranges) {
        r.0.store(start, Ordering::Release);
        r.1.store(len, Ordering::Release);
    }
    Ok(slot)
}

/// Gives a slot back (its cycle withdrawn, its heap's ranges unregistered).
pub fn release_slot(slot: usize) {
    CYCLES[slot].store(std::ptr::null_mut(), Ordering::Release);
    for r in &RANGES[slot] {
        r.1.store(0, Ordering::Release);
    }
    RESERVED[slot].store(false, Ordering::Release);
}

/// Whether `addr` lies in a space of a heap in SIGBUS mode. Such a SIGBUS
/// with no cycle covering it was raised by a fault that another thread
/// resolved before this handler ran (the cycle ended in between): returning
/// retries the access, which now succeeds.
fn owned(addr: usize) -> bool {
    RANGES.iter().flatten().any(|(start, len)| {
        addr.wrapping_sub(start.load(Ordering::Acquire)) < len.load(Ordering::Acquire)
    })
}

/// Publishes `cycle` to the handler in `slot`. The caller keeps the cycle
/// alive until [`withdraw`] returns.
pub fn publish(slot: usize, cycle: &Cycle) {
    CYCLES[slot].store(cycle as *const Cycle as *mut Cycle, Ordering::Release);
}

/// Withdraws the cycle in `slot` and waits until no handler uses it.
pub fn withdraw(slot: usize) {
    CYCLES[slot].store(std::ptr::null_mut(), Ordering::Release);
    while ACTIVE.load(Ordering::Acquire) != 0 {
        std::thread::yield_now();
    }
}

/// Borrows a pool buffer, spinning (with `sched_yield`) while all are busy.
fn claim_buffer() -> usize {
    loop {
        for (i, busy) in POOL.busy.iter().enumerate() {
            if busy
                .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
            {
                return i;
            }
        }
        std::thread::yield_now();
    }
}

extern "C" fn on_sigbus(sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
    // SAFETY: the kernel passes a valid siginfo to an SA_SIGINFO handler; for
    // SIGBUS `si_addr` is the faulting address.
    let addr = unsafe { (*info).si_addr() } as usize;
    ACTIVE.fetch_add(1, Ordering::AcqRel);
    let handled = CYCLES.iter().any(|slot| {
        let ptr = slot.load(Ordering::Acquire);
        // SAFETY: a published cycle stays alive until `withdraw`, which waits
        // for ACTIVE (incremented above, before this load) to drop to zero.
        match unsafe { ptr.as_ref() } {
            Some(cycle) if cycle.covers(addr) => {
                IN_HANDLER.with(|f| f.set(true));
                let start = Instant::now();
                let i = claim_buffer();
                // SAFETY: buffer `i` is ours until its busy flag is cleared.
                let buf = unsafe { &mut *POOL.bufs[i].get() };
                cycle.resolve(addr, buf);
                POOL.busy[i].store(false, Ordering::Release);
                cycle.faults.record(start.elapsed());
                IN_HANDLER.with(|f| f.set(false));
                SERVED.with(|n| n.set(n.get() + 1));
                true
            }
            _ => false,
        }
    });
    ACTIVE.fetch_sub(1, Ordering::AcqRel);
    if !handled && !owned(addr) {
        chain(sig, info, ctx);
    }
}

/// Passes a SIGBUS that is not a heap fault to the previous handler, or
/// restores the default action (the faulting access then repeats and the
/// process dies as it would have without us).
fn chain(sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
    match PREVIOUS.get().map(SigAction::handler) {
        Some(SigHandler::SigAction(f)) => f(sig, info, ctx),
        Some(SigHandler::Handler(f)) => f(sig),
        Some(SigHandler::SigIgn) => {}
        Some(SigHandler::SigDfl) | None => {
            // SAFETY: resetting a disposition to SIG_DFL is async-signal-safe.
            unsafe { libc::signal(libc::SIGBUS, libc::SIG_DFL) };
        }
    }
}
