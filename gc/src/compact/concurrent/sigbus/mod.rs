//! SIGBUS self-service: with `UFFD_FEATURE_SIGBUS`, a thread touching a heap
//! page that is not ready yet gets `SIGBUS`, and this handler computes and
//! installs the page on that thread, then returns so the access retries.
//! No hand-off to a worker thread, no event queue.
//!
//! The handler is async-signal-safe: it allocates nothing, takes no lock,
//! never panics, and saves and restores `errno`. It finds the heap owning
//! the faulting address (each heap in SIGBUS mode reserves a slot with its
//! address ranges), the cycle published in that slot (`table`: the
//! protocol that lets the collector free a cycle once no handler uses it),
//! borrows a page buffer from a static pool (claimed with a
//! compare-and-swap, prepared in advance), and runs the same per-page state
//! machine as the collector ([`CycleInFlight::resolve`]: claim and compute, or wait
//! for the claimer). It is installed with `SA_ONSTACK` (it runs on the
//! thread's alternate signal stack where there is one) and `SA_NODEFER`.
//!
//! What is not a heap fault (a `SIGBUS` sent with `kill`, a fault outside
//! every heap) gets the effect it would have had without the runtime, and
//! the handler stays installed (`chain`).
//!
//! A heap fault the handler cannot resolve ends the process: userfaultfd
//! raises `SIGBUS` for a page only while a cycle has it registered and not
//! installed, so a `SIGBUS` inside a heap with no cycle covering the page,
//! or on a page that is installed, was raised by something else (the
//! non-moving space's file truncated, a range unmapped from outside). One
//! such fault can be a race (the cycle ended, or another thread installed
//! the page, between the fault and the handler's look): it is retried. The
//! same page faulting again on the same thread under the same publication
//! of its slot cannot be: the handler writes what happened (address and
//! reason) to stderr and the process dies by `SIGBUS`, as the default
//! action would have killed it.
//!
//! A thread must not block `SIGBUS` while it may touch a heap in SIGBUS
//! mode (a blocked synchronous signal kills the process):
//! [`unblock_on_this_thread`] is for registering mutators.

mod chain;
mod table;

use std::cell::{Cell, UnsafeCell};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Instant;

use nix::errno::Errno;
use parking_lot::Mutex;

use super::in_flight::{CycleInFlight, PageBuf};
use crate::units::PAGE_SIZE;
use table::Table;

/// The atomics [`table`] is written against (`gc/tests/sigbus_table_loom.rs`
/// compiles it against `loom`'s instead).
mod sync {
    pub(super) use std::sync::atomic::{fence, AtomicPtr, AtomicUsize, Ordering};
    pub(super) use std::thread::yield_now;
}

/// Cycles (of different heaps) that may be in flight at once.
const SLOTS: usize = 16;
/// Page buffers for handlers running at the same time.
const BUFFERS: usize = 64;

/// The cycle in flight of each heap in SIGBUS mode, by slot.
static CYCLES: Table<CycleInFlight, SLOTS> = Table {
    slots: [const { std::sync::atomic::AtomicPtr::new(std::ptr::null_mut()) }; SLOTS],
    active: AtomicUsize::new(0),
};

/// Publications per slot: a fault repeating on one page under the same
/// publication is one the handler cannot resolve.
static EPOCHS: [AtomicUsize; SLOTS] = [const { AtomicUsize::new(0) }; SLOTS];

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
    /// Set while this thread runs the handler (for signal-safety tests, and
    /// so that the fault path knows not to sleep).
    static IN_HANDLER: Cell<bool> = const { Cell::new(false) };
    /// Heap faults this thread's handler has served.
    static SERVED: Cell<u64> = const { Cell::new(0) };
    /// The last heap fault this thread's handler returned from: its page
    /// and the publication of its slot then.
    static LAST: Cell<(usize, usize)> = const { Cell::new((usize::MAX, 0)) };
}

/// How many heap faults the calling thread has served in the SIGBUS
/// handler so far (its own faults, in SIGBUS modes). A benchmark reads it
/// around a load to tell a fault from any other stall.
pub fn faults_served() -> u64 {
    SERVED.with(Cell::get)
}

/// Whether the calling thread is inside the SIGBUS handler (a test hook:
/// a counting allocator checks that the handler never allocates; and the
/// fault path retries without sleeping there).
pub fn in_handler() -> bool {
    IN_HANDLER.with(Cell::get)
}

/// Why the SIGBUS handler could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum SigbusError {
    /// `sigaction(SIGBUS)` failed.
    #[error("installing the SIGBUS handler failed: sigaction: {0}")]
    Install(#[source] Errno),
    /// Every slot of the handler's table is taken.
    #[error("at most {0} heaps can serve faults by SIGBUS at once")]
    TableFull(usize),
    /// `pthread_sigmask` failed unblocking `SIGBUS` on a mutator thread.
    #[error("making SIGBUS deliverable on this thread failed: pthread_sigmask: {0}")]
    Unblock(#[source] Errno),
}

static INSTALL: Mutex<()> = Mutex::new(());

/// The address of the runtime's handler, as `sigaction` reports it.
fn handler_address() -> libc::sighandler_t {
    on_sigbus as extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void)
        as libc::sighandler_t
}

/// The runtime's action: `SA_SIGINFO` for the address, `SA_ONSTACK` so it
/// runs on an alternate signal stack where the thread has one, `SA_NODEFER`
/// so a `SIGBUS` in a chained handler is delivered, `SA_RESTART`.
fn our_action() -> libc::sigaction {
    // SAFETY: a zeroed sigaction is a valid value; the mask is then emptied.
    let mut action: libc::sigaction = unsafe { std::mem::zeroed() };
    action.sa_sigaction = handler_address();
    action.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK | libc::SA_NODEFER | libc::SA_RESTART;
    // SAFETY: a valid set.
    unsafe { libc::sigemptyset(&mut action.sa_mask) };
    action
}

/// Puts the runtime's handler back after a chained handler changed the
/// disposition ([`chain`]). Async-signal-safe.
fn reinstall() {
    let ours = our_action();
    // SAFETY: sigaction is async-signal-safe; `on_sigbus` is the handler
    // `install` installed.
    unsafe { libc::sigaction(libc::SIGBUS, &ours, std::ptr::null_mut()) };
}

/// Installs the process-wide SIGBUS handler (once), keeping the previous
/// disposition for signals that are not heap faults.
pub fn install() -> Result<(), SigbusError> {
    let _guard = INSTALL.lock();
    if chain::recorded() {
        return Ok(());
    }
    // The handler computes pages, which asks for CPU features.
    crate::cpu::detect();
    // SAFETY: querying the disposition (null new action) changes nothing.
    let previous = unsafe {
        let mut previous: libc::sigaction = std::mem::zeroed();
        if libc::sigaction(libc::SIGBUS, std::ptr::null(), &mut previous) != 0 {
            return Err(SigbusError::Install(Errno::last()));
        }
        previous
    };
    chain::record_previous(previous);
    let ours = our_action();
    // SAFETY: `on_sigbus` is async-signal-safe (module doc); the previous
    // disposition is recorded above for signals that are not heap faults.
    if unsafe { libc::sigaction(libc::SIGBUS, &ours, std::ptr::null_mut()) } != 0 {
        return Err(SigbusError::Install(Errno::last()));
    }
    Ok(())
}

/// Makes `SIGBUS` deliverable on the calling thread (unblocks it in the
/// thread's signal mask); returns whether it was blocked. A thread touching
/// a heap whose faults raise `SIGBUS` must not block it: the kernel does
/// not queue a blocked synchronous signal but kills the process with it.
pub fn unblock_on_this_thread() -> Result<bool, SigbusError> {
    let mut set = nix::sys::signal::SigSet::empty();
    set.add(nix::sys::signal::Signal::SIGBUS);
    let mut old = nix::sys::signal::SigSet::empty();
    nix::sys::signal::pthread_sigmask(
        nix::sys::signal::SigmaskHow::SIG_UNBLOCK,
        Some(&set),
        Some(&mut old),
    )
    .map_err(SigbusError::Unblock)?;
    Ok(old.contains(nix::sys::signal::Signal::SIGBUS))
}

/// Slots handed out to compactors (a heap in SIGBUS mode owns one).
static RESERVED: [AtomicBool; SLOTS] = [const { AtomicBool::new(false) }; SLOTS];

/// The address ranges (start, length) of the heap owning each slot.
static RANGES: [[(AtomicUsize, AtomicUsize); 2]; SLOTS] =
    [const { [const { (AtomicUsize::new(0), AtomicUsize::new(0)) }; 2] }; SLOTS];

/// Reserves a table slot for one heap whose registered spaces lie in
/// `ranges` (start, length).
pub fn reserve_slot(ranges: [(usize, usize); 2]) -> Result<usize, SigbusError> {
    let slot = RESERVED
        .iter()
        .position(|r| {
            r.compare_exchange(false, true, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
        })
        .ok_or(SigbusError::TableFull(SLOTS))?;
    for (r, (start, len)) in RANGES[slot].iter().zip(ranges) {
        r.0.store(start, Ordering::Release);
        r.1.store(len, Ordering::Release);
    }
    Ok(slot)
}

/// Gives a slot back (its cycle withdrawn, its heap's ranges unregistered).
pub fn release_slot(slot: usize) {
    CYCLES.withdraw(slot);
    for r in &RANGES[slot] {
        r.1.store(0, Ordering::Release);
    }
    RESERVED[slot].store(false, Ordering::Release);
}

/// The slot of the heap in SIGBUS mode whose spaces hold `addr`.
fn owner(addr: usize) -> Option<usize> {
    RANGES.iter().position(|ranges| {
        ranges.iter().any(|(start, len)| {
            addr.wrapping_sub(start.load(Ordering::Acquire)) < len.load(Ordering::Acquire)
        })
    })
}

/// Publishes `cycle` to the handler in `slot`. The caller keeps the cycle
/// alive until [`withdraw`] returns.
pub fn publish(slot: usize, cycle: &CycleInFlight) {
    EPOCHS[slot].fetch_add(1, Ordering::Release);
    CYCLES.publish(slot, cycle);
}

/// Withdraws the cycle in `slot` and waits until no handler uses it.
pub fn withdraw(slot: usize) {
    CYCLES.withdraw(slot);
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
    let errno = Errno::last_raw();
    // SAFETY: the kernel passes a valid siginfo to an SA_SIGINFO handler;
    // for a SIGBUS fault `si_addr` is the faulting address (for a signal
    // sent by a process it is not, and `si_code` says so).
    let (code, addr) = unsafe { ((*info).si_code, (*info).si_addr() as usize) };
    // Userfaultfd raises BUS_ADRERR; anything else is not a heap fault.
    match (code == libc::BUS_ADRERR).then(|| owner(addr)).flatten() {
        Some(slot) => serve(slot, addr),
        None => chain::forward(sig, info, ctx),
    }
    Errno::set_raw(errno);
}

/// Serves a fault at `addr` in the heap owning `slot`, or ends the process
/// if it cannot be resolved (module doc).
fn serve(slot: usize, addr: usize) {
    let page = addr & !(PAGE_SIZE - 1);
    let epoch = EPOCHS[slot].load(Ordering::Acquire);
    let repeated = LAST.with(|last| last.replace((page, epoch))) == (page, epoch);
    let entered = CYCLES.enter();
    match entered.get(slot).filter(|cycle| cycle.covers(addr)) {
        Some(_) if repeated => {
            unresolvable(addr, "the page is installed, yet the access faults again")
        }
        Some(cycle) => {
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
        }
        // A cycle ended between the fault and this look: the page is
        // installed, and the retried access succeeds.
        None if !repeated => {}
        None => unresolvable(addr, "no compaction in flight covers the page"),
    }
}

/// Ends the process for a heap fault userfaultfd did not raise: writes the
/// address and `reason`, then dies by `SIGBUS` as the default action would.
#[cold]
fn unresolvable(addr: usize, reason: &str) -> ! {
    crate::fatal::Message::fatal(format_args!(
        "SIGBUS at {addr:#x} in the heap that userfaultfd did not raise: {reason} \
         (was the heap's memory truncated or unmapped from outside?); \
         ending the process by SIGBUS"
    ))
    .write_to_stderr();
    chain::die_by_default(libc::SIGBUS)
}
