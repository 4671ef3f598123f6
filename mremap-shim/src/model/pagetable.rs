//! Which pages are populated, the page cache of shared objects, and the cost
//! of a page-table move as `move_page_tables()` chooses extents.
//!
//! A PTE table (PMD entry) or PMD table (PUD entry) "exists" in the model
//! when some present PTE lies in its aligned region. The kernel keeps a
//! table after its PTEs are moved out or zapped; the model does not, so a
//! whole-entry move of a table that only held pages long gone costs 1 in the
//! kernel and 0 here. Tables are judged on the state before the move
//! starts, which matches the kernel's sticky tables within one move.

use std::collections::{BTreeMap, HashMap};

use super::{Backing, MoveCost, HUGE_PAGE_SIZE, PAGE_SIZE, PMD_SIZE, PUD_SIZE};

/// One present page-table entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Pte {
    /// A private page (anonymous, or a private file's COW copy) holding a value.
    Private(u64),
    /// The shared zero page, mapped by a read fault on private memory.
    Zero,
    /// A page of the VMA's shared object (value in the page cache).
    Shared,
}

/// The object whose page cache backs a VMA.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Object {
    /// A `MAP_SHARED|MAP_ANONYMOUS` shmem object.
    Shmem(u64),
    /// A file (memfd), mapped shared or private.
    File(u64),
}

impl Object {
    /// The page-cache object behind `backing`, if any.
    pub(crate) fn of(backing: Backing) -> Option<Object> {
        match backing {
            Backing::PrivateAnon => None,
            Backing::SharedAnon { object } => Some(Object::Shmem(object)),
            Backing::SharedFile { file } | Backing::PrivateFile { file } => {
                Some(Object::File(file))
            }
        }
    }
}

/// PTEs by virtual page address, and the page cache.
#[derive(Clone, Debug)]
pub(crate) struct PageTable {
    /// False: the engine's cheap mode, every page of a moved range counts as present.
    track: bool,
    ptes: BTreeMap<u64, Pte>,
    cache: HashMap<(Object, u64), u64>,
}

/// One call of `move_page_tables()`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct TableMove {
    /// Source start (the VMA-level address, before realignment).
    pub(crate) old_addr: u64,
    /// Destination start.
    pub(crate) new_addr: u64,
    /// Bytes to move (`len_in`).
    pub(crate) len: u64,
    /// Whether 6.7+ PMD start realignment applies (decided by the caller,
    /// which knows the VMAs: see [`realign_possible`]).
    pub(crate) realign: bool,
    /// Whole PMD/PUD entries may move (no uffd-without-EVENT_REMAP on either VMA).
    pub(crate) table_moves: bool,
    /// The source is hugetlb: moved per huge entry.
    pub(crate) hugetlb: bool,
}

/// The address-only half of `can_realign_addr()`: the source is not
/// PMD-aligned, source and destination share their offset in a PMD, and
/// the range reaches the next PMD boundary. The caller adds the VMA half
/// (both starts are their VMAs' starts, nothing mapped below them down to
/// the PMD boundary).
pub(crate) fn realign_possible(old_addr: u64, new_addr: u64, len: u64) -> bool {
    let old_align = old_addr % PMD_SIZE;
    let new_align = new_addr % PMD_SIZE;
    old_align != 0 && old_align == new_align && len >= PMD_SIZE - old_align
}

/// `get_extent()`: bytes until the next `size` boundary of either cursor,
/// capped at what is left.
fn extent(old: u64, new: u64, end: u64, size: u64) -> u64 {
    let mask = !(size - 1);
    let to_old = (old.wrapping_add(size) & mask).wrapping_sub(old);
    let to_new = (new.wrapping_add(size) & mask).wrapping_sub(new);
    to_old.min(end - old).min(to_new)
}

impl PageTable {
    /// An empty page table; `track` as [`super::ModelConfig::track_pages`].
    pub(crate) fn new(track: bool) -> Self {
        PageTable {
            track,
            ptes: BTreeMap::new(),
            cache: HashMap::new(),
        }
    }

    /// The PTE at page `addr`.
    pub(crate) fn pte(&self, addr: u64) -> Option<Pte> {
        self.ptes.get(&addr).copied()
    }

    /// Install a PTE.
    pub(crate) fn set_pte(&mut self, addr: u64, pte: Pte) {
        self.ptes.insert(addr, pte);
    }

    /// The page-cache value of `(object, pgoff)`, if that page exists.
    pub(crate) fn cache_get(&self, object: Object, pgoff: u64) -> Option<u64> {
        self.cache.get(&(object, pgoff)).copied()
    }

    /// Write a page-cache page.
    pub(crate) fn cache_set(&mut self, object: Object, pgoff: u64, value: u64) {
        self.cache.insert((object, pgoff), value);
    }

    /// Create the page-cache page (zero-filled) if it does not exist.
    pub(crate) fn cache_touch(&mut self, object: Object, pgoff: u64) {
        self.cache.entry((object, pgoff)).or_insert(0);
    }

    /// Drop the PTEs of `[start, end)` (zap_page_range).
    pub(crate) fn zap(&mut self, start: u64, end: u64) {
        let keys: Vec<u64> = self.ptes.range(start..end).map(|(&k, _)| k).collect();
        for k in keys {
            self.ptes.remove(&k);
        }
    }

    /// Move the PTEs of `[old, old+len)` to `new` (the effect of a move).
    pub(crate) fn relocate(&mut self, old: u64, new: u64, len: u64) {
        let moved: Vec<(u64, Pte)> = self
            .ptes
            .range(old..old + len)
            .map(|(&k, &v)| (k, v))
            .collect();
        for (k, _) in &moved {
            self.ptes.remove(k);
        }
        for (k, v) in moved {
            self.ptes.insert(k - old + new, v);
        }
    }

    /// Whether any present PTE lies in `[lo, hi)` (tables exist there).
    fn any(&self, lo: u64, hi: u64) -> bool {
        if !self.track {
            return lo < hi;
        }
        self.ptes.range(lo..hi).next().is_some()
    }

    /// Present PTEs in `[lo, hi)`.
    fn count(&self, lo: u64, hi: u64) -> u64 {
        if lo >= hi {
            return 0;
        }
        if !self.track {
            return (hi - lo) / PAGE_SIZE;
        }
        self.ptes.range(lo..hi).count() as u64
    }

    /// The cost of `m`, extent by extent as `move_page_tables()` walks.
    /// Cheap mode does a constant amount of work per PUD extent.
    pub(crate) fn move_cost(&self, m: &TableMove) -> MoveCost {
        let mut cost = MoveCost::default();
        if m.len == 0 {
            return cost;
        }
        let first = m.old_addr;
        let end = m.old_addr + m.len;
        if m.hugetlb {
            // move_hugetlb_page_tables(): one entry per present huge page.
            let mut a = first;
            while a < end {
                if self.any(a, a + HUGE_PAGE_SIZE) {
                    cost.pmds += 1;
                }
                a += HUGE_PAGE_SIZE;
            }
            return cost;
        }
        let (mut old, mut new) = (m.old_addr, m.new_addr);
        if m.realign {
            old &= !(PMD_SIZE - 1);
            new &= !(PMD_SIZE - 1);
        }
        while old < end {
            let ext = extent(old, new, end, PUD_SIZE);
            let pud_base = old & !(PUD_SIZE - 1);
            if !self.any(pud_base.max(first), (pud_base + PUD_SIZE).min(end)) {
                // No source PUD entry: the whole extent is skipped. (Pages
                // outside the moved range never share a table with it in
                // any case that changes the count.)
            } else if ext == PUD_SIZE && m.table_moves {
                cost.puds += 1;
            } else {
                cost.add(self.pmd_level(old, new, old + ext, first, m.table_moves));
            }
            old += ext;
            new += ext;
        }
        cost
    }

    /// The PMD-level part of one PUD extent `[old, end)`; pages below
    /// `first` (realignment) are never present.
    fn pmd_level(&self, old: u64, new: u64, end: u64, first: u64, table_moves: bool) -> MoveCost {
        let mut cost = MoveCost::default();
        if old % PMD_SIZE != new % PMD_SIZE {
            // No extent is ever a whole PMD: every present PTE moves alone.
            cost.ptes += self.count(old.max(first), end);
            return cost;
        }
        let mut cur = old;
        let head_end = ((cur + PMD_SIZE - 1) & !(PMD_SIZE - 1)).min(end);
        cost.ptes += self.count(cur.max(first), head_end);
        cur = head_end;
        let chunks = (end - cur) / PMD_SIZE;
        let chunks_end = cur + chunks * PMD_SIZE;
        if table_moves {
            if self.track {
                let mut c = cur;
                while c < chunks_end {
                    if self.any(c.max(first), c + PMD_SIZE) {
                        cost.pmds += 1;
                    }
                    c += PMD_SIZE;
                }
            } else {
                cost.pmds += chunks;
                // A realigned first chunk still counts as one entry.
            }
        } else {
            cost.ptes += self.count(cur.max(first), chunks_end);
        }
        cost.ptes += self.count(chunks_end.max(first), end);
        cost
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GIB: u64 = 1 << 30;

    fn full(old: u64, new: u64, len: u64) -> MoveCost {
        PageTable::new(false).move_cost(&TableMove {
            old_addr: old,
            new_addr: new,
            len,
            realign: false,
            table_moves: true,
            hugetlb: false,
        })
    }

    #[test]
    fn pud_aligned_gib_moves_one_pud() {
        let c = full(4 * GIB, 8 * GIB, GIB);
        assert_eq!((c.puds, c.pmds, c.ptes), (1, 0, 0));
    }

    #[test]
    fn pmd_aligned_not_pud_aligned_gib_moves_512_pmds() {
        let c = full(4 * GIB, 8 * GIB + PMD_SIZE, GIB);
        assert_eq!((c.puds, c.pmds, c.ptes), (0, 512, 0));
    }

    #[test]
    fn misaligned_gib_moves_every_pte() {
        let c = full(4 * GIB, 8 * GIB + PAGE_SIZE, GIB);
        assert_eq!((c.puds, c.pmds, c.ptes), (0, 0, 262_144));
    }

    #[test]
    fn extent_is_bounded_by_both_cursors() {
        assert_eq!(
            extent(0, PAGE_SIZE, 10 * PMD_SIZE, PMD_SIZE),
            PMD_SIZE - PAGE_SIZE
        );
        assert_eq!(
            extent(PAGE_SIZE, 0, 10 * PMD_SIZE, PMD_SIZE),
            PMD_SIZE - PAGE_SIZE
        );
        assert_eq!(extent(0, 0, PAGE_SIZE, PMD_SIZE), PAGE_SIZE);
    }

    #[test]
    fn realign_needs_same_offset_and_reaching_the_boundary() {
        let mb = 1 << 20;
        assert!(realign_possible(GIB + mb, 2 * GIB + mb, mb));
        assert!(!realign_possible(GIB + mb, 2 * GIB + mb, mb - PAGE_SIZE));
        assert!(!realign_possible(
            GIB + mb,
            2 * GIB + mb + PAGE_SIZE,
            4 * mb
        ));
        assert!(!realign_possible(GIB, 2 * GIB, 4 * mb));
    }
}
