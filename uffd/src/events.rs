//! Reading fault events: [`FaultEvent`] and [`UserFaultFd::read_event`].
//!
//! A read is `poll(2)` with a timeout, then one `read(2)` of one `uffd_msg`
//! into a buffer on the stack: no allocation, no locks. The timeout lets a
//! worker thread notice a shutdown request between events; several workers
//! may read one (non-blocking) fd, each event going to exactly one of them.

use std::mem::size_of;
use std::time::Duration;

use nix::errno::Errno;
use userfaultfd_sys as sys;

use crate::error::UffdError;
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
    /// Decodes a page-fault message; `None` for any other event code.
    fn from_msg(msg: &sys::uffd_msg, with_thread_id: bool) -> Option<FaultEvent> {
        if msg.event != sys::UFFD_EVENT_PAGEFAULT {
            return None;
        }
        // SAFETY: for UFFD_EVENT_PAGEFAULT the kernel fills `arg.pagefault`;
        // all its fields are plain integers, valid for any bit pattern.
        let pf = unsafe { msg.arg.pagefault };
        let kind = if pf.flags & sys::UFFD_PAGEFAULT_FLAG_MINOR != 0 {
            FaultKind::Minor
        } else if pf.flags & sys::UFFD_PAGEFAULT_FLAG_WP != 0 {
            FaultKind::WriteProtect
        } else {
            FaultKind::Missing
        };
        // SAFETY: `ptid` is the only member of `feat`, a plain u32.
        let ptid = unsafe { pf.feat.ptid };
        Some(FaultEvent {
            address: pf.address as usize,
            kind,
            write: pf.flags & sys::UFFD_PAGEFAULT_FLAG_WRITE != 0,
            thread_id: with_thread_id.then_some(ptid),
        })
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
        let mut msg = sys::uffd_msg::default();
        let expected = size_of::<sys::uffd_msg>();
        // SAFETY: reads at most `expected` bytes into `msg`, a plain-data
        // struct on our stack for which any byte pattern is valid.
        let ret = unsafe {
            libc::read(
                self.raw(),
                (&mut msg as *mut sys::uffd_msg).cast::<libc::c_void>(),
                expected,
            )
        };
        match Errno::result(ret) {
            Ok(n) if n as usize == expected => {}
            Ok(n) => {
                return Err(UffdError::ShortRead {
                    got: n as usize,
                    expected,
                })
            }
            Err(Errno::EAGAIN | Errno::EINTR) => return Ok(None),
            Err(errno) => return Err(UffdError::Read { errno }),
        }
        match FaultEvent::from_msg(&msg, self.has_thread_id()) {
            Some(event) => Ok(Some(event)),
            None => Err(UffdError::UnexpectedEvent { code: msg.event }),
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

    fn pagefault_msg(flags: u64, address: u64, ptid: u32) -> sys::uffd_msg {
        let mut msg = sys::uffd_msg {
            event: sys::UFFD_EVENT_PAGEFAULT,
            ..Default::default()
        };
        msg.arg.pagefault = sys::uffd_pagefault {
            flags,
            address,
            feat: sys::uffd_pagefault_feat { ptid },
        };
        msg
    }

    #[test]
    fn minor_write_fault_decodes_kind_flag_and_thread() {
        let flags = sys::UFFD_PAGEFAULT_FLAG_MINOR | sys::UFFD_PAGEFAULT_FLAG_WRITE;
        let ev = FaultEvent::from_msg(&pagefault_msg(flags, 0x7000, 42), true);
        assert_eq!(
            ev,
            Some(FaultEvent {
                address: 0x7000,
                kind: FaultKind::Minor,
                write: true,
                thread_id: Some(42)
            })
        );
    }

    #[test]
    fn missing_read_fault_without_thread_id_feature_has_no_thread() {
        let ev = FaultEvent::from_msg(&pagefault_msg(0, 0x9000, 7), false);
        assert_eq!(
            ev.map(|e| (e.kind, e.write, e.thread_id)),
            Some((FaultKind::Missing, false, None))
        );
    }

    #[test]
    fn non_pagefault_event_is_not_decoded() {
        let msg = sys::uffd_msg {
            event: sys::UFFD_EVENT_UNMAP,
            ..Default::default()
        };
        assert_eq!(FaultEvent::from_msg(&msg, true), None);
    }
}
