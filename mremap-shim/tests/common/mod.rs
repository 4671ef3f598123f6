//! Helpers shared by the integration tests: page access, maps of a range,
//! a sandbox reservation, and a minimal userfaultfd.
#![allow(dead_code)]

pub mod uffd;

use mremap_shim::sys::{self, MapsEntry};

/// Page size.
pub const P: usize = 4096;
/// 2 MiB.
pub const PMD: usize = 2 << 20;

/// Write `value` into the first u64 of the page at `addr`.
pub fn poke(addr: usize, value: u64) {
    // SAFETY: every caller passes a page-aligned address of a writable
    // mapping that the test itself created and no reference points into.
    unsafe { sys::memory::write_u64(addr, value) }
}

/// Read the first u64 of the page at `addr`.
pub fn peek(addr: usize) -> u64 {
    // SAFETY: every caller passes a page-aligned address of a readable
    // mapping that the test itself created.
    unsafe { sys::memory::read_u64(addr) }
}

/// The `/proc/self/maps` lines intersecting `[start, end)`, clipped to it.
pub fn maps_in(start: usize, end: usize) -> Vec<MapsEntry> {
    let (s, e) = (start as u64, end as u64);
    sys::read_maps()
        .expect("read /proc/self/maps")
        .into_iter()
        .filter(|m| m.end > s && m.start < e)
        .map(|mut m| {
            if m.start < s {
                m.offset += s - m.start;
                m.start = s;
            }
            m.end = m.end.min(e);
            m
        })
        .collect()
}

/// Whether each page of `[addr, addr + len)` is resident (None if the range
/// holds unmapped pages).
pub fn resident(addr: usize, len: usize) -> Option<Vec<bool>> {
    sys::mincore(addr, len).ok()
}

/// A PROT_NONE reservation owned by a test, unmapped on drop.
pub struct Sandbox {
    /// Start.
    pub base: usize,
    /// Length.
    pub len: usize,
}

impl Sandbox {
    /// Reserve `len` bytes aligned to `align`, at a fixed low address far
    /// below the mmap area (32 TiB up, `MAP_FIXED_NOREPLACE`): the kernel's
    /// top-down choices for other threads never land in this sandbox's
    /// holes, so a test may punch holes and map into them again.
    pub fn new(len: usize, align: usize) -> Sandbox {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let flags = sys::MapFlags::MAP_PRIVATE
            | sys::MapFlags::MAP_NORESERVE
            | sys::MapFlags::MAP_FIXED_NOREPLACE;
        let stride = (len + align).next_multiple_of(1 << 30);
        for _ in 0..4096 {
            let slot = NEXT.fetch_add(1, Ordering::Relaxed);
            let want = (0x2000_0000_0000usize + slot * stride).next_multiple_of(align);
            match sys::mmap_anon(want, len, sys::ProtFlags::PROT_NONE, flags) {
                Ok(a) if a == want => return Sandbox { base: a, len },
                Ok(a) => {
                    let _ = sys::munmap(a, len);
                }
                Err(_) => {}
            }
        }
        panic!("no free sandbox slot");
    }

    /// Address of page `i`.
    pub fn page(&self, i: usize) -> usize {
        self.base + i * P
    }

    /// One past the end.
    pub fn end(&self) -> usize {
        self.base + self.len
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        if let Err(e) = sys::munmap(self.base, self.len) {
            eprintln!("sandbox unmap failed: {e}");
        }
    }
}

/// Map private anonymous RW pages at `addr` (FIXED).
pub fn map_anon_rw(addr: usize, len: usize) {
    let flags = sys::MapFlags::MAP_PRIVATE | sys::MapFlags::MAP_FIXED;
    let rw = sys::ProtFlags::PROT_READ | sys::ProtFlags::PROT_WRITE;
    sys::mmap_anon(addr, len, rw, flags).expect("map anon");
}
