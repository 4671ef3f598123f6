//! `get_unmapped_area()`: where a moved mapping goes.
//!
//! `MAP_FIXED` takes the address as given (after the TASK_SIZE and
//! `mmap_min_addr` checks). Otherwise a free hint is honoured, and failing
//! that the model searches top down from `task_size`, aligning private
//! anonymous mappings whose length is a multiple of `PMD_SIZE` to a PMD
//! boundary (the kernel's THP alignment). The real kernel searches below
//! `mmap_base` with randomisation, so only the rule, not the address, is
//! comparable; see the module docs of [`super`].

use super::{AddressSpace, DestChoice, ModelError, Rule, PAGE_SIZE, PMD_SIZE};

/// How to choose a destination.
#[derive(Clone, Copy, Debug)]
pub(crate) struct AreaRequest {
    /// Hint, or the exact address with `fixed`.
    pub(crate) hint: u64,
    /// Bytes needed.
    pub(crate) len: u64,
    /// `MAP_FIXED`.
    pub(crate) fixed: bool,
    /// Align to PMD when searching (THP alignment of anonymous memory).
    pub(crate) thp_align: bool,
}

impl AddressSpace {
    /// The destination for `req`, or the kernel's errno.
    pub(crate) fn get_unmapped_area(
        &self,
        req: AreaRequest,
        dest: DestChoice,
    ) -> Result<u64, ModelError> {
        let task = self.config.task_size;
        if req.len > task {
            return Err(Rule::NoFreeRange.into());
        }
        if req.fixed {
            if req.hint > task - req.len {
                return Err(Rule::NoFreeRange.into());
            }
            if req.hint < self.config.mmap_min_addr {
                return Err(Rule::BelowMmapMinAddr.into());
            }
            return Ok(req.hint);
        }
        let low = self.config.mmap_min_addr.max(PAGE_SIZE);
        if let DestChoice::Kernel(addr) = dest {
            let legal = addr.is_multiple_of(PAGE_SIZE)
                && addr >= low
                && addr <= task - req.len
                && self.vmas.is_free(addr, addr + req.len);
            return if legal {
                Ok(addr)
            } else {
                Err(Rule::KernelChoiceInvalid.into())
            };
        }
        if req.hint != 0 {
            let hint = super::align_up_wrapping(req.hint, PAGE_SIZE);
            if hint >= low && hint <= task - req.len && self.vmas.is_free(hint, hint + req.len) {
                return Ok(hint);
            }
        }
        let align = if req.thp_align { PMD_SIZE } else { PAGE_SIZE };
        self.top_down(low, task, req.len, align)
            .ok_or_else(|| Rule::NoFreeRange.into())
    }

    /// The highest `align`-aligned free range of `len` bytes in `[low, high)`.
    fn top_down(&self, low: u64, high: u64, len: u64, align: u64) -> Option<u64> {
        let mut gap_end = high;
        let vmas: Vec<(u64, u64)> = self.vmas.iter().map(|v| (v.start, v.end)).collect();
        for &(start, end) in vmas.iter().rev() {
            if end < gap_end {
                if let Some(a) = fit(end.max(low), gap_end, len, align) {
                    return Some(a);
                }
            }
            gap_end = gap_end.min(start);
            if gap_end <= low {
                return None;
            }
        }
        fit(low, gap_end, len, align)
    }
}

/// The highest `align`-aligned start of `len` bytes inside `[lo, hi)`.
fn fit(lo: u64, hi: u64, len: u64, align: u64) -> Option<u64> {
    if hi < lo || hi - lo < len {
        return None;
    }
    let a = (hi - len) & !(align - 1);
    (a >= lo).then_some(a)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Backing, ModelConfig, Prot, VmaFlags};

    #[test]
    fn top_down_search_skips_occupied_top_and_aligns() {
        let mut s = AddressSpace::new(ModelConfig::default());
        let task = s.config().task_size;
        let top = (task - 4 * PMD_SIZE) & !(PMD_SIZE - 1);
        s.mmap(
            top,
            4 * PMD_SIZE,
            Prot::RW,
            Backing::PrivateAnon,
            VmaFlags::default(),
            0,
        )
        .unwrap();
        let req = AreaRequest {
            hint: 0,
            len: PMD_SIZE,
            fixed: false,
            thp_align: true,
        };
        let a = s.get_unmapped_area(req, DestChoice::Model).unwrap();
        assert_eq!(a % PMD_SIZE, 0);
        assert!(a + PMD_SIZE <= top);
    }

    #[test]
    fn kernel_choice_over_a_mapping_is_refused() {
        let mut s = AddressSpace::new(ModelConfig::default());
        s.mmap(
            0x1000_0000,
            PAGE_SIZE,
            Prot::RW,
            Backing::PrivateAnon,
            VmaFlags::default(),
            0,
        )
        .unwrap();
        let req = AreaRequest {
            hint: 0,
            len: PAGE_SIZE,
            fixed: false,
            thp_align: false,
        };
        let e = s
            .get_unmapped_area(req, DestChoice::Kernel(0x1000_0000))
            .unwrap_err();
        assert_eq!(e.rule, Rule::KernelChoiceInvalid);
    }
}
