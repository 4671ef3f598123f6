//! Helpers shared by the `uffd_*` integration tests: plain mmap'd test
//! memory (not the mremap-shim engine, so these tests depend only on the
//! kernel), the probe-or-skip step and a fault-serving helper.

#![allow(dead_code)]

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::ptr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use uffd::{OpenOptions, UffdFeatures, UserFaultFd, PAGE_SIZE};

/// How long a server waits for a fault event before declaring the test
/// broken (a liveness bound, not a timing assertion).
pub const EVENT_TIMEOUT: Duration = Duration::from_secs(10);

/// A test mapping, unmapped on drop.
pub struct Mapping {
    pub ptr: *mut u8,
    pub len: usize,
}

// SAFETY: the mapping is plain memory; tests hand its address to threads
// and coordinate access themselves.
unsafe impl Send for Mapping {}
// SAFETY: as above: the struct holds only an address and a length.
unsafe impl Sync for Mapping {}

impl Mapping {
    /// `pages` of private anonymous memory, not yet touched.
    pub fn anon(pages: usize) -> Mapping {
        Self::map(pages, libc::MAP_PRIVATE | libc::MAP_ANONYMOUS, -1)
    }

    /// `pages` of a `MAP_SHARED` view of `memfd` from offset 0.
    pub fn shared(memfd: &OwnedFd, pages: usize) -> Mapping {
        Self::map(pages, libc::MAP_SHARED, memfd.as_raw_fd())
    }

    fn map(pages: usize, flags: libc::c_int, fd: libc::c_int) -> Mapping {
        let len = pages * PAGE_SIZE;
        // SAFETY: a fresh mapping wherever the kernel likes; overlaps nothing.
        let ptr = unsafe {
            libc::mmap(
                ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                flags,
                fd,
                0,
            )
        };
        assert_ne!(
            ptr,
            libc::MAP_FAILED,
            "mmap failed: {}",
            std::io::Error::last_os_error()
        );
        Mapping {
            ptr: ptr.cast(),
            len,
        }
    }

    /// Address of page `i`.
    pub fn page(&self, i: usize) -> *mut u8 {
        assert!(i * PAGE_SIZE < self.len, "page {i} outside the mapping");
        // SAFETY: in bounds of the mapping (asserted).
        unsafe { self.ptr.add(i * PAGE_SIZE) }
    }

    /// `MADV_DONTNEED` the whole mapping: anonymous pages become missing,
    /// shared mappings lose their PTEs (the page cache stays).
    pub fn zap(&self) {
        // SAFETY: our own mapping; nothing holds references into it.
        let ret = unsafe { libc::madvise(self.ptr.cast(), self.len, libc::MADV_DONTNEED) };
        assert_eq!(ret, 0, "madvise: {}", std::io::Error::last_os_error());
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: unmapping the range this value mapped.
        unsafe { libc::munmap(self.ptr.cast(), self.len) };
    }
}

/// A memfd of `pages` pages.
pub fn memfd(pages: usize) -> OwnedFd {
    // SAFETY: NUL-terminated literal name; returns a new fd or -1.
    let raw = unsafe { libc::memfd_create(c"gc-uffd-test".as_ptr(), libc::MFD_CLOEXEC) };
    assert!(
        raw >= 0,
        "memfd_create: {}",
        std::io::Error::last_os_error()
    );
    // SAFETY: `raw` is a new fd nothing else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    // SAFETY: ftruncate of our own fd.
    let ret = unsafe { libc::ftruncate(fd.as_raw_fd(), (pages * PAGE_SIZE) as libc::off_t) };
    assert_eq!(ret, 0, "ftruncate: {}", std::io::Error::last_os_error());
    fd
}

/// Probes; prints a skip line and returns `None` when `needed` is not met.
pub fn probe_or_skip(
    test: &str,
    needed: impl Fn(&UffdFeatures) -> bool,
    what: &str,
) -> Option<UffdFeatures> {
    let features = UffdFeatures::probe();
    if !features.is_available() {
        eprintln!(
            "SKIP {test}: {}",
            features
                .unavailable_reason()
                .unwrap_or("userfaultfd unavailable")
        );
        return None;
    }
    if !needed(&features) {
        eprintln!("SKIP {test}: kernel lacks {what} ({})", features.summary());
        return None;
    }
    Some(features)
}

/// Opens a userfaultfd, panicking with the error (call after a probe).
pub fn open(options: OpenOptions) -> UserFaultFd {
    match UserFaultFd::open(&options) {
        Ok(uffd) => uffd,
        Err(err) => panic!("open failed after a successful probe: {err}"),
    }
}

/// The calling thread's kernel thread id.
pub fn gettid() -> u32 {
    // SAFETY: gettid has no preconditions.
    unsafe { libc::gettid() as u32 }
}

/// Spawns a "mutator" that reads the first byte at `addr` (faulting if it is
/// not mapped) and returns it; `tid` receives its thread id first.
pub fn spawn_reader(addr: usize, tid: Arc<AtomicU32>) -> JoinHandle<u8> {
    std::thread::spawn(move || {
        tid.store(gettid(), Ordering::SeqCst);
        // SAFETY: `addr` is a mapped test page that stays mapped until this
        // thread is joined; a volatile read so the access really happens.
        unsafe { ptr::read_volatile(addr as *const u8) }
    })
}

/// A page-aligned source buffer whose every byte is `byte`.
pub fn filled_page(byte: u8) -> Mapping {
    let page = Mapping::anon(1);
    // SAFETY: the page is ours and writable.
    unsafe { ptr::write_bytes(page.ptr, byte, PAGE_SIZE) };
    page
}
