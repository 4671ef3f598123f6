//! Errors of the real backend: the failing call and the errno, typed.

use nix::errno::Errno;

/// Which system call (or step) failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SysOp {
    /// `mmap(2)`.
    Mmap,
    /// `mremap(2)`.
    Mremap,
    /// `munmap(2)`.
    Munmap,
    /// `mprotect(2)`.
    Mprotect,
    /// `madvise(2)`.
    Madvise,
    /// `mincore(2)`.
    Mincore,
    /// `memfd_create(2)`.
    MemfdCreate,
    /// `ftruncate(2)` sizing a memfd.
    Ftruncate,
    /// `fcntl(F_ADD_SEALS)` sealing a memfd.
    Seal,
    /// `fstat(2)`.
    Fstat,
    /// Reading `/proc/self/maps`.
    ReadMaps,
}

impl std::fmt::Display for SysOp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = match self {
            SysOp::Mmap => "mmap",
            SysOp::Mremap => "mremap",
            SysOp::Munmap => "munmap",
            SysOp::Mprotect => "mprotect",
            SysOp::Madvise => "madvise",
            SysOp::Mincore => "mincore",
            SysOp::MemfdCreate => "memfd_create",
            SysOp::Ftruncate => "ftruncate",
            SysOp::Seal => "fcntl(F_ADD_SEALS)",
            SysOp::Fstat => "fstat",
            SysOp::ReadMaps => "reading /proc/self/maps",
        };
        f.write_str(name)
    }
}

/// A failed system call: which one, and the errno the kernel returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
// nix's Errno prints as "ENOMEM: Out of memory" already.
#[error("{op} failed: {errno}")]
pub struct SysError {
    /// The call that failed.
    pub op: SysOp,
    /// The kernel's errno.
    pub errno: Errno,
}

impl SysError {
    /// A failure of `op` with `errno`.
    pub fn new(op: SysOp, errno: Errno) -> Self {
        SysError { op, errno }
    }

    /// A failure of `op` from an `io::Error` (EIO when it carries no errno).
    pub fn from_io(op: SysOp, err: &std::io::Error) -> Self {
        let errno = err.raw_os_error().map_or(Errno::EIO, Errno::from_raw);
        SysError { op, errno }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_call_and_errno() {
        let e = SysError::new(SysOp::Mremap, Errno::EFAULT);
        assert!(e.to_string().starts_with("mremap failed: EFAULT"), "{e}");
    }

    #[test]
    fn io_error_keeps_its_errno() {
        let io = std::io::Error::from_raw_os_error(libc::ENOMEM);
        assert_eq!(SysError::from_io(SysOp::Mmap, &io).errno, Errno::ENOMEM);
    }
}
