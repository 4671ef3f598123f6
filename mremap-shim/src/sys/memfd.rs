//! memfd creation (the `memfd` crate), sized with `ftruncate` and sealed
//! against shrinking.
//!
//! A memfd is reachable from other processes of the same user through
//! `/proc/PID/fd/N`; one that truncated the file would turn every access
//! past the new end into a `SIGBUS` the collector cannot resolve. The file
//! is therefore sealed with `F_SEAL_SHRINK` once sized (growing stays
//! allowed), and then with `F_SEAL_SEAL`, so that nobody can add seals that
//! would break the collector's own writes (`F_SEAL_WRITE`,
//! `F_SEAL_FUTURE_WRITE`) or its growth (`F_SEAL_GROW`).

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use super::error::{SysError, SysOp};

/// Create a close-on-exec memfd named `name` of `len` bytes, sealed against
/// shrinking and against further seals (module doc).
pub fn create_memfd(name: &str, len: u64) -> Result<OwnedFd, SysError> {
    if let Some(errno) = crate::inject::check(crate::inject::Site::MemfdCreate) {
        return Err(SysError::new(SysOp::MemfdCreate, errno));
    }
    let as_sys = |op: SysOp| {
        move |e: memfd::Error| match e {
            memfd::Error::Create(io) | memfd::Error::AddSeals(io) | memfd::Error::GetSeals(io) => {
                SysError::from_io(op, &io)
            }
        }
    };
    let memfd = memfd::MemfdOptions::default()
        .close_on_exec(true)
        .allow_sealing(true)
        .create(name)
        .map_err(as_sys(SysOp::MemfdCreate))?;
    memfd
        .as_file()
        .set_len(len)
        .map_err(|e| SysError::from_io(SysOp::Ftruncate, &e))?;
    memfd
        .add_seal(memfd::FileSeal::SealShrink)
        .map_err(as_sys(SysOp::Seal))?;
    memfd
        .add_seal(memfd::FileSeal::SealSeal)
        .map_err(as_sys(SysOp::Seal))?;
    Ok(OwnedFd::from(memfd.into_file()))
}

/// The identity of the file behind `fd` as `/proc/self/maps` shows it:
/// its inode number.
pub fn file_identity(fd: BorrowedFd<'_>) -> Result<u64, SysError> {
    let st = nix::sys::stat::fstat(fd.as_fd()).map_err(|e| SysError::new(SysOp::Fstat, e))?;
    Ok(st.st_ino)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memfd_has_requested_size_and_distinct_inodes() {
        let a = create_memfd("shim-test-a", 3 * 4096).unwrap();
        let b = create_memfd("shim-test-b", 4096).unwrap();
        let st = nix::sys::stat::fstat(a.as_fd()).unwrap();
        assert_eq!(st.st_size, 3 * 4096);
        assert_ne!(
            file_identity(a.as_fd()).unwrap(),
            file_identity(b.as_fd()).unwrap()
        );
    }

    #[test]
    fn memfd_cannot_shrink_or_take_new_seals_but_can_grow() {
        use nix::fcntl::{fcntl, FcntlArg, SealFlag};
        let fd = create_memfd("shim-test-sealed", 2 * 4096).unwrap();
        let seals = SealFlag::from_bits_truncate(fcntl(fd.as_fd(), FcntlArg::F_GET_SEALS).unwrap());
        assert!(
            seals.contains(SealFlag::F_SEAL_SHRINK | SealFlag::F_SEAL_SEAL),
            "{seals:?}"
        );
        // Through the fd and through /proc, as another process of the same
        // user would open it.
        assert_eq!(
            nix::unistd::ftruncate(fd.as_fd(), 4096),
            Err(nix::errno::Errno::EPERM)
        );
        let path = format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(&fd));
        let other = std::fs::OpenOptions::new().write(true).open(path).unwrap();
        let err = other.set_len(0).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EPERM));
        assert_eq!(
            fcntl(fd.as_fd(), FcntlArg::F_ADD_SEALS(SealFlag::F_SEAL_WRITE)),
            Err(nix::errno::Errno::EPERM)
        );
        nix::unistd::ftruncate(fd.as_fd(), 3 * 4096).unwrap();
        assert_eq!(nix::sys::stat::fstat(fd.as_fd()).unwrap().st_size, 3 * 4096);
    }
}
