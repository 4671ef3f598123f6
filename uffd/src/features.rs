//! [`UffdFeatures`]: what userfaultfd can do for this process on this kernel.
//!
//! The `UFFDIO_API` feature mask says what the kernel offers; the range
//! ioctls (COPY, ZEROPAGE, MOVE, CONTINUE) are only reported by
//! `UFFDIO_REGISTER`, so the probe also registers a one-page anonymous
//! mapping and a one-page memfd mapping on a throwaway fd and reads what the
//! kernel says it can do there.

use std::fmt::Write as _;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::ptr;

use nix::errno::Errno;
use userfaultfd::Uffd;
use userfaultfd_sys as sys;

use crate::error::UffdError;
use crate::ioctl::{register_range, RangeIoctls};
use crate::open::{
    api_handshake, disabled_reason, open_first_working, open_flags, OpenFailure, OpenMethod,
};
use crate::{RegisterMode, PAGE_SIZE};

/// What userfaultfd offers here, or why it is unavailable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UffdFeatures {
    /// How a userfaultfd could be opened (`None` when none could).
    pub method: Option<OpenMethod>,
    /// The methods tried before `method` worked (or all of them), with errnos.
    pub open_failures: Vec<OpenFailure>,
    /// The raw `UFFD_FEATURE_*` mask `UFFDIO_API` returned (0 if unavailable).
    pub offered: u64,
    /// MISSING faults on private anonymous memory, resolved by COPY.
    pub missing_anon: bool,
    /// MINOR faults on shmem/memfd (`UFFD_FEATURE_MINOR_SHMEM`).
    pub minor_shmem: bool,
    /// `UFFDIO_CONTINUE` on a MINOR-registered memfd range.
    pub continues: bool,
    /// `UFFDIO_MOVE` (`UFFD_FEATURE_MOVE`, 6.8+) on an anonymous range.
    pub moves: bool,
    /// `UFFDIO_ZEROPAGE` on an anonymous range.
    pub zeropage: bool,
    /// SIGBUS mode (`UFFD_FEATURE_SIGBUS`).
    pub sigbus: bool,
    /// Exact fault addresses (`UFFD_FEATURE_EXACT_ADDRESS`).
    pub exact_address: bool,
    /// Faulting thread ids in events (`UFFD_FEATURE_THREAD_ID`).
    pub thread_id: bool,
    /// `UFFDIO_POISON` (`UFFD_FEATURE_POISON`).
    pub poison: bool,
    /// Why userfaultfd cannot be used, when it cannot.
    pub unavailable: Option<String>,
}

impl UffdFeatures {
    /// Probes, honouring `GC_UFFD_DISABLE=1`.
    pub fn probe() -> Self {
        Self::probe_with(false)
    }

    /// Probes; `force_disabled` reports userfaultfd unavailable without
    /// touching the kernel (as `GC_UFFD_DISABLE=1` does).
    pub fn probe_with(force_disabled: bool) -> Self {
        if let Some(reason) = disabled_reason(force_disabled) {
            return Self::unavailable(reason.to_string(), None, Vec::new());
        }
        let mut failures = Vec::new();
        let (fd, method) =
            match open_first_working(open_flags(true), &OpenMethod::ALL, &mut failures) {
                Ok(found) => found,
                Err(err) => return Self::unavailable(err.to_string(), None, failures),
            };
        let offered = match api_handshake(fd.as_fd(), 0) {
            Ok((offered, _)) => offered,
            Err(err) => return Self::unavailable(err.to_string(), Some(method), failures),
        };
        let anon = probe_range(&fd, Backing::Anonymous, RegisterMode::Missing);
        let shmem_minor = if offered & sys::UFFD_FEATURE_MINOR_SHMEM != 0 {
            probe_range(&fd, Backing::Memfd, RegisterMode::Minor)
        } else {
            Err(UffdError::MissingFeatures {
                missing: sys::UFFD_FEATURE_MINOR_SHMEM,
                offered,
            })
        };
        let has = |bit: u64| offered & bit != 0;
        let anon_ioctls = anon.as_ref().ok().copied();
        let unavailable = match &anon {
            Ok(ioctls) if ioctls.copy() => None,
            Ok(_) => Some("UFFDIO_REGISTER on anonymous memory does not offer UFFDIO_COPY".into()),
            Err(err) => Some(format!("registering anonymous memory failed: {err}")),
        };
        UffdFeatures {
            method: Some(method),
            open_failures: failures,
            offered,
            missing_anon: anon_ioctls.is_some_and(RangeIoctls::copy),
            minor_shmem: has(sys::UFFD_FEATURE_MINOR_SHMEM) && shmem_minor.is_ok(),
            continues: shmem_minor.as_ref().is_ok_and(|i| i.continues()),
            moves: has(sys::UFFD_FEATURE_MOVE) && anon_ioctls.is_some_and(RangeIoctls::moves),
            zeropage: anon_ioctls.is_some_and(RangeIoctls::zeropage),
            sigbus: has(sys::UFFD_FEATURE_SIGBUS),
            exact_address: has(sys::UFFD_FEATURE_EXACT_ADDRESS),
            thread_id: has(sys::UFFD_FEATURE_THREAD_ID),
            poison: has(sys::UFFD_FEATURE_POISON),
            unavailable,
        }
    }

    fn unavailable(reason: String, method: Option<OpenMethod>, failures: Vec<OpenFailure>) -> Self {
        UffdFeatures {
            method,
            open_failures: failures,
            offered: 0,
            missing_anon: false,
            minor_shmem: false,
            continues: false,
            moves: false,
            zeropage: false,
            sigbus: false,
            exact_address: false,
            thread_id: false,
            poison: false,
            unavailable: Some(reason),
        }
    }

    /// Whether userfaultfd compaction (MISSING faults + COPY) can be used.
    pub fn is_available(&self) -> bool {
        self.unavailable.is_none() && self.missing_anon
    }

    /// Why userfaultfd cannot be used, if it cannot.
    pub fn unavailable_reason(&self) -> Option<&str> {
        self.unavailable.as_deref()
    }

    /// One line for logs, e.g. `userfaultfd via userfaultfd(2) with
    /// UFFD_USER_MODE_ONLY: missing-anon yes, minor-shmem yes, ...`.
    pub fn summary(&self) -> String {
        let mut line = String::new();
        match (&self.unavailable, self.method) {
            (Some(reason), _) => {
                let _ = write!(line, "userfaultfd unavailable: {reason}");
                return line;
            }
            (None, Some(method)) => {
                let _ = write!(line, "userfaultfd via {method}:");
            }
            (None, None) => line.push_str("userfaultfd:"),
        }
        let yes = |b: bool| if b { "yes" } else { "no" };
        let _ = write!(
            line,
            " missing-anon {}, minor-shmem {}, continue {}, move {}, zeropage {}, sigbus {}, \
             exact-address {}, thread-id {}, poison {} (features {:#x})",
            yes(self.missing_anon),
            yes(self.minor_shmem),
            yes(self.continues),
            yes(self.moves),
            yes(self.zeropage),
            yes(self.sigbus),
            yes(self.exact_address),
            yes(self.thread_id),
            yes(self.poison),
            self.offered,
        );
        line
    }
}

/// What a probe range is backed by.
#[derive(Clone, Copy)]
enum Backing {
    Anonymous,
    Memfd,
}

/// Maps one page of `backing`, registers it with `fd` in `mode` and returns
/// the range ioctls the kernel reports. Everything is undone on return
/// (closing the probe fd later unregisters anyway).
fn probe_range(
    uffd: &Uffd,
    backing: Backing,
    mode: RegisterMode,
) -> Result<RangeIoctls, UffdError> {
    let memfd = match backing {
        Backing::Anonymous => None,
        Backing::Memfd => Some(probe_memfd()?),
    };
    let page = ProbePage::map(memfd.as_ref())?;
    register_range(uffd, page.addr, PAGE_SIZE, mode)
}

fn probe_memfd() -> Result<OwnedFd, UffdError> {
    // SAFETY: the name is a NUL-terminated literal; memfd_create returns a
    // new fd or -1.
    let raw = unsafe { libc::memfd_create(c"gc-uffd-probe".as_ptr(), libc::MFD_CLOEXEC) };
    let raw = Errno::result(raw).map_err(|errno| UffdError::ProbeSetup {
        call: "memfd_create",
        errno,
    })?;
    // SAFETY: `raw` is a new fd that nothing else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    // SAFETY: ftruncate on an fd we own.
    let ret = unsafe { libc::ftruncate(fd.as_raw_fd(), PAGE_SIZE as libc::off_t) };
    Errno::result(ret).map_err(|errno| UffdError::ProbeSetup {
        call: "ftruncate",
        errno,
    })?;
    Ok(fd)
}

/// One probe page, unmapped on drop.
struct ProbePage {
    addr: *mut u8,
}

impl ProbePage {
    fn map(memfd: Option<&OwnedFd>) -> Result<Self, UffdError> {
        let (flags, fd) = match memfd {
            None => (libc::MAP_PRIVATE | libc::MAP_ANONYMOUS, -1),
            Some(fd) => (libc::MAP_SHARED, fd.as_raw_fd()),
        };
        // SAFETY: a fresh mapping at an address of the kernel's choosing: it
        // overlaps nothing of ours.
        let addr = unsafe {
            libc::mmap(
                ptr::null_mut(),
                PAGE_SIZE,
                libc::PROT_READ | libc::PROT_WRITE,
                flags,
                fd,
                0,
            )
        };
        if addr == libc::MAP_FAILED {
            return Err(UffdError::ProbeSetup {
                call: "mmap",
                errno: Errno::last(),
            });
        }
        Ok(ProbePage { addr: addr.cast() })
    }
}

impl Drop for ProbePage {
    fn drop(&mut self) {
        // SAFETY: `addr` is the page this value mapped, referenced by nothing
        // else. A failure would only leak one page of address space.
        unsafe { libc::munmap(self.addr.cast(), PAGE_SIZE) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forced_disable_reports_a_reason_and_no_features() {
        let f = UffdFeatures::probe_with(true);
        assert!(!f.is_available());
        assert!(!f.missing_anon && !f.moves && !f.minor_shmem);
        let reason = f.unavailable_reason().unwrap_or_default();
        assert!(reason.contains("disabled"), "reason: {reason}");
        assert!(f.summary().starts_with("userfaultfd unavailable: "));
    }

    #[test]
    fn probe_on_this_kernel_reports_a_method_or_a_reason() {
        let f = UffdFeatures::probe();
        println!("{}", f.summary());
        for failure in &f.open_failures {
            println!("  tried: {failure}");
        }
        // Either it works (and then a method is known and COPY is usable) or
        // it says why not: never silently empty.
        if f.is_available() {
            assert!(f.method.is_some());
            assert!(f.missing_anon);
        } else {
            assert!(f.unavailable_reason().is_some_and(|r| !r.is_empty()));
        }
    }
}
