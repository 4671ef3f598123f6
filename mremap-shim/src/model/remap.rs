//! The actions of `mm/mremap.c`: `do_mremap` dispatch, `remap_move` (the
//! 6.17+ multi-VMA move), `mremap_to` (FIXED / DONTUNMAP), `mremap_at`
//! (no-op, shrink, expand in place or by move), `move_vma` and the
//! DONTUNMAP completion. One request struct, [`VmaRemap`], is carried
//! through them like the kernel's `vma_remap_struct`.

use super::pagetable::{realign_possible, TableMove};
use super::unmapped_area::AreaRequest;
use super::vma::can_merge;
use super::{
    align_up_wrapping, AddressSpace, DestChoice, ModelError, MoveCost, MremapOutcome,
    MremapRequest, Rule, Vma, MREMAP_DONTUNMAP, MREMAP_FIXED, MREMAP_MAYMOVE,
    MREMAP_MUST_RELOCATE_ANON, MREMAP_RELOCATE_ANON, PAGE_SIZE, PMD_SIZE,
};

/// `enum mremap_type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RemapType {
    /// Not yet determined.
    Invalid,
    /// `old_len == new_len`.
    NoResize,
    /// `new_len < old_len`.
    Shrink,
    /// `new_len > old_len`.
    Expand,
}

/// The request as it travels through the steps (`struct vma_remap_struct`).
#[derive(Clone, Copy, Debug)]
pub(crate) struct VmaRemap {
    pub(crate) addr: u64,
    pub(crate) old_len: u64,
    pub(crate) new_len: u64,
    pub(crate) flags: u64,
    pub(crate) new_addr: u64,
    pub(crate) delta: u64,
    pub(crate) remap_type: RemapType,
    /// Expanding a VM_LOCKED VMA: fault in the new part afterwards.
    pub(crate) populate_expand: bool,
    /// Where the destination comes from when the kernel chooses it.
    pub(crate) dest: DestChoice,
    /// Accumulated page-table move cost.
    pub(crate) cost: MoveCost,
}

impl VmaRemap {
    /// The request with both lengths page-rounded (wrapping like `PAGE_ALIGN`).
    pub(crate) fn new(req: &MremapRequest, dest: DestChoice) -> Self {
        VmaRemap {
            addr: req.addr,
            old_len: align_up_wrapping(req.old_len, PAGE_SIZE),
            new_len: align_up_wrapping(req.new_len, PAGE_SIZE),
            flags: req.flags,
            new_addr: req.new_addr,
            delta: 0,
            remap_type: RemapType::Invalid,
            populate_expand: false,
            dest,
            cost: MoveCost::default(),
        }
    }

    /// `vrm_implies_new_addr()`: FIXED or DONTUNMAP.
    pub(crate) fn implies_new_addr(&self) -> bool {
        self.flags & (MREMAP_FIXED | MREMAP_DONTUNMAP) != 0
    }

    fn fixed(&self) -> bool {
        self.flags & MREMAP_FIXED != 0
    }

    fn dontunmap(&self) -> bool {
        self.flags & MREMAP_DONTUNMAP != 0
    }

    fn relocate_anon(&self) -> bool {
        self.flags & (MREMAP_RELOCATE_ANON | MREMAP_MUST_RELOCATE_ANON) != 0
    }

    /// `vrm_move_only()`: FIXED with equal lengths (the multi-VMA path).
    fn move_only(&self) -> bool {
        self.fixed() && self.old_len == self.new_len
    }

    /// `vrm_overlaps()`, half-open, with the kernel's wrapping arithmetic.
    pub(crate) fn overlaps(&self) -> bool {
        let end_old = self.addr.wrapping_add(self.old_len);
        let end_new = self.new_addr.wrapping_add(self.new_len);
        end_old > self.new_addr && end_new > self.addr
    }

    /// `vrm_set_delta()` + `vrm_remap_type()`.
    pub(crate) fn set_delta_and_type(&mut self) {
        use std::cmp::Ordering;
        self.delta = self.old_len.abs_diff(self.new_len);
        self.remap_type = match self.new_len.cmp(&self.old_len) {
            Ordering::Equal => RemapType::NoResize,
            Ordering::Less => RemapType::Shrink,
            Ordering::Greater => RemapType::Expand,
        };
    }
}

impl AddressSpace {
    /// `do_mremap()`.
    pub(crate) fn do_mremap(
        &mut self,
        req: &MremapRequest,
        dest: DestChoice,
    ) -> Result<MremapOutcome, ModelError> {
        let mut vrm = VmaRemap::new(req, dest);
        self.check_mremap_params(&vrm)?;
        let new_addr = if self.config.kernel.multi_vma_move && vrm.move_only() {
            self.remap_move(&mut vrm)?
        } else {
            let vma = self.vmas.find(vrm.addr).cloned();
            self.check_prep_vma(&mut vrm, vma.as_ref())?;
            if vrm.implies_new_addr() {
                self.mremap_to(&mut vrm)?
            } else {
                self.mremap_at(&mut vrm)?
            }
        };
        if vrm.populate_expand {
            self.populate(vrm.new_addr + vrm.old_len, vrm.delta);
        }
        Ok(MremapOutcome {
            new_addr,
            cost: vrm.cost,
        })
    }

    /// `remap_move()` (spec e): move every VMA in `[addr, addr+old_len)`,
    /// keeping the gaps between them. Errors after the first VMA leave the
    /// earlier VMAs moved.
    fn remap_move(&mut self, vrm: &mut VmaRemap) -> Result<u64, ModelError> {
        let start = vrm.addr;
        let end = vrm.addr + vrm.old_len;
        let mut target = vrm.new_addr;
        let mut res = None;
        let mut last_end = 0;
        let mut cursor = start;
        while cursor < end {
            let Some(vma) = self.vmas.first_intersecting(cursor, end).cloned() else {
                break;
            };
            let seen = res.is_some();
            if !seen && start < vma.start {
                return Err(Rule::MultiGapAtStart.into());
            }
            let addr = vma.start.max(start);
            let len = end.min(vma.end) - addr;
            let offset = if seen { vma.start - last_end } else { 0 };
            last_end = vma.end;
            let mut sub = VmaRemap {
                addr,
                old_len: len,
                new_len: len,
                new_addr: target + offset,
                cost: MoveCost::default(),
                ..*vrm
            };
            // uffd-armed VMAs need the lock dropped for their event: alone only.
            if vma.flags.uffd && (seen || vma.end < end) {
                return Err(Rule::MultiIneligible.into());
            }
            self.check_prep_vma(&mut sub, Some(&vma))?;
            let moved_to = self.mremap_to(&mut sub)?;
            vrm.cost.add(sub.cost);
            if !seen {
                res = Some(moved_to);
            }
            target = moved_to + sub.new_len;
            cursor = vma.end;
        }
        res.ok_or_else(|| Rule::MultiNoVma.into())
    }

    /// `mremap_to()` (spec a.4): FIXED target unmap, FIXED shrink, choose
    /// the destination, `move_vma`.
    fn mremap_to(&mut self, vrm: &mut VmaRemap) -> Result<u64, ModelError> {
        if vrm.fixed() {
            self.do_munmap(vrm.new_addr, vrm.new_len)?;
            if self.vmas.find(vrm.addr).is_none() {
                return Err(Rule::SourceVanished.into());
            }
        }
        if vrm.remap_type == RemapType::Shrink {
            self.shrink_vma(vrm)?;
            if self.vmas.find(vrm.addr).is_none() {
                return Err(Rule::SourceVanished.into());
            }
            vrm.old_len = vrm.new_len;
        }
        self.set_new_addr(vrm)?;
        self.move_vma(vrm)
    }

    /// `mremap_at()` (spec a.5): no FIXED/DONTUNMAP.
    fn mremap_at(&mut self, vrm: &mut VmaRemap) -> Result<u64, ModelError> {
        match vrm.remap_type {
            RemapType::NoResize | RemapType::Invalid => Ok(vrm.addr),
            RemapType::Shrink => {
                self.shrink_vma(vrm)?;
                Ok(vrm.addr)
            }
            RemapType::Expand => self.expand_vma(vrm),
        }
    }

    /// `shrink_vma()`: unmap `[addr+new_len, addr+old_len)` with munmap
    /// semantics (it may cross VMAs and gaps).
    fn shrink_vma(&mut self, vrm: &VmaRemap) -> Result<(), ModelError> {
        let start = vrm.addr + vrm.new_len;
        let task = self.config.task_size;
        if start > task || vrm.delta > task - start {
            return Err(Rule::ShrinkTailOutOfRange.into());
        }
        self.do_munmap(start, vrm.delta)
    }

    /// `expand_vma()`: in place if the range ends at the VMA's end and the
    /// space after it is free, else move (MAYMOVE) or ENOMEM.
    fn expand_vma(&mut self, vrm: &mut VmaRemap) -> Result<u64, ModelError> {
        let vma = self.vmas.find(vrm.addr).cloned().ok_or(Rule::NoVma)?;
        if vma.end - vrm.addr == vrm.old_len && self.vma_expandable(&vma, vrm.delta) {
            let ext = Vma {
                start: vma.end,
                end: vma.end + vrm.delta,
                pgoff: vma.pgoff + vma.len() / PAGE_SIZE,
                ..vma.clone()
            };
            self.vmas.insert(ext);
            // vma_merge_extend(): merges into vma, and with next if it fits.
            self.vmas.merge_around(vma.end);
            return Ok(vrm.addr);
        }
        if vrm.flags & MREMAP_MAYMOVE == 0 {
            return Err(if vrm.old_len == 0 {
                Rule::MirrorWithoutMaymove
            } else {
                Rule::ExpandWithoutMaymove
            }
            .into());
        }
        self.set_new_addr(vrm)?;
        self.move_vma(vrm)
    }

    /// `vma_expandable()`.
    fn vma_expandable(&self, vma: &Vma, delta: u64) -> bool {
        let Some(end) = vma.end.checked_add(delta) else {
            return false;
        };
        self.vmas.is_free(vma.end, end) && end <= self.config.task_size
    }

    /// `vrm_set_new_addr()`: `get_unmapped_area` with the source's file and
    /// pgoff, the request's address as exact (FIXED) or hint (DONTUNMAP).
    fn set_new_addr(&mut self, vrm: &mut VmaRemap) -> Result<(), ModelError> {
        let vma = self.vmas.find(vrm.addr).ok_or(Rule::NoVma)?;
        let req = AreaRequest {
            hint: if vrm.implies_new_addr() {
                vrm.new_addr
            } else {
                0
            },
            len: vrm.new_len,
            fixed: vrm.fixed(),
            thp_align: vma.backing.is_private_anon() && vrm.new_len.is_multiple_of(PMD_SIZE),
        };
        vrm.new_addr = self.get_unmapped_area(req, vrm.dest)?;
        Ok(())
    }

    /// `move_vma()` (spec a.6): create the destination VMA (merging where
    /// the kernel would, even with the source), move the page tables, then
    /// unmap the source range or complete DONTUNMAP.
    fn move_vma(&mut self, vrm: &mut VmaRemap) -> Result<u64, ModelError> {
        if self.vmas.len() as u64 >= self.config.max_map_count.saturating_sub(3) {
            return Err(Rule::MoveMapCount.into());
        }
        let src = self.vmas.find(vrm.addr).cloned().ok_or(Rule::NoVma)?;
        let relocate = vrm.relocate_anon() && src.backing.is_private_anon() && src.anon.is_some();
        if vrm.flags & MREMAP_MUST_RELOCATE_ANON != 0 && !src.backing.is_private_anon() {
            return Err(Rule::RelocateImpossible.into());
        }
        let mut new_vma = Vma {
            start: vrm.new_addr,
            end: vrm.new_addr + vrm.new_len,
            pgoff: src.pgoff_at(vrm.addr),
            ..src.clone()
        };
        if src.backing.is_private_anon() && (src.anon.is_none() || relocate) {
            // Unfaulted anon takes the pgoff of its new address (copy_vma);
            // RELOCATE_ANON rewrites faulted folios to match.
            new_vma.pgoff = vrm.new_addr / PAGE_SIZE;
        }
        if relocate {
            new_vma.anon = self.relocation_anon(&new_vma);
        }
        self.vmas.insert(new_vma);
        self.vmas.merge_around(vrm.new_addr);
        let merged = self.vmas.find(vrm.new_addr).cloned().ok_or(Rule::NoVma)?;
        let src_now = self.vmas.find(vrm.addr).cloned().ok_or(Rule::NoVma)?;

        let table_moves = !src_now.flags.uffd && !merged.flags.uffd;
        let realign = !src.flags.hugetlb
            && realign_possible(vrm.addr, vrm.new_addr, vrm.old_len)
            && src_now.start == vrm.addr
            && merged.start == vrm.new_addr
            && self.vmas.is_free(vrm.addr & !(PMD_SIZE - 1), vrm.addr)
            && self
                .vmas
                .is_free(vrm.new_addr & !(PMD_SIZE - 1), vrm.new_addr);
        let cost = self.pages.move_cost(&TableMove {
            old_addr: vrm.addr,
            new_addr: vrm.new_addr,
            len: vrm.old_len,
            realign,
            table_moves,
            hugetlb: src.flags.hugetlb,
        });
        vrm.cost.add(cost);
        self.pages.relocate(vrm.addr, vrm.new_addr, vrm.old_len);

        // mremap_userfaultfd_prep(): without EVENT_REMAP the new VMA (the
        // whole VMA it merged into) drops its registration; no re-merge.
        if merged.flags.uffd {
            if let Some(v) = self.vmas.get_mut(merged.start) {
                v.flags.uffd = false;
            }
        }
        if vrm.dontunmap() {
            self.dontunmap_complete(vrm, merged.start);
        } else if vrm.old_len > 0 {
            // unmap_source_vma(): a failure here is ignored by the kernel
            // (accounting only), and move_vma's map_count check leaves room.
            let res = self.do_munmap(vrm.addr, vrm.old_len);
            debug_assert!(res.is_ok(), "source unmap failed: {res:?}");
        }
        Ok(vrm.new_addr)
    }

    /// `dontunmap_complete()` (spec d): the source VMA stays, loses
    /// VM_LOCKED on the whole VMA, and drops its anon_vma if the whole VMA
    /// was moved into a separate new VMA.
    fn dontunmap_complete(&mut self, vrm: &VmaRemap, new_start: u64) {
        let Some(src) = self.vmas.find(vrm.addr).cloned() else {
            return;
        };
        let whole = src.start == vrm.addr && src.end == vrm.addr + vrm.old_len;
        if let Some(v) = self.vmas.get_mut(src.start) {
            v.flags.locked = false;
            if src.start != new_start && whole {
                v.anon = None;
            }
        }
    }

    /// MREMAP_RELOCATE_ANON (spec g): adopt the anon_vma of a destination
    /// neighbour the moved VMA could otherwise merge with, so that it does.
    fn relocation_anon(&self, new_vma: &Vma) -> Option<u64> {
        let neighbours = [
            self.vmas.prev_of(new_vma.start).cloned(),
            self.vmas.next_from(new_vma.end).cloned(),
        ];
        for n in neighbours.into_iter().flatten() {
            let candidate = Vma {
                anon: n.anon,
                ..new_vma.clone()
            };
            let fits = if n.end == new_vma.start {
                can_merge(&n, &candidate)
            } else {
                can_merge(&candidate, &n)
            };
            if fits && n.anon.is_some() {
                return n.anon;
            }
        }
        new_vma.anon
    }
}
