//! Page-table move cost, as `move_page_tables()` picks extents (spec c).

use mremap_shim::model::{
    AddressSpace, Backing, ModelConfig, MoveCost, MremapRequest, Prot, VmaFlags, MREMAP_FIXED,
    MREMAP_MAYMOVE, PMD_SIZE, PUD_SIZE,
};

const P: u64 = 4096;
const MB: u64 = 1 << 20;
const GIB: u64 = PUD_SIZE;
const SRC: u64 = 64 * GIB;
const DST: u64 = 128 * GIB;
const FIXED: u64 = MREMAP_MAYMOVE | MREMAP_FIXED;

fn cheap() -> AddressSpace {
    AddressSpace::new(ModelConfig {
        track_pages: false,
        ..ModelConfig::default()
    })
}

fn tracked() -> AddressSpace {
    AddressSpace::new(ModelConfig::default())
}

fn map(s: &mut AddressSpace, at: u64, len: u64) {
    s.mmap(
        at,
        len,
        Prot::RW,
        Backing::PrivateAnon,
        VmaFlags::default(),
        0,
    )
    .expect("mmap");
}

fn fill(s: &mut AddressSpace, at: u64, len: u64) {
    for p in (at..at + len).step_by(P as usize) {
        s.write_page(p, p).expect("write");
    }
}

fn fixed_move(s: &mut AddressSpace, from: u64, len: u64, to: u64) -> MoveCost {
    let out = s
        .mremap(&MremapRequest {
            addr: from,
            old_len: len,
            new_len: len,
            flags: FIXED,
            new_addr: to,
        })
        .expect("move");
    assert_eq!(out.new_addr, to);
    out.cost
}

fn cost(puds: u64, pmds: u64, ptes: u64) -> MoveCost {
    MoveCost { ptes, pmds, puds }
}

#[test]
fn pud_aligned_gib_moves_as_one_pud() {
    let mut s = cheap();
    map(&mut s, SRC, GIB);
    assert_eq!(fixed_move(&mut s, SRC, GIB, DST), cost(1, 0, 0));
}

#[test]
fn pmd_aligned_but_not_pud_aligned_gib_moves_512_pmds() {
    let mut s = cheap();
    map(&mut s, SRC, GIB);
    assert_eq!(
        fixed_move(&mut s, SRC, GIB, DST + PMD_SIZE),
        cost(0, 512, 0)
    );
}

#[test]
fn misaligned_gib_moves_262144_ptes() {
    let mut s = cheap();
    map(&mut s, SRC, GIB);
    assert_eq!(fixed_move(&mut s, SRC, GIB, DST + P), cost(0, 0, 262_144));
}

#[test]
fn tracked_populated_gib_matches_cheap_mode() {
    let mut s = tracked();
    map(&mut s, SRC, GIB);
    fill(&mut s, SRC, GIB);
    let mut c = s.clone();
    assert_eq!(fixed_move(&mut s, SRC, GIB, DST), cost(1, 0, 0));
    assert_eq!(fixed_move(&mut c, SRC, GIB, DST + P), cost(0, 0, 262_144));
    assert_eq!(c.read_page(DST + P + 5 * P), Some(SRC + 5 * P));
}

#[test]
fn same_pmd_offset_moves_pmds_with_realigned_head_and_pte_tail() {
    let mut s = cheap();
    // Same offset within a PMD (1 MiB) but not within a PUD: the head is
    // realigned into a whole PMD, the middle moves by PMD, the last half
    // PMD goes PTE by PTE.
    map(&mut s, SRC + MB, 8 * MB);
    assert_eq!(
        fixed_move(&mut s, SRC + MB, 8 * MB, DST + 5 * MB),
        cost(0, 4, 256)
    );
}

#[test]
fn realignment_moves_the_first_partial_pmd_as_one_entry() {
    // The source VMA starts 1 MiB into a PMD, nothing below it in that PMD,
    // the destination has the same offset and is free below too (6.7+).
    let mut s = tracked();
    map(&mut s, SRC + MB, 3 * MB);
    fill(&mut s, SRC + MB, 3 * MB);
    assert_eq!(
        fixed_move(&mut s, SRC + MB, 3 * MB, DST + MB),
        cost(0, 2, 0)
    );
}

#[test]
fn realignment_refused_when_a_vma_sits_below_the_source_start() {
    let mut s = tracked();
    map(&mut s, SRC + MB, 3 * MB);
    fill(&mut s, SRC + MB, 3 * MB);
    s.mmap(
        SRC,
        P,
        Prot::R,
        Backing::PrivateAnon,
        VmaFlags::default(),
        0,
    )
    .expect("mmap");
    assert_eq!(
        fixed_move(&mut s, SRC + MB, 3 * MB, DST + MB),
        cost(0, 1, 256)
    );
}

#[test]
fn realignment_refused_when_the_destination_pmd_is_occupied_below() {
    let mut s = tracked();
    map(&mut s, SRC + MB, 3 * MB);
    fill(&mut s, SRC + MB, 3 * MB);
    s.mmap(
        DST + P,
        P,
        Prot::R,
        Backing::PrivateAnon,
        VmaFlags::default(),
        0,
    )
    .expect("mmap");
    assert_eq!(
        fixed_move(&mut s, SRC + MB, 3 * MB, DST + MB),
        cost(0, 1, 256)
    );
}

#[test]
fn realignment_refused_when_the_range_does_not_reach_the_boundary() {
    let mut s = cheap();
    map(&mut s, SRC + MB, 3 * MB);
    assert_eq!(
        fixed_move(&mut s, SRC + MB, MB - P, DST + MB),
        cost(0, 0, 255)
    );
}

#[test]
fn unpopulated_stretches_cost_nothing() {
    let mut s = tracked();
    map(&mut s, SRC, 8 * MB);
    // Three pages in the first PMD, one in the last; the middle is empty.
    for p in [0, P, 2 * P, 8 * MB - P] {
        s.write_page(SRC + p, 1).expect("write");
    }
    let mut misaligned = s.clone();
    assert_eq!(fixed_move(&mut s, SRC, 8 * MB, DST), cost(0, 2, 0));
    assert_eq!(
        fixed_move(&mut misaligned, SRC, 8 * MB, DST + P),
        cost(0, 0, 4)
    );
}

#[test]
fn never_touched_range_moves_for_free() {
    let mut s = tracked();
    map(&mut s, SRC, GIB);
    assert_eq!(fixed_move(&mut s, SRC, GIB, DST), MoveCost::default());
}

#[test]
fn uffd_registered_source_moves_pte_by_pte() {
    // Without EVENT_REMAP the kernel must visit every PTE to clear uffd-wp
    // state, so whole-table moves are disabled (6.13+).
    let mut s = cheap();
    map(&mut s, SRC, 4 * MB);
    s.set_uffd(SRC, 4 * MB, true).expect("register");
    assert_eq!(fixed_move(&mut s, SRC, 4 * MB, DST), cost(0, 0, 1024));
    assert!(
        s.vma_at(DST).is_some_and(|v| !v.flags.uffd),
        "the moved VMA loses its registration"
    );
}

#[test]
fn cheap_mode_handles_terabytes_arithmetically() {
    let mut s = cheap();
    let len = 16 << 40;
    let src = 8 << 40;
    map(&mut s, src, len);
    let dst = 32 << 40;
    assert_eq!(fixed_move(&mut s, src, len, dst), cost(16 << 10, 0, 0));
    assert_eq!(fixed_move(&mut s, dst, len, src + P), cost(0, 0, len / P));
}

#[test]
fn dontunmap_of_a_populated_heap_costs_the_same_as_a_move() {
    let mut s = cheap();
    map(&mut s, SRC, GIB);
    let out = s
        .mremap(&MremapRequest {
            addr: SRC,
            old_len: GIB,
            new_len: GIB,
            flags: FIXED | mremap_shim::model::MREMAP_DONTUNMAP,
            new_addr: DST,
        })
        .expect("dontunmap");
    assert_eq!(out.cost, cost(1, 0, 0));
    assert!(s.vma_at(SRC).is_some(), "the source stays mapped");
}
