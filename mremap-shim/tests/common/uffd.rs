//! A minimal userfaultfd for tests: open with `UFFD_USER_MODE_ONLY`, the
//! `UFFDIO_API` handshake and `UFFDIO_REGISTER` (MISSING mode), written with
//! libc from the kernel's uapi `linux/userfaultfd.h`.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use nix::errno::Errno;

const UFFD_USER_MODE_ONLY: libc::c_long = 1;
const UFFD_API: u64 = 0xAA;
const UFFDIO_REGISTER_MODE_MISSING: u64 = 1;
// _IOWR(0xAA, 0x3F, struct uffdio_api) and _IOWR(0xAA, 0x00, struct uffdio_register).
const UFFDIO_API_IOCTL: libc::c_ulong = 0xc018_aa3f;
const UFFDIO_REGISTER_IOCTL: libc::c_ulong = 0xc020_aa00;

#[repr(C)]
struct UffdioApi {
    api: u64,
    features: u64,
    ioctls: u64,
}

#[repr(C)]
struct UffdioRange {
    start: u64,
    len: u64,
}

#[repr(C)]
struct UffdioRegister {
    range: UffdioRange,
    mode: u64,
    ioctls: u64,
}

/// An open, handshaken userfaultfd.
pub struct Uffd {
    fd: OwnedFd,
}

impl Uffd {
    /// Open one (user-mode faults only) and do the API handshake; the
    /// errno if userfaultfd is unavailable.
    pub fn open() -> Result<Uffd, Errno> {
        // SAFETY: a raw syscall with integer arguments; it returns a new fd
        // or -1 with errno set.
        let fd = unsafe {
            libc::syscall(
                libc::SYS_userfaultfd,
                libc::O_CLOEXEC as libc::c_long | UFFD_USER_MODE_ONLY,
            )
        };
        if fd < 0 {
            return Err(Errno::last());
        }
        let raw = i32::try_from(fd).map_err(|_| Errno::EBADF)?;
        // SAFETY: the kernel just returned this fd and nothing else owns it.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        let mut api = UffdioApi {
            api: UFFD_API,
            features: 0,
            ioctls: 0,
        };
        // SAFETY: UFFDIO_API reads and writes one `struct uffdio_api`, which
        // `api` is (repr(C), same layout as the uapi struct).
        let ret = unsafe { libc::ioctl(fd.as_raw_fd(), UFFDIO_API_IOCTL, &mut api) };
        if ret != 0 {
            return Err(Errno::last());
        }
        Ok(Uffd { fd })
    }

    /// Register `[start, start + len)` for MISSING faults.
    pub fn register(&self, start: usize, len: usize) -> Result<(), Errno> {
        let mut reg = UffdioRegister {
            range: UffdioRange {
                start: start as u64,
                len: len as u64,
            },
            mode: UFFDIO_REGISTER_MODE_MISSING,
            ioctls: 0,
        };
        // SAFETY: UFFDIO_REGISTER reads and writes one `struct
        // uffdio_register`, which `reg` is (repr(C), uapi layout).
        let ret = unsafe { libc::ioctl(self.fd.as_raw_fd(), UFFDIO_REGISTER_IOCTL, &mut reg) };
        if ret != 0 {
            return Err(Errno::last());
        }
        Ok(())
    }
}

#[test]
fn uffd_structs_have_uapi_sizes() {
    assert_eq!(std::mem::size_of::<UffdioApi>(), 24);
    assert_eq!(std::mem::size_of::<UffdioRegister>(), 32);
}
