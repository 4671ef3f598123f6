//! Page faults, reads and residency: what touching memory does to the model.
//!
//! A write fault on private memory gives the VMA an anon_vma first
//! (`anon_vma_prepare()`, reusing a compatible neighbour's as
//! `find_mergeable_anon_vma()` does), then a private page. A write to a
//! shared mapping writes the object's page-cache page, visible through every
//! mapping of that object at that page offset.

use super::pagetable::{Object, Pte};
use super::vma::anon_vma_compatible;
use super::{AddressSpace, ModelError, Rule, PAGE_SIZE};

impl AddressSpace {
    /// A write of `value` to the page at `addr` (page-aligned): populates it
    /// (anon_vma assigned on first fault for private VMAs). Errors
    /// (EFAULT-like, a SIGSEGV in a real process) if unmapped or not
    /// writable. A write into a uffd-registered missing page is modelled as
    /// already resolved.
    pub fn write_page(&mut self, addr: u64, value: u64) -> Result<(), ModelError> {
        if !addr.is_multiple_of(PAGE_SIZE) {
            return Err(Rule::FaultUnaligned.into());
        }
        let vma = self.vmas.find(addr).cloned().ok_or(Rule::FaultNoVma)?;
        if !vma.prot.write {
            return Err(Rule::FaultNotWritable.into());
        }
        let object = Object::of(vma.backing);
        if vma.backing.is_shared() {
            if let Some(obj) = object {
                self.pages.cache_set(obj, vma.pgoff_at(addr), value);
            }
            self.pages.set_pte(addr, Pte::Shared);
            return Ok(());
        }
        if vma.anon.is_none() {
            let id = self.find_mergeable_anon(vma.start);
            if let Some(v) = self.vmas.get_mut(vma.start) {
                v.anon = Some(id);
            }
        }
        if let Some(obj) = object {
            // The COW fault reads the file page first.
            self.pages.cache_touch(obj, vma.pgoff_at(addr));
        }
        self.pages.set_pte(addr, Pte::Private(value));
        Ok(())
    }

    /// A read fault at `addr`: maps the zero page (private anon), the
    /// page-cache page (shared, created if missing) or the file page
    /// (private file), as a real read would. Returns what was read, `None`
    /// for no VMA or no read permission.
    pub fn read_fault(&mut self, addr: u64) -> Option<u64> {
        let value = self.read_page(addr)?;
        let page = addr & !(PAGE_SIZE - 1);
        if self.pages.pte(page).is_none() {
            let vma = self.vmas.find(page)?.clone();
            match Object::of(vma.backing) {
                Some(obj) => {
                    self.pages.cache_touch(obj, vma.pgoff_at(page));
                    self.pages.set_pte(page, Pte::Shared);
                }
                None => self.pages.set_pte(page, Pte::Zero),
            }
        }
        Some(value)
    }

    /// What reading the first u64 of the page at `addr` gives: None = no
    /// VMA or no access (SIGSEGV), Some(0) for zero/unpopulated pages, else
    /// the value written. Shared backings show the object's page at that
    /// offset; a private file shows its private COW copy, else the file's
    /// page. Reading through this method does not populate anything (see
    /// [`read_fault`](Self::read_fault)).
    pub fn read_page(&self, addr: u64) -> Option<u64> {
        let page = addr & !(PAGE_SIZE - 1);
        let vma = self.vmas.find(page)?;
        if !(vma.prot.read || vma.prot.write || vma.prot.exec) {
            return None;
        }
        if let Some(Pte::Private(v)) = self.pages.pte(page) {
            return Some(v);
        }
        match Object::of(vma.backing) {
            Some(obj) => Some(self.pages.cache_get(obj, vma.pgoff_at(page)).unwrap_or(0)),
            None => Some(0),
        }
    }

    /// Whether the page is resident as `mincore(2)` reports it: a present
    /// PTE, or, for file-backed VMAs (shmem included), the page exists in
    /// the object's page cache whether or not this VMA maps it.
    pub fn resident(&self, addr: u64) -> bool {
        let page = addr & !(PAGE_SIZE - 1);
        let Some(vma) = self.vmas.find(page) else {
            return false;
        };
        if self.pages.pte(page).is_some() {
            return true;
        }
        match Object::of(vma.backing) {
            Some(obj) => self.pages.cache_get(obj, vma.pgoff_at(page)).is_some(),
            None => false,
        }
    }

    /// `find_mergeable_anon_vma()` then a fresh identity: the next VMA's
    /// anon_vma if compatible, else the previous one's, else a new one.
    fn find_mergeable_anon(&mut self, start: u64) -> u64 {
        if let Some(vma) = self.vmas.find(start) {
            if let Some(next) = self.vmas.next_from(vma.end) {
                if anon_vma_compatible(vma, next) {
                    if let Some(id) = next.anon {
                        return id;
                    }
                }
            }
            if let Some(prev) = self.vmas.prev_of(vma.start) {
                if anon_vma_compatible(prev, vma) {
                    if let Some(id) = prev.anon {
                        return id;
                    }
                }
            }
        }
        self.new_anon_identity()
    }

    /// Fault in `[start, start+len)` as `mm_populate()` does for a locked
    /// VMA: a write fault for private writable memory, a read fault
    /// otherwise. Skipped in cheap mode (it would cost O(pages)).
    pub(crate) fn populate(&mut self, start: u64, len: u64) {
        if !self.config.track_pages {
            return;
        }
        let mut a = start;
        while a < start + len {
            let Some(vma) = self.vmas.find(a).cloned() else {
                break;
            };
            if vma.prot.write && !vma.backing.is_shared() {
                if self.pages.pte(a).is_none() {
                    // The write fault copies what a read would have shown.
                    let value = self.read_page(a).unwrap_or(0);
                    let res = self.write_page(a, value);
                    debug_assert!(res.is_ok(), "populate write fault failed: {res:?}");
                }
            } else {
                // None only for PROT_NONE, which populate skips like the kernel.
                self.read_fault(a);
            }
            a += PAGE_SIZE;
        }
    }
}
