//! [`UffdError`]: the failures of the userfaultfd layer, each carrying the
//! errno the kernel gave.

use std::fmt;

use nix::errno::Errno;

use crate::open::OpenFailure;

/// Which userfaultfd operation failed (for messages; `Copy`, so building an
/// error on a fault path allocates nothing).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UffdOp {
    /// `UFFDIO_API`, the feature handshake.
    Api,
    /// `UFFDIO_REGISTER`.
    Register,
    /// `UFFDIO_UNREGISTER`.
    Unregister,
    /// `UFFDIO_COPY`.
    Copy,
    /// `UFFDIO_ZEROPAGE`.
    Zeropage,
    /// `UFFDIO_CONTINUE`.
    Continue,
    /// `UFFDIO_MOVE`.
    Move,
    /// `UFFDIO_WAKE`.
    Wake,
}

impl fmt::Display for UffdOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            UffdOp::Api => "UFFDIO_API",
            UffdOp::Register => "UFFDIO_REGISTER",
            UffdOp::Unregister => "UFFDIO_UNREGISTER",
            UffdOp::Copy => "UFFDIO_COPY",
            UffdOp::Zeropage => "UFFDIO_ZEROPAGE",
            UffdOp::Continue => "UFFDIO_CONTINUE",
            UffdOp::Move => "UFFDIO_MOVE",
            UffdOp::Wake => "UFFDIO_WAKE",
        })
    }
}

/// An error from the userfaultfd layer. Races that are normal outcomes of
/// concurrent page installation (`EEXIST`, `EAGAIN`, `EBUSY`, `ENOENT`) are
/// not errors: see [`crate::InstallOutcome`].
#[derive(Debug, thiserror::Error)]
pub enum UffdError {
    /// Userfaultfd was switched off (`GC_UFFD_DISABLE=1` or an explicit flag).
    #[error("userfaultfd disabled: {reason}")]
    Disabled {
        /// Who switched it off.
        reason: &'static str,
    },
    /// Every way of opening a userfaultfd failed; each attempt is listed with
    /// its errno.
    #[error("no way to open a userfaultfd worked: {}", OpenFailure::list(.attempts))]
    Unavailable {
        /// The attempts, in the order tried.
        attempts: Vec<OpenFailure>,
    },
    /// The kernel does not offer a feature the caller asked for.
    #[error("the kernel does not offer requested userfaultfd features {missing:#x} (offered {offered:#x})")]
    MissingFeatures {
        /// Requested bits the kernel did not offer.
        missing: u64,
        /// Everything the kernel offered.
        offered: u64,
    },
    /// An ioctl failed with an errno that is not a normal race outcome.
    #[error("{op} on [{start:#x}, +{len:#x}) failed: {errno}")]
    Ioctl {
        /// The operation.
        op: UffdOp,
        /// Start address of the range (0 for fd-wide operations).
        start: usize,
        /// Length of the range.
        len: usize,
        /// The kernel's errno.
        errno: Errno,
    },
    /// `poll(2)` on the userfaultfd failed.
    #[error("poll on the userfaultfd failed: {errno}")]
    Poll {
        /// The kernel's errno.
        errno: Errno,
    },
    /// `read(2)` on the userfaultfd failed.
    #[error("reading a userfaultfd event failed: {errno}")]
    Read {
        /// The kernel's errno.
        errno: Errno,
    },
    /// `read(2)` returned a size that is not one `uffd_msg`.
    #[error("short userfaultfd read: {got} bytes, expected {expected}")]
    ShortRead {
        /// Bytes read.
        got: usize,
        /// Size of one `uffd_msg`.
        expected: usize,
    },
    /// An event this layer never asks for (fork, remap, remove, unmap).
    #[error("unexpected userfaultfd event code {code:#x}")]
    UnexpectedEvent {
        /// The `uffd_msg.event` code.
        code: u8,
    },
    /// Setting up a probe mapping (`mmap`, `memfd_create`) failed.
    #[error("{call} failed while probing userfaultfd: {errno}")]
    ProbeSetup {
        /// The system call.
        call: &'static str,
        /// The kernel's errno.
        errno: Errno,
    },
}

impl UffdError {
    /// The errno behind this error, if the kernel gave one.
    pub fn errno(&self) -> Option<Errno> {
        match self {
            UffdError::Ioctl { errno, .. }
            | UffdError::Poll { errno }
            | UffdError::Read { errno }
            | UffdError::ProbeSetup { errno, .. } => Some(*errno),
            UffdError::Unavailable { attempts } => attempts.last().map(|a| a.errno),
            UffdError::Disabled { .. }
            | UffdError::MissingFeatures { .. }
            | UffdError::ShortRead { .. }
            | UffdError::UnexpectedEvent { .. } => None,
        }
    }
}

/// The errno inside an error of the `userfaultfd` crate, converted from its
/// `nix` (0.27) to ours. Its register, unregister, wake and read calls fail
/// only with a system error; the other variants (no errno) map to `EIO`.
/// No allocation: fit for fault paths.
pub(crate) fn crate_errno(err: &userfaultfd::Error) -> Errno {
    match err {
        userfaultfd::Error::SystemError(e)
        | userfaultfd::Error::CopyFailed(e)
        | userfaultfd::Error::ZeropageFailed(e) => Errno::from_raw(*e as i32),
        _ => Errno::EIO,
    }
}
