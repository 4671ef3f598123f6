//! memfd creation (the `memfd` crate), sized with `ftruncate`.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use super::error::{SysError, SysOp};

/// Create a close-on-exec memfd named `name` of `len` bytes.
pub fn create_memfd(name: &str, len: u64) -> Result<OwnedFd, SysError> {
    if let Some(errno) = crate::inject::check(crate::inject::Site::MemfdCreate) {
        return Err(SysError::new(SysOp::MemfdCreate, errno));
    }
    let memfd = memfd::MemfdOptions::default()
        .close_on_exec(true)
        .create(name)
        .map_err(|e| match e {
            memfd::Error::Create(io) | memfd::Error::AddSeals(io) | memfd::Error::GetSeals(io) => {
                SysError::from_io(SysOp::MemfdCreate, &io)
            }
        })?;
    let file = memfd.into_file();
    file.set_len(len)
        .map_err(|e| SysError::from_io(SysOp::Ftruncate, &e))?;
    Ok(OwnedFd::from(file))
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
}
