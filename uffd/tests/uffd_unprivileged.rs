//! The unprivileged path: a process running as `nobody` (uid/gid 65534, no
//! capabilities; this machine has `vm.unprivileged_userfaultfd = 0` and a
//! root-only `/dev/userfaultfd`) still opens a userfaultfd with
//! `UFFD_USER_MODE_ONLY` and serves a fault.
//!
//! The parent re-executes a copy of this test binary that nobody can reach
//! (`child::nobody`: fork, setgid/setuid to 65534, exec) to run
//! [`unprivileged_child_entry`]; the child reports through its exit code.

mod child;
mod uffd_common;

use std::sync::atomic::AtomicU32;
use std::sync::Arc;

use nix::errno::Errno;
use uffd::{
    InstallOutcome, OpenMethod, OpenOptions, RegisterMode, UffdError, UserFaultFd, PAGE_SIZE,
};
use uffd_common::{filled_page, spawn_reader, Mapping, EVENT_TIMEOUT};

use child::nobody::{self, NOBODY};

const CHILD_ENV: &str = "GC_UFFD_UNPRIVILEGED_CHILD";

/// The child's exit codes, each naming the step that failed.
const CHILD_CODES: &[(i32, &str)] = &[
    (0, "ok"),
    (10, "open failed"),
    (
        11,
        "opened, but not via userfaultfd(2) with UFFD_USER_MODE_ONLY",
    ),
    (12, "register failed"),
    (13, "no fault event arrived"),
    (14, "COPY did not install the page"),
    (15, "the faulting thread read the wrong byte"),
    (16, "the child is not running as nobody"),
    (
        17,
        "the privileged methods did not fail with EACCES/EPERM as nobody",
    ),
];

/// What the unprivileged child checks; returns an exit code from
/// `CHILD_CODES`.
fn child_body() -> i32 {
    if std::env::var_os(CHILD_ENV).is_some() {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != NOBODY {
            return 16;
        }
    }
    if std::env::var_os(CHILD_ENV).is_some() && !privileged_methods_refused() {
        return 17;
    }
    let uffd = match UserFaultFd::open(&OpenOptions::new()) {
        Ok(uffd) => uffd,
        Err(err) => {
            eprintln!("child: {err}");
            return 10;
        }
    };
    for failure in uffd.failed_attempts() {
        eprintln!("child: earlier attempt: {failure}");
    }
    if uffd.method() != OpenMethod::SyscallUserModeOnly {
        return 11;
    }
    let heap = Mapping::anon(1);
    if uffd
        .register(heap.ptr, heap.len, RegisterMode::Missing)
        .is_err()
    {
        return 12;
    }
    let src = filled_page(0x99);
    let reader = spawn_reader(heap.ptr as usize, Arc::new(AtomicU32::new(0)));
    let event = match uffd.read_event(Some(EVENT_TIMEOUT)) {
        Ok(Some(event)) => event,
        _ => {
            drop(uffd);
            let _ = reader.join();
            return 13;
        }
    };
    match uffd.copy(event.address as *mut u8, src.ptr, PAGE_SIZE, true) {
        Ok(InstallOutcome::Installed(_)) => {}
        _ => {
            drop(uffd);
            let _ = reader.join();
            return 14;
        }
    }
    match reader.join() {
        Ok(0x99) => 0,
        _ => 15,
    }
}

/// As nobody (with `vm.unprivileged_userfaultfd = 0` and a root-only
/// device node) the two privileged methods must fail, each with its errno.
fn privileged_methods_refused() -> bool {
    let methods = [OpenMethod::DevUserfaultfd, OpenMethod::Syscall];
    match UserFaultFd::open_with_methods(&OpenOptions::new(), &methods) {
        Err(UffdError::Unavailable { attempts }) => {
            for attempt in &attempts {
                eprintln!("child: as nobody, {attempt}");
            }
            let errnos: Vec<Errno> = attempts.iter().map(|a| a.errno).collect();
            // The device may be absent (ENOENT) on other machines; the plain
            // syscall is refused with EPERM whenever the sysctl is 0.
            let sysctl_off = std::fs::read_to_string("/proc/sys/vm/unprivileged_userfaultfd")
                .is_ok_and(|v| v.trim() == "0");
            attempts.len() == 2
                && matches!(errnos[0], Errno::EACCES | Errno::EPERM | Errno::ENOENT)
                && (!sysctl_off || errnos[1] == Errno::EPERM)
        }
        Ok(uffd) => {
            // A machine where nobody may use these (sysctl = 1, open device
            // node) is not a failure of this layer.
            eprintln!(
                "child: privileged method {} worked as nobody",
                uffd.method()
            );
            true
        }
        Err(err) => {
            eprintln!("child: unexpected error: {err}");
            false
        }
    }
}

#[test]
fn unprivileged_process_opens_user_mode_only_and_serves_a_fault() {
    let features = uffd::UffdFeatures::probe();
    if !features.is_available() {
        eprintln!(
            "SKIP unprivileged: {}",
            features
                .unavailable_reason()
                .unwrap_or("userfaultfd unavailable")
        );
        return;
    }
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        // Already unprivileged: check in this process.
        assert_eq!(child_body(), 0, "unprivileged checks failed in-process");
        return;
    }
    let Some(status) = nobody::run_as_nobody("unprivileged", "unprivileged_child_entry", CHILD_ENV)
    else {
        return;
    };
    child::assert_exit_zero("child as nobody", status, CHILD_CODES);
}

/// The re-executed child's entry (see the module doc); ignored in normal
/// runs. Run directly it performs the same checks in this process.
#[test]
#[ignore = "entry point of the child process spawned by the unprivileged test"]
fn unprivileged_child_entry() {
    let code = child_body();
    if std::env::var_os(CHILD_ENV).is_some() {
        std::process::exit(code);
    }
    assert_eq!(code, 0, "unprivileged checks failed");
}
