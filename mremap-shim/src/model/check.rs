//! The validation steps of `mm/mremap.c`, in the kernel's order:
//! `check_mremap_params()` (spec a.1, before the mmap lock) and
//! `check_prep_vma()` (spec a.3, once per VMA).

use super::remap::{RemapType, VmaRemap};
use super::{
    align_up_wrapping, AddressSpace, ModelError, Rule, Vma, HUGE_PAGE_SIZE, MREMAP_DONTUNMAP,
    MREMAP_FIXED, MREMAP_MAYMOVE, MREMAP_MUST_RELOCATE_ANON, MREMAP_RELOCATE_ANON, PAGE_SIZE,
};

impl AddressSpace {
    /// Spec a.1, steps 1–10. Lengths were page-rounded by [`VmaRemap::new`].
    pub(crate) fn check_mremap_params(&self, vrm: &VmaRemap) -> Result<(), ModelError> {
        let task = self.config.task_size;
        let mut known = MREMAP_FIXED | MREMAP_MAYMOVE | MREMAP_DONTUNMAP;
        if self.config.kernel.relocate_anon_accepted {
            known |= MREMAP_RELOCATE_ANON | MREMAP_MUST_RELOCATE_ANON;
        }
        if vrm.flags & !known != 0 {
            return Err(Rule::UnknownFlags.into());
        }
        if !vrm.addr.is_multiple_of(PAGE_SIZE) {
            return Err(Rule::AddrUnaligned.into());
        }
        if vrm.new_len == 0 {
            return Err(Rule::NewLenZero.into());
        }
        if vrm.new_len > task {
            return Err(Rule::NewLenTooLarge.into());
        }
        if !vrm.implies_new_addr() {
            // new_addr is ignored completely.
            return Ok(());
        }
        if vrm.new_addr > task - vrm.new_len {
            return Err(Rule::NewAddrTooHigh.into());
        }
        if !vrm.new_addr.is_multiple_of(PAGE_SIZE) {
            return Err(Rule::NewAddrUnaligned.into());
        }
        if vrm.flags & MREMAP_MAYMOVE == 0 {
            return Err(Rule::MissingMaymove.into());
        }
        if vrm.flags & MREMAP_DONTUNMAP != 0 && vrm.old_len != vrm.new_len {
            return Err(Rule::DontunmapResize.into());
        }
        if vrm.overlaps() {
            return Err(Rule::Overlap.into());
        }
        // Worst case both the source and the target VMA split in three.
        if self.vmas.len() as u64 + 2 >= self.config.max_map_count.saturating_sub(3) {
            return Err(Rule::MapCountHeadroom.into());
        }
        Ok(())
    }

    /// Spec a.3, steps 13–22, for the VMA found at `vrm.addr` (`vma`).
    /// Sets the remap type, delta, and `new_addr := addr` when the request
    /// does not imply a new address.
    pub(crate) fn check_prep_vma(
        &self,
        vrm: &mut VmaRemap,
        vma: Option<&Vma>,
    ) -> Result<(), ModelError> {
        let vma = vma.ok_or(Rule::NoVma)?;
        if vma.flags.sealed {
            return Err(Rule::SealedSource.into());
        }
        if vma.flags.hugetlb {
            vrm.old_len = align_up_wrapping(vrm.old_len, HUGE_PAGE_SIZE);
            vrm.new_len = align_up_wrapping(vrm.new_len, HUGE_PAGE_SIZE);
            // The raw new_addr is checked even without FIXED (spec a.3 quirk).
            if !vrm.addr.is_multiple_of(HUGE_PAGE_SIZE)
                || !vrm.new_addr.is_multiple_of(HUGE_PAGE_SIZE)
            {
                return Err(Rule::HugetlbUnaligned.into());
            }
            if vrm.new_len > vrm.old_len {
                return Err(Rule::HugetlbExpand.into());
            }
        }
        vrm.set_delta_and_type();
        if !vrm.implies_new_addr() {
            vrm.new_addr = vrm.addr;
        }
        if !(vrm.remap_type == RemapType::Expand || vrm.implies_new_addr()) {
            return Ok(());
        }
        if vrm.old_len == 0 && !vma.backing.is_shared() {
            return Err(Rule::MirrorOfPrivate.into());
        }
        if vrm.flags & MREMAP_DONTUNMAP != 0 {
            if vma.flags.dontexpand || vma.flags.pfnmap || vma.flags.hugetlb {
                return Err(Rule::DontunmapSpecial.into());
            }
            if !self.config.kernel.dontunmap_shared && !vma.backing.is_private_anon() {
                return Err(Rule::DontunmapNotPrivateAnon.into());
            }
        }
        // A shrink may cross VMA boundaries in the part it unmaps.
        let len = if vrm.remap_type == RemapType::Shrink {
            vrm.new_len
        } else {
            vrm.old_len
        };
        if len > vma.end - vrm.addr {
            return Err(Rule::RangePastVmaEnd.into());
        }
        if vrm.new_len == len {
            return Ok(());
        }
        if vma.flags.locked {
            vrm.populate_expand = true;
        }
        let pgoff = vma.pgoff_at(vrm.addr);
        if pgoff.checked_add(vrm.new_len / PAGE_SIZE).is_none() {
            return Err(Rule::PgoffOverflow.into());
        }
        if vma.flags.dontexpand || vma.flags.pfnmap {
            return Err(Rule::ExpandSpecial.into());
        }
        if vma.flags.locked
            && self.locked_bytes().saturating_add(vrm.delta) > self.config.memlock_limit
        {
            return Err(Rule::MemlockLimit.into());
        }
        Ok(())
    }
}
