//! Behaviour of successful (and partially successful) remaps in the model:
//! DONTUNMAP, mirror, multi-VMA moves, merging and anon identity, uffd
//! registration, RELOCATE_ANON and the effects left behind by late errors.

use mremap_shim::model::{
    AddressSpace, Backing, ModelConfig, MremapRequest, Prot, Rule, Vma, VmaFlags, MREMAP_DONTUNMAP,
    MREMAP_FIXED, MREMAP_MAYMOVE, MREMAP_RELOCATE_ANON,
};
use nix::errno::Errno;

const P: u64 = 4096;
const B: u64 = 64 << 30;
const T: u64 = B + (1 << 30);
const MOVE: u64 = MREMAP_MAYMOVE;
const FIXED: u64 = MREMAP_MAYMOVE | MREMAP_FIXED;
const DONTUNMAP: u64 = MREMAP_MAYMOVE | MREMAP_DONTUNMAP;

fn space() -> AddressSpace {
    AddressSpace::new(ModelConfig::default())
}

fn map(s: &mut AddressSpace, at: u64, len: u64, backing: Backing, flags: VmaFlags) {
    s.mmap(at, len, Prot::RW, backing, flags, 0).expect("mmap");
}

fn anon(s: &mut AddressSpace, at: u64, len: u64) {
    map(s, at, len, Backing::PrivateAnon, VmaFlags::default());
}

fn fill(s: &mut AddressSpace, at: u64, pages: u64, seed: u64) {
    for i in 0..pages {
        s.write_page(at + i * P, seed + i).expect("write");
    }
}

fn remap(s: &mut AddressSpace, addr: u64, old: u64, new: u64, flags: u64, to: u64) -> u64 {
    let r = MremapRequest {
        addr,
        old_len: old,
        new_len: new,
        flags,
        new_addr: to,
    };
    s.mremap(&r).expect("mremap").new_addr
}

fn try_remap(s: &mut AddressSpace, addr: u64, old: u64, flags: u64, to: u64) -> Result<u64, Rule> {
    let r = MremapRequest {
        addr,
        old_len: old,
        new_len: old,
        flags,
        new_addr: to,
    };
    s.mremap(&r).map(|o| o.new_addr).map_err(|e| e.rule)
}

fn vma(s: &AddressSpace, at: u64) -> Vma {
    s.vma_at(at).cloned().expect("a VMA")
}

#[test]
fn dontunmap_of_whole_vma_drops_anon_vma_and_lock() {
    let mut s = space();
    let locked = VmaFlags {
        locked: true,
        ..VmaFlags::default()
    };
    map(&mut s, B, 4 * P, Backing::PrivateAnon, locked);
    fill(&mut s, B, 4, 10);
    assert!(vma(&s, B).anon.is_some());
    let to = remap(&mut s, B, 4 * P, 4 * P, DONTUNMAP | MREMAP_FIXED, T);
    assert_eq!(to, T);
    let src = vma(&s, B);
    assert_eq!((src.start, src.end), (B, B + 4 * P));
    assert_eq!(src.anon, None, "whole VMA moved: anon_vma unlinked");
    assert!(!src.flags.locked, "VM_LOCKED cleared on the source");
    assert!(src.flags.account, "6.18 keeps VM_ACCOUNT on the source");
    assert!(vma(&s, T).flags.locked, "the new VMA stays locked");
    assert_eq!(s.read_page(B), Some(0));
    assert!(!s.resident(B));
    assert_eq!(s.read_page(T + 3 * P), Some(13));
}

#[test]
fn dontunmap_of_part_keeps_vma_unsplit_and_anon() {
    let mut s = space();
    anon(&mut s, B, 10 * P);
    fill(&mut s, B, 10, 0);
    let to = remap(&mut s, B + 5 * P, 5 * P, 5 * P, DONTUNMAP, 0);
    let src = vma(&s, B);
    assert_eq!((src.start, src.end), (B, B + 10 * P));
    assert!(src.anon.is_some());
    assert_eq!(s.read_page(B + 4 * P), Some(4));
    assert_eq!(s.read_page(B + 5 * P), Some(0));
    assert_eq!(s.read_page(to), Some(5));
}

#[test]
fn dontunmap_on_memfd_keeps_file_pages() {
    let mut s = space();
    map(
        &mut s,
        B,
        4 * P,
        Backing::SharedFile { file: 7 },
        VmaFlags::default(),
    );
    fill(&mut s, B, 4, 100);
    let to = remap(&mut s, B, 4 * P, 4 * P, DONTUNMAP | MREMAP_FIXED, T);
    assert_eq!(s.read_page(B + P), Some(101));
    assert!(s.resident(B + P), "mincore sees the page cache");
    s.write_page(to + P, 555).expect("write");
    assert_eq!(s.read_page(B + P), Some(555), "both views share the file");
}

#[test]
fn dontunmap_on_private_file_shows_original_file_data() {
    let mut s = space();
    map(
        &mut s,
        B,
        2 * P,
        Backing::SharedFile { file: 3 },
        VmaFlags::default(),
    );
    fill(&mut s, B, 2, 40);
    map(
        &mut s,
        T,
        2 * P,
        Backing::PrivateFile { file: 3 },
        VmaFlags::default(),
    );
    s.write_page(T, 99).expect("cow write");
    let to = remap(&mut s, T, 2 * P, 2 * P, DONTUNMAP, 0);
    assert_eq!(s.read_page(T), Some(40), "private copy moved away");
    assert_eq!(s.read_page(to), Some(99));
    assert_eq!(s.read_page(to + P), Some(41));
}

#[test]
fn mirror_of_shared_mapping_aliases_and_leaves_source() {
    let mut s = space();
    map(
        &mut s,
        B,
        4 * P,
        Backing::SharedAnon { object: 1 },
        VmaFlags::default(),
    );
    fill(&mut s, B, 4, 7);
    let m = remap(&mut s, B + P, 0, 2 * P, MOVE, 0);
    assert_ne!(m, B + P);
    assert_eq!(s.read_page(m), Some(8));
    s.write_page(m + P, 77).expect("write");
    assert_eq!(s.read_page(B + 2 * P), Some(77));
    assert_eq!(vma(&s, B).end, B + 4 * P);
    assert_eq!(vma(&s, m).pgoff, 1);
    assert_eq!(s.map_count(), 2);
}

#[test]
fn expand_in_place_merges_with_next_and_extends_from_vma_start() {
    let mut s = space();
    anon(&mut s, B, 3 * P);
    s.munmap(B + P, P).expect("munmap");
    assert_eq!(s.map_count(), 2);
    assert_eq!(remap(&mut s, B, P, 2 * P, 0, 0), B);
    assert_eq!(s.map_count(), 1);
    assert_eq!(vma(&s, B).end, B + 3 * P);
}

#[test]
fn locked_expansion_populates_the_new_part() {
    let mut s = space();
    let locked = VmaFlags {
        locked: true,
        ..VmaFlags::default()
    };
    map(&mut s, B, 2 * P, Backing::PrivateAnon, locked);
    assert_eq!(remap(&mut s, B, 2 * P, 4 * P, 0, 0), B);
    assert!(s.resident(B + 3 * P));
    assert!(!s.resident(B), "the old part is not touched");
}

#[test]
fn moved_unfaulted_anon_takes_new_pgoff_and_merges_at_destination() {
    let mut s = space();
    anon(&mut s, B, 4 * P);
    anon(&mut s, T + 4 * P, 4 * P);
    assert_eq!(remap(&mut s, B, 4 * P, 4 * P, FIXED, T), T);
    let v = vma(&s, T);
    assert_eq!((v.start, v.end, v.pgoff), (T, T + 8 * P, T / P));
}

#[test]
fn moved_faulted_anon_keeps_pgoff_and_stays_separate() {
    let mut s = space();
    anon(&mut s, B, 4 * P);
    fill(&mut s, B, 1, 1);
    anon(&mut s, T + 4 * P, 4 * P);
    remap(&mut s, B, 4 * P, 4 * P, FIXED, T);
    assert_eq!(vma(&s, T).pgoff, B / P);
    assert_eq!(s.map_count(), 2);
    // Moving it back next to where its pgoff lines up merges again.
    anon(&mut s, B + 4 * P, 4 * P);
    remap(&mut s, T, 4 * P, 4 * P, FIXED, B);
    assert_eq!(vma(&s, B).end, B + 8 * P);
}

#[test]
fn relocate_anon_keeps_moved_faulted_vma_mergeable() {
    let mut s = AddressSpace::new(ModelConfig {
        kernel: mremap_shim::model::KernelModel {
            relocate_anon_accepted: true,
            ..Default::default()
        },
        ..ModelConfig::default()
    });
    anon(&mut s, B, 4 * P);
    fill(&mut s, B, 1, 1);
    anon(&mut s, T + 4 * P, 4 * P);
    fill(&mut s, T + 4 * P, 1, 2);
    remap(&mut s, B, 4 * P, 4 * P, FIXED | MREMAP_RELOCATE_ANON, T);
    assert_eq!(s.map_count(), 1, "{:#x?}", s.vmas().collect::<Vec<_>>());
    assert_eq!(s.read_page(T), Some(1));
    assert_eq!(s.read_page(T + 4 * P), Some(2));
}

#[test]
fn move_drops_uffd_registration_but_dontunmap_source_keeps_it() {
    let mut s = space();
    anon(&mut s, B, 4 * P);
    s.set_uffd(B, 4 * P, true).expect("register");
    remap(&mut s, B, 4 * P, 4 * P, DONTUNMAP | MREMAP_FIXED, T);
    assert!(vma(&s, B).flags.uffd);
    assert!(!vma(&s, T).flags.uffd);
}

#[test]
fn multi_vma_move_preserves_gaps_and_leaves_target_gaps_alone() {
    let mut s = space();
    anon(&mut s, B, 2 * P);
    anon(&mut s, B + 3 * P, 2 * P);
    // Something in the target's gap must survive.
    s.mmap(
        T + 2 * P,
        P,
        Prot::R,
        Backing::PrivateAnon,
        VmaFlags::default(),
        0,
    )
    .expect("mmap");
    fill(&mut s, B, 2, 1);
    fill(&mut s, B + 3 * P, 2, 3);
    assert_eq!(try_remap(&mut s, B, 6 * P, FIXED, T), Ok(T));
    assert_eq!(s.read_page(T + P), Some(2));
    assert_eq!(s.read_page(T + 2 * P), Some(0), "gap mapping untouched");
    assert!(s.vma_at(T + 2 * P).is_some_and(|v| v.prot == Prot::R));
    assert_eq!(s.read_page(T + 4 * P), Some(4));
    assert!(s.vma_at(B).is_none());
}

#[test]
fn multi_vma_move_stops_at_sealed_vma_with_earlier_vmas_moved() {
    let mut s = space();
    anon(&mut s, B, P);
    let sealed = VmaFlags {
        sealed: true,
        ..VmaFlags::default()
    };
    map(&mut s, B + 2 * P, P, Backing::PrivateAnon, sealed);
    anon(&mut s, B + 4 * P, P);
    assert_eq!(
        try_remap(&mut s, B, 5 * P, FIXED, T),
        Err(Rule::SealedSource)
    );
    assert!(s.vma_at(T).is_some(), "first VMA moved");
    assert!(s.vma_at(B).is_none());
    assert!(s.vma_at(B + 4 * P).is_some(), "third VMA not moved");
    assert!(s.vma_at(T + 4 * P).is_none());
}

#[test]
fn lone_uffd_vma_still_moves_on_the_multi_path() {
    let mut s = space();
    anon(&mut s, B, 2 * P);
    s.set_uffd(B, 2 * P, true).expect("register");
    // Range extends past the VMA into a gap: ineligible first VMA refused.
    assert_eq!(
        try_remap(&mut s, B, 3 * P, FIXED, T),
        Err(Rule::MultiIneligible)
    );
    assert_eq!(try_remap(&mut s, B, 2 * P, FIXED, T), Ok(T));
}

#[test]
fn late_eperm_leaves_fixed_target_unmapped_and_shrink_done() {
    let mut s = space();
    anon(&mut s, B, 4 * P);
    anon(&mut s, T, 4 * P);
    let mut low = s.clone();
    // A FIXED shrinking move whose destination is then refused.
    let r = MremapRequest {
        addr: B,
        old_len: 4 * P,
        new_len: 2 * P,
        flags: FIXED,
        new_addr: 0x1000,
    };
    let e = low.mremap(&r).expect_err("below mmap_min_addr");
    assert_eq!((e.errno, e.rule), (Errno::EPERM, Rule::BelowMmapMinAddr));
    assert_eq!(vma(&low, B).end, B + 2 * P, "the shrink already happened");
    // check() reports the same error without touching anything.
    assert_eq!(s.check(&r), Err(e));
    assert_eq!(vma(&s, B).end, B + 4 * P);
}

#[test]
fn shrink_in_place_may_span_vmas_and_gaps() {
    let mut s = space();
    anon(&mut s, B, 2 * P);
    anon(&mut s, B + 3 * P, 2 * P);
    assert_eq!(remap(&mut s, B, 5 * P, P, 0, 0), B);
    assert_eq!(s.map_count(), 1);
    assert_eq!(vma(&s, B).end, B + P);
}

#[test]
fn noop_needs_a_vma_but_may_extend_past_it() {
    let mut s = space();
    anon(&mut s, B, P);
    assert_eq!(remap(&mut s, B, 8 * P, 8 * P, MOVE, 0), B);
    assert_eq!(s.map_count(), 1);
}

#[test]
fn dontunmap_hint_is_used_when_free() {
    let mut s = space();
    anon(&mut s, B, 2 * P);
    assert_eq!(remap(&mut s, B, 2 * P, 2 * P, DONTUNMAP, T), T);
    // Colliding hint: the kernel picks; never clobbers.
    anon(&mut s, T + 8 * P, 2 * P);
    let got = remap(&mut s, B, 2 * P, 2 * P, DONTUNMAP, T + 8 * P);
    assert_ne!(got, T + 8 * P);
    assert!(s.vma_at(T + 8 * P).is_some());
}

#[test]
fn dontunmap_next_to_unfaulted_source_merges_into_it() {
    // copy_vma() may merge the new VMA with the source itself; then the
    // source is not "a separate new VMA" and DONTUNMAP clears VM_LOCKED on
    // the merged whole.
    let mut s = space();
    anon(&mut s, B, 2 * P);
    assert_eq!(
        remap(&mut s, B, 2 * P, 2 * P, DONTUNMAP | MREMAP_FIXED, B + 2 * P),
        B + 2 * P
    );
    let v = vma(&s, B);
    assert_eq!((v.start, v.end), (B, B + 4 * P));
}
