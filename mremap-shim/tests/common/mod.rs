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
    /// Reserve `len` bytes aligned to `align` (kernel-chosen address).
    pub fn new(len: usize, align: usize) -> Sandbox {
        let flags = sys::MapFlags::MAP_PRIVATE | sys::MapFlags::MAP_NORESERVE;
        let raw =
            sys::mmap_anon(0, len + align, sys::ProtFlags::PROT_NONE, flags).expect("reserve");
        let base = raw.next_multiple_of(align);
        if base > raw {
            sys::munmap(raw, base - raw).expect("trim head");
        }
        let tail = raw + len + align - (base + len);
        if tail > 0 {
            sys::munmap(base + len, tail).expect("trim tail");
        }
        Sandbox { base, len }
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
