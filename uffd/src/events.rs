//! Reading fault events: [`FaultEvent`] and [`UserFaultFd::read_event`].
//!
//! A read is `poll(2)` with a timeout, then the `userfaultfd` crate's
//! `Uffd::read_event`: one `read(2)` of one `uffd_msg` into a buffer on its
//! stack, decoded without allocating (its `Event` holds addresses and ids;
//! only a fork event would own something, an fd, never requested here). No
//! allocation and no locks, so fault workers may read while a mutator holds
//! any lock. The timeout lets a worker thread notice a shutdown request
//! between events; several workers may read one (non-blocking) fd, each
//! event going to exactly one of them.

use std::mem::size_of;
use std::time::Duration;

use nix::errno::Errno;
use userfaultfd::{Event, ReadWrite};
use userfaultfd_sys as sys;

use crate::error::{crate_errno, UffdError};
use crate::open::UserFaultFd;

/// Why a page fault was reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultKind {
    /// The page is missing (registered with `RegisterMode::Missing`).
    Missing,
    /// The page is in the page cache but not mapped here
    /// (`RegisterMode::Minor`): resolve with CONTINUE.
    Minor,
    /// A write-protect fault (never registered by this layer; reported for
    /// completeness).
    WriteProtect,
}

/// One page fault, as a worker needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FaultEvent {
    /// The faulting address, rounded down to its page (this layer never asks
    /// for `UFFD_FEATURE_EXACT_ADDRESS`).
    pub address: usize,
    /// Why it faulted.
    pub kind: FaultKind,
    /// Whether the access was a write.
    pub write: bool,
    /// The faulting thread's id, when the fd has `UFFD_FEATURE_THREAD_ID`.
    pub thread_id: Option<u32>,
}

impl FaultEvent {
    /// A page-fault event from the `userfaultfd` crate's decoded fields;
    /// `ptid` counts only when the fd has `UFFD_FEATURE_THREAD_ID`.
    fn from_pagefault(
        kind: userfaultfd::FaultKind,
        rw: ReadWrite,
        address: usize,
        ptid: i32,
        with_thread_id: bool,
    ) -> FaultEvent {
        FaultEvent {
            address,
            kind: match kind {
                userfaultfd::FaultKind::Missing => FaultKind::Missing,
                userfaultfd::FaultKind::Minor => FaultKind::Minor,
                userfaultfd::FaultKind::WriteProtected => FaultKind::WriteProtect,
            },
            write: rw == ReadWrite::Write,
            // A thread id is positive; the kernel's field is a u32.
            thread_id: with_thread_id.then_some(ptid as u32),
        }
    }

    /// Decodes an event of the `userfaultfd` crate: `Ok` for a page fault,
    /// the `uffd_msg.event` code of anything else.
    fn from_event(event: Event, with_thread_id: bool) -> Result<FaultEvent, u8> {
        match event {
            Event::Pagefault {
                kind,
                rw,
                addr,
                thread_id,
            } => Ok(Self::from_pagefault(
                kind,
                rw,
                addr as usize,
                thread_id.as_raw(),
                with_thread_id,
            )),
            // Dropping the child's `Uffd` closes the fd the kernel made.
            Event::Fork { .. } => Err(sys::UFFD_EVENT_FORK),
            Event::Remap { .. } => Err(sys::UFFD_EVENT_REMAP),
            Event::Remove { .. } => Err(sys::UFFD_EVENT_REMOVE),
            Event::Unmap { .. } => Err(sys::UFFD_EVENT_UNMAP),
        }
    }
}

impl UserFaultFd {
    /// Waits up to `timeout` (`None`: forever) for one fault event and
    /// returns it; `Ok(None)` when the timeout passed, a signal interrupted
    /// the wait, or another reader took the event first (non-blocking fd).
    ///
    /// No allocation and no locks after the fd was opened: one `poll` and one
    /// `read` of a stack buffer. On a blocking fd shared by several readers,
    /// a reader that loses the race sleeps in `read` until the next event:
    /// open shared fds non-blocking ([`crate::OpenOptions::non_blocking`]).
    ///
    /// # Errors
    /// [`UffdError::Poll`]/[`UffdError::Read`] with the errno,
    /// [`UffdError::ShortRead`], and [`UffdError::UnexpectedEvent`] for
    /// fork/remap/remove/unmap events, which this layer never requests.
    pub fn read_event(&self, timeout: Option<Duration>) -> Result<Option<FaultEvent>, UffdError> {
        if !self.wait_readable(timeout)? {
            return Ok(None);
        }
        match self.uffd().read_event() {
            Ok(Some(event)) => FaultEvent::from_event(event, self.has_thread_id())
                .map(Some)
                .map_err(|code| UffdError::UnexpectedEvent { code }),
            // EAGAIN: another reader took the event first.
            Ok(None) => Ok(None),
            Err(userfaultfd::Error::IncompleteMsg { read, expected }) => {
                Err(UffdError::ShortRead {
                    got: read,
                    expected,
                })
            }
            Err(userfaultfd::Error::ReadEof) => Err(UffdError::ShortRead {
                got: 0,
                expected: size_of::<sys::uffd_msg>(),
            }),
            Err(userfaultfd::Error::UnrecognizedEvent(code)) => {
                Err(UffdError::UnexpectedEvent { code })
            }
            Err(err) => match crate_errno(&err) {
                Errno::EINTR | Errno::EAGAIN => Ok(None),
                errno => Err(UffdError::Read { errno }),
            },
        }
    }

    /// `poll` for readability; `false` on timeout or `EINTR`.
    fn wait_readable(&self, timeout: Option<Duration>) -> Result<bool, UffdError> {
        let timeout_ms = match timeout {
            None => -1,
            // Round up so a sub-millisecond timeout still waits, and clamp to
            // what poll takes.
            Some(t) => t
                .as_nanos()
                .div_ceil(1_000_000)
                .min(libc::c_int::MAX as u128) as libc::c_int,
        };
        let mut pfd = libc::pollfd {
            fd: self.raw(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one pollfd on our stack, count 1.
        let ret = unsafe { libc::poll(&mut pfd, 1, timeout_ms) };
        match Errno::result(ret) {
            Ok(0) | Err(Errno::EINTR) => Ok(false),
            Ok(_) => {
                if pfd.revents & (libc::POLLERR | libc::POLLNVAL) != 0 {
                    Err(UffdError::Poll {
                        errno: Errno::EBADF,
                    })
                } else {
                    Ok(pfd.revents & libc::POLLIN != 0)
                }
            }
            Err(errno) => Err(UffdError::Poll { errno }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use userfaultfd::FaultKind as CrateKind;

    #[test]
    fn minor_write_fault_decodes_kind_flag_and_thread() {
        let ev = FaultEvent::from_pagefault(CrateKind::Minor, ReadWrite::Write, 0x7000, 42, true);
        assert_eq!(
            ev,
            FaultEvent {
                address: 0x7000,
                kind: FaultKind::Minor,
                write: true,
                thread_id: Some(42)
            }
        );
    }

    #[test]
    fn missing_read_fault_without_thread_id_feature_has_no_thread() {
        let ev = FaultEvent::from_pagefault(CrateKind::Missing, ReadWrite::Read, 0x9000, 7, false);
        assert_eq!(
            (ev.kind, ev.write, ev.thread_id),
            (FaultKind::Missing, false, None)
        );
    }

    #[test]
    fn write_protect_fault_keeps_its_kind() {
        let ev = FaultEvent::from_pagefault(
            CrateKind::WriteProtected,
            ReadWrite::Write,
            0x1000,
            1,
            true,
        );
        assert_eq!(ev.kind, FaultKind::WriteProtect);
    }

    #[test]
    fn non_pagefault_event_is_not_decoded_and_reports_its_code() {
        let unmap = Event::Unmap {
            start: std::ptr::null_mut(),
            end: std::ptr::null_mut(),
        };
        assert_eq!(
            FaultEvent::from_event(unmap, true),
            Err(sys::UFFD_EVENT_UNMAP)
        );
        let remap = Event::Remap {
            from: std::ptr::null_mut(),
            to: std::ptr::null_mut(),
            len: 0,
        };
        assert_eq!(
            FaultEvent::from_event(remap, true),
            Err(sys::UFFD_EVENT_REMAP)
        );
    }
}
