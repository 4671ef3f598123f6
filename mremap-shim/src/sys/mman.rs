//! `mmap`, `mremap`, `munmap`, `mprotect`, `madvise` and `mincore`.
//!
//! Addresses and lengths are plain `usize`, as the kernel sees them. These
//! functions are safe to call in the type system's sense but they change
//! the address space: the caller guarantees that no live Rust reference
//! points into a range it unmaps, remaps, protects or discards. The engine
//! discharges that by confining every call to reservations it made itself;
//! the tests by confining them to a sandbox reservation they own.

use std::num::NonZeroUsize;
use std::os::fd::BorrowedFd;
use std::ptr::NonNull;
use std::sync::OnceLock;

use nix::errno::Errno;
pub use nix::sys::mman::{MapFlags, MmapAdvise as Advice, ProtFlags};

use super::error::{SysError, SysOp};
use crate::inject::{self, Site};

/// A failure injected at `site` (tests only; nothing without the
/// `fault-injection` feature).
#[inline(always)]
fn injected(site: Site, op: SysOp) -> Result<(), SysError> {
    match inject::check(site) {
        Some(errno) => Err(SysError::new(op, errno)),
        None => Ok(()),
    }
}

/// `MREMAP_MAYMOVE`.
pub const MREMAP_MAYMOVE: usize = 1;
/// `MREMAP_FIXED`.
pub const MREMAP_FIXED: usize = 2;
/// `MREMAP_DONTUNMAP`.
pub const MREMAP_DONTUNMAP: usize = 4;

/// The system page size (`sysconf(_SC_PAGESIZE)`, 4096 if unavailable).
pub fn page_size() -> usize {
    static PAGE: OnceLock<usize> = OnceLock::new();
    *PAGE.get_or_init(|| {
        nix::unistd::sysconf(nix::unistd::SysconfVar::PAGE_SIZE)
            .ok()
            .flatten()
            .and_then(|v| usize::try_from(v).ok())
            .unwrap_or(4096)
    })
}

fn nonzero_len(op: SysOp, len: usize) -> Result<NonZeroUsize, SysError> {
    // The kernel answers EINVAL to a zero length for every call here.
    NonZeroUsize::new(len).ok_or(SysError::new(op, Errno::EINVAL))
}

fn nonnull(op: SysOp, addr: usize) -> Result<NonNull<libc::c_void>, SysError> {
    // Address 0 is never part of a mapping this crate manages; refusing it
    // here (EINVAL) keeps a null pointer out of nix's NonNull signatures.
    NonNull::new(addr as *mut libc::c_void).ok_or(SysError::new(op, Errno::EINVAL))
}

/// `mmap(addr, len, prot, flags | MAP_ANONYMOUS, -1, 0)`: returns the
/// mapping's address. `addr == 0` means no hint.
pub fn mmap_anon(
    addr: usize,
    len: usize,
    prot: ProtFlags,
    flags: MapFlags,
) -> Result<usize, SysError> {
    let length = nonzero_len(SysOp::Mmap, len)?;
    // SAFETY: creating a mapping cannot invalidate Rust memory unless
    // MAP_FIXED clobbers it; the module contract makes the caller own any
    // fixed target range. The result is an address, not a reference.
    let ptr =
        unsafe { nix::sys::mman::mmap_anonymous(NonZeroUsize::new(addr), length, prot, flags) }
            .map_err(|e| SysError::new(SysOp::Mmap, e))?;
    Ok(ptr.as_ptr() as usize)
}

/// `mmap(addr, len, prot, flags, fd, offset)` of a file: returns the
/// mapping's address. `addr == 0` means no hint.
pub fn mmap_fd(
    addr: usize,
    len: usize,
    prot: ProtFlags,
    flags: MapFlags,
    fd: BorrowedFd<'_>,
    offset: u64,
) -> Result<usize, SysError> {
    let length = nonzero_len(SysOp::Mmap, len)?;
    let offset =
        libc::off_t::try_from(offset).map_err(|_| SysError::new(SysOp::Mmap, Errno::EOVERFLOW))?;
    // SAFETY: as in `mmap_anon`; the fd is borrowed for the call only and
    // the kernel takes its own reference to the file.
    let ptr =
        unsafe { nix::sys::mman::mmap(NonZeroUsize::new(addr), length, prot, flags, fd, offset) }
            .map_err(|e| SysError::new(SysOp::Mmap, e))?;
    Ok(ptr.as_ptr() as usize)
}

/// The raw `mremap` system call with all five arguments. `new_addr` is
/// passed as 0 unless `flags` holds `MREMAP_FIXED` or `MREMAP_DONTUNMAP`
/// (without them the kernel ignores it; 6.17-rc kernels briefly did not).
/// Unknown flag bits are passed through so the kernel can judge them.
pub fn mremap(
    addr: usize,
    old_len: usize,
    new_len: usize,
    flags: usize,
    new_addr: usize,
) -> Result<usize, SysError> {
    injected(Site::Mremap, SysOp::Mremap)?;
    let new_addr = if flags & (MREMAP_FIXED | MREMAP_DONTUNMAP) != 0 {
        new_addr
    } else {
        0
    };
    // SAFETY: a raw syscall with integer arguments; the kernel validates
    // every one of them. Memory safety of the moved/unmapped ranges is the
    // caller's obligation (module contract).
    let ret = unsafe { libc::syscall(libc::SYS_mremap, addr, old_len, new_len, flags, new_addr) };
    if ret == -1 {
        Err(SysError::new(SysOp::Mremap, Errno::last()))
    } else {
        // Success returns an address; on x86-64 user addresses fit in i64.
        Ok(ret as usize)
    }
}

/// `munmap(addr, len)`.
pub fn munmap(addr: usize, len: usize) -> Result<(), SysError> {
    let ptr = nonnull(SysOp::Munmap, addr)?;
    // SAFETY: module contract: the caller owns the range and holds no
    // reference into it.
    unsafe { nix::sys::mman::munmap(ptr, len) }.map_err(|e| SysError::new(SysOp::Munmap, e))
}

/// `mprotect(addr, len, prot)`.
pub fn mprotect(addr: usize, len: usize, prot: ProtFlags) -> Result<(), SysError> {
    let ptr = nonnull(SysOp::Mprotect, addr)?;
    // SAFETY: module contract: the caller owns the range and holds no
    // reference into it that the new protection would invalidate.
    unsafe { nix::sys::mman::mprotect(ptr, len, prot) }
        .map_err(|e| SysError::new(SysOp::Mprotect, e))
}

/// `madvise(addr, len, advice)`, e.g. [`Advice::MADV_DONTNEED`] (private
/// anonymous pages read as zero afterwards) or [`Advice::MADV_DONTFORK`].
pub fn madvise(addr: usize, len: usize, advice: Advice) -> Result<(), SysError> {
    let ptr = nonnull(SysOp::Madvise, addr)?;
    injected(Site::Madvise, SysOp::Madvise)?;
    // SAFETY: module contract: the caller owns the range; discarding advice
    // changes contents only, never the validity of the addresses.
    unsafe { nix::sys::mman::madvise(ptr, len, advice) }
        .map_err(|e| SysError::new(SysOp::Madvise, e))
}

/// `mincore(addr, len)`: one bool per page, true where the page is resident
/// (a present PTE, or for file/shmem mappings a page in the page cache).
/// ENOMEM if the range contains unmapped pages.
pub fn mincore(addr: usize, len: usize) -> Result<Vec<bool>, SysError> {
    let page = page_size();
    let pages = len.div_ceil(page);
    let mut vec = vec![0u8; pages.max(1)];
    // SAFETY: `vec` has room for one byte per page of the range (at least
    // one byte), as mincore requires; the kernel only writes into it.
    let ret = unsafe {
        libc::mincore(
            addr as *mut libc::c_void,
            len,
            vec.as_mut_ptr().cast::<libc::c_uchar>(),
        )
    };
    if ret != 0 {
        return Err(SysError::new(SysOp::Mincore, Errno::last()));
    }
    vec.truncate(pages);
    Ok(vec.into_iter().map(|b| b & 1 == 1).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mremap_without_fixed_ignores_garbage_new_addr() {
        let p = page_size();
        let a = mmap_anon(0, 2 * p, ProtFlags::PROT_READ, MapFlags::MAP_PRIVATE).unwrap();
        // A no-op resize with a nonsense 5th argument: the wrapper zeroes it.
        assert_eq!(mremap(a, 2 * p, 2 * p, 0, 0xdead_b000), Ok(a));
        munmap(a, 2 * p).unwrap();
    }

    #[test]
    fn unknown_mremap_flag_is_einval_with_errno_carried() {
        let p = page_size();
        let a = mmap_anon(0, p, ProtFlags::PROT_READ, MapFlags::MAP_PRIVATE).unwrap();
        let err = mremap(a, p, p, 1 << 20, 0).unwrap_err();
        assert_eq!((err.op, err.errno), (SysOp::Mremap, Errno::EINVAL));
        munmap(a, p).unwrap();
    }

    #[test]
    fn mincore_reports_written_page_resident_and_untouched_not() {
        let p = page_size();
        let a = mmap_anon(
            0,
            2 * p,
            ProtFlags::PROT_READ | ProtFlags::PROT_WRITE,
            MapFlags::MAP_PRIVATE,
        )
        .unwrap();
        // SAFETY: `a` is a fresh private RW mapping of two pages we own.
        unsafe { crate::sys::memory::write_u64(a, 7) };
        assert_eq!(mincore(a, 2 * p).unwrap(), vec![true, false]);
        munmap(a, 2 * p).unwrap();
        assert_eq!(mincore(a, p).unwrap_err().errno, Errno::ENOMEM);
    }

    #[test]
    fn zero_length_mmap_is_einval() {
        let err = mmap_anon(0, 0, ProtFlags::PROT_NONE, MapFlags::MAP_PRIVATE).unwrap_err();
        assert_eq!(err.errno, Errno::EINVAL);
    }
}
