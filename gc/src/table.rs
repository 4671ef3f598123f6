//! Side tables in their own anonymous mappings, on transparent huge pages
//! where the kernel allows.
//!
//! The mark and live bitmaps and the forwarding plan's per-chunk counts are
//! read at random: marking follows references, and computing a page forwards
//! every reference in it, each to anywhere in the heap. With 4 KiB pages
//! nearly every such read is also a TLB miss (in a VM, a nested page walk),
//! so these tables ask for huge pages (`MADV_HUGEPAGE`; refused silently
//! where transparent huge pages are off). Being fresh anonymous memory, they
//! start zeroed and cost no memory until touched, so a table may cover the
//! whole reservation of a space.

use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicU8};
use std::sync::Arc;

use parking_lot::Mutex;

use mremap_shim::sys::{self, Advice, MapFlags, ProtFlags, SysError, SysOp};

use crate::units::PMD_SIZE;

/// Types whose all-zero bit pattern is a valid value.
///
/// # Safety
/// Implement only for types where every zeroed byte pattern is valid.
pub unsafe trait Zeroed: Sized {}

// SAFETY: zero is a valid integer.
unsafe impl Zeroed for u8 {}
// SAFETY: zero is a valid integer.
unsafe impl Zeroed for u32 {}
// SAFETY: zero is a valid integer.
unsafe impl Zeroed for u64 {}
// SAFETY: an atomic integer has the layout of its integer.
unsafe impl Zeroed for AtomicU8 {}
// SAFETY: an atomic integer has the layout of its integer.
unsafe impl Zeroed for AtomicU32 {}
// SAFETY: an atomic integer has the layout of its integer.
unsafe impl Zeroed for AtomicU64 {}

/// A zero-initialised array of `len` elements in a mapping of its own.
pub struct Table<T: Zeroed> {
    addr: usize,
    len: usize,
    map_len: usize,
    _owns: PhantomData<T>,
}

// SAFETY: the table owns its elements like a `Box<[T]>` does.
unsafe impl<T: Zeroed + Send> Send for Table<T> {}
// SAFETY: shared access hands out `&[T]` only, as `Box<[T]>` does.
unsafe impl<T: Zeroed + Sync> Sync for Table<T> {}

/// The bytes of address space a table of `bytes` bytes maps: whole huge
/// pages from one huge page up (the kernel aligns such anonymous mappings
/// to a huge page, so every page of the table can be one), else whole
/// pages.
pub fn mapped_len(bytes: usize) -> usize {
    let bytes = bytes.max(1);
    if bytes >= PMD_SIZE {
        bytes.next_multiple_of(PMD_SIZE)
    } else {
        bytes.next_multiple_of(sys::page_size())
    }
}

impl<T: Zeroed> Table<T> {
    /// `len` zeroed elements, or the failed `mmap`'s error (the collector's
    /// tables: the heap's bitmaps, the plan's chunk table).
    pub fn try_new(len: usize) -> Result<Table<T>, SysError> {
        if let Some(errno) = crate::inject::check(crate::inject::Site::SideTable) {
            return Err(SysError::new(SysOp::Mmap, errno));
        }
        Table::map(len)
    }

    /// `len` zeroed elements. Panics if the address space is exhausted (as
    /// an allocation of the same size from the global allocator would
    /// abort): for tools such as the verifier; the collector's own tables
    /// use [`Table::try_new`].
    pub fn new(len: usize) -> Table<T> {
        Table::map(len).unwrap_or_else(|e| panic!("mapping a side table failed: {e}"))
    }

    fn map(len: usize) -> Result<Table<T>, SysError> {
        let map_len = mapped_len(len * size_of::<T>());
        let addr = sys::mmap_anon(
            0,
            map_len,
            ProtFlags::PROT_READ | ProtFlags::PROT_WRITE,
            MapFlags::MAP_PRIVATE | MapFlags::MAP_NORESERVE,
        )?;
        if map_len >= PMD_SIZE {
            // Advice only: without transparent huge pages the table works
            // the same on small pages.
            let _ = sys::madvise(addr, map_len, Advice::MADV_HUGEPAGE);
        }
        Ok(Table {
            addr,
            len,
            map_len,
            _owns: PhantomData,
        })
    }
}

impl<T: Zeroed> Table<T> {
    /// A table of no elements, owning no mapping.
    pub fn empty() -> Table<T> {
        Table {
            addr: NonNull::<T>::dangling().as_ptr() as usize,
            len: 0,
            map_len: 0,
            _owns: PhantomData,
        }
    }

    /// Asks the CPU to bring element `i` into cache (nothing if `i` is out
    /// of bounds): for reads at random addresses known some time ahead.
    #[inline(always)]
    pub fn prefetch(&self, i: usize) {
        if i < self.len {
            #[cfg(target_arch = "x86_64")]
            // SAFETY: a prefetch hint never faults and changes no memory;
            // the address lies in the table anyway.
            unsafe {
                use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
                _mm_prefetch::<_MM_HINT_T0>((self.addr + i * size_of::<T>()) as *const i8);
            }
        }
    }
}

impl<T: Zeroed> Table<T> {
    /// Makes elements `range` (clamped to the table) resident now, keeping
    /// their values: writes one byte per page with what it holds. For a
    /// range a stop-the-world pause will write, so that the pause does not
    /// take the page faults (on huge pages, each may zero 2 MiB or compact
    /// memory first: milliseconds).
    pub fn prefault(&mut self, range: std::ops::Range<usize>) {
        let end = range.end.min(self.len);
        if range.start >= end {
            return;
        }
        let page = sys::page_size();
        let first = (self.addr + range.start * size_of::<T>()) & !(page - 1);
        let last = self.addr + end * size_of::<T>();
        for at in (first..last).step_by(page) {
            let p = at.max(self.addr) as *mut u8;
            // SAFETY: `p` lies in the mapping (between the start of element
            // `range.start`'s page, clamped to the table's start, and the
            // end of element `end - 1`); `&mut self` makes the access
            // exclusive, and the byte keeps its value.
            unsafe { p.write_volatile(p.read_volatile()) };
        }
    }
}

impl<T: Zeroed> Deref for Table<T> {
    type Target = [T];

    #[inline(always)]
    fn deref(&self) -> &[T] {
        // SAFETY: the mapping holds `len` elements, zero-initialised (a valid
        // `T` by `Zeroed`), aligned (page-aligned start), alive until drop.
        unsafe { std::slice::from_raw_parts(self.addr as *const T, self.len) }
    }
}

impl<T: Zeroed> DerefMut for Table<T> {
    #[inline(always)]
    fn deref_mut(&mut self) -> &mut [T] {
        // SAFETY: as in `deref`, and `&mut self` makes the access exclusive.
        unsafe { std::slice::from_raw_parts_mut(self.addr as *mut T, self.len) }
    }
}

impl<T: Zeroed> Drop for Table<T> {
    fn drop(&mut self) {
        if self.map_len > 0 {
            // Nothing references the table any more; failure would only leak.
            let _ = sys::munmap(self.addr, self.map_len);
        }
    }
}

/// A table kept from one user to the next (one per cycle): mapping and
/// unmapping a large table takes the process's mmap lock for writing, which
/// stalls every page fault and userfaultfd ioctl of the process meanwhile.
/// A reused table holds what its last user wrote.
pub struct TableCache<T: Zeroed>(Arc<Mutex<Option<Table<T>>>>);

impl<T: Zeroed> Clone for TableCache<T> {
    fn clone(&self) -> Self {
        TableCache(self.0.clone())
    }
}

impl<T: Zeroed> Default for TableCache<T> {
    fn default() -> Self {
        TableCache(Arc::new(Mutex::new(None)))
    }
}

impl<T: Zeroed> TableCache<T> {
    /// The kept table if it has `len` elements, else a new one (or the
    /// failed `mmap`'s error).
    pub fn take(&self, len: usize) -> Result<Table<T>, SysError> {
        match self.0.lock().take() {
            Some(t) if t.len() == len => Ok(t),
            _ => Table::try_new(len),
        }
    }

    /// Keeps `table` for the next [`TableCache::take`].
    pub fn give_back(&self, table: Table<T>) {
        *self.0.lock() = Some(table);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::Ordering;

    #[test]
    fn starts_zeroed_and_keeps_writes() {
        let mut t: Table<u32> = Table::new(3 << 20);
        assert_eq!(t.len(), 3 << 20);
        assert!(t.iter().step_by(4096).all(|&x| x == 0));
        t[12345] = 7;
        t[(3 << 20) - 1] = 9;
        assert_eq!((t[12345], t[(3 << 20) - 1]), (7, 9));
        let a: Table<AtomicU64> = Table::new(10);
        a[9].fetch_or(5, Ordering::Relaxed);
        assert_eq!(a[9].load(Ordering::Relaxed), 5);
        assert!(Table::<u32>::empty().is_empty());
    }

    /// Resident pages of `len` bytes at `addr`.
    fn resident_pages(addr: usize, len: usize) -> usize {
        let pages = sys::mincore(addr, len).expect("mincore on the table");
        pages.into_iter().filter(|&resident| resident).count()
    }

    #[test]
    fn prefault_makes_a_range_resident_and_keeps_its_values() {
        // Small pages only: a table under 2 MiB gets no MADV_HUGEPAGE.
        let mut t: Table<u64> = Table::new(100_000);
        t[70_000] = 5;
        let addr = t.as_ptr() as usize;
        let before = resident_pages(addr, 800_000);
        t.prefault(10_000..60_000);
        let after = resident_pages(addr, 800_000);
        // 50000 u64 span 98 or 99 pages.
        assert!(after - before >= 97, "{before} -> {after} resident pages");
        assert!(t[10_000..60_000].iter().all(|&x| x == 0));
        assert_eq!(t[70_000], 5);
        t.prefault(99_000..200_000); // clamped to the table
        t.prefault(5..5); // empty
        assert_eq!(t[99_999], 0);
    }

    #[test]
    fn a_cache_hands_back_the_same_mapping() {
        let cache = TableCache::<u32>::default();
        let mut t = cache.take(1000).expect("table");
        t[3] = 42;
        let addr = t.as_ptr();
        cache.give_back(t);
        let again = cache.take(1000).expect("table");
        assert_eq!((again.as_ptr(), again[3]), (addr, 42));
        cache.give_back(again);
        assert_eq!(
            cache.take(999).expect("table").len(),
            999,
            "another length maps anew"
        );
    }
}
