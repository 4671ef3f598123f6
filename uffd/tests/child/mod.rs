//! Running one test of this test binary again in a child process: for a
//! test whose outcome is the end of a process (a signal, an exit code), or
//! that needs a process of its own (a seccomp filter, an address-space
//! limit, another user). The child is this binary run with `--exact NAME`
//! and an environment variable naming what it does; its test does nothing
//! without that variable, so a normal run passes it by.
//!
//! Shared by the uffd, gc and runtime tests (gc and runtime include this
//! directory by path): [`nobody`] runs the child as `nobody`, [`limit_address_space`]
//! under `RLIMIT_AS`.

#![allow(dead_code)]

pub mod nobody;

use std::io::Read;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// A command running test `entry` of the binary at `exe` alone, its output
/// not captured by the harness; `ignored` for an entry marked `#[ignore]`.
pub fn test_of(exe: &Path, entry: &str, ignored: bool) -> Command {
    let mut cmd = Command::new(exe);
    cmd.args(["--exact", entry, "--nocapture", "--test-threads=1"]);
    if ignored {
        cmd.arg("--ignored");
    }
    cmd
}

/// [`test_of`] this test binary.
pub fn this_test(entry: &str, ignored: bool) -> Command {
    let exe = std::env::current_exe().expect("path of this test binary");
    test_of(&exe, entry, ignored)
}

/// How a child ended.
pub struct Ended {
    /// Its exit status.
    pub status: ExitStatus,
    /// Whether it outlived its time and was killed.
    pub hung: bool,
    /// What it wrote on stdout.
    pub stdout: String,
    /// What it wrote on stderr.
    pub stderr: String,
}

impl Ended {
    /// The status and both outputs, for a failure message.
    pub fn describe(&self) -> String {
        format!(
            "status {:?}{}\n--- stdout\n{}\n--- stderr\n{}",
            self.status,
            if self.hung { " (hung, killed)" } else { "" },
            self.stdout,
            self.stderr
        )
    }

    /// Whether the child said on stdout that it skipped (a missing kernel
    /// feature); if so, passes its `SKIP ...` line on to stderr.
    pub fn skipped(&self) -> bool {
        let Some(line) = self
            .stdout
            .lines()
            .find_map(|l| l.find("SKIP").map(|at| &l[at..]))
        else {
            return false;
        };
        eprintln!("{line}");
        true
    }

    /// Whether a signal `signal` ended the child.
    pub fn killed_by(&self, signal: i32) -> bool {
        self.status.signal() == Some(signal)
    }
}

/// Runs `cmd` with stdin closed, reading stdout and stderr as they come
/// (a full pipe would block the child); a child still running after
/// `timeout` is killed (`Ended::hung`).
pub fn run(mut cmd: Command, timeout: Duration) -> Ended {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn the child");
    let mut stdout = child.stdout.take().expect("stdout");
    let mut stderr = child.stderr.take().expect("stderr");
    let out = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s);
        s
    });
    let err = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let start = Instant::now();
    let (status, hung) = loop {
        if let Some(status) = child.try_wait().expect("wait for the child") {
            break (status, false);
        }
        if start.elapsed() > timeout {
            let _ = child.kill();
            break (child.wait().expect("wait for the killed child"), true);
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Ended {
        status,
        hung,
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
    }
}

/// Asserts that a child reporting through its exit code exited 0; `codes`
/// names what each other code means.
pub fn assert_exit_zero(what: &str, status: ExitStatus, codes: &[(i32, &str)]) {
    let code = status.code().unwrap_or(-1);
    let meaning = codes
        .iter()
        .find(|(c, _)| *c == code)
        .map_or("killed by a signal or harness failure", |(_, m)| m);
    assert_eq!(code, 0, "{what}: {meaning} (status {status})");
}

/// Sets `RLIMIT_AS` to `limit` bytes in the child, between fork and exec
/// (`setrlimit` binds the whole process, so a test needing the limit runs
/// in a child of its own).
pub fn limit_address_space(cmd: &mut Command, limit: u64) {
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
}

/// Runs the ignored test `entry` of this binary with `env` set and
/// `RLIMIT_AS` at `limit` bytes, and asserts it exits 0 (`codes` names
/// what each other exit code means).
pub fn assert_passes_under_rlimit_as(entry: &str, env: &str, limit: u64, codes: &[(i32, &str)]) {
    let mut cmd = this_test(entry, true);
    cmd.env(env, "1");
    limit_address_space(&mut cmd, limit);
    let status = cmd.status().expect("spawn the child under RLIMIT_AS");
    assert_exit_zero("child under RLIMIT_AS", status, codes);
}
