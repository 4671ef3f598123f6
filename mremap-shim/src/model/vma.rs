//! The VMA tree: lookup, split and merge, following `mm/vma.c`.
//!
//! Merging mirrors `is_mergeable_vma()` + `is_mergeable_anon_vma()` +
//! `can_vma_merge_{before,after}()`: same backing object, protection and
//! flags, no `VM_SPECIAL`, contiguous page offsets, and compatible anon
//! identities (either never faulted, or the same anon_vma). The kernel only
//! tries to merge at the edges of the range an operation changed, so the
//! tree never merges on its own: callers name the VMA to merge.

use std::collections::BTreeMap;

use super::{Vma, PAGE_SIZE};

/// VMAs keyed by start address; never overlapping.
#[derive(Clone, Debug, Default)]
pub(crate) struct VmaTree {
    map: BTreeMap<u64, Vma>,
}

/// Whether two anon identities may share one VMA (`is_mergeable_anon_vma`,
/// for a process that never forked: every anon_vma chain is singular).
pub(crate) fn anon_compatible(a: Option<u64>, b: Option<u64>) -> bool {
    match (a, b) {
        (Some(x), Some(y)) => x == y,
        _ => true,
    }
}

/// Whether `a` followed directly by `b` would be one VMA in the kernel.
pub(crate) fn can_merge(a: &Vma, b: &Vma) -> bool {
    a.end == b.start
        && a.backing == b.backing
        && a.prot == b.prot
        && a.flags == b.flags
        && !a.flags.is_special()
        && b.pgoff == a.pgoff + a.len() / PAGE_SIZE
        && anon_compatible(a.anon, b.anon)
}

/// `anon_vma_compatible()`: may `b` (just after `a`) reuse `a`'s anon_vma
/// (or the other way round) on its first fault? Like merging, but the
/// protection may differ and the anon identities are not compared.
pub(crate) fn anon_vma_compatible(a: &Vma, b: &Vma) -> bool {
    // VM_SOFTDIRTY and the access bits (our `Prot`) are ignored; nothing else.
    a.end == b.start
        && a.backing == b.backing
        && a.flags == b.flags
        && b.pgoff == a.pgoff + a.len() / PAGE_SIZE
}

impl VmaTree {
    /// Number of VMAs.
    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }

    /// All VMAs in address order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &Vma> {
        self.map.values()
    }

    /// The VMA containing `addr`.
    pub(crate) fn find(&self, addr: u64) -> Option<&Vma> {
        self.map
            .range(..=addr)
            .next_back()
            .map(|(_, v)| v)
            .filter(|v| v.contains(addr))
    }

    /// Mutable access to the VMA starting exactly at `start`.
    pub(crate) fn get_mut(&mut self, start: u64) -> Option<&mut Vma> {
        self.map.get_mut(&start)
    }

    /// The first VMA ending after `start` and starting before `end`.
    pub(crate) fn first_intersecting(&self, start: u64, end: u64) -> Option<&Vma> {
        self.intersecting(start, end).next()
    }

    /// VMAs intersecting `[start, end)`, in address order.
    pub(crate) fn intersecting(&self, start: u64, end: u64) -> impl Iterator<Item = &Vma> {
        let first = self.find(start).map_or(start, |v| v.start);
        self.map
            .range(first..end.max(first))
            .map(|(_, v)| v)
            .filter(move |v| v.end > start && v.start < end)
    }

    /// Whether `[start, end)` is free of VMAs.
    pub(crate) fn is_free(&self, start: u64, end: u64) -> bool {
        self.first_intersecting(start, end).is_none()
    }

    /// The last VMA starting before `addr` (`vma_prev` of a gap or VMA at `addr`).
    pub(crate) fn prev_of(&self, addr: u64) -> Option<&Vma> {
        self.map.range(..addr).next_back().map(|(_, v)| v)
    }

    /// The first VMA starting at or after `addr`.
    pub(crate) fn next_from(&self, addr: u64) -> Option<&Vma> {
        self.map.range(addr..).next().map(|(_, v)| v)
    }

    /// Split the VMA containing `addr` so that a VMA starts at `addr`
    /// (`__split_vma`). No-op if `addr` is already a boundary or unmapped.
    pub(crate) fn split_at(&mut self, addr: u64) {
        let Some(v) = self.find(addr).cloned() else {
            return;
        };
        if v.start == addr {
            return;
        }
        let mut upper = v.clone();
        upper.start = addr;
        upper.pgoff = v.pgoff_at(addr);
        if let Some(lower) = self.map.get_mut(&v.start) {
            lower.end = addr;
        }
        self.map.insert(addr, upper);
    }

    /// Insert a VMA that overlaps nothing, without merging.
    pub(crate) fn insert(&mut self, vma: Vma) {
        debug_assert!(vma.start < vma.end, "empty VMA inserted");
        debug_assert!(
            self.is_free(vma.start, vma.end),
            "VMA [{:#x}, {:#x}) inserted over an existing one",
            vma.start,
            vma.end
        );
        self.map.insert(vma.start, vma);
    }

    /// Remove every VMA inside `[start, end)`; the caller split at both ends.
    pub(crate) fn remove_range(&mut self, start: u64, end: u64) -> Vec<Vma> {
        let starts: Vec<u64> = self.map.range(start..end).map(|(&s, _)| s).collect();
        starts
            .into_iter()
            .filter_map(|s| self.map.remove(&s))
            .inspect(|v| debug_assert!(v.end <= end, "remove_range without split at end"))
            .collect()
    }

    /// Try to merge the VMA containing `addr` with its predecessor, then
    /// with its successor (the order `vma_merge_*` resolves conflicts in:
    /// when both would merge but prev's and next's anon_vmas differ, only
    /// the left merge happens). Returns the start of the resulting VMA.
    pub(crate) fn merge_around(&mut self, addr: u64) -> u64 {
        let Some(mut cur) = self.find(addr).cloned() else {
            return addr;
        };
        if let Some(prev) = self.prev_of(cur.start).cloned() {
            if can_merge(&prev, &cur) {
                self.map.remove(&cur.start);
                if let Some(merged) = self.map.get_mut(&prev.start) {
                    merged.end = cur.end;
                    merged.anon = prev.anon.or(cur.anon);
                    cur = merged.clone();
                }
            }
        }
        if let Some(next) = self.next_from(cur.end).cloned() {
            if can_merge(&cur, &next) {
                self.map.remove(&next.start);
                if let Some(merged) = self.map.get_mut(&cur.start) {
                    merged.end = next.end;
                    merged.anon = cur.anon.or(next.anon);
                }
            }
        }
        cur.start
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Backing, Prot, VmaFlags};

    fn anon(start: u64, end: u64, anon: Option<u64>) -> Vma {
        Vma {
            start,
            end,
            backing: Backing::PrivateAnon,
            prot: Prot::RW,
            flags: VmaFlags::default(),
            pgoff: start / PAGE_SIZE,
            anon,
        }
    }

    #[test]
    fn split_keeps_pgoff_contiguous_and_merge_undoes_it() {
        let mut t = VmaTree::default();
        t.insert(anon(0x10000, 0x20000, Some(1)));
        t.split_at(0x14000);
        assert_eq!(t.len(), 2);
        assert_eq!(t.find(0x15000).map(|v| v.pgoff), Some(0x14));
        assert_eq!(t.merge_around(0x14000), 0x10000);
        assert_eq!(t.len(), 1);
    }

    #[test]
    fn different_anon_identities_do_not_merge() {
        let mut t = VmaTree::default();
        t.insert(anon(0x10000, 0x20000, Some(1)));
        t.insert(anon(0x20000, 0x30000, Some(2)));
        t.merge_around(0x20000);
        assert_eq!(t.len(), 2);
    }

    #[test]
    fn three_way_merge_refused_when_outer_anons_differ_keeps_left_merge() {
        let mut t = VmaTree::default();
        t.insert(anon(0x10000, 0x20000, Some(1)));
        t.insert(anon(0x20000, 0x30000, None));
        t.insert(anon(0x30000, 0x40000, Some(2)));
        assert_eq!(t.merge_around(0x20000), 0x10000);
        let starts: Vec<u64> = t.iter().map(|v| v.start).collect();
        assert_eq!(starts, vec![0x10000, 0x30000]);
    }

    #[test]
    fn intersecting_finds_vma_covering_start() {
        let mut t = VmaTree::default();
        t.insert(anon(0x10000, 0x20000, None));
        t.insert(anon(0x30000, 0x40000, None));
        let hits: Vec<u64> = t.intersecting(0x18000, 0x31000).map(|v| v.start).collect();
        assert_eq!(hits, vec![0x10000, 0x30000]);
        assert!(t.is_free(0x20000, 0x30000));
    }
}
