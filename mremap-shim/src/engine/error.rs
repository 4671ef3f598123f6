//! Errors of the engine: refused before any system call (with the kernel
//! rule and errno the model predicts), outside a reservation, or a system
//! call that failed (errno carried).

use nix::errno::Errno;

use crate::model::{ModelError, Rule};
use crate::sys::{SysError, SysOp};

/// Why an engine call failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EngineError {
    /// The model refused the request in the kernel's order; no system call
    /// was made. Display: "mremap rejected: DONTUNMAP requires old_len ==
    /// new_len (EINVAL)".
    #[error("{op} rejected: {rule}")]
    Rejected {
        /// The system call the request was for.
        op: SysOp,
        /// The errno the kernel would have returned.
        errno: Errno,
        /// The rule that refused it.
        rule: Rule,
    },
    /// `[addr, addr + len)` does not lie inside a live reservation of this
    /// engine (for calls taking a [`Reservation`](super::Reservation): that one).
    #[error("[{addr:#x}, {addr:#x} + {len:#x}) is not inside a live reservation of this engine")]
    OutsideReservation {
        /// Start of the offending range.
        addr: usize,
        /// Its length.
        len: usize,
    },
    /// `reserve` was given an alignment that is not a power of two at least
    /// one page, or a length that overflows once aligned.
    #[error("reservation of {len:#x} bytes aligned to {align:#x}: alignment must be a power of two >= the page size and the aligned length must fit")]
    BadReservation {
        /// Requested length.
        len: usize,
        /// Requested alignment.
        align: usize,
    },
    /// A system call failed (for mremap: one the model had accepted; the
    /// engine's model was resynchronised from `/proc/self/maps`).
    #[error(transparent)]
    Sys(#[from] SysError),
}

impl EngineError {
    /// A model refusal of a request meant for `op`.
    pub fn rejected(op: SysOp, err: ModelError) -> Self {
        EngineError::Rejected {
            op,
            errno: err.errno,
            rule: err.rule,
        }
    }

    /// The errno the kernel returned, or would have returned for a
    /// rejected request; None for engine-level misuse.
    pub fn errno(&self) -> Option<Errno> {
        match self {
            EngineError::Rejected { errno, .. } => Some(*errno),
            EngineError::Sys(e) => Some(e.errno),
            EngineError::OutsideReservation { .. } | EngineError::BadReservation { .. } => None,
        }
    }
}
