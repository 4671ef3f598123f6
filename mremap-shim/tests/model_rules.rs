//! Errno-exact tests of every rejection rule of the model, each checking
//! the errno, the rule, that `check` agrees with `mremap`, and that the
//! error's Display names the rule.

use mremap_shim::model::{
    AddressSpace, Backing, DestChoice, KernelModel, ModelConfig, ModelError, MremapRequest, Prot,
    Rule, VmaFlags, MREMAP_DONTUNMAP, MREMAP_FIXED, MREMAP_MAYMOVE, MREMAP_MUST_RELOCATE_ANON,
    MREMAP_RELOCATE_ANON, PMD_SIZE,
};
use nix::errno::Errno;

const P: u64 = 4096;
const B: u64 = 64 << 30;
const MOVE: u64 = MREMAP_MAYMOVE;
const FIXED: u64 = MREMAP_MAYMOVE | MREMAP_FIXED;
const DONTUNMAP: u64 = MREMAP_MAYMOVE | MREMAP_DONTUNMAP;

fn space() -> AddressSpace {
    AddressSpace::new(ModelConfig::default())
}

fn with(f: impl FnOnce(&mut ModelConfig)) -> AddressSpace {
    let mut c = ModelConfig::default();
    f(&mut c);
    AddressSpace::new(c)
}

fn map(s: &mut AddressSpace, at: u64, len: u64, backing: Backing, flags: VmaFlags) {
    s.mmap(at, len, Prot::RW, backing, flags, 0)
        .expect("setup mmap");
}

fn anon(s: &mut AddressSpace, at: u64, len: u64) {
    map(s, at, len, Backing::PrivateAnon, VmaFlags::default());
}

fn req(addr: u64, old_len: u64, new_len: u64, flags: u64, new_addr: u64) -> MremapRequest {
    MremapRequest {
        addr,
        old_len,
        new_len,
        flags,
        new_addr,
    }
}

/// Assert the rejection and its Display; returns the error for more checks.
fn rejects(s: &mut AddressSpace, r: MremapRequest, rule: Rule, errno: Errno, phrase: &str) {
    let checked = s.check(&r);
    let e: ModelError = s.mremap(&r).expect_err("request must be rejected");
    assert_eq!((e.errno, e.rule), (errno, rule), "request {r:x?}");
    assert_eq!(checked, Err(e), "check() must agree with mremap()");
    let text = e.to_string();
    assert!(
        text.contains(phrase),
        "{text:?} does not name the rule ({phrase:?})"
    );
    assert!(
        text.ends_with(&format!("({errno:?})")),
        "{text:?} lacks the errno"
    );
}

#[test]
fn relocate_anon_bits_are_unknown_flags_on_6_18() {
    let mut s = space();
    anon(&mut s, B, 4 * P);
    for bit in [MREMAP_RELOCATE_ANON, MREMAP_MUST_RELOCATE_ANON, 32] {
        rejects(
            &mut s,
            req(B, P, P, MOVE | bit, 0),
            Rule::UnknownFlags,
            Errno::EINVAL,
            "flags outside",
        );
    }
}

#[test]
fn relocate_anon_bits_accepted_when_modelled() {
    let mut s = with(|c| c.kernel.relocate_anon_accepted = true);
    anon(&mut s, B, 4 * P);
    assert!(s
        .mremap(&req(B, P, P, MOVE | MREMAP_RELOCATE_ANON, 0))
        .is_ok());
}

#[test]
fn unaligned_addr_is_einval() {
    let mut s = space();
    rejects(
        &mut s,
        req(B + 1, P, P, 0, 0),
        Rule::AddrUnaligned,
        Errno::EINVAL,
        "addr must be page-aligned",
    );
}

#[test]
fn zero_new_len_is_einval_including_wrapping_rounding() {
    let mut s = space();
    anon(&mut s, B, 4 * P);
    rejects(
        &mut s,
        req(B, P, 0, 0, 0),
        Rule::NewLenZero,
        Errno::EINVAL,
        "new_len must not be 0",
    );
    rejects(
        &mut s,
        req(B, P, u64::MAX, 0, 0),
        Rule::NewLenZero,
        Errno::EINVAL,
        "new_len must not be 0",
    );
}

#[test]
fn new_len_beyond_task_size_is_einval_in_every_mode() {
    let mut s = space();
    let task = s.config().task_size;
    rejects(
        &mut s,
        req(B, P, task + P, 0, 0),
        Rule::NewLenTooLarge,
        Errno::EINVAL,
        "exceed TASK_SIZE",
    );
}

#[test]
fn fixed_new_addr_past_task_size_is_einval() {
    let mut s = space();
    let task = s.config().task_size;
    rejects(
        &mut s,
        req(B, P, 2 * P, FIXED, task - P),
        Rule::NewAddrTooHigh,
        Errno::EINVAL,
        "new_addr + new_len",
    );
}

#[test]
fn new_addr_is_ignored_without_fixed_or_dontunmap() {
    let mut s = space();
    anon(&mut s, B, 4 * P);
    let out = s.mremap(&req(B, 4 * P, 4 * P, 0, u64::MAX)).expect("no-op");
    assert_eq!(out.new_addr, B);
}

#[test]
fn unaligned_new_addr_is_einval() {
    let mut s = space();
    rejects(
        &mut s,
        req(B, P, P, FIXED, B + 64 * P + 1024),
        Rule::NewAddrUnaligned,
        Errno::EINVAL,
        "new_addr must be page-aligned",
    );
}

#[test]
fn fixed_or_dontunmap_without_maymove_is_einval() {
    let mut s = space();
    rejects(
        &mut s,
        req(B, P, P, MREMAP_FIXED, B + 64 * P),
        Rule::MissingMaymove,
        Errno::EINVAL,
        "require MAYMOVE",
    );
    rejects(
        &mut s,
        req(B, P, P, MREMAP_DONTUNMAP, 0),
        Rule::MissingMaymove,
        Errno::EINVAL,
        "require MAYMOVE",
    );
}

#[test]
fn dontunmap_with_resize_is_einval() {
    let mut s = space();
    rejects(
        &mut s,
        req(B, P, 2 * P, DONTUNMAP, 0),
        Rule::DontunmapResize,
        Errno::EINVAL,
        "DONTUNMAP requires old_len == new_len",
    );
}

#[test]
fn overlapping_ranges_are_einval_and_moving_in_place_is_an_overlap() {
    let mut s = space();
    anon(&mut s, B, 8 * P);
    rejects(
        &mut s,
        req(B, 4 * P, 4 * P, FIXED, B + 2 * P),
        Rule::Overlap,
        Errno::EINVAL,
        "must not overlap",
    );
    rejects(
        &mut s,
        req(B, 4 * P, 4 * P, FIXED, B),
        Rule::Overlap,
        Errno::EINVAL,
        "must not overlap",
    );
}

#[test]
fn map_count_headroom_is_enomem_before_any_lookup() {
    let mut s = with(|c| c.max_map_count = 8);
    for i in 0..3 {
        anon(&mut s, B + i * 2 * P, P);
    }
    rejects(
        &mut s,
        req(B, P, P, FIXED, B + 64 * P),
        Rule::MapCountHeadroom,
        Errno::ENOMEM,
        "map_count + 2",
    );
}

#[test]
fn no_vma_at_addr_is_efault_even_for_a_noop() {
    let mut s = space();
    anon(&mut s, B, P);
    rejects(
        &mut s,
        req(B + P, P, P, 0, 0),
        Rule::NoVma,
        Errno::EFAULT,
        "no VMA contains addr",
    );
    rejects(
        &mut s,
        req(B + P, 2 * P, P, 0, 0),
        Rule::NoVma,
        Errno::EFAULT,
        "no VMA contains addr",
    );
}

#[test]
fn sealed_source_is_eperm() {
    let mut s = space();
    map(
        &mut s,
        B,
        4 * P,
        Backing::PrivateAnon,
        VmaFlags {
            sealed: true,
            ..VmaFlags::default()
        },
    );
    rejects(
        &mut s,
        req(B, 4 * P, 4 * P, 0, 0),
        Rule::SealedSource,
        Errno::EPERM,
        "sealed",
    );
}

#[test]
fn hugetlb_unaligned_address_and_growth_are_einval() {
    let mut s = space();
    let huge = VmaFlags {
        hugetlb: true,
        ..VmaFlags::default()
    };
    map(
        &mut s,
        B,
        4 * PMD_SIZE,
        Backing::SharedFile { file: 9 },
        huge,
    );
    rejects(
        &mut s,
        req(B + P, P, P, 0, 0),
        Rule::HugetlbUnaligned,
        Errno::EINVAL,
        "huge-page aligned",
    );
    // The raw new_addr is checked even without FIXED.
    rejects(
        &mut s,
        req(B, PMD_SIZE, PMD_SIZE, 0, P),
        Rule::HugetlbUnaligned,
        Errno::EINVAL,
        "huge-page aligned",
    );
    rejects(
        &mut s,
        req(B, PMD_SIZE, 2 * PMD_SIZE, MOVE, 0),
        Rule::HugetlbExpand,
        Errno::EINVAL,
        "cannot grow",
    );
}

#[test]
fn duplicating_a_private_mapping_is_einval() {
    let mut s = space();
    anon(&mut s, B, 4 * P);
    rejects(
        &mut s,
        req(B, 0, P, MOVE, 0),
        Rule::MirrorOfPrivate,
        Errno::EINVAL,
        "old_len == 0",
    );
    // ULONG_MAX rounds to 0: the duplicate case.
    rejects(
        &mut s,
        req(B, u64::MAX, P, MOVE, 0),
        Rule::MirrorOfPrivate,
        Errno::EINVAL,
        "old_len == 0",
    );
}

#[test]
fn dontunmap_on_dontexpand_or_pfnmap_is_einval() {
    let mut s = space();
    map(
        &mut s,
        B,
        4 * P,
        Backing::SharedFile { file: 3 },
        VmaFlags {
            dontexpand: true,
            ..VmaFlags::default()
        },
    );
    map(
        &mut s,
        B + 8 * P,
        4 * P,
        Backing::SharedFile { file: 4 },
        VmaFlags {
            pfnmap: true,
            ..VmaFlags::default()
        },
    );
    rejects(
        &mut s,
        req(B, 4 * P, 4 * P, DONTUNMAP, 0),
        Rule::DontunmapSpecial,
        Errno::EINVAL,
        "VM_DONTEXPAND/VM_PFNMAP",
    );
    rejects(
        &mut s,
        req(B + 8 * P, 4 * P, 4 * P, DONTUNMAP, 0),
        Rule::DontunmapSpecial,
        Errno::EINVAL,
        "VM_DONTEXPAND/VM_PFNMAP",
    );
}

#[test]
fn dontunmap_on_shared_memory_is_einval_before_5_13() {
    let mut s = with(|c| {
        c.kernel = KernelModel {
            dontunmap_shared: false,
            ..KernelModel::default()
        }
    });
    map(
        &mut s,
        B,
        4 * P,
        Backing::SharedAnon { object: 1 },
        VmaFlags::default(),
    );
    rejects(
        &mut s,
        req(B, 4 * P, 4 * P, DONTUNMAP, 0),
        Rule::DontunmapNotPrivateAnon,
        Errno::EINVAL,
        "private anonymous",
    );
}

#[test]
fn range_past_vma_end_is_efault() {
    let mut s = space();
    anon(&mut s, B, 4 * P);
    anon(&mut s, B + 8 * P, 4 * P);
    rejects(
        &mut s,
        req(B + 2 * P, 4 * P, 8 * P, MOVE, 0),
        Rule::RangePastVmaEnd,
        Errno::EFAULT,
        "within the VMA",
    );
    rejects(
        &mut s,
        req(B, 6 * P, 6 * P, DONTUNMAP, 0),
        Rule::RangePastVmaEnd,
        Errno::EFAULT,
        "within the VMA",
    );
}

#[test]
fn same_size_fixed_move_past_vma_end_is_efault_before_6_17() {
    let mut s = with(|c| c.kernel.multi_vma_move = false);
    anon(&mut s, B, 4 * P);
    anon(&mut s, B + 5 * P, 4 * P);
    rejects(
        &mut s,
        req(B, 9 * P, 9 * P, FIXED, B + 64 * P),
        Rule::RangePastVmaEnd,
        Errno::EFAULT,
        "within the VMA",
    );
}

#[test]
fn growing_past_the_largest_pgoff_is_einval() {
    let mut s = space();
    s.mmap(
        B,
        4 * P,
        Prot::RW,
        Backing::SharedFile { file: 2 },
        VmaFlags::default(),
        u64::MAX - 5,
    )
    .expect("setup mmap");
    rejects(
        &mut s,
        req(B, 4 * P, 8 * P, MOVE, 0),
        Rule::PgoffOverflow,
        Errno::EINVAL,
        "page offset must not overflow",
    );
}

#[test]
fn growing_dontexpand_or_pfnmap_is_efault() {
    let mut s = space();
    map(
        &mut s,
        B,
        4 * P,
        Backing::SharedFile { file: 3 },
        VmaFlags {
            dontexpand: true,
            ..VmaFlags::default()
        },
    );
    rejects(
        &mut s,
        req(B, 4 * P, 8 * P, MOVE, 0),
        Rule::ExpandSpecial,
        Errno::EFAULT,
        "cannot grow",
    );
    // Same-size moves of such VMAs are allowed.
    assert!(s.mremap(&req(B, 4 * P, 4 * P, FIXED, B + 64 * P)).is_ok());
}

#[test]
fn growing_a_locked_vma_over_memlock_is_eagain() {
    let mut s = with(|c| c.memlock_limit = 6 * P);
    map(
        &mut s,
        B,
        4 * P,
        Backing::PrivateAnon,
        VmaFlags {
            locked: true,
            ..VmaFlags::default()
        },
    );
    rejects(
        &mut s,
        req(B, 4 * P, 8 * P, MOVE, 0),
        Rule::MemlockLimit,
        Errno::EAGAIN,
        "RLIMIT_MEMLOCK",
    );
    assert!(s.mremap(&req(B, 4 * P, 6 * P, MOVE, 0)).is_ok());
}

#[test]
fn mirror_onto_its_own_source_destroys_it_and_is_efault() {
    let mut s = space();
    map(
        &mut s,
        B,
        4 * P,
        Backing::SharedAnon { object: 1 },
        VmaFlags::default(),
    );
    rejects(
        &mut s,
        req(B, 0, 4 * P, FIXED, B),
        Rule::SourceVanished,
        Errno::EFAULT,
        "vanished",
    );
    assert_eq!(s.map_count(), 0, "the FIXED target unmap is not undone");
}

#[test]
fn shrink_whose_tail_passes_task_size_is_einval() {
    let mut s = space();
    anon(&mut s, B, 4 * P);
    rejects(
        &mut s,
        req(B, 1 << 62, P, 0, 0),
        Rule::ShrinkTailOutOfRange,
        Errno::EINVAL,
        "below TASK_SIZE",
    );
}

#[test]
fn move_below_mmap_min_addr_is_eperm() {
    let mut s = space();
    anon(&mut s, B, 4 * P);
    rejects(
        &mut s,
        req(B, 4 * P, 4 * P, FIXED, P),
        Rule::BelowMmapMinAddr,
        Errno::EPERM,
        "mmap_min_addr",
    );
    let mut root = with(|c| c.mmap_min_addr = 0);
    anon(&mut root, B, 4 * P);
    assert_eq!(
        root.mremap(&req(B, 4 * P, 4 * P, FIXED, 0))
            .map(|o| o.new_addr),
        Ok(0)
    );
}

#[test]
fn no_room_for_the_destination_is_enomem() {
    let mut s = space();
    anon(&mut s, B, 4 * P);
    let task = s.config().task_size;
    rejects(
        &mut s,
        req(B, 4 * P, task, MOVE, 0),
        Rule::NoFreeRange,
        Errno::ENOMEM,
        "no free address range",
    );
}

#[test]
fn growing_without_maymove_when_blocked_is_enomem() {
    let mut s = space();
    anon(&mut s, B, 4 * P);
    s.mmap(
        B + 4 * P,
        P,
        Prot::R,
        Backing::PrivateAnon,
        VmaFlags::default(),
        0,
    )
    .expect("setup mmap");
    rejects(
        &mut s,
        req(B, 4 * P, 8 * P, 0, 0),
        Rule::ExpandWithoutMaymove,
        Errno::ENOMEM,
        "MAYMOVE is not set",
    );
    // Not ending at the VMA's end is also "cannot grow in place".
    rejects(
        &mut s,
        req(B, 2 * P, 3 * P, 0, 0),
        Rule::ExpandWithoutMaymove,
        Errno::ENOMEM,
        "MAYMOVE is not set",
    );
}

#[test]
fn mirror_without_maymove_is_enomem_not_einval() {
    let mut s = space();
    map(
        &mut s,
        B,
        4 * P,
        Backing::SharedAnon { object: 1 },
        VmaFlags::default(),
    );
    rejects(
        &mut s,
        req(B, 0, 4 * P, 0, 0),
        Rule::MirrorWithoutMaymove,
        Errno::ENOMEM,
        "mirror",
    );
}

#[test]
fn move_vma_map_count_check_is_enomem() {
    let mut s = with(|c| c.max_map_count = 6);
    anon(&mut s, B, P);
    // A read-only neighbour: growing B has to move.
    s.mmap(
        B + P,
        P,
        Prot::R,
        Backing::PrivateAnon,
        VmaFlags::default(),
        0,
    )
    .expect("setup mmap");
    anon(&mut s, B + 4 * P, P);
    rejects(
        &mut s,
        req(B, P, 2 * P, MOVE, 0),
        Rule::MoveMapCount,
        Errno::ENOMEM,
        "move_vma",
    );
}

#[test]
fn multi_vma_move_over_nothing_is_efault() {
    let mut s = space();
    rejects(
        &mut s,
        req(B, 4 * P, 4 * P, FIXED, B + 64 * P),
        Rule::MultiNoVma,
        Errno::EFAULT,
        "needs a VMA",
    );
}

#[test]
fn multi_vma_move_starting_in_a_gap_is_efault() {
    let mut s = space();
    anon(&mut s, B + 2 * P, 2 * P);
    rejects(
        &mut s,
        req(B, 4 * P, 4 * P, FIXED, B + 64 * P),
        Rule::MultiGapAtStart,
        Errno::EFAULT,
        "start inside a VMA",
    );
}

#[test]
fn multi_vma_move_with_uffd_vma_not_alone_is_efault() {
    let mut s = space();
    anon(&mut s, B, 2 * P);
    anon(&mut s, B + 3 * P, 2 * P);
    s.set_uffd(B, 2 * P, true).expect("register");
    rejects(
        &mut s,
        req(B, 5 * P, 5 * P, FIXED, B + 64 * P),
        Rule::MultiIneligible,
        Errno::EFAULT,
        "uffd-armed",
    );
}

#[test]
fn must_relocate_anon_on_shared_memory_is_efault() {
    let mut s = with(|c| c.kernel.relocate_anon_accepted = true);
    map(
        &mut s,
        B,
        4 * P,
        Backing::SharedAnon { object: 1 },
        VmaFlags::default(),
    );
    let flags = FIXED | MREMAP_MUST_RELOCATE_ANON;
    rejects(
        &mut s,
        req(B, 4 * P, 4 * P, flags, B + 64 * P),
        Rule::RelocateImpossible,
        Errno::EFAULT,
        "relocatable",
    );
}

#[test]
fn kernel_choice_on_an_occupied_range_is_reported_as_eexist() {
    let mut s = space();
    anon(&mut s, B, 4 * P);
    s.mmap(
        B + 4 * P,
        P,
        Prot::R,
        Backing::PrivateAnon,
        VmaFlags::default(),
        0,
    )
    .expect("setup mmap");
    anon(&mut s, B + 64 * P, 8 * P);
    let r = req(B, 4 * P, 8 * P, MOVE, 0);
    let e = s
        .mremap_with_dest(&r, DestChoice::Kernel(B + 64 * P))
        .expect_err("occupied");
    assert_eq!(
        (e.errno, e.rule),
        (Errno::EEXIST, Rule::KernelChoiceInvalid)
    );
    assert!(e.to_string().contains("kernel's chosen destination"));
    let ok = s
        .mremap_with_dest(&r, DestChoice::Kernel(B + 128 * P))
        .expect("free");
    assert_eq!(ok.new_addr, B + 128 * P);
}

// ---- munmap / mmap / mprotect / uffd / faults ----

fn op_rejects(
    res: Result<impl std::fmt::Debug, ModelError>,
    rule: Rule,
    errno: Errno,
    phrase: &str,
) {
    let e = res.expect_err("operation must be rejected");
    assert_eq!((e.errno, e.rule), (errno, rule));
    assert!(
        e.to_string().contains(phrase),
        "{e} does not name {phrase:?}"
    );
}

#[test]
fn munmap_argument_rules() {
    let mut s = space();
    let task = s.config().task_size;
    op_rejects(
        s.munmap(B + 1, P),
        Rule::RangeUnaligned,
        Errno::EINVAL,
        "page-aligned",
    );
    op_rejects(
        s.munmap(B, 0),
        Rule::RangeZeroLength,
        Errno::EINVAL,
        "not be 0",
    );
    op_rejects(
        s.munmap(task - P, 2 * P),
        Rule::RangeOutOfTask,
        Errno::EINVAL,
        "below TASK_SIZE",
    );
    assert!(s.munmap(B, P).is_ok(), "unmapping nothing succeeds");
}

#[test]
fn munmap_split_over_the_map_limit_is_enomem() {
    let mut s = with(|c| c.max_map_count = 2);
    anon(&mut s, B, 4 * P);
    anon(&mut s, B + 8 * P, 4 * P);
    op_rejects(
        s.munmap(B + P, P),
        Rule::SplitMapCount,
        Errno::ENOMEM,
        "max_map_count",
    );
}

#[test]
fn mmap_argument_rules() {
    let mut s = space();
    let task = s.config().task_size;
    let f = VmaFlags::default();
    op_rejects(
        s.mmap(B, 0, Prot::RW, Backing::PrivateAnon, f, 0),
        Rule::RangeZeroLength,
        Errno::EINVAL,
        "not be 0",
    );
    op_rejects(
        s.mmap(task - P, 2 * P, Prot::RW, Backing::PrivateAnon, f, 0),
        Rule::MmapOutOfTask,
        Errno::ENOMEM,
        "below TASK_SIZE",
    );
    op_rejects(
        s.mmap(B + 1, P, Prot::RW, Backing::PrivateAnon, f, 0),
        Rule::RangeUnaligned,
        Errno::EINVAL,
        "page-aligned",
    );
    op_rejects(
        s.mmap(P, P, Prot::RW, Backing::PrivateAnon, f, 0),
        Rule::BelowMmapMinAddr,
        Errno::EPERM,
        "mmap_min_addr",
    );
    let sealed = VmaFlags { sealed: true, ..f };
    s.mmap(B, P, Prot::RW, Backing::PrivateAnon, sealed, 0)
        .expect("setup");
    op_rejects(
        s.mmap(B, P, Prot::RW, Backing::PrivateAnon, f, 0),
        Rule::SealedRange,
        Errno::EPERM,
        "sealed",
    );
    op_rejects(
        s.mprotect(B, P, Prot::R),
        Rule::SealedRange,
        Errno::EPERM,
        "sealed",
    );
}

#[test]
fn mmap_over_the_map_limit_is_enomem() {
    let mut s = with(|c| c.max_map_count = 1);
    anon(&mut s, B, P);
    s.mmap(
        B + 2 * P,
        P,
        Prot::R,
        Backing::PrivateAnon,
        VmaFlags::default(),
        0,
    )
    .expect("count == limit is still allowed");
    op_rejects(
        s.mmap(
            B + 4 * P,
            P,
            Prot::R,
            Backing::PrivateAnon,
            VmaFlags::default(),
            0,
        ),
        Rule::MmapMapCount,
        Errno::ENOMEM,
        "max_map_count",
    );
}

#[test]
fn mprotect_and_uffd_argument_rules() {
    let mut s = space();
    op_rejects(
        s.mprotect(B + 1, P, Prot::R),
        Rule::RangeUnaligned,
        Errno::EINVAL,
        "page-aligned",
    );
    op_rejects(
        s.mprotect(B, P, Prot::R),
        Rule::UnmappedHole,
        Errno::ENOMEM,
        "holes",
    );
    assert!(s.mprotect(B, 0, Prot::R).is_ok(), "zero length is a no-op");
    op_rejects(
        s.set_uffd(B, P, true),
        Rule::UffdNoVma,
        Errno::ENOMEM,
        "needs a VMA",
    );
    op_rejects(
        s.set_uffd(B, 0, true),
        Rule::RangeZeroLength,
        Errno::EINVAL,
        "not be 0",
    );
    op_rejects(
        s.set_uffd(B, 100, true),
        Rule::RangeUnaligned,
        Errno::EINVAL,
        "page-aligned",
    );
    map(
        &mut s,
        B,
        P,
        Backing::SharedFile { file: 1 },
        VmaFlags {
            pfnmap: true,
            ..VmaFlags::default()
        },
    );
    op_rejects(
        s.set_uffd(B, P, true),
        Rule::UffdIncompatible,
        Errno::EINVAL,
        "cannot be registered",
    );
}

#[test]
fn page_access_rules() {
    let mut s = space();
    op_rejects(
        s.write_page(B, 1),
        Rule::FaultNoVma,
        Errno::EFAULT,
        "no VMA",
    );
    s.mmap(B, P, Prot::R, Backing::PrivateAnon, VmaFlags::default(), 0)
        .expect("setup");
    op_rejects(
        s.write_page(B, 1),
        Rule::FaultNotWritable,
        Errno::EFAULT,
        "PROT_WRITE",
    );
    op_rejects(
        s.write_page(B + 8, 1),
        Rule::FaultUnaligned,
        Errno::EINVAL,
        "page-aligned",
    );
    assert_eq!(s.read_page(B), Some(0));
    assert_eq!(s.read_page(B + P), None);
}
