//! The range ioctls: register and unregister ranges, install pages (COPY,
//! CONTINUE, MOVE, ZEROPAGE) and wake waiters.
//!
//! Every function here is one `ioctl(2)` on a struct on the stack: no
//! allocation, no locks, no formatting, so each may be called on a fault path
//! and from a `SIGBUS` handler (async-signal-safe). Races between threads
//! installing the same page are outcomes ([`InstallOutcome`]), not errors.
//!
//! REGISTER, UNREGISTER and WAKE go through the `userfaultfd` crate; the
//! installing ioctls (COPY, ZEROPAGE, CONTINUE, MOVE) are written here, all
//! four mapped to outcomes by one function (see the crate doc for why).
//!
//! Addresses and lengths must be multiples of [`crate::PAGE_SIZE`]; the kernel
//! answers `EINVAL` otherwise, reported as [`UffdError::Ioctl`].

use std::os::fd::RawFd;

use nix::errno::Errno;
use userfaultfd::Uffd;
use userfaultfd_sys as sys;

use crate::error::{crate_errno, UffdError, UffdOp};
use crate::open::UserFaultFd;
use mremap_shim::inject::{self, Site};

/// What an installing ioctl did. Only real failures (`EINVAL`, `EFAULT`,
/// `ENOMEM`, `ESRCH`, ...) are [`UffdError`]s.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InstallOutcome {
    /// The whole range was installed; the byte count.
    Installed(usize),
    /// `EEXIST`: the first page of the range was already mapped (another
    /// thread won the race). Nothing was installed by this call.
    AlreadyMapped,
    /// `EAGAIN`: stopped after `done` bytes, because a page further on was
    /// already mapped or the mapping is changing (a concurrent `mremap`,
    /// `fork`). Retry from `dst + done`.
    Retry {
        /// Bytes installed before the stop (never negative, never beyond the
        /// requested length).
        done: usize,
    },
    /// `EBUSY` (MOVE only): a source page cannot be moved (shared after
    /// `fork`, pinned, or in the swap cache). Fall back to COPY.
    Busy,
    /// `ENOENT`: the destination is no longer registered with this fd (e.g.
    /// after unregister); for MOVE without
    /// `UFFDIO_MOVE_MODE_ALLOW_SRC_HOLES`, also a hole in the source.
    Gone,
}

impl InstallOutcome {
    /// Bytes this call installed.
    pub fn bytes(self) -> usize {
        match self {
            InstallOutcome::Installed(n) => n,
            InstallOutcome::Retry { done } => done,
            InstallOutcome::AlreadyMapped | InstallOutcome::Busy | InstallOutcome::Gone => 0,
        }
    }
}

/// How to register a range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegisterMode {
    /// Faults on missing pages (anonymous or shmem): resolve with COPY,
    /// ZEROPAGE or MOVE.
    Missing,
    /// Minor faults on shmem: the page is in the page cache but not mapped
    /// here; resolve with CONTINUE.
    Minor,
    /// Both.
    MissingAndMinor,
}

impl RegisterMode {
    /// The `userfaultfd` crate's mode bits.
    fn crate_mode(self) -> userfaultfd::RegisterMode {
        use userfaultfd::RegisterMode as Mode;
        match self {
            RegisterMode::Missing => Mode::MISSING,
            RegisterMode::Minor => Mode::MINOR,
            RegisterMode::MissingAndMinor => Mode::MISSING | Mode::MINOR,
        }
    }
}

/// `UFFDIO_REGISTER` of `[start, start + len)` in `mode` on `uffd`, through
/// the `userfaultfd` crate; returns the range ioctls the kernel reports.
/// Shared by [`UserFaultFd::register`] and the feature probe.
pub(crate) fn register_range(
    uffd: &Uffd,
    start: *mut u8,
    len: usize,
    mode: RegisterMode,
) -> Result<RangeIoctls, UffdError> {
    uffd.register_with_mode(start.cast(), len, mode.crate_mode())
        .map(|ioctls| RangeIoctls(ioctls.bits()))
        .map_err(|e| ioctl_error(UffdOp::Register, start as u64, len as u64, crate_errno(&e)))
}

/// The range ioctls `UFFDIO_REGISTER` reports usable on a range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RangeIoctls(pub u64);

impl RangeIoctls {
    fn has(self, nr: u64) -> bool {
        self.0 & (1u64 << nr) != 0
    }

    /// `UFFDIO_COPY` is usable.
    pub fn copy(self) -> bool {
        self.has(sys::_UFFDIO_COPY)
    }

    /// `UFFDIO_ZEROPAGE` is usable.
    pub fn zeropage(self) -> bool {
        self.has(sys::_UFFDIO_ZEROPAGE)
    }

    /// `UFFDIO_MOVE` is usable.
    pub fn moves(self) -> bool {
        self.has(sys::_UFFDIO_MOVE)
    }

    /// `UFFDIO_CONTINUE` is usable.
    pub fn continues(self) -> bool {
        self.has(sys::_UFFDIO_CONTINUE)
    }

    /// `UFFDIO_WAKE` is usable.
    pub fn wake(self) -> bool {
        self.has(sys::_UFFDIO_WAKE)
    }
}

/// One ioctl; `Err(errno)` on -1.
///
/// # Safety
/// 1. `request` must be a userfaultfd ioctl whose argument is exactly a `T`.
/// 2. `fd` must be open for the duration of the call.
unsafe fn raw_ioctl<T>(fd: RawFd, request: u32, arg: &mut T) -> Result<(), Errno> {
    // SAFETY: the caller guarantees (1) and (2); `arg` is a valid, exclusive
    // reference for the kernel to read and write.
    let ret = unsafe { libc::ioctl(fd, request as libc::Ioctl, arg as *mut T) };
    Errno::result(ret).map(drop)
}

/// [`raw_ioctl`], unless a failure is injected at `site` (tests only; the
/// check compiles to nothing without the `fault-injection` feature and is
/// async-signal-safe with it). An injected failure leaves `arg` as it was,
/// as a call refused up front would.
///
/// # Safety
/// As for [`raw_ioctl`].
#[inline(always)]
unsafe fn hooked_ioctl<T>(site: Site, fd: RawFd, request: u32, arg: &mut T) -> Result<(), Errno> {
    if let Some(errno) = inject::check(site) {
        return Err(errno);
    }
    // SAFETY: the caller's obligations are raw_ioctl's.
    unsafe { raw_ioctl(fd, request, arg) }
}

fn ioctl_error(op: UffdOp, start: u64, len: u64, errno: Errno) -> UffdError {
    UffdError::Ioctl {
        op,
        start: start as usize,
        len: len as usize,
        errno,
    }
}

/// Maps an installing ioctl's result (`ret`) and its result field (`done`:
/// bytes or a negated errno) to an outcome.
fn install_outcome(
    op: UffdOp,
    start: u64,
    len: u64,
    ret: Result<(), Errno>,
    done: i64,
) -> Result<InstallOutcome, UffdError> {
    // The result field is a byte count on success and on partial success
    // (then the ioctl fails with EAGAIN), and a negated errno otherwise: the
    // userfaultfd crate's PartiallyCopied(-EAGAIN as usize) bug comes from
    // not telling the two apart.
    let done_bytes = usize::try_from(done).unwrap_or(0).min(len as usize);
    match ret {
        Ok(()) => Ok(InstallOutcome::Installed(len as usize)),
        Err(Errno::EAGAIN) => Ok(InstallOutcome::Retry { done: done_bytes }),
        Err(Errno::EEXIST) => Ok(InstallOutcome::AlreadyMapped),
        Err(Errno::ENOENT) => Ok(InstallOutcome::Gone),
        Err(Errno::EBUSY) if op == UffdOp::Move => Ok(InstallOutcome::Busy),
        Err(errno) => Err(ioctl_error(op, start, len, errno)),
    }
}

impl UserFaultFd {
    /// `UFFDIO_REGISTER`: from now on, faults of `mode` in
    /// `[start, start + len)` are reported to this fd (or raise `SIGBUS` in
    /// SIGBUS mode). Returns the range ioctls usable there.
    ///
    /// Registering part of a VMA splits it; a range can be registered with
    /// one userfaultfd only (`EBUSY` otherwise). Takes the mmap lock for
    /// writing: not for hot paths. No allocation.
    ///
    /// # Errors
    /// [`UffdError::Ioctl`] with the errno (`EINVAL` for a range or mode the
    /// VMA does not support, `EBUSY` if registered elsewhere, `ENOMEM` for an
    /// unmapped hole).
    pub fn register(
        &self,
        start: *mut u8,
        len: usize,
        mode: RegisterMode,
    ) -> Result<RangeIoctls, UffdError> {
        if let Some(errno) = inject::check(Site::UffdRegister) {
            return Err(ioctl_error(
                UffdOp::Register,
                start as u64,
                len as u64,
                errno,
            ));
        }
        register_range(self.uffd(), start, len, mode)
    }

    /// `UFFDIO_UNREGISTER`: stop reporting faults in the range and wake its
    /// waiters. Missing anonymous pages there then read as zeroes. Takes the
    /// mmap lock for writing and so stalls every thread's fault handling:
    /// keep it out of hot phases. No allocation.
    ///
    /// # Errors
    /// [`UffdError::Ioctl`] with the errno.
    pub fn unregister(&self, start: *mut u8, len: usize) -> Result<(), UffdError> {
        let error = |errno| ioctl_error(UffdOp::Unregister, start as u64, len as u64, errno);
        if let Some(errno) = inject::check(Site::UffdUnregister) {
            return Err(error(errno));
        }
        self.uffd()
            .unregister(start.cast(), len)
            .map_err(|e| error(crate_errno(&e)))
    }

    /// `UFFDIO_COPY`: atomically fill missing pages at `dst` with a copy of
    /// `len` bytes from `src`, waking the threads waiting on them unless
    /// `wake` is false.
    ///
    /// Safe: the kernel only fills pages that were missing (which no thread
    /// could have read), and reads `src` as a system call would (`EFAULT` if
    /// unreadable). Fault-path and signal safe: one ioctl, no allocation, no
    /// locks.
    ///
    /// # Errors
    /// [`UffdError::Ioctl`] for real failures; races are outcomes.
    pub fn copy(
        &self,
        dst: *mut u8,
        src: *const u8,
        len: usize,
        wake: bool,
    ) -> Result<InstallOutcome, UffdError> {
        let mut arg = sys::uffdio_copy {
            dst: dst as u64,
            src: src as u64,
            len: len as u64,
            mode: if wake {
                0
            } else {
                sys::UFFDIO_COPY_MODE_DONTWAKE
            },
            copy: 0,
        };
        // SAFETY: UFFDIO_COPY takes a `uffdio_copy`; self owns the fd.
        let ret = unsafe { hooked_ioctl(Site::UffdCopy, self.raw(), sys::UFFDIO_COPY, &mut arg) };
        install_outcome(UffdOp::Copy, arg.dst, arg.len, ret, arg.copy)
    }

    /// `UFFDIO_ZEROPAGE`: map zero pages into missing pages of the range.
    /// Fault-path and signal safe: one ioctl, no allocation, no locks.
    ///
    /// # Errors
    /// [`UffdError::Ioctl`] for real failures; races are outcomes.
    pub fn zeropage(
        &self,
        start: *mut u8,
        len: usize,
        wake: bool,
    ) -> Result<InstallOutcome, UffdError> {
        let mut arg = sys::uffdio_zeropage {
            range: sys::uffdio_range {
                start: start as u64,
                len: len as u64,
            },
            mode: if wake {
                0
            } else {
                sys::UFFDIO_ZEROPAGE_MODE_DONTWAKE
            },
            zeropage: 0,
        };
        // SAFETY: UFFDIO_ZEROPAGE takes a `uffdio_zeropage`; self owns the fd.
        let ret = unsafe { raw_ioctl(self.raw(), sys::UFFDIO_ZEROPAGE, &mut arg) };
        install_outcome(
            UffdOp::Zeropage,
            arg.range.start,
            arg.range.len,
            ret,
            arg.zeropage,
        )
    }

    /// `UFFDIO_CONTINUE`: map the page-cache pages already behind a
    /// MINOR-registered shmem range (written through another mapping of the
    /// same memfd). No copy. Fault-path and signal safe: one ioctl, no
    /// allocation, no locks.
    ///
    /// # Errors
    /// [`UffdError::Ioctl`] for real failures (`EFAULT` when the page-cache
    /// page does not exist); races are outcomes.
    pub fn r#continue(
        &self,
        start: *mut u8,
        len: usize,
        wake: bool,
    ) -> Result<InstallOutcome, UffdError> {
        let mut arg = sys::uffdio_continue {
            range: sys::uffdio_range {
                start: start as u64,
                len: len as u64,
            },
            mode: if wake {
                0
            } else {
                sys::UFFDIO_CONTINUE_MODE_DONTWAKE
            },
            mapped: 0,
        };
        // SAFETY: UFFDIO_CONTINUE takes a `uffdio_continue`; self owns the fd.
        let ret = unsafe {
            hooked_ioctl(
                Site::UffdContinue,
                self.raw(),
                sys::UFFDIO_CONTINUE,
                &mut arg,
            )
        };
        install_outcome(
            UffdOp::Continue,
            arg.range.start,
            arg.range.len,
            ret,
            arg.mapped,
        )
    }

    /// `UFFDIO_MOVE` (6.8+): move the populated private anonymous pages at
    /// `src` into missing pages at `dst` by remapping them, no copy. With
    /// `allow_src_holes`, missing source pages count as moved (the
    /// destination stays missing) instead of stopping with `ENOENT`.
    /// Fault-path and signal safe: one ioctl, no allocation, no locks.
    ///
    /// # Safety
    /// 1. The moved source pages vanish from `src`: afterwards they read as
    ///    zeroes (or fault, if registered). No live Rust reference may point
    ///    into `[src, src + len)`.
    ///
    /// # Errors
    /// [`UffdError::Ioctl`] for real failures (`EINVAL` for non-anonymous or
    /// misaligned ranges); races and `EBUSY` are outcomes.
    pub unsafe fn r#move(
        &self,
        dst: *mut u8,
        src: *mut u8,
        len: usize,
        wake: bool,
        allow_src_holes: bool,
    ) -> Result<InstallOutcome, UffdError> {
        let mut mode = 0;
        if !wake {
            mode |= sys::UFFDIO_MOVE_MODE_DONTWAKE;
        }
        if allow_src_holes {
            mode |= sys::UFFDIO_MOVE_MODE_ALLOW_SRC_HOLES;
        }
        let mut arg = sys::uffdio_move {
            dst: dst as u64,
            src: src as u64,
            len: len as u64,
            mode,
            r#move: 0,
        };
        // SAFETY: UFFDIO_MOVE takes a `uffdio_move`; self owns the fd. The
        // caller vouches for the source range (Safety 1).
        let ret = unsafe { hooked_ioctl(Site::UffdMove, self.raw(), sys::UFFDIO_MOVE, &mut arg) };
        install_outcome(UffdOp::Move, arg.dst, arg.len, ret, arg.r#move)
    }

    /// `UFFDIO_WAKE`: wake the threads waiting on faults in the range (after
    /// installs done with `wake == false`). Fault-path and signal safe: one
    /// ioctl, no allocation, no locks.
    ///
    /// # Errors
    /// [`UffdError::Ioctl`] with the errno.
    pub fn wake(&self, start: *mut u8, len: usize) -> Result<(), UffdError> {
        self.uffd()
            .wake(start.cast(), len)
            .map_err(|e| ioctl_error(UffdOp::Wake, start as u64, len as u64, crate_errno(&e)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eagain_with_negative_result_field_is_retry_with_zero_done() {
        let out = install_outcome(
            UffdOp::Copy,
            0x1000,
            0x2000,
            Err(Errno::EAGAIN),
            -i64::from(libc::EAGAIN),
        );
        assert_eq!(out.ok(), Some(InstallOutcome::Retry { done: 0 }));
    }

    #[test]
    fn eagain_after_partial_progress_reports_bytes_done() {
        let out = install_outcome(UffdOp::Copy, 0x1000, 0x3000, Err(Errno::EAGAIN), 0x1000);
        assert_eq!(out.ok(), Some(InstallOutcome::Retry { done: 0x1000 }));
    }

    #[test]
    fn ebusy_is_an_outcome_only_for_move() {
        let mv = install_outcome(UffdOp::Move, 0, 0x1000, Err(Errno::EBUSY), -16);
        assert_eq!(mv.ok(), Some(InstallOutcome::Busy));
        let cp = install_outcome(UffdOp::Copy, 0, 0x1000, Err(Errno::EBUSY), -16);
        assert_eq!(cp.err().and_then(|e| e.errno()), Some(Errno::EBUSY));
    }

    #[test]
    fn eexist_and_enoent_are_outcomes_and_einval_an_error() {
        let exist = install_outcome(UffdOp::Copy, 0, 0x1000, Err(Errno::EEXIST), -17);
        assert_eq!(exist.ok(), Some(InstallOutcome::AlreadyMapped));
        let gone = install_outcome(UffdOp::Continue, 0, 0x1000, Err(Errno::ENOENT), -2);
        assert_eq!(gone.ok(), Some(InstallOutcome::Gone));
        let inval = install_outcome(UffdOp::Copy, 0, 0x1000, Err(Errno::EINVAL), -22);
        assert_eq!(inval.err().and_then(|e| e.errno()), Some(Errno::EINVAL));
    }

    #[test]
    fn range_ioctls_decode_the_kernel_bitmask() {
        let bits = (1 << sys::_UFFDIO_COPY) | (1 << sys::_UFFDIO_MOVE);
        let r = RangeIoctls(bits);
        assert!(r.copy() && r.moves());
        assert!(!r.continues() && !r.zeropage() && !r.wake());
    }
}
