//! The non-moving space: a memfd mapped `MAP_SHARED`, for large objects and
//! objects the embedder pins.
//!
//! Allocation is best fit over a free list of 16-byte-granular ranges (by
//! size and by address, so freed neighbours coalesce), falling back to a bump
//! pointer over never-used space. An object-start bitmap makes the space
//! walkable; sweeping frees every start that the mark bitmap left clear. A
//! page table of covering objects finds the object an address lies in
//! without searching back through the bitmap (a large array spans
//! thousands of pages).

use std::collections::{BTreeMap, BTreeSet};

use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;

use crate::mark::bitmap::Bitmap;
use crate::table::Table;
use crate::units::PAGE_SIZE;

/// Allocation granule of the non-moving space.
const GRANULE: usize = 16;

struct FreeList {
    by_addr: BTreeMap<usize, usize>,
    by_size: BTreeSet<(usize, usize)>,
    bump: usize,
    used: usize,
    /// While set, every allocation is also recorded in `allocated_black`.
    black: bool,
    /// The extent of the objects allocated since the last promotion
    /// (`young_from > young_to` when there are none): the young bitmap has
    /// no bit outside it, so a promotion clears only its words.
    young_from: usize,
    young_to: usize,
}

/// Allocator state of the non-moving space.
pub struct NonMovingSpace {
    base: usize,
    capacity: usize,
    starts: Bitmap,
    allocated_black: Bitmap,
    /// Objects allocated since the last generational cycle promoted
    /// everything ([`NonMovingSpace::clear_young`]).
    young: Bitmap,
    free: Mutex<FreeList>,
    /// Per page: the start of the allocated object the page's first byte
    /// lies strictly inside, or 0 (the byte is an object start, or free).
    /// Written under the free-list lock by `alloc` and `free`.
    covering: Table<AtomicU64>,
}

impl NonMovingSpace {
    /// How many bitmaps covering the space it maps.
    pub const BITMAPS: usize = 3;

    /// Bytes of the covering-object table of a space of `capacity` bytes.
    pub fn covering_table_bytes(capacity: usize) -> usize {
        capacity.div_ceil(PAGE_SIZE) * std::mem::size_of::<AtomicU64>()
    }

    /// A space over `[base, base + capacity)`, empty; `Err` if its
    /// bitmaps cannot be mapped.
    pub fn new(base: usize, capacity: usize) -> Result<NonMovingSpace, mremap_shim::sys::SysError> {
        Ok(NonMovingSpace {
            base,
            capacity,
            starts: Bitmap::try_new(base, capacity)?,
            allocated_black: Bitmap::try_new(base, capacity)?,
            young: Bitmap::try_new(base, capacity)?,
            covering: Table::try_new(capacity.div_ceil(PAGE_SIZE))?,
            free: Mutex::new(FreeList {
                by_addr: BTreeMap::new(),
                by_size: BTreeSet::new(),
                bump: base,
                used: 0,
                black: false,
                young_from: usize::MAX,
                young_to: 0,
            }),
        })
    }

    /// First address of the space.
    pub fn base(&self) -> usize {
        self.base
    }

    /// Bytes the space can hold.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Whether `addr` lies in the space.
    #[inline(always)]
    pub fn contains(&self, addr: usize) -> bool {
        addr.wrapping_sub(self.base) < self.capacity
    }

    /// Bytes in allocated objects.
    pub fn used(&self) -> usize {
        self.free.lock().used
    }

    /// One past the highest byte ever allocated (walks stop here).
    pub fn high_water(&self) -> usize {
        self.free.lock().bump
    }

    /// The object-start bitmap (one bit per allocated object).
    pub fn starts(&self) -> &Bitmap {
        &self.starts
    }

    /// The start of the last object starting at or before `addr`, looking
    /// back no further than the object `addr`'s page begins inside: the
    /// object holding `addr` if there is one (it may also be an object that
    /// ends before `addr`, when `addr` lies in free space). Constant time:
    /// at most one page of the start bitmap, then the page's covering
    /// object.
    pub fn object_at_or_before(&self, addr: usize) -> Option<usize> {
        debug_assert!(self.contains(addr));
        let page = addr & !(PAGE_SIZE - 1);
        let starts = &self.starts;
        if let Some(bit) = starts.find_prev_set_above(starts.bit_of(addr), starts.bit_of(page)) {
            return Some(starts.addr_of(bit));
        }
        match self.covering[(page - self.base) / PAGE_SIZE].load(Ordering::Relaxed) {
            0 => None,
            start => Some(start as usize),
        }
    }

    /// Records `value` as the covering object of every page whose first
    /// byte lies strictly inside `[addr, addr + bytes)`.
    fn cover(&self, addr: usize, bytes: usize, value: usize) {
        let first = (addr + 1).next_multiple_of(PAGE_SIZE);
        for page in (first..addr + bytes).step_by(PAGE_SIZE) {
            self.covering[(page - self.base) / PAGE_SIZE].store(value as u64, Ordering::Relaxed);
        }
    }

    /// Starts or stops allocating black: while on (a concurrent compaction
    /// runs), objects allocated are recorded as such, so that the sweep at
    /// the end of the cycle, which frees every unmarked object, spares them
    /// and the compaction, which updates only marked objects, leaves them
    /// alone. Turning it off forgets the records below `clear_below`.
    pub fn set_allocating_black(&self, on: bool, clear_below: usize) {
        let mut fl = self.free.lock();
        fl.black = on;
        if !on {
            self.allocated_black.clear_below(clear_below.max(fl.bump));
        }
    }

    /// Whether the object at `addr` was allocated while allocating black.
    pub fn is_black(&self, addr: usize) -> bool {
        self.allocated_black.test(addr)
    }

    /// Whether the object at `addr` was allocated since the last
    /// promotion: young for generational collection.
    #[inline(always)]
    pub fn is_young(&self, addr: usize) -> bool {
        self.young.test(addr)
    }

    /// The young objects' start bitmap.
    pub fn young(&self) -> &Bitmap {
        &self.young
    }

    /// Makes every object old (a cycle promoted them; world stopped).
    /// Clears only the young bitmap's words over the objects allocated
    /// since the last promotion: a space holding a large old generation and
    /// few new objects is not swept bit by bit in a pause (1 GiB of
    /// non-moving space is 16 MiB of bitmap, about 1.5 ms to clear).
    pub fn clear_young(&self) {
        let mut fl = self.free.lock();
        if fl.young_from < fl.young_to {
            self.young.clear_words_over(fl.young_from, fl.young_to);
        }
        (fl.young_from, fl.young_to) = (usize::MAX, 0);
    }

    /// Allocates `bytes` (a multiple of 16) if `allow(used_after)` accepts
    /// the space's use after the allocation; returns the address. The memory
    /// may hold stale data.
    pub fn alloc(&self, bytes: usize, allow: impl FnOnce(usize) -> bool) -> Option<usize> {
        debug_assert!(bytes.is_multiple_of(GRANULE) && bytes > 0);
        let mut fl = self.free.lock();
        if !allow(fl.used + bytes) {
            return None;
        }
        let addr = if let Some(&(size, addr)) = fl.by_size.range((bytes, 0)..).next() {
            fl.by_size.remove(&(size, addr));
            fl.by_addr.remove(&addr);
            if size > bytes {
                fl.by_size.insert((size - bytes, addr + bytes));
                fl.by_addr.insert(addr + bytes, size - bytes);
            }
            addr
        } else {
            let addr = fl.bump;
            if addr + bytes > self.base + self.capacity {
                return None;
            }
            fl.bump += bytes;
            addr
        };
        fl.used += bytes;
        fl.young_from = fl.young_from.min(addr);
        fl.young_to = fl.young_to.max(addr + bytes);
        self.cover(addr, bytes, addr);
        if fl.black {
            self.allocated_black.set(addr);
        }
        self.young.set(addr);
        self.starts.set(addr);
        Some(addr)
    }

    /// Frees the object at `addr` of `bytes` bytes (sweeping; world stopped).
    pub fn free(&self, addr: usize, bytes: usize) {
        let mut fl = self.free.lock();
        self.starts.clear(addr);
        self.young.clear(addr);
        self.cover(addr, bytes, 0);
        fl.used -= bytes;
        let (mut start, mut len) = (addr, bytes);
        if let Some((&prev, &plen)) = fl.by_addr.range(..addr).next_back() {
            if prev + plen == addr {
                fl.by_addr.remove(&prev);
                fl.by_size.remove(&(plen, prev));
                start = prev;
                len += plen;
            }
        }
        if let Some(&nlen) = fl.by_addr.get(&(addr + bytes)) {
            fl.by_addr.remove(&(addr + bytes));
            fl.by_size.remove(&(nlen, addr + bytes));
            len += nlen;
        }
        if start + len == fl.bump {
            fl.bump = start;
        } else {
            fl.by_addr.insert(start, len);
            fl.by_size.insert((len, start));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn freed_neighbours_coalesce_and_are_reused() {
        let s = NonMovingSpace::new(0x10_0000, 1 << 20).expect("bitmaps");
        let a = s.alloc(64, |_| true).expect("a");
        let b = s.alloc(32, |_| true).expect("b");
        let c = s.alloc(128, |_| true).expect("c");
        assert_eq!((b - a, c - b), (64, 32));
        s.free(a, 64);
        s.free(b, 32);
        assert_eq!(s.used(), 128);
        let d = s.alloc(96, |_| true).expect("d");
        assert_eq!(d, a, "coalesced 64+32 range must serve a 96-byte request");
        s.free(c, 128);
        s.free(d, 96);
        assert_eq!(
            s.high_water(),
            0x10_0000,
            "freeing the top returns it to the bump pointer"
        );
        assert_eq!(s.used(), 0);
    }

    #[test]
    fn the_object_an_address_lies_in_is_found_across_pages() {
        let base = 0x10_0000;
        let s = NonMovingSpace::new(base, 1 << 20).expect("bitmaps");
        let small = s.alloc(64, |_| true).expect("small");
        let big = s.alloc(10 * PAGE_SIZE, |_| true).expect("big");
        let after = s.alloc(32, |_| true).expect("after");
        // Inside the big object, pages away from its start.
        assert_eq!(s.object_at_or_before(big + 7 * PAGE_SIZE + 8), Some(big));
        assert_eq!(s.object_at_or_before(big + 10 * PAGE_SIZE - 16), Some(big));
        assert_eq!(s.object_at_or_before(small + 16), Some(small));
        assert_eq!(s.object_at_or_before(after), Some(after));
        // Freed, the pages it covered name no object; reused in part, they
        // name the new one where it reaches.
        s.free(big, 10 * PAGE_SIZE);
        assert_eq!(s.object_at_or_before(big + 7 * PAGE_SIZE + 8), None);
        let part = s.alloc(3 * PAGE_SIZE, |_| true).expect("reuse");
        assert_eq!(part, big);
        assert_eq!(s.object_at_or_before(big + 2 * PAGE_SIZE + 8), Some(big));
        assert_eq!(s.object_at_or_before(big + 7 * PAGE_SIZE + 8), None);
        // In the free gap after an object that ends on the same page: that
        // object (callers check its extent).
        assert_eq!(s.object_at_or_before(after + 48), Some(after));
        assert_eq!(s.object_at_or_before(big + 3 * PAGE_SIZE + 128), Some(big));
    }

    #[test]
    fn a_promotion_makes_every_object_old_also_after_frees_and_reuse() {
        let base = 0x10_0000;
        let s = NonMovingSpace::new(base, 1 << 20).expect("bitmaps");
        let old = s.alloc(4 * PAGE_SIZE, |_| true).expect("old");
        let a = s.alloc(64, |_| true).expect("a");
        s.clear_young();
        assert!(!s.is_young(old) && !s.is_young(a), "promoted");
        // Young objects far apart, one in a reused gap below the others.
        let far = s.alloc(32 * PAGE_SIZE, |_| true).expect("far");
        let b = s.alloc(48, |_| true).expect("b");
        s.free(old, 4 * PAGE_SIZE);
        let low = s.alloc(80, |_| true).expect("reused");
        assert_eq!(low, old);
        assert!(s.is_young(far) && s.is_young(b) && s.is_young(low));
        assert!(!s.is_young(a), "an old object stays old");
        s.clear_young();
        for o in [far, b, low, a] {
            assert!(!s.is_young(o), "{:#x} old after the promotion", o - base);
        }
        assert_eq!(s.young().find_next_set(0, s.young().len_bits()), None);
        // Nothing allocated since: a promotion clears nothing and fails
        // nothing.
        s.clear_young();
        let c = s.alloc(16, |_| true).expect("c");
        assert!(s.is_young(c));
    }

    #[test]
    fn refuses_past_capacity_and_when_not_allowed() {
        let s = NonMovingSpace::new(0x10_0000, 256).expect("bitmaps");
        assert!(s.alloc(256, |_| true).is_some());
        assert!(s.alloc(16, |_| true).is_none());
        let t = NonMovingSpace::new(0x10_0000, 256).expect("bitmaps");
        assert!(t.alloc(16, |_| false).is_none());
    }
}
