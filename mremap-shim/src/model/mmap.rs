//! `mmap(MAP_FIXED)`, `munmap`, `mprotect` and userfaultfd (un)registration:
//! the operations that build the layouts mremap is applied to.
//!
//! Each splits VMAs at the edges of its range and tries to merge only the
//! VMAs it changed, as `mm/vma.c` does; munmap never merges.

use super::{
    align_up_wrapping, AddressSpace, Backing, ModelError, Prot, Rule, Vma, VmaFlags, PAGE_SIZE,
};

impl AddressSpace {
    /// `MAP_FIXED`-style mapping at `addr` (clobbers what is there), like
    /// mmap(2): returns the address or the kernel's error. `pgoff` (in
    /// pages) is used for file backings; private anonymous VMAs get
    /// `addr / PAGE_SIZE` and shared anonymous ones 0, as the kernel sets.
    /// `flags.account` is derived (private, writable, not `noreserve`, not
    /// hugetlb); `flags.hugetlb` implies `dontexpand`.
    pub fn mmap(
        &mut self,
        addr: u64,
        len: u64,
        prot: Prot,
        backing: Backing,
        flags: VmaFlags,
        pgoff: u64,
    ) -> Result<u64, ModelError> {
        if len == 0 {
            return Err(Rule::RangeZeroLength.into());
        }
        let len = align_up_wrapping(len, PAGE_SIZE);
        let task = self.config.task_size;
        if len == 0 || len > task || addr > task - len {
            return Err(Rule::MmapOutOfTask.into());
        }
        if self.vmas.len() as u64 > self.config.max_map_count {
            return Err(Rule::MmapMapCount.into());
        }
        if !addr.is_multiple_of(PAGE_SIZE) {
            return Err(Rule::RangeUnaligned.into());
        }
        if addr < self.config.mmap_min_addr {
            return Err(Rule::BelowMmapMinAddr.into());
        }
        self.do_munmap(addr, len)?;
        let mut flags = flags;
        flags.dontexpand |= flags.hugetlb;
        flags.account = !backing.is_shared() && prot.write && !flags.noreserve && !flags.hugetlb;
        let pgoff = match backing {
            Backing::PrivateAnon => addr / PAGE_SIZE,
            Backing::SharedAnon { .. } => 0,
            Backing::SharedFile { .. } | Backing::PrivateFile { .. } => pgoff,
        };
        self.vmas.insert(Vma {
            start: addr,
            end: addr + len,
            backing,
            prot,
            flags,
            pgoff,
            anon: None,
        });
        self.vmas.merge_around(addr);
        Ok(addr)
    }

    /// munmap(2).
    pub fn munmap(&mut self, addr: u64, len: u64) -> Result<(), ModelError> {
        self.do_munmap(addr, len)
    }

    /// `do_vmi_munmap()`: unmap `[start, start + PAGE_ALIGN(len))`, splitting
    /// the VMAs at both ends. A sealed VMA gives EPERM with the splits done
    /// so far left in place, as the kernel leaves them.
    pub(crate) fn do_munmap(&mut self, start: u64, len: u64) -> Result<(), ModelError> {
        let task = self.config.task_size;
        if !start.is_multiple_of(PAGE_SIZE) {
            return Err(Rule::RangeUnaligned.into());
        }
        if start > task || len > task - start {
            return Err(Rule::RangeOutOfTask.into());
        }
        let end = start + align_up_wrapping(len, PAGE_SIZE);
        if end == start {
            return Err(Rule::RangeZeroLength.into());
        }
        let Some(first) = self.vmas.first_intersecting(start, end).cloned() else {
            return Ok(());
        };
        if start > first.start {
            if end < first.end && self.vmas.len() as u64 >= self.config.max_map_count {
                return Err(Rule::SplitMapCount.into());
            }
            if first.flags.sealed {
                return Err(Rule::SealedRange.into());
            }
            self.vmas.split_at(start);
        }
        let inside: Vec<Vma> = self.vmas.intersecting(start, end).cloned().collect();
        for v in inside {
            if v.flags.sealed {
                return Err(Rule::SealedRange.into());
            }
            if v.end > end {
                self.vmas.split_at(end);
            }
        }
        self.vmas.remove_range(start, end);
        self.pages.zap(start, end);
        Ok(())
    }

    /// mprotect(2): splits and merges like the kernel; ENOMEM on unmapped
    /// holes (VMAs before the hole keep their new protection), EPERM on a
    /// sealed VMA. Making a private VMA writable for the first time sets
    /// `account` (VM_ACCOUNT); an unfaulted anonymous VMA made read-only
    /// drops it again (kernel 6.6+).
    pub fn mprotect(&mut self, addr: u64, len: u64, prot: Prot) -> Result<(), ModelError> {
        if !addr.is_multiple_of(PAGE_SIZE) {
            return Err(Rule::RangeUnaligned.into());
        }
        if len == 0 {
            return Ok(());
        }
        let len = align_up_wrapping(len, PAGE_SIZE);
        let end = addr.wrapping_add(len);
        if end <= addr {
            return Err(Rule::UnmappedHole.into());
        }
        match self.vmas.first_intersecting(addr, end) {
            Some(v) if v.start <= addr => {}
            _ => return Err(Rule::UnmappedHole.into()),
        }
        let mut cursor = addr;
        while cursor < end {
            let Some(v) = self.vmas.find(cursor).cloned() else {
                return Err(Rule::UnmappedHole.into());
            };
            if v.flags.sealed {
                return Err(Rule::SealedRange.into());
            }
            let piece_end = v.end.min(end);
            let mut flags = v.flags;
            if prot.write
                && !v.prot.write
                && !v.backing.is_shared()
                && !flags.account
                && !flags.noreserve
                && !flags.hugetlb
            {
                flags.account = true;
            } else if !prot.write
                && flags.account
                && v.backing == Backing::PrivateAnon
                && v.anon.is_none()
            {
                // mprotect_fixup (6.6+): an unfaulted anonymous VMA that loses
                // write access is unaccounted, so it can merge with unaccounted
                // neighbours again.
                flags.account = false;
            }
            if prot != v.prot || flags != v.flags {
                self.modify_range(cursor, piece_end, |m| {
                    m.prot = prot;
                    m.flags = flags;
                });
            }
            cursor = piece_end;
        }
        Ok(())
    }

    /// Mark `[addr, addr+len)` registered (or not) with userfaultfd
    /// (`UFFDIO_REGISTER` / `UFFDIO_UNREGISTER`); splits and merges VMAs like
    /// the kernel does. Holes inside the range are allowed; a range with no
    /// VMA gives ENOMEM; PFNMAP / special (non-hugetlb DONTEXPAND) VMAs
    /// cannot be registered (EINVAL).
    pub fn set_uffd(&mut self, addr: u64, len: u64, registered: bool) -> Result<(), ModelError> {
        let task = self.config.task_size;
        if !addr.is_multiple_of(PAGE_SIZE) || !len.is_multiple_of(PAGE_SIZE) {
            return Err(Rule::RangeUnaligned.into());
        }
        if len == 0 {
            return Err(Rule::RangeZeroLength.into());
        }
        if addr < self.config.mmap_min_addr || addr >= task || len > task - addr {
            return Err(Rule::RangeOutOfTask.into());
        }
        let end = addr + len;
        let inside: Vec<Vma> = self.vmas.intersecting(addr, end).cloned().collect();
        if inside.is_empty() {
            return Err(Rule::UffdNoVma.into());
        }
        if inside
            .iter()
            .any(|v| v.flags.pfnmap || (v.flags.dontexpand && !v.flags.hugetlb))
        {
            return Err(Rule::UffdIncompatible.into());
        }
        for v in inside {
            if v.flags.uffd == registered {
                continue;
            }
            self.modify_range(v.start.max(addr), v.end.min(end), |m| {
                m.flags.uffd = registered;
            });
        }
        Ok(())
    }

    /// `vma_modify()`: split `[start, end)` (inside one VMA) out, change it,
    /// and merge it with its neighbours if they now match.
    pub(crate) fn modify_range(&mut self, start: u64, end: u64, change: impl FnOnce(&mut Vma)) {
        self.vmas.split_at(start);
        self.vmas.split_at(end);
        if let Some(v) = self.vmas.get_mut(start) {
            debug_assert_eq!(v.end, end, "modify_range across VMAs");
            change(v);
        }
        self.vmas.merge_around(start);
    }
}

#[cfg(test)]
mod tests {
    use crate::model::{AddressSpace, Backing, ModelConfig, Prot, Rule, VmaFlags};
    use nix::errno::Errno;

    const P: u64 = 4096;
    const BASE: u64 = 0x1000_0000;

    fn space() -> AddressSpace {
        AddressSpace::new(ModelConfig::default())
    }

    #[test]
    fn adjacent_anon_mmaps_merge_into_one_vma() {
        let mut s = space();
        let f = VmaFlags::default();
        s.mmap(BASE, 4 * P, Prot::RW, Backing::PrivateAnon, f, 0)
            .unwrap();
        s.mmap(BASE + 4 * P, 4 * P, Prot::RW, Backing::PrivateAnon, f, 0)
            .unwrap();
        assert_eq!(s.map_count(), 1);
    }

    #[test]
    fn mprotect_middle_splits_in_three_and_restoring_merges_back() {
        let mut s = space();
        s.mmap(
            BASE,
            8 * P,
            Prot::RW,
            Backing::PrivateAnon,
            VmaFlags::default(),
            0,
        )
        .unwrap();
        s.mprotect(BASE + 2 * P, 2 * P, Prot::R).unwrap();
        assert_eq!(s.map_count(), 3);
        s.mprotect(BASE + 2 * P, 2 * P, Prot::RW).unwrap();
        assert_eq!(s.map_count(), 1);
    }

    #[test]
    fn mprotect_over_hole_is_enomem() {
        let mut s = space();
        s.mmap(
            BASE,
            2 * P,
            Prot::RW,
            Backing::PrivateAnon,
            VmaFlags::default(),
            0,
        )
        .unwrap();
        let e = s.mprotect(BASE, 4 * P, Prot::R).unwrap_err();
        assert_eq!((e.errno, e.rule), (Errno::ENOMEM, Rule::UnmappedHole));
        assert!(e.to_string().contains("holes"));
    }

    #[test]
    fn munmap_of_sealed_vma_is_eperm() {
        let mut s = space();
        let f = VmaFlags {
            sealed: true,
            ..VmaFlags::default()
        };
        s.mmap(BASE, 2 * P, Prot::RW, Backing::PrivateAnon, f, 0)
            .unwrap();
        let e = s.munmap(BASE, P).unwrap_err();
        assert_eq!((e.errno, e.rule), (Errno::EPERM, Rule::SealedRange));
        assert_eq!(s.map_count(), 1);
    }

    #[test]
    fn uffd_registration_of_part_splits_and_unregistration_remerges() {
        let mut s = space();
        s.mmap(
            BASE,
            8 * P,
            Prot::RW,
            Backing::PrivateAnon,
            VmaFlags::default(),
            0,
        )
        .unwrap();
        s.set_uffd(BASE, 4 * P, true).unwrap();
        assert_eq!(s.map_count(), 2);
        assert!(s.vma_at(BASE).is_some_and(|v| v.flags.uffd));
        s.set_uffd(BASE, 4 * P, false).unwrap();
        assert_eq!(s.map_count(), 1);
    }

    #[test]
    fn faulted_halves_share_anon_vma_and_remerge() {
        let mut s = space();
        s.mmap(
            BASE,
            8 * P,
            Prot::RW,
            Backing::PrivateAnon,
            VmaFlags::default(),
            0,
        )
        .unwrap();
        s.mprotect(BASE + 4 * P, 4 * P, Prot::R).unwrap();
        s.write_page(BASE, 1).unwrap();
        s.mprotect(BASE + 4 * P, 4 * P, Prot::RW).unwrap();
        s.write_page(BASE + 5 * P, 2).unwrap();
        assert_eq!(s.map_count(), 1);
        assert_eq!(s.read_page(BASE + 5 * P), Some(2));
    }
}
