//! SIGBUS mode: a thread touching a registered missing page gets `SIGBUS`,
//! and a handler resolves the fault itself with COPY and returns, so the
//! access retries and succeeds (the mutator self-service mode). Its own test
//! binary, because a signal handler is process-wide.

mod uffd_common;

use std::ptr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::Duration;

use uffd::{InstallOutcome, OpenOptions, RegisterMode, UserFaultFd, PAGE_SIZE};
use uffd_common::{filled_page, probe_or_skip, Mapping};

/// The SIGBUS-mode fd, for the handler.
static UFFD: OnceLock<UserFaultFd> = OnceLock::new();
/// Address of the page the handler copies from.
static SOURCE: AtomicUsize = AtomicUsize::new(0);
/// Faults the handler resolved.
static RESOLVED: AtomicUsize = AtomicUsize::new(0);

/// Resolves a userfaultfd SIGBUS by installing `SOURCE` at the faulting
/// page. Only async-signal-safe work: atomics and one ioctl.
extern "C" fn on_sigbus(_sig: libc::c_int, info: *mut libc::siginfo_t, _ctx: *mut libc::c_void) {
    // SAFETY: the kernel passes a valid siginfo for an SA_SIGINFO handler;
    // for SIGBUS si_addr is the faulting address.
    let addr = unsafe { (*info).si_addr() } as usize;
    let page = addr & !(PAGE_SIZE - 1);
    let src = SOURCE.load(Ordering::Acquire);
    let resolved = match UFFD.get() {
        Some(uffd) if src != 0 => matches!(
            uffd.copy(page as *mut u8, src as *const u8, PAGE_SIZE, true),
            Ok(InstallOutcome::Installed(_) | InstallOutcome::AlreadyMapped)
        ),
        _ => false,
    };
    if resolved {
        RESOLVED.fetch_add(1, Ordering::SeqCst);
    } else {
        // Not ours: restore the default action so the retried access kills
        // the process with a real SIGBUS instead of looping.
        // SAFETY: signal() with SIG_DFL is async-signal-safe.
        unsafe { libc::signal(libc::SIGBUS, libc::SIG_DFL) };
    }
}

/// The `sa_sigaction` signature.
type SigactionHandler = extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void);

fn install_handler() {
    // SAFETY: a zeroed sigaction is a valid starting point; we set the
    // handler, SA_SIGINFO and an empty mask before installing it.
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        let handler: SigactionHandler = on_sigbus;
        action.sa_sigaction = handler as usize;
        action.sa_flags = libc::SA_SIGINFO;
        libc::sigemptyset(&mut action.sa_mask);
        assert_eq!(libc::sigaction(libc::SIGBUS, &action, ptr::null_mut()), 0);
    }
}

#[test]
fn sigbus_handler_resolves_a_missing_page_with_copy() {
    let Some(_) = probe_or_skip(
        "sigbus_handler_resolves",
        |f| f.sigbus,
        "UFFD_FEATURE_SIGBUS",
    ) else {
        return;
    };
    let uffd = uffd_common::open(OpenOptions::new().sigbus(true));
    assert!(uffd.is_sigbus());
    let uffd = UFFD.get_or_init(|| uffd);
    // Leaked on purpose: the handler may read them until the process exits.
    let heap = Box::leak(Box::new(Mapping::anon(3)));
    let src = Box::leak(Box::new(filled_page(0x6b)));
    uffd.register(heap.ptr, heap.len, RegisterMode::Missing)
        .expect("register");
    SOURCE.store(src.ptr as usize, Ordering::Release);
    install_handler();

    // Two touches on two pages: each raises SIGBUS once, the handler maps
    // the page, the access is retried and reads the copied data.
    // SAFETY: registered pages of our mapping; the handler makes them
    // present before the retried load completes.
    let (a, b) = unsafe {
        (
            ptr::read_volatile(heap.page(0).add(10)),
            ptr::read_volatile(heap.page(2)),
        )
    };
    assert_eq!((a, b), (0x6b, 0x6b));
    assert_eq!(
        RESOLVED.load(Ordering::SeqCst),
        2,
        "one SIGBUS per missing page"
    );
    // A mapped page does not fault again.
    // SAFETY: mapped above.
    let _ = unsafe { ptr::read_volatile(heap.page(0)) };
    assert_eq!(RESOLVED.load(Ordering::SeqCst), 2);
    // SIGBUS mode queues no events.
    let event = uffd
        .read_event(Some(Duration::from_millis(1)))
        .expect("read_event");
    assert_eq!(event, None);
}
