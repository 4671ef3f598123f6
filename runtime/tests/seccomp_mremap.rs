//! With `mremap` denied by a seccomp filter, the flip
//! probe at start-up finds it and the concurrent modes fall back to `stw`,
//! saying why; `stw` itself then compacts by copying from-space instead of
//! flipping, so the heap keeps working. The filter is installed in a child
//! process (this test binary again): it cannot be removed.

use runtime::Mode;

#[path = "common/graph_workload.rs"]
mod graph_workload;
use graph_workload::{End, Workload};

#[path = "../../uffd/tests/child/mod.rs"]
mod child;

const CHILD_ENV: &str = "SECCOMP_MREMAP_CHILD";
/// A child still running after this long has hung (it takes seconds).
const CHILD_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(120);

/// `AUDIT_ARCH_X86_64` (linux/audit.h), which the libc crate lacks.
#[cfg(target_arch = "x86_64")]
const AUDIT_ARCH_X86_64: u32 = 0xC000_003E;

/// Installs a filter on the calling thread (and the threads it starts
/// from now on) that fails every `mremap` with `EPERM`.
#[cfg(target_arch = "x86_64")]
fn deny_mremap() -> Result<(), std::io::Error> {
    let stmt = |code: u32, k: u32| libc::sock_filter {
        code: code as u16,
        jt: 0,
        jf: 0,
        k,
    };
    let jump = |k: u32, jt: u8, jf: u8| libc::sock_filter {
        code: (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16,
        jt,
        jf,
        k,
    };
    let load = libc::BPF_LD | libc::BPF_W | libc::BPF_ABS;
    let ret = libc::BPF_RET | libc::BPF_K;
    let mut program = [
        // seccomp_data: nr at offset 0, arch at 4.
        stmt(load, 4),
        jump(AUDIT_ARCH_X86_64, 0, 3),
        stmt(load, 0),
        jump(libc::SYS_mremap as u32, 0, 1),
        stmt(ret, libc::SECCOMP_RET_ERRNO | libc::EPERM as u32),
        stmt(ret, libc::SECCOMP_RET_ALLOW),
    ];
    let prog = libc::sock_fprog {
        len: program.len() as u16,
        filter: program.as_mut_ptr(),
    };
    // SAFETY: prctl with integer arguments; then a filter program that
    // lives on the stack for the call (the kernel copies it).
    unsafe {
        if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        if libc::prctl(
            libc::PR_SET_SECCOMP,
            libc::SECCOMP_MODE_FILTER as libc::c_ulong,
            &prog as *const libc::sock_fprog,
        ) != 0
        {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// The child: denies mremap, then checks every mode.
#[test]
fn seccomp_child() {
    if std::env::var(CHILD_ENV).is_err() {
        return;
    }
    #[cfg(target_arch = "x86_64")]
    {
        if let Err(e) = deny_mremap() {
            println!("SKIP: installing a seccomp filter failed: {e}");
            return;
        }
        // SAFETY: a raw mremap of nothing: the filter answers before the
        // kernel looks at the arguments.
        let ret =
            unsafe { libc::syscall(libc::SYS_mremap, 0usize, 0usize, 0usize, 0usize, 0usize) };
        assert_eq!(
            (ret, std::io::Error::last_os_error().raw_os_error()),
            (-1, Some(libc::EPERM)),
            "the filter denies mremap"
        );
        for mode in Mode::ALL {
            let rt = graph_workload::builder(mode).build().expect("runtime");
            assert_eq!(rt.mode(), Mode::Stw, "{mode} falls back to stw");
            if mode != Mode::Stw {
                let reason = rt.fallback_reason().expect("a reason");
                assert!(
                    reason.contains("flip") && reason.contains("EPERM"),
                    "{mode}: the reason names the flip and the errno: {reason}"
                );
            }
            let w = Workload {
                rounds: 2,
                ..Workload::default()
            };
            assert_eq!(
                graph_workload::run(&rt, w),
                End::Ok,
                "{mode}: the heap works"
            );
            let notes = rt.stats().last_notes.join("\n");
            assert!(
                notes.contains("by copying"),
                "{mode}: stw copies from-space: {notes}"
            );
        }
        println!("SECCOMP OK");
    }
    #[cfg(not(target_arch = "x86_64"))]
    println!("SKIP: the filter is written for x86-64");
}

#[test]
fn with_mremap_denied_by_seccomp_every_mode_runs_stw_and_says_why() {
    if std::env::var(CHILD_ENV).is_ok() {
        return;
    }
    let mut cmd = child::this_test("seccomp_child", false);
    cmd.env(CHILD_ENV, "1");
    let ended = child::run(cmd, CHILD_TIMEOUT);
    if ended.skipped() {
        return;
    }
    assert!(
        ended.status.success() && ended.stdout.contains("SECCOMP OK"),
        "the child failed: {}",
        ended.describe()
    );
}
