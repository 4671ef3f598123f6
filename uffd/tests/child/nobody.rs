//! Re-executing this test binary as `nobody` (uid/gid 65534), from any
//! checkout: the binary is copied into a fresh directory `nobody` can
//! reach (mode 0755 under the temporary directory), because the checkout
//! itself may not be (a clone under root's 0700 home).

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};

/// The uid and gid of `nobody`.
pub const NOBODY: u32 = 65534;

/// A copy of the running test binary that `nobody` can execute; the copy
/// and its directory are removed on drop.
pub struct NobodyCopy {
    dir: PathBuf,
    exe: PathBuf,
}

impl NobodyCopy {
    /// Copies the running test binary. `Err` says why `nobody` could not
    /// run it (the test then skips with that reason).
    pub fn new() -> Result<NobodyCopy, String> {
        let exe = std::env::current_exe().map_err(|e| format!("path of this test binary: {e}"))?;
        let tmp = std::env::temp_dir();
        if let Some(closed) = first_closed_ancestor(&tmp) {
            return Err(format!(
                "{} is not searchable by other users, so nobody cannot reach a copy of the \
                 test binary under {} (set TMPDIR to a directory it can reach)",
                closed.display(),
                tmp.display()
            ));
        }
        let dir = tmp.join(format!(
            "gc-nobody-exec-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let copy = |dir: &Path| -> std::io::Result<PathBuf> {
            std::fs::create_dir_all(dir)?;
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755))?;
            let name = exe.file_name().unwrap_or(std::ffi::OsStr::new("test"));
            let target = dir.join(name);
            std::fs::copy(&exe, &target)?;
            std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o755))?;
            Ok(target)
        };
        match copy(&dir) {
            Ok(exe) => Ok(NobodyCopy { dir, exe }),
            Err(e) => {
                let _ = std::fs::remove_dir_all(&dir);
                Err(format!(
                    "copying the test binary to {} for nobody failed: {e}",
                    dir.display()
                ))
            }
        }
    }

    /// A command running test `entry` (an ignored one) of the copy as
    /// `nobody`, from `/`.
    pub fn ignored_test(&self, entry: &str) -> Command {
        let mut cmd = super::test_of(&self.exe, entry, true);
        cmd.current_dir("/").gid(NOBODY).uid(NOBODY);
        cmd
    }

    /// Where the copy is.
    pub fn path(&self) -> &Path {
        &self.exe
    }
}

/// Runs the ignored test `entry` of this binary as `nobody` with `env`
/// set to `1`, from a copy nobody can execute (the checkout may be private,
/// under root's 0700 home). `None`, after printing `SKIP {what}: <reason>`,
/// when no such copy could be made.
pub fn run_as_nobody(what: &str, entry: &str, env: &str) -> Option<ExitStatus> {
    let copy = match NobodyCopy::new() {
        Ok(copy) => copy,
        Err(reason) => {
            eprintln!("SKIP {what}: {reason}");
            return None;
        }
    };
    let status = copy
        .ignored_test(entry)
        .env(env, "1")
        .status()
        .unwrap_or_else(|e| panic!("spawn {} as nobody: {e}", copy.path().display()));
    Some(status)
}

impl Drop for NobodyCopy {
    fn drop(&mut self) {
        // Best effort: a leftover copy in the temporary directory is harmless.
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The first of `dir` and its ancestors that other users cannot search
/// (no `o+x`), if any.
fn first_closed_ancestor(dir: &Path) -> Option<PathBuf> {
    let dir = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
    dir.ancestors()
        .find(|d| std::fs::metadata(d).map_or(true, |m| m.permissions().mode() & 0o001 == 0))
        .map(Path::to_path_buf)
}
