//! The kernel's mremap selftests (`mremap_dontunmap.c`, `mremap_test.c`)
//! re-expressed against the kernel through `sys`, and the seed features
//! checked on both the model and the kernel: DONTUNMAP on private anon and
//! memfd, its refusals, the old_len == 0 mirror, multi-VMA moves (gaps,
//! userfaultfd refusal, EFAULT with no VMA) and VMA-count hygiene.
//!
//! Every test works inside its own PROT_NONE sandbox and places every
//! destination inside it (never a "free" address found by map + unmap:
//! tests run on several threads).

mod common;

use std::os::fd::AsFd;

use common::uffd::Uffd;
use common::{map_anon_rw, maps_in, peek, poke, resident, Sandbox, P, PMD};
use mremap_shim::engine::{Engine, EngineError};
use mremap_shim::model::{
    AddressSpace, Backing, ModelConfig, MremapRequest, Prot, Rule, VmaFlags, MREMAP_DONTUNMAP,
    MREMAP_FIXED, MREMAP_MAYMOVE,
};
use mremap_shim::sys::{self, MapFlags, ProtFlags};
use nix::errno::Errno;

const MAYMOVE: usize = MREMAP_MAYMOVE as usize;
const FIXED: usize = MREMAP_FIXED as usize;
const DONTUNMAP: usize = MREMAP_DONTUNMAP as usize;

fn fill(addr: usize, pages: usize, value: u64) {
    for i in 0..pages {
        poke(addr + i * P, value + i as u64);
    }
}

fn check_filled(addr: usize, pages: usize, value: u64) {
    for i in 0..pages {
        assert_eq!(
            peek(addr + i * P),
            value + i as u64,
            "page {i} at {:#x}",
            addr + i * P
        );
    }
}

fn check_zero(addr: usize, pages: usize) {
    for i in 0..pages {
        assert_eq!(
            peek(addr + i * P),
            0,
            "page {i} at {:#x} not zero",
            addr + i * P
        );
    }
}

/// A model holding a sandbox-like reservation and an RW anon range.
fn model_with(src: u64, pages: u64, backing: Backing) -> AddressSpace {
    let mut m = AddressSpace::new(ModelConfig::default());
    m.mmap(
        src,
        pages * P as u64,
        Prot::RW,
        backing,
        VmaFlags::default(),
        0,
    )
    .expect("model mmap");
    m
}

// ---- mremap_dontunmap.c ----

#[test]
fn dontunmap_simple_moves_pages_and_source_reads_zero() {
    let sb = Sandbox::new(64 * P, P);
    let (src, dst) = (sb.page(0), sb.page(16));
    map_anon_rw(src, 5 * P);
    fill(src, 5, 0xa0);
    let got = sys::mremap(src, 5 * P, 5 * P, MAYMOVE | FIXED | DONTUNMAP, dst).unwrap();
    assert_eq!(got, dst);
    check_filled(dst, 5, 0xa0);
    assert_eq!(
        resident(src, 5 * P).unwrap(),
        vec![false; 5],
        "source has no pages"
    );
    check_zero(src, 5);
    let src_maps = maps_in(src, src + 5 * P);
    assert_eq!(src_maps.len(), 1, "source keeps one VMA");
    assert!(src_maps[0].perms.write);
}

#[test]
fn dontunmap_shared_anon_source_keeps_contents() {
    let sb = Sandbox::new(64 * P, P);
    let (src, dst) = (sb.page(0), sb.page(16));
    let rw = ProtFlags::PROT_READ | ProtFlags::PROT_WRITE;
    sys::mmap_anon(src, 5 * P, rw, MapFlags::MAP_SHARED | MapFlags::MAP_FIXED).unwrap();
    fill(src, 5, 0xb0);
    sys::mremap(src, 5 * P, 5 * P, MAYMOVE | FIXED | DONTUNMAP, dst).unwrap();
    check_filled(dst, 5, 0xb0);
    check_filled(src, 5, 0xb0);
}

#[test]
fn dontunmap_fixed_overwrites_destination() {
    let sb = Sandbox::new(64 * P, P);
    let (src, dst) = (sb.page(0), sb.page(16));
    map_anon_rw(src, 5 * P);
    map_anon_rw(dst, 5 * P);
    fill(src, 5, 0xa0);
    fill(dst, 5, 0xb0);
    sys::mremap(src, 5 * P, 5 * P, MAYMOVE | FIXED | DONTUNMAP, dst).unwrap();
    check_filled(dst, 5, 0xa0);
    check_zero(src, 5);
}

#[test]
fn dontunmap_partial_mapping_leaves_rest_and_does_not_split() {
    let sb = Sandbox::new(64 * P, P);
    let (src, dst) = (sb.page(0), sb.page(32));
    map_anon_rw(src, 10 * P);
    fill(src, 10, 0xc0);
    sys::mremap(src, 5 * P, 5 * P, MAYMOVE | FIXED | DONTUNMAP, dst).unwrap();
    check_filled(dst, 5, 0xc0);
    check_zero(src, 5);
    check_filled(src + 5 * P, 5, 0xc5);
    assert_eq!(maps_in(src, src + 10 * P).len(), 1, "old VMA not split");
}

#[test]
fn dontunmap_partial_overwrite_keeps_destination_tail() {
    let sb = Sandbox::new(64 * P, P);
    let (src, dst) = (sb.page(0), sb.page(16));
    map_anon_rw(src, 5 * P);
    map_anon_rw(dst, 10 * P);
    fill(src, 5, 0xa0);
    fill(dst, 10, 0xd0);
    sys::mremap(src, 5 * P, 5 * P, MAYMOVE | FIXED | DONTUNMAP, dst).unwrap();
    check_filled(dst, 5, 0xa0);
    check_filled(dst + 5 * P, 5, 0xd5);
    check_zero(src, 5);
}

// ---- seed feature: DONTUNMAP refusals (model and kernel agree, rule named) ----

#[test]
fn dontunmap_without_maymove_is_einval_in_model_and_kernel() {
    let sb = Sandbox::new(16 * P, P);
    map_anon_rw(sb.page(0), 2 * P);
    let req = MremapRequest {
        addr: sb.page(0) as u64,
        old_len: 2 * P as u64,
        new_len: 2 * P as u64,
        flags: MREMAP_DONTUNMAP | MREMAP_FIXED,
        new_addr: sb.page(8) as u64,
    };
    let model = model_with(sb.page(0) as u64, 2, Backing::PrivateAnon);
    let err = model.check(&req).unwrap_err();
    assert_eq!((err.errno, err.rule), (Errno::EINVAL, Rule::MissingMaymove));
    assert!(err.to_string().contains("MAYMOVE"), "{err}");
    let k = sys::mremap(sb.page(0), 2 * P, 2 * P, DONTUNMAP | FIXED, sb.page(8)).unwrap_err();
    assert_eq!(k.errno, Errno::EINVAL);
}

#[test]
fn dontunmap_with_resize_is_einval_in_model_engine_and_kernel() {
    let sb = Sandbox::new(16 * P, P);
    map_anon_rw(sb.page(0), 2 * P);
    let req = MremapRequest {
        addr: sb.page(0) as u64,
        old_len: 2 * P as u64,
        new_len: 3 * P as u64,
        flags: MREMAP_DONTUNMAP | MREMAP_MAYMOVE,
        new_addr: sb.page(8) as u64,
    };
    let model = model_with(sb.page(0) as u64, 2, Backing::PrivateAnon);
    let err = model.check(&req).unwrap_err();
    assert_eq!(
        (err.errno, err.rule),
        (Errno::EINVAL, Rule::DontunmapResize)
    );
    let k = sys::mremap(sb.page(0), 2 * P, 3 * P, DONTUNMAP | MAYMOVE, sb.page(8)).unwrap_err();
    assert_eq!(k.errno, Errno::EINVAL);
    let shown = EngineError::rejected(sys::SysOp::Mremap, err).to_string();
    assert_eq!(
        shown,
        "mremap rejected: DONTUNMAP requires old_len == new_len (EINVAL)"
    );
}

#[test]
fn dontunmap_on_memfd_keeps_file_pages() {
    let sb = Sandbox::new(16 * P, P);
    let fd = sys::create_memfd("dontunmap-memfd", 4 * P as u64).unwrap();
    let rw = ProtFlags::PROT_READ | ProtFlags::PROT_WRITE;
    sys::mmap_fd(
        sb.page(0),
        4 * P,
        rw,
        MapFlags::MAP_SHARED | MapFlags::MAP_FIXED,
        fd.as_fd(),
        0,
    )
    .unwrap();
    fill(sb.page(0), 4, 0xe0);
    match sys::mremap(
        sb.page(0),
        4 * P,
        4 * P,
        MAYMOVE | FIXED | DONTUNMAP,
        sb.page(8),
    ) {
        Ok(a) => assert_eq!(a, sb.page(8)),
        Err(e) if e.errno == Errno::EINVAL => {
            println!("skip: DONTUNMAP on shared mappings needs Linux 5.13+");
            return;
        }
        Err(e) => panic!("{e}"),
    }
    check_filled(sb.page(8), 4, 0xe0);
    check_filled(sb.page(0), 4, 0xe0);
    poke(sb.page(8), 1);
    assert_eq!(peek(sb.page(0)), 1, "both views show the same file page");
}

// ---- seed feature: old_len == 0 mirror ----

#[test]
fn mirror_of_shared_mapping_aliases_writes() {
    let sb = Sandbox::new(16 * P, P);
    let fd = sys::create_memfd("mirror", 2 * P as u64).unwrap();
    let rw = ProtFlags::PROT_READ | ProtFlags::PROT_WRITE;
    sys::mmap_fd(
        sb.page(0),
        2 * P,
        rw,
        MapFlags::MAP_SHARED | MapFlags::MAP_FIXED,
        fd.as_fd(),
        0,
    )
    .unwrap();
    let got = sys::mremap(sb.page(0), 0, 2 * P, MAYMOVE | FIXED, sb.page(8)).unwrap();
    assert_eq!(got, sb.page(8));
    poke(sb.page(9), 0x55);
    assert_eq!(peek(sb.page(1)), 0x55);
    poke(sb.page(0), 0x66);
    assert_eq!(peek(sb.page(8)), 0x66);
}

#[test]
fn mirror_of_private_mapping_is_einval_in_model_and_kernel() {
    let sb = Sandbox::new(16 * P, P);
    map_anon_rw(sb.page(0), 2 * P);
    let k = sys::mremap(sb.page(0), 0, 2 * P, MAYMOVE | FIXED, sb.page(8)).unwrap_err();
    assert_eq!(k.errno, Errno::EINVAL);
    let model = model_with(sb.page(0) as u64, 2, Backing::PrivateAnon);
    let req = MremapRequest {
        addr: sb.page(0) as u64,
        old_len: 0,
        new_len: 2 * P as u64,
        flags: MREMAP_MAYMOVE | MREMAP_FIXED,
        new_addr: sb.page(8) as u64,
    };
    let err = model.check(&req).unwrap_err();
    assert_eq!(
        (err.errno, err.rule),
        (Errno::EINVAL, Rule::MirrorOfPrivate)
    );
    assert!(err.to_string().contains("shared"), "{err}");
}

// ---- seed feature: multi-VMA move ----

fn multi_vma_supported(sb: &Sandbox) -> bool {
    // Two VMAs (different protections) moved as one range.
    map_anon_rw(sb.page(0), P);
    sys::mmap_anon(
        sb.page(1),
        P,
        ProtFlags::PROT_READ,
        MapFlags::MAP_PRIVATE | MapFlags::MAP_FIXED,
    )
    .unwrap();
    let ok = sys::mremap(sb.page(0), 2 * P, 2 * P, MAYMOVE | FIXED, sb.page(4)).is_ok();
    let none = sys::MapFlags::MAP_PRIVATE | MapFlags::MAP_FIXED | MapFlags::MAP_NORESERVE;
    sys::mmap_anon(sb.page(0), 8 * P, ProtFlags::PROT_NONE, none).unwrap();
    ok
}

#[test]
fn multi_vma_move_preserves_gaps() {
    let sb = Sandbox::new(64 * P, P);
    if !multi_vma_supported(&sb) {
        println!("skip: multi-VMA mremap needs Linux 6.17+");
        return;
    }
    // [A rw 2p][hole 1p][B ro 2p][hole 1p][C rw 1p], source at page 10.
    let s = sb.page(10);
    map_anon_rw(s, 2 * P);
    sys::munmap(s + 2 * P, P).unwrap();
    map_anon_rw(s + 3 * P, 2 * P);
    sys::munmap(s + 5 * P, P).unwrap();
    map_anon_rw(s + 6 * P, P);
    fill(s, 2, 0x10);
    fill(s + 3 * P, 2, 0x20);
    fill(s + 6 * P, 1, 0x30);
    sys::mprotect(s + 3 * P, 2 * P, ProtFlags::PROT_READ).unwrap();
    let d = sb.page(40);
    assert_eq!(sys::mremap(s, 7 * P, 7 * P, MAYMOVE | FIXED, d).unwrap(), d);
    check_filled(d, 2, 0x10);
    check_filled(d + 3 * P, 2, 0x20);
    check_filled(d + 6 * P, 1, 0x30);
    let shape: Vec<(u64, bool)> = maps_in(d, d + 7 * P)
        .iter()
        .map(|m| ((m.start - d as u64) / P as u64, m.perms.write))
        .collect();
    // Target gaps keep what was there (the sandbox's PROT_NONE).
    assert_eq!(
        shape,
        vec![(0, true), (2, false), (3, false), (5, false), (6, true)]
    );
    assert!(maps_in(s, s + 7 * P).is_empty(), "source range unmapped");
}

#[test]
fn multi_vma_move_refuses_uffd_registered_vma_among_several() {
    let sb = Sandbox::new(64 * P, P);
    if !multi_vma_supported(&sb) {
        println!("skip: multi-VMA mremap needs Linux 6.17+");
        return;
    }
    let uffd = match Uffd::open() {
        Ok(u) => u,
        Err(e) => {
            println!("skip: userfaultfd unavailable ({e})");
            return;
        }
    };
    let s = sb.page(10);
    map_anon_rw(s, 2 * P);
    map_anon_rw(s + 2 * P, 2 * P);
    sys::mprotect(s + 2 * P, 2 * P, ProtFlags::PROT_READ).unwrap();
    uffd.register(s, 2 * P).unwrap();
    let err = sys::mremap(s, 4 * P, 4 * P, MAYMOVE | FIXED, sb.page(40)).unwrap_err();
    assert_eq!(err.errno, Errno::EFAULT);
    assert_eq!(maps_in(s, s + 4 * P).len(), 2, "nothing moved");
    // Alone, the registered VMA still moves.
    assert!(sys::mremap(s, 2 * P, 2 * P, MAYMOVE | FIXED, sb.page(40)).is_ok());
}

#[test]
fn engine_move_range_refuses_uffd_vma_before_any_syscall() {
    let e = Engine::new().unwrap();
    let res = e.reserve(64 * P, P).unwrap();
    let s = res.addr();
    e.map_anon(&res, s, 2 * P).unwrap();
    e.map_memfd(&res, s + 2 * P, 2 * P, "uffd-multi").unwrap();
    e.note_uffd(s, 2 * P, true);
    let err = e.move_range(s, s + 32 * P, 4 * P).unwrap_err();
    assert_eq!(err.errno(), Some(Errno::EFAULT));
    assert!(
        matches!(
            err,
            EngineError::Rejected {
                rule: Rule::MultiIneligible,
                ..
            }
        ),
        "{err}"
    );
    let err = e.move_range_by_vma(s, s + 32 * P, 4 * P).unwrap_err();
    assert!(
        matches!(
            err,
            EngineError::Rejected {
                rule: Rule::MultiIneligible,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn move_with_no_vma_in_range_is_efault() {
    let sb = Sandbox::new(64 * P, P);
    let s = sb.page(10);
    sys::munmap(s, 4 * P).unwrap();
    let err = sys::mremap(s, 4 * P, 4 * P, MAYMOVE | FIXED, sb.page(40)).unwrap_err();
    assert_eq!(err.errno, Errno::EFAULT);
    let model = AddressSpace::new(ModelConfig::default());
    let req = MremapRequest {
        addr: s as u64,
        old_len: 4 * P as u64,
        new_len: 4 * P as u64,
        flags: MREMAP_MAYMOVE | MREMAP_FIXED,
        new_addr: sb.page(40) as u64,
    };
    assert_eq!(model.check(&req).unwrap_err().errno, Errno::EFAULT);
}

// ---- mremap_test.c ----

#[test]
fn expand_in_place_merges_with_next_vma() {
    // mremap_expand_merge: [A 1p][hole 1p][C 1p]; growing A to 2p fills the
    // hole and merges all three into one VMA.
    let sb = Sandbox::new(16 * P, P);
    let s = sb.page(4);
    map_anon_rw(s, 3 * P);
    sys::munmap(s + P, P).unwrap();
    assert_eq!(sys::mremap(s, P, 2 * P, 0, 0).unwrap(), s);
    let m = maps_in(s, s + 3 * P);
    assert_eq!(m.len(), 1, "{m:?}");
}

#[test]
fn expand_in_place_merges_with_next_vma_at_offset() {
    // mremap_expand_merge_offset: the grown VMA is a tail split off a larger one.
    let sb = Sandbox::new(16 * P, P);
    let s = sb.page(4);
    map_anon_rw(s, 4 * P);
    sys::munmap(s + 2 * P, P).unwrap();
    assert_eq!(sys::mremap(s + P, P, 2 * P, 0, 0).unwrap(), s + P);
    assert_eq!(maps_in(s, s + 4 * P).len(), 1);
}

/// Move `len` bytes from `src` to `dst` and check every page's contents.
fn move_and_check(src: usize, dst: usize, len: usize) {
    map_anon_rw(src, len);
    for off in (0..len).step_by(P) {
        poke(src + off, (off / P) as u64 ^ 0x5a5a);
    }
    assert_eq!(
        sys::mremap(src, len, len, MAYMOVE | FIXED, dst).unwrap(),
        dst
    );
    for off in (0..len).step_by(P) {
        assert_eq!(
            peek(dst + off),
            (off / P) as u64 ^ 0x5a5a,
            "offset {off:#x}"
        );
    }
}

#[test]
fn moves_preserve_contents_at_pte_pmd_and_offset_alignments() {
    // The selftest's alignment matrix (8 MiB region, src/dst offsets).
    let sb = Sandbox::new(64 << 20, PMD);
    let cases = [(0, 0), (0, P), (P, 0), (PMD / 2, PMD / 2), (P, 3 * P)];
    for (i, (so, dof)) in cases.into_iter().enumerate() {
        let src = sb.base + so;
        let dst = sb.base + (24 << 20) + dof;
        move_and_check(src, dst, 8 << 20);
        let none = MapFlags::MAP_PRIVATE | MapFlags::MAP_FIXED | MapFlags::MAP_NORESERVE;
        sys::mmap_anon(sb.base, 48 << 20, ProtFlags::PROT_NONE, none)
            .unwrap_or_else(|e| panic!("case {i}: reset: {e}"));
    }
}

#[test]
fn move_1mb_from_pmd_start_realigns_and_keeps_contents() {
    // "mremap move 1MB from start at 1MB+256KB aligned src": contents survive
    // the 6.7+ start realignment, and the neighbour below is not clobbered.
    let sb = Sandbox::new(32 << 20, PMD);
    let below = sb.base;
    map_anon_rw(below, P);
    poke(below, 0x77);
    let src = sb.base + PMD + (1 << 20);
    let dst = sb.base + 4 * PMD + (1 << 20);
    move_and_check(src, dst, (1 << 20) + (256 << 10));
    assert_eq!(peek(below), 0x77, "neighbour below the source intact");
}

#[test]
fn shrink_across_multiple_vmas_unmaps_the_tail() {
    // mremap_shrink_multiple_vmas: shrinking in place unmaps a tail that spans VMAs.
    let sb = Sandbox::new(32 * P, P);
    let s = sb.page(4);
    map_anon_rw(s, 6 * P);
    sys::mprotect(s + 2 * P, 2 * P, ProtFlags::PROT_READ).unwrap();
    assert_eq!(sys::mremap(s, 6 * P, P, 0, 0).unwrap(), s);
    let m = maps_in(s, s + 6 * P);
    assert_eq!(m.len(), 1);
    assert_eq!(m[0].end - m[0].start, P as u64);
}

// ---- VMA hygiene ----

#[test]
fn flip_release_cycles_keep_region_line_count_constant() {
    let e = Engine::new().unwrap();
    let res = e.reserve(16 * PMD, PMD).unwrap();
    let heap = res.addr() + 2 * PMD;
    let from_space = res.addr() + 8 * PMD;
    e.map_anon(&res, heap, 4 * PMD).unwrap();
    let nm = e
        .map_memfd(&res, res.addr() + 14 * PMD, PMD, "hygiene")
        .unwrap();
    let lines = || maps_in(res.addr(), res.end()).len();
    let before = lines();
    for cycle in 0..200u64 {
        poke(heap + (cycle as usize % 512) * P, cycle + 1);
        e.flip(heap, from_space, 4 * PMD).unwrap();
        e.release(&res, from_space, 4 * PMD).unwrap();
        assert_eq!(lines(), before, "cycle {cycle}");
    }
    assert_eq!(peek(nm.addr()), 0);
    assert_eq!(before, 5, "[none][heap][none][memfd][none]");
}
