//! The rules by which the kernel rejects a request, each with its errno.
//!
//! Names follow the spec's steps (`reference/mremap-spec.md`, a.1–a.9 and
//! e); the Display text names the rule and ends with the errno, e.g.
//! "DONTUNMAP requires old_len == new_len (EINVAL)".

use std::fmt;

use nix::errno::Errno;

/// The kernel rule that rejected a request (Display names the rule).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Rule {
    // ---- a.1 check_mremap_params ----
    /// Step 1: a flag bit outside FIXED|MAYMOVE|DONTUNMAP.
    UnknownFlags,
    /// Step 2: `addr` not page-aligned.
    AddrUnaligned,
    /// Step 3: page-rounded `new_len` is 0.
    NewLenZero,
    /// Step 4: `new_len > TASK_SIZE`.
    NewLenTooLarge,
    /// Step 5: `new_addr > TASK_SIZE - new_len`.
    NewAddrTooHigh,
    /// Step 6: `new_addr` not page-aligned.
    NewAddrUnaligned,
    /// Step 7: FIXED or DONTUNMAP without MAYMOVE.
    MissingMaymove,
    /// Step 8: DONTUNMAP with `old_len != new_len`.
    DontunmapResize,
    /// Step 9: source and destination ranges overlap.
    Overlap,
    /// Step 10: `map_count + 2 >= max_map_count - 3`.
    MapCountHeadroom,
    // ---- a.3 check_prep_vma ----
    /// Step 13: no VMA contains `addr`.
    NoVma,
    /// Step 14: the source VMA is sealed.
    SealedSource,
    /// Step 15: hugetlb address not huge-page aligned.
    HugetlbUnaligned,
    /// Step 15: hugetlb VMAs cannot grow.
    HugetlbExpand,
    /// Step 16: `old_len == 0` (duplicate) of a private mapping.
    MirrorOfPrivate,
    /// Step 17: DONTUNMAP on a VM_DONTEXPAND / VM_PFNMAP VMA.
    DontunmapSpecial,
    /// Step 17 before 5.13: DONTUNMAP on anything but private anonymous memory.
    DontunmapNotPrivateAnon,
    /// Step 18: the range runs past the end of the VMA at `addr`.
    RangePastVmaEnd,
    /// Step 19: the grown range's page offset overflows.
    PgoffOverflow,
    /// Step 20: growing a VM_DONTEXPAND / VM_PFNMAP VMA.
    ExpandSpecial,
    /// Step 21: growing a VM_LOCKED VMA beyond RLIMIT_MEMLOCK.
    MemlockLimit,
    // ---- a.4 / a.5 / a.6 ----
    /// Step 23: the source VMA vanished when the FIXED target was unmapped.
    SourceVanished,
    /// Step 24: a shrink's tail lies beyond TASK_SIZE.
    ShrinkTailOutOfRange,
    /// Step 26: the destination lies below `vm.mmap_min_addr`.
    BelowMmapMinAddr,
    /// Step 26: no free range for the destination.
    NoFreeRange,
    /// a.5: cannot grow in place and MAYMOVE not given.
    ExpandWithoutMaymove,
    /// a.5 / f: `old_len == 0` (mirror) without MAYMOVE has no in-place path.
    MirrorWithoutMaymove,
    /// Step 28: `map_count >= max_map_count - 3` in move_vma.
    MoveMapCount,
    // ---- e: multi-VMA move ----
    /// e: no VMA intersects the source range.
    MultiNoVma,
    /// e: the source range starts in a gap.
    MultiGapAtStart,
    /// e: a uffd-armed (or otherwise ineligible) VMA is not alone in the range.
    MultiIneligible,
    /// g: MUST_RELOCATE_ANON requested where relocation is impossible.
    RelocateImpossible,
    // ---- munmap / mmap / mprotect / uffd ----
    /// A range operation on a sealed VMA.
    SealedRange,
    /// Splitting for munmap would exceed `max_map_count`.
    SplitMapCount,
    /// mmap would exceed `max_map_count`.
    MmapMapCount,
    /// munmap/mprotect/mmap address not page-aligned.
    RangeUnaligned,
    /// mmap/munmap with a zero length.
    RangeZeroLength,
    /// munmap range beyond TASK_SIZE.
    RangeOutOfTask,
    /// mmap range beyond TASK_SIZE.
    MmapOutOfTask,
    /// mprotect over an unmapped hole.
    UnmappedHole,
    /// userfaultfd registration of a range with no VMA.
    UffdNoVma,
    /// userfaultfd registration of a VMA that cannot be registered.
    UffdIncompatible,
    /// A page access with no VMA (SIGSEGV).
    FaultNoVma,
    /// A write to a page that is not writable (SIGSEGV).
    FaultNotWritable,
    /// A page access at an address that is not page-aligned (model API misuse).
    FaultUnaligned,
    // ---- model-only ----
    /// The address passed as the kernel's choice could not have been chosen.
    KernelChoiceInvalid,
}

impl Rule {
    /// The errno the kernel returns for this rule.
    pub fn errno(self) -> Errno {
        use Rule::*;
        match self {
            UnknownFlags
            | AddrUnaligned
            | NewLenZero
            | NewLenTooLarge
            | NewAddrTooHigh
            | NewAddrUnaligned
            | MissingMaymove
            | DontunmapResize
            | Overlap
            | HugetlbUnaligned
            | HugetlbExpand
            | MirrorOfPrivate
            | DontunmapSpecial
            | DontunmapNotPrivateAnon
            | PgoffOverflow
            | ShrinkTailOutOfRange
            | RangeUnaligned
            | RangeZeroLength
            | RangeOutOfTask
            | UffdIncompatible
            | FaultUnaligned => Errno::EINVAL,
            MapCountHeadroom | NoFreeRange | ExpandWithoutMaymove | MirrorWithoutMaymove
            | MoveMapCount | SplitMapCount | MmapMapCount | MmapOutOfTask | UnmappedHole
            | UffdNoVma => Errno::ENOMEM,
            NoVma | RangePastVmaEnd | ExpandSpecial | SourceVanished | MultiNoVma
            | MultiGapAtStart | MultiIneligible | RelocateImpossible | FaultNoVma
            | FaultNotWritable => Errno::EFAULT,
            SealedSource | SealedRange | BelowMmapMinAddr => Errno::EPERM,
            MemlockLimit => Errno::EAGAIN,
            KernelChoiceInvalid => Errno::EEXIST,
        }
    }

    /// What the rule says, without the errno.
    fn text(self) -> &'static str {
        use Rule::*;
        match self {
            UnknownFlags => "flags outside MAYMOVE|FIXED|DONTUNMAP are rejected",
            AddrUnaligned => "addr must be page-aligned",
            NewLenZero => "new_len must not be 0 after page rounding",
            NewLenTooLarge => "new_len must not exceed TASK_SIZE",
            NewAddrTooHigh => "new_addr + new_len must not exceed TASK_SIZE",
            NewAddrUnaligned => "new_addr must be page-aligned",
            MissingMaymove => "FIXED and DONTUNMAP require MAYMOVE",
            DontunmapResize => "DONTUNMAP requires old_len == new_len",
            Overlap => "source and destination ranges must not overlap",
            MapCountHeadroom => "a move needs map_count + 2 < max_map_count - 3",
            NoVma => "no VMA contains addr",
            SealedSource => "a sealed (mseal) VMA cannot be remapped",
            HugetlbUnaligned => "hugetlb addresses must be huge-page aligned",
            HugetlbExpand => "hugetlb mappings cannot grow",
            MirrorOfPrivate => "old_len == 0 (duplicate) needs a shared mapping",
            DontunmapSpecial => "DONTUNMAP is refused on VM_DONTEXPAND/VM_PFNMAP VMAs",
            DontunmapNotPrivateAnon => "DONTUNMAP needs private anonymous memory (before 5.13)",
            RangePastVmaEnd => "the range must lie within the VMA at addr",
            PgoffOverflow => "the grown mapping's page offset must not overflow",
            ExpandSpecial => "VM_DONTEXPAND/VM_PFNMAP VMAs cannot grow",
            MemlockLimit => "growing a locked VMA must stay within RLIMIT_MEMLOCK",
            SourceVanished => "the source VMA vanished when the FIXED target was unmapped",
            ShrinkTailOutOfRange => "the unmapped tail of a shrink must lie below TASK_SIZE",
            BelowMmapMinAddr => "the destination must not lie below vm.mmap_min_addr",
            NoFreeRange => "no free address range for the destination",
            ExpandWithoutMaymove => "growing in place is impossible and MAYMOVE is not set",
            MirrorWithoutMaymove => "old_len == 0 (mirror) needs MAYMOVE: no in-place path",
            MoveMapCount => "move_vma needs map_count < max_map_count - 3",
            MultiNoVma => "a multi-VMA move needs a VMA in the range",
            MultiGapAtStart => "a multi-VMA move must start inside a VMA",
            MultiIneligible => "a uffd-armed VMA can only be moved alone",
            RelocateImpossible => "MUST_RELOCATE_ANON needs a relocatable anonymous VMA",
            SealedRange => "a sealed (mseal) VMA cannot be unmapped or changed",
            SplitMapCount => "splitting a VMA must not exceed max_map_count",
            MmapMapCount => "mmap must not exceed max_map_count",
            RangeUnaligned => "the address must be page-aligned",
            RangeZeroLength => "the length must not be 0",
            RangeOutOfTask => "the range must lie below TASK_SIZE",
            MmapOutOfTask => "the mapping must lie below TASK_SIZE",
            UnmappedHole => "the range must not contain unmapped holes",
            UffdNoVma => "userfaultfd registration needs a VMA in the range",
            UffdIncompatible => "the VMA cannot be registered with userfaultfd",
            FaultNoVma => "access to an address with no VMA (SIGSEGV)",
            FaultNotWritable => "write to a VMA without PROT_WRITE (SIGSEGV)",
            FaultUnaligned => "page accesses take a page-aligned address",
            KernelChoiceInvalid => {
                "the kernel's chosen destination is not a free, legal range in the model"
            }
        }
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.text(), errno_name(self.errno()))
    }
}

/// The symbolic name of the errnos the model returns.
fn errno_name(errno: Errno) -> &'static str {
    match errno {
        Errno::EINVAL => "EINVAL",
        Errno::ENOMEM => "ENOMEM",
        Errno::EFAULT => "EFAULT",
        Errno::EPERM => "EPERM",
        Errno::EAGAIN => "EAGAIN",
        Errno::EEXIST => "EEXIST",
        _ => "errno",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_rule_and_errno() {
        assert_eq!(
            Rule::DontunmapResize.to_string(),
            "DONTUNMAP requires old_len == new_len (EINVAL)"
        );
        assert_eq!(Rule::MemlockLimit.errno(), Errno::EAGAIN);
        assert!(Rule::NoVma.to_string().ends_with("(EFAULT)"));
    }
}
