//! Opening a userfaultfd: [`UserFaultFd`], the least privileged way that
//! works, with the `UFFDIO_API` handshake done here so the feature mask the
//! kernel returns is kept.
//!
//! The order, least privileged first:
//! 1. `userfaultfd(2)` with `UFFD_USER_MODE_ONLY` (5.11+): allowed to any
//!    user whatever `vm.unprivileged_userfaultfd` says, at the price that a
//!    *kernel* access to a missing page fails with `EFAULT` instead of
//!    waiting (make buffers handed to system calls resident first).
//! 2. `/dev/userfaultfd` + `USERFAULTFD_IOC_NEW` (6.1+): needs access to the
//!    node (root-only on this image). It is asked for the same flags,
//!    `UFFD_USER_MODE_ONLY` included, so the fd behaves the same whichever
//!    way it was opened.
//! 3. `userfaultfd(2)` without the flag: kernels before 5.11 (which reject
//!    the flag with `EINVAL`), or with `CAP_SYS_PTRACE` or
//!    `vm.unprivileged_userfaultfd = 1`.

use std::fmt;
use std::fs::OpenOptions as FileOpenOptions;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, IntoRawFd, OwnedFd, RawFd};

use nix::errno::Errno;
use userfaultfd::Uffd;
use userfaultfd_sys as sys;

use crate::error::{UffdError, UffdOp};
use crate::DISABLE_ENV;

/// How a userfaultfd was obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OpenMethod {
    /// `userfaultfd(2)` with `UFFD_USER_MODE_ONLY`: user-mode faults only.
    SyscallUserModeOnly,
    /// `/dev/userfaultfd` and its `USERFAULTFD_IOC_NEW` ioctl.
    DevUserfaultfd,
    /// `userfaultfd(2)` without `UFFD_USER_MODE_ONLY`: kernel-mode faults too.
    Syscall,
}

impl OpenMethod {
    /// Every method, in the order [`UserFaultFd::open`] tries them.
    pub const ALL: [OpenMethod; 3] = [
        OpenMethod::SyscallUserModeOnly,
        OpenMethod::DevUserfaultfd,
        OpenMethod::Syscall,
    ];

    /// Whether faults taken by the kernel itself (in `copy_to_user` and the
    /// like) on registered missing pages fail with `EFAULT` rather than wait.
    pub fn user_mode_only(self) -> bool {
        !matches!(self, OpenMethod::Syscall)
    }
}

impl fmt::Display for OpenMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            OpenMethod::SyscallUserModeOnly => "userfaultfd(2) with UFFD_USER_MODE_ONLY",
            OpenMethod::DevUserfaultfd => "/dev/userfaultfd (USERFAULTFD_IOC_NEW)",
            OpenMethod::Syscall => "userfaultfd(2) without UFFD_USER_MODE_ONLY",
        })
    }
}

/// One failed way of opening a userfaultfd, with the errno that says why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenFailure {
    /// The method tried.
    pub method: OpenMethod,
    /// The call that failed (`"userfaultfd"`, `"open"`, `"ioctl"`).
    pub call: &'static str,
    /// The kernel's errno.
    pub errno: Errno,
}

impl OpenFailure {
    /// The failures as one `; `-separated line.
    pub fn list(failures: &[OpenFailure]) -> String {
        let parts: Vec<String> = failures.iter().map(ToString::to_string).collect();
        parts.join("; ")
    }
}

impl fmt::Display for OpenFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Errno's Display already reads "EACCES: Permission denied".
        write!(
            f,
            "{}: {} failed with {}",
            self.method, self.call, self.errno
        )
    }
}

/// What to ask of a new userfaultfd.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenOptions {
    /// Request `UFFD_FEATURE_SIGBUS`: faults raise `SIGBUS` in the faulting
    /// thread instead of queueing an event. A feature of the whole fd, so a
    /// SIGBUS-mode userfaultfd is a separate fd from an event-mode one.
    pub sigbus: bool,
    /// Require `UFFD_FEATURE_MINOR_SHMEM` (MINOR faults on memfd/shmem).
    pub minor_shmem: bool,
    /// Open with `O_NONBLOCK`. Needed when several workers poll one fd: after
    /// `poll` says readable another worker may take the event, and a blocking
    /// `read` would then sleep past the worker's shutdown check.
    pub non_blocking: bool,
    /// Request `UFFD_FEATURE_THREAD_ID` when offered (event mode only).
    pub thread_id: bool,
    /// Force "no userfaultfd" (as `GC_UFFD_DISABLE=1` does).
    pub disabled: bool,
}

impl Default for OpenOptions {
    fn default() -> Self {
        OpenOptions {
            sigbus: false,
            minor_shmem: false,
            non_blocking: true,
            thread_id: true,
            disabled: false,
        }
    }
}

impl OpenOptions {
    /// Event mode, non-blocking, thread ids when offered.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets [`OpenOptions::sigbus`].
    pub fn sigbus(mut self, on: bool) -> Self {
        self.sigbus = on;
        self
    }

    /// Sets [`OpenOptions::minor_shmem`].
    pub fn minor_shmem(mut self, on: bool) -> Self {
        self.minor_shmem = on;
        self
    }

    /// Sets [`OpenOptions::non_blocking`].
    pub fn non_blocking(mut self, on: bool) -> Self {
        self.non_blocking = on;
        self
    }

    /// Sets [`OpenOptions::thread_id`].
    pub fn thread_id(mut self, on: bool) -> Self {
        self.thread_id = on;
        self
    }

    /// Sets [`OpenOptions::disabled`].
    pub fn disabled(mut self, on: bool) -> Self {
        self.disabled = on;
        self
    }

    /// The features this request needs and the kernel must offer.
    fn required_features(&self) -> u64 {
        let mut bits = 0;
        if self.sigbus {
            bits |= sys::UFFD_FEATURE_SIGBUS;
        }
        if self.minor_shmem {
            bits |= sys::UFFD_FEATURE_MINOR_SHMEM;
        }
        bits
    }

    /// The features to request, given what the kernel offered.
    fn wanted_features(&self, offered: u64) -> u64 {
        let mut bits = self.required_features();
        if self.thread_id && !self.sigbus {
            bits |= sys::UFFD_FEATURE_THREAD_ID & offered;
        }
        // Never UFFD_FEATURE_EVENT_REMAP: see the crate doc.
        debug_assert_eq!(
            bits & sys::UFFD_FEATURE_EVENT_REMAP,
            0,
            "EVENT_REMAP requested"
        );
        bits
    }
}

/// Whether `GC_UFFD_DISABLE=1` is set.
pub(crate) fn disabled_by_env() -> bool {
    std::env::var_os(DISABLE_ENV).is_some_and(|v| v == "1")
}

/// The reason userfaultfd is switched off, if it is.
pub(crate) fn disabled_reason(forced: bool) -> Option<&'static str> {
    if forced {
        Some("disabled by the caller (OpenOptions::disabled / UffdFeatures::probe_with)")
    } else if disabled_by_env() {
        Some("disabled by GC_UFFD_DISABLE=1")
    } else {
        None
    }
}

/// A userfaultfd after a successful `UFFDIO_API` handshake. Closes the fd on
/// drop, which unregisters every range registered with it.
///
/// The fd is held as the `userfaultfd` crate's [`Uffd`], whose
/// register/unregister/wake and event reading this layer calls; what that
/// crate lacks or gets wrong is hand-written here (see the crate doc).
#[derive(Debug)]
pub struct UserFaultFd {
    fd: Uffd,
    method: OpenMethod,
    failures: Vec<OpenFailure>,
    features: u64,
    offered: u64,
    api_ioctls: u64,
    non_blocking: bool,
}

impl UserFaultFd {
    /// Opens a userfaultfd the least privileged way that works (see the
    /// module doc) and does the `UFFDIO_API` handshake: a first fd with no
    /// features reads what the kernel offers, then a fresh fd (the handshake
    /// succeeds once per fd) requests what `options` asks for.
    ///
    /// # Errors
    /// [`UffdError::Disabled`] when switched off, [`UffdError::Unavailable`]
    /// when no method works (each attempt's errno listed),
    /// [`UffdError::MissingFeatures`] when SIGBUS or MINOR-on-shmem was asked
    /// for and is not offered, [`UffdError::Ioctl`] when the handshake fails.
    pub fn open(options: &OpenOptions) -> Result<Self, UffdError> {
        Self::open_with_methods(options, &OpenMethod::ALL)
    }

    /// [`UserFaultFd::open`], trying only `methods`, in the given order (to
    /// pin a method from configuration, or to check why one fails).
    ///
    /// # Errors
    /// As [`UserFaultFd::open`].
    pub fn open_with_methods(
        options: &OpenOptions,
        methods: &[OpenMethod],
    ) -> Result<Self, UffdError> {
        if let Some(reason) = disabled_reason(options.disabled) {
            return Err(UffdError::Disabled { reason });
        }
        let flags = open_flags(options.non_blocking);
        let mut failures = Vec::new();
        let (probe, method) = open_first_working(flags, methods, &mut failures)?;
        let (offered, _) = api_handshake(probe.as_fd(), 0)?;
        drop(probe);

        let missing = options.required_features() & !offered;
        if missing != 0 {
            return Err(UffdError::MissingFeatures { missing, offered });
        }
        let wanted = options.wanted_features(offered);
        // The method that just worked will almost surely work again; the
        // others follow only in case it stops (fd limit, a racing sysctl).
        let position = OpenMethod::ALL
            .iter()
            .position(|m| *m == method)
            .unwrap_or(0);
        let (fd, method) = open_first_working(flags, &OpenMethod::ALL[position..], &mut failures)?;
        let (offered, api_ioctls) = api_handshake(fd.as_fd(), wanted)?;
        Ok(UserFaultFd {
            fd,
            method,
            failures,
            features: wanted,
            offered,
            api_ioctls,
            non_blocking: options.non_blocking,
        })
    }

    /// How this fd was obtained.
    pub fn method(&self) -> OpenMethod {
        self.method
    }

    /// The methods that were tried and failed before [`Self::method`]
    /// worked, with their errnos (empty when the first one worked).
    pub fn failed_attempts(&self) -> &[OpenFailure] {
        &self.failures
    }

    /// The `UFFD_FEATURE_*` bits enabled on this fd.
    pub fn features(&self) -> u64 {
        self.features
    }

    /// The `UFFD_FEATURE_*` bits the kernel offered in the handshake.
    pub fn offered_features(&self) -> u64 {
        self.offered
    }

    /// The fd-wide ioctls (`1 << _UFFDIO_*`) the handshake reported.
    pub fn api_ioctls(&self) -> u64 {
        self.api_ioctls
    }

    /// Whether faults on ranges registered here raise `SIGBUS` instead of
    /// queueing events.
    pub fn is_sigbus(&self) -> bool {
        self.features & sys::UFFD_FEATURE_SIGBUS != 0
    }

    /// Whether fault events carry the faulting thread's id.
    pub fn has_thread_id(&self) -> bool {
        self.features & sys::UFFD_FEATURE_THREAD_ID != 0
    }

    /// Whether the fd was opened with `O_NONBLOCK`.
    pub fn is_non_blocking(&self) -> bool {
        self.non_blocking
    }

    /// Hands the fd to the `userfaultfd` crate, for code that wants all of
    /// its API. Ownership moves: the returned `Uffd` closes the fd.
    pub fn into_uffd(self) -> Uffd {
        self.fd
    }

    /// The fd as the `userfaultfd` crate's handle, for the calls this layer
    /// makes through that crate.
    pub(crate) fn uffd(&self) -> &Uffd {
        &self.fd
    }

    pub(crate) fn raw(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

impl AsFd for UserFaultFd {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl AsRawFd for UserFaultFd {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

/// `userfaultfd(2)` flags without `UFFD_USER_MODE_ONLY`.
pub(crate) fn open_flags(non_blocking: bool) -> libc::c_int {
    let mut flags = libc::O_CLOEXEC;
    if non_blocking {
        flags |= libc::O_NONBLOCK;
    }
    flags
}

/// Tries `methods` in order, recording each failure; returns the first fd
/// obtained (owned by a `userfaultfd::Uffd`, which closes it) and how.
pub(crate) fn open_first_working(
    flags: libc::c_int,
    methods: &[OpenMethod],
    failures: &mut Vec<OpenFailure>,
) -> Result<(Uffd, OpenMethod), UffdError> {
    for &method in methods {
        match open_with(method, flags) {
            Ok(fd) => {
                let raw = fd.into_raw_fd();
                // SAFETY: `raw` is an open userfaultfd whose ownership was
                // just given up (into_raw_fd): the `Uffd` is its only owner
                // and closes it exactly once.
                return Ok((unsafe { Uffd::from_raw_fd(raw) }, method));
            }
            Err(failure) => failures.push(failure),
        }
    }
    Err(UffdError::Unavailable {
        attempts: failures.clone(),
    })
}

/// Opens one userfaultfd by `method` (no handshake yet).
fn open_with(method: OpenMethod, flags: libc::c_int) -> Result<OwnedFd, OpenFailure> {
    let user_mode_only = sys::UFFD_USER_MODE_ONLY as libc::c_int;
    match method {
        OpenMethod::SyscallUserModeOnly => syscall_userfaultfd(flags | user_mode_only),
        OpenMethod::Syscall => syscall_userfaultfd(flags),
        OpenMethod::DevUserfaultfd => dev_userfaultfd(flags | user_mode_only),
    }
    .map_err(|(call, errno)| OpenFailure {
        method,
        call,
        errno,
    })
}

type CallFailure = (&'static str, Errno);

fn syscall_userfaultfd(flags: libc::c_int) -> Result<OwnedFd, CallFailure> {
    // SAFETY: userfaultfd(2) takes one int of flags and touches no memory of
    // ours; it returns a new fd or -1 with errno.
    let ret = unsafe { libc::syscall(libc::SYS_userfaultfd, libc::c_long::from(flags)) };
    let fd = Errno::result(ret).map_err(|e| ("userfaultfd", e))?;
    owned_from_ret(fd).ok_or(("userfaultfd", Errno::EBADF))
}

fn dev_userfaultfd(flags: libc::c_int) -> Result<OwnedFd, CallFailure> {
    let dev = FileOpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/userfaultfd")
        .map_err(|e| {
            (
                "open",
                Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)),
            )
        })?;
    // SAFETY: USERFAULTFD_IOC_NEW takes the userfaultfd(2) flags as a plain
    // integer argument (not a pointer) and returns a new fd or -1 with errno;
    // `dev` is an open fd for the duration of the call.
    let ret = unsafe {
        libc::ioctl(
            dev.as_raw_fd(),
            sys::USERFAULTFD_IOC_NEW as libc::Ioctl,
            flags as libc::c_long,
        )
    };
    let fd = Errno::result(ret).map_err(|e| ("ioctl", e))?;
    owned_from_ret(i64::from(fd)).ok_or(("ioctl", Errno::EBADF))
}

fn owned_from_ret(ret: i64) -> Option<OwnedFd> {
    let raw = RawFd::try_from(ret).ok().filter(|fd| *fd >= 0)?;
    // SAFETY: the kernel just returned `raw` as a new fd of ours that nothing
    // else owns.
    Some(unsafe { OwnedFd::from_raw_fd(raw) })
}

/// `UFFDIO_API` with `features` requested; returns (features offered,
/// fd-wide ioctls).
pub(crate) fn api_handshake(fd: BorrowedFd<'_>, features: u64) -> Result<(u64, u64), UffdError> {
    let mut api = sys::uffdio_api {
        api: sys::UFFD_API,
        features,
        ioctls: 0,
    };
    // SAFETY: UFFDIO_API reads and writes exactly one `uffdio_api`, which
    // lives on our stack for the duration of the call.
    let ret = unsafe { libc::ioctl(fd.as_raw_fd(), sys::UFFDIO_API as libc::Ioctl, &mut api) };
    Errno::result(ret).map_err(|errno| UffdError::Ioctl {
        op: UffdOp::Api,
        start: 0,
        len: 0,
        errno,
    })?;
    Ok((api.features, api.ioctls))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unavailable_error_lists_every_attempt_with_its_errno() {
        let attempts = vec![
            OpenFailure {
                method: OpenMethod::SyscallUserModeOnly,
                call: "userfaultfd",
                errno: Errno::ENOSYS,
            },
            OpenFailure {
                method: OpenMethod::DevUserfaultfd,
                call: "open",
                errno: Errno::EACCES,
            },
        ];
        let err = UffdError::Unavailable { attempts };
        let text = err.to_string();
        assert!(
            text.contains("UFFD_USER_MODE_ONLY") && text.contains("ENOSYS"),
            "{text}"
        );
        assert!(
            text.contains("/dev/userfaultfd") && text.contains("EACCES"),
            "{text}"
        );
        assert_eq!(err.errno(), Some(Errno::EACCES), "the last attempt's errno");
    }

    #[test]
    fn wanted_features_never_include_event_remap_and_skip_thread_id_in_sigbus_mode() {
        let all = sys::UFFD_API_FEATURES;
        let events = OpenOptions::new().wanted_features(all);
        assert_eq!(events, sys::UFFD_FEATURE_THREAD_ID);
        let sigbus = OpenOptions::new()
            .sigbus(true)
            .minor_shmem(true)
            .wanted_features(all);
        assert_eq!(
            sigbus,
            sys::UFFD_FEATURE_SIGBUS | sys::UFFD_FEATURE_MINOR_SHMEM
        );
        assert_eq!((events | sigbus) & sys::UFFD_FEATURE_EVENT_REMAP, 0);
    }
}
