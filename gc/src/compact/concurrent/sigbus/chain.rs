//! A `SIGBUS` the heap did not cause gets the effect it would have had
//! without the runtime; the runtime's handler stays installed.
//!
//! The disposition found when the handler was installed decides:
//!
//! - `SIG_DFL`: the default action, the process dies by `SIGBUS`.
//! - `SIG_IGN`: ignored, except a fault (`si_code > 0`, other than an
//!   action-optional machine check): the kernel never lets a synchronous
//!   fault be ignored and kills the process, so that is what happens.
//! - a handler: called as the kernel would call it (its `sa_mask` blocked,
//!   and `SIGBUS` too unless it was installed with `SA_NODEFER`). A handler
//!   may then reset the disposition: Rust's standard library installs one
//!   for stack overflows that, for any `SIGBUS` that is not a guard-page
//!   hit, sets `SIG_DFL` and returns, so that the retried access (or the
//!   next `SIGBUS`) takes the default action; `SA_RESETHAND` does the same
//!   before the first call. Letting that reset stand would kill the process
//!   at its next heap fault, so the runtime's handler is put back at once
//!   and remembers instead that the chained disposition is now `SIG_DFL`
//!   (or `SIG_IGN`): the next `SIGBUS` that is not the heap's gets that.
//!   So with std's handler in front, a `kill -BUS` is survived once (std
//!   swallows it) and the second one kills, exactly as without the runtime;
//!   a real fault outside the heap faults again when retried and dies.
//!   A handler that installs some other handler in its place is still the
//!   one called (the runtime keeps the disposition it found).
//!
//! Between the chained handler's reset and the re-installation (a few
//! instructions) a heap fault on another thread would take the default
//! action; only a stray `SIGBUS` opens that window.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::OnceLock;

/// The disposition found at installation.
static PREVIOUS: OnceLock<libc::sigaction> = OnceLock::new();

/// Chain to [`PREVIOUS`].
const TO_PREVIOUS: u8 = 0;
/// The chained handler reset the disposition to `SIG_DFL`.
const TO_DEFAULT: u8 = 1;
/// The chained handler set the disposition to `SIG_IGN`.
const TO_IGNORE: u8 = 2;
/// Where a `SIGBUS` that is not the heap's goes now.
static CHAINED: AtomicU8 = AtomicU8::new(TO_PREVIOUS);

/// Records the disposition the runtime's handler replaces (before
/// installing it, so a signal arriving in between finds it).
pub(super) fn record_previous(previous: libc::sigaction) {
    let _ = PREVIOUS.set(previous);
}

/// Whether [`record_previous`] ran (the handler is installed or about to be).
pub(super) fn recorded() -> bool {
    PREVIOUS.get().is_some()
}

/// Whether a `SIGBUS` with `si_code` `code` is a synchronous fault, which
/// the kernel delivers even when ignored or blocked (by resetting the
/// disposition to the default: the process dies).
fn forced(code: libc::c_int) -> bool {
    code > 0 && code != libc::BUS_MCEERR_AO
}

/// Gives a `SIGBUS` that is not a heap fault the effect it would have had
/// without the runtime (module doc). Async-signal-safe.
pub(super) fn forward(sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
    // SAFETY: the kernel passes a valid siginfo to an SA_SIGINFO handler.
    let code = unsafe { (*info).si_code };
    let Some(previous) = PREVIOUS.get() else {
        die_by_default(sig)
    };
    match (CHAINED.load(Ordering::Acquire), previous.sa_sigaction) {
        (TO_DEFAULT, _) | (TO_PREVIOUS, libc::SIG_DFL) => die_by_default(sig),
        (TO_IGNORE, _) | (TO_PREVIOUS, libc::SIG_IGN) => {
            if forced(code) {
                die_by_default(sig)
            }
        }
        (_, handler) => call(previous, handler, sig, info, ctx),
    }
}

/// The `sa_sigaction` of an `SA_SIGINFO` handler.
type InfoHandler = extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void);
/// The `sa_handler` of a plain handler.
type PlainHandler = extern "C" fn(libc::c_int);

/// Calls the previous handler `handler` (its action `previous`) as the
/// kernel would, then undoes any change it made to the disposition.
fn call(
    previous: &libc::sigaction,
    handler: libc::sighandler_t,
    sig: libc::c_int,
    info: *mut libc::siginfo_t,
    ctx: *mut libc::c_void,
) {
    let mut mask = previous.sa_mask;
    let mut old: libc::sigset_t = empty_sigset();
    // SAFETY: sigaddset and pthread_sigmask on valid sets; both are
    // async-signal-safe.
    unsafe {
        if previous.sa_flags & libc::SA_NODEFER == 0 {
            libc::sigaddset(&mut mask, sig);
        }
        libc::pthread_sigmask(libc::SIG_BLOCK, &mask, &mut old);
    }
    if previous.sa_flags & libc::SA_SIGINFO != 0 {
        // SAFETY: an SA_SIGINFO action's handler has this signature; the
        // arguments are the ones the kernel gave us.
        let f: InfoHandler =
            unsafe { std::mem::transmute::<libc::sighandler_t, InfoHandler>(handler) };
        f(sig, info, ctx);
    } else {
        // SAFETY: an action without SA_SIGINFO has a one-argument handler.
        let f: PlainHandler =
            unsafe { std::mem::transmute::<libc::sighandler_t, PlainHandler>(handler) };
        f(sig);
    }
    // SAFETY: restores the mask saved above.
    unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut()) };
    if previous.sa_flags & libc::SA_RESETHAND as libc::c_int != 0 {
        CHAINED.store(TO_DEFAULT, Ordering::Release);
    }
    let now = current();
    if now.sa_sigaction != super::handler_address() {
        match now.sa_sigaction {
            libc::SIG_DFL => CHAINED.store(TO_DEFAULT, Ordering::Release),
            libc::SIG_IGN => CHAINED.store(TO_IGNORE, Ordering::Release),
            _ => {}
        }
        super::reinstall();
    }
}

/// An empty signal set.
fn empty_sigset() -> libc::sigset_t {
    // SAFETY: sigset_t is a plain bit array; all zeroes is a valid value,
    // made empty by sigemptyset.
    let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: a valid set.
    unsafe { libc::sigemptyset(&mut set) };
    set
}

/// The current `SIGBUS` disposition.
fn current() -> libc::sigaction {
    // SAFETY: a zeroed sigaction is a valid out-parameter; querying with a
    // null new action changes nothing. Async-signal-safe.
    unsafe {
        let mut now: libc::sigaction = std::mem::zeroed();
        libc::sigaction(libc::SIGBUS, std::ptr::null(), &mut now);
        now
    }
}

/// Ends the process with `sig`'s default action (for `SIGBUS`: terminate
/// with a core dump), as the kernel would have without the runtime. The
/// disposition is reset, the signal unblocked on this thread and raised;
/// `abort` if that somehow returns. Async-signal-safe.
pub(super) fn die_by_default(sig: libc::c_int) -> ! {
    // SAFETY: sigaction, pthread_sigmask and raise are async-signal-safe;
    // the actions and sets are valid.
    unsafe {
        let mut dfl: libc::sigaction = std::mem::zeroed();
        dfl.sa_sigaction = libc::SIG_DFL;
        libc::sigemptyset(&mut dfl.sa_mask);
        libc::sigaction(sig, &dfl, std::ptr::null_mut());
        let mut set = empty_sigset();
        libc::sigaddset(&mut set, sig);
        libc::pthread_sigmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
        libc::raise(sig);
    }
    std::process::abort()
}
