//! Re-executing this test binary under an address-space limit
//! (`RLIMIT_AS`): `setrlimit` binds the whole process, so the parent runs
//! one ignored test of its own binary in a child with the limit set
//! between fork and exec; the child reports through its exit code. Shared
//! by the gc and runtime address-space tests (the runtime includes this
//! file by path).

use std::os::unix::process::CommandExt;
use std::process::Command;

/// Runs the ignored test `entry` of this binary with `env` set and
/// `RLIMIT_AS` at `limit` bytes, and asserts it exits 0; `codes` names what
/// each other exit code means.
pub fn assert_child_passes(entry: &str, env: &str, limit: u64, codes: &[(i32, &str)]) {
    let exe = std::env::current_exe().expect("path of this test binary");
    let mut cmd = Command::new(exe);
    cmd.args([
        "--exact",
        entry,
        "--ignored",
        "--nocapture",
        "--test-threads",
        "1",
    ])
    .env(env, "1");
    // SAFETY: the closure runs between fork and exec and calls only
    // setrlimit, which is async-signal-safe.
    unsafe {
        cmd.pre_exec(move || {
            let limit = libc::rlimit {
                rlim_cur: limit,
                rlim_max: limit,
            };
            if libc::setrlimit(libc::RLIMIT_AS, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let status = cmd.status().expect("spawn the child under RLIMIT_AS");
    let code = status.code().unwrap_or(-1);
    let meaning = codes
        .iter()
        .find(|(c, _)| *c == code)
        .map_or("killed by a signal or harness failure", |(_, m)| m);
    assert_eq!(
        code, 0,
        "child under RLIMIT_AS: {meaning} (status {status})"
    );
}
