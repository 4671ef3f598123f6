//! The engine's API against the real kernel: layout, contents, refusals
//! before any system call, and VMA hygiene across repeated flips.

mod common;

use common::{maps_in, peek, poke, resident, P, PMD};
use mremap_shim::engine::{Engine, EngineError};
use mremap_shim::model::Rule;
use nix::errno::Errno;

fn engine() -> Engine {
    Engine::new().expect("engine probe")
}

#[test]
fn engine_and_reservation_are_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<Engine>();
    check::<mremap_shim::engine::Reservation>();
    check::<mremap_shim::engine::MemfdRegion>();
}

#[test]
fn features_summary_names_every_probe() {
    let e = engine();
    let s = e.features().summary();
    for needle in [
        "DONTUNMAP anon",
        "DONTUNMAP shared",
        "multi-VMA move",
        "RELOCATE_ANON",
    ] {
        assert!(s.contains(needle), "summary {s:?} lacks {needle}");
    }
    println!("{s}");
}

#[test]
fn reserve_is_aligned_prot_none_and_one_vma() {
    let e = engine();
    let res = e.reserve(8 * PMD, PMD).unwrap();
    assert_eq!(res.addr() % PMD, 0);
    assert_eq!(res.len(), 8 * PMD);
    let maps = maps_in(res.addr(), res.end());
    assert_eq!(maps.len(), 1, "{maps:?}");
    assert_eq!(
        (maps[0].start, maps[0].end),
        (res.addr() as u64, res.end() as u64)
    );
    assert!(!maps[0].perms.read && !maps[0].perms.write);
}

#[test]
fn reserve_refuses_non_power_of_two_alignment() {
    let e = engine();
    assert!(matches!(
        e.reserve(P, 3 * P),
        Err(EngineError::BadReservation { .. })
    ));
}

/// Whether `/proc/self/maps` shows any mapping of the file `inode`.
/// (Other tests' mappings may take a freed range at once and reservations
/// may merge with neighbours, so the reservation is tagged with a memfd
/// whose inode nothing else maps.)
fn file_mapped(inode: u64) -> bool {
    mremap_shim::sys::read_maps()
        .unwrap()
        .iter()
        .any(|m| m.inode == inode && m.perms.shared)
}

#[test]
fn dropping_a_reservation_unmaps_it() {
    let e = engine();
    let res = e.reserve(4 * P, P).unwrap();
    let tag = e.map_memfd(&res, res.addr(), P, "drop-tag").unwrap();
    let (a, end) = (res.addr() as u64, res.end() as u64);
    assert!(file_mapped(tag.file_id()));
    drop(res);
    assert!(!file_mapped(tag.file_id()));
    assert!(e.model_vmas().iter().all(|v| v.end <= a || v.start >= end));
}

#[test]
fn unreserve_unmaps_and_forgets_the_range() {
    let e = engine();
    let res = e.reserve(4 * P, P).unwrap();
    let tag = e.map_memfd(&res, res.addr(), P, "unreserve-tag").unwrap();
    let a = res.addr();
    e.unreserve(res).unwrap();
    assert!(!file_mapped(tag.file_id()));
    assert!(matches!(
        e.flip(a, a + 2 * P, P),
        Err(EngineError::OutsideReservation { .. })
    ));
}

#[test]
fn flip_moves_pages_and_leaves_source_empty() {
    let e = engine();
    let res = e.reserve(4 * PMD, PMD).unwrap();
    let (heap, from_space) = (res.addr(), res.addr() + 2 * PMD);
    e.map_anon(&res, heap, PMD).unwrap();
    for i in 0..4 {
        poke(heap + i * P, 100 + i as u64);
    }
    let report = e.flip(heap, from_space, PMD).unwrap();
    // A full, PMD-aligned 2 MiB: one PMD entry.
    assert_eq!((report.cost.pmds, report.cost.ptes), (1, 0));
    assert_eq!(peek(from_space + 3 * P), 103);
    assert_eq!(resident(heap, 4 * P).unwrap(), vec![false; 4]);
    assert_eq!(peek(heap), 0, "emptied anonymous source reads zero");
    let src = maps_in(heap, heap + PMD);
    assert_eq!(src.len(), 1);
    assert!(src[0].perms.write, "source keeps its VMA");
}

#[test]
fn flip_onto_overlapping_range_is_rejected_without_syscall() {
    let e = engine();
    let res = e.reserve(8 * P, P).unwrap();
    e.map_anon(&res, res.addr(), 4 * P).unwrap();
    poke(res.addr(), 5);
    let err = e.flip(res.addr(), res.addr() + 2 * P, 4 * P).unwrap_err();
    assert_eq!(err.errno(), Some(Errno::EINVAL));
    assert!(matches!(
        err,
        EngineError::Rejected {
            rule: Rule::Overlap,
            ..
        }
    ));
    assert!(err.to_string().starts_with("mremap rejected: "), "{err}");
    assert_eq!(peek(res.addr()), 5, "nothing moved");
}

#[test]
fn flip_of_unmapped_source_is_rejected_with_efault() {
    let e = engine();
    let res = e.reserve(8 * P, P).unwrap();
    // The engine's model holds no VMA at 0x10000 (never one of its mappings).
    let err = e.flip(0x10000, res.addr() + 4 * P, 2 * P).unwrap_err();
    assert_eq!(err.errno(), Some(Errno::EFAULT), "{err}");
}

#[test]
fn flip_to_outside_any_reservation_is_refused() {
    let e = engine();
    let res = e.reserve(4 * P, P).unwrap();
    e.map_anon(&res, res.addr(), P).unwrap();
    let err = e.flip(res.addr(), res.end() + P, P).unwrap_err();
    assert!(
        matches!(err, EngineError::OutsideReservation { .. }),
        "{err}"
    );
}

#[test]
fn map_outside_the_given_reservation_is_refused() {
    let e = engine();
    let a = e.reserve(4 * P, P).unwrap();
    let b = e.reserve(4 * P, P).unwrap();
    let err = e.map_anon(&a, b.addr(), P).unwrap_err();
    assert!(matches!(err, EngineError::OutsideReservation { .. }));
    let err = e.map_anon(&a, a.addr() + 1, P).unwrap_err();
    assert!(matches!(
        err,
        EngineError::Rejected {
            rule: Rule::RangeUnaligned,
            ..
        }
    ));
}

#[test]
fn reservation_of_another_engine_is_refused() {
    let e1 = engine();
    let e2 = engine();
    let res = e1.reserve(4 * P, P).unwrap();
    assert!(matches!(
        e2.map_anon(&res, res.addr(), P),
        Err(EngineError::OutsideReservation { .. })
    ));
}

#[test]
fn memfd_flip_keeps_file_contents_at_source() {
    let e = engine();
    let res = e.reserve(8 * P, P).unwrap();
    let region = e.map_memfd(&res, res.addr(), 2 * P, "engine-test").unwrap();
    poke(region.addr() + P, 77);
    e.flip(region.addr(), res.addr() + 4 * P, 2 * P).unwrap();
    assert_eq!(peek(res.addr() + 5 * P), 77);
    assert_eq!(
        peek(region.addr() + P),
        77,
        "shared source still shows the file"
    );
}

#[test]
fn mirror_views_alias() {
    let e = engine();
    let res = e.reserve(8 * P, P).unwrap();
    let region = e.map_memfd(&res, res.addr(), 2 * P, "mirror-test").unwrap();
    e.mirror(&region, &res, res.addr() + 4 * P).unwrap();
    poke(res.addr() + 5 * P, 9);
    assert_eq!(peek(region.addr() + P), 9);
    poke(region.addr(), 11);
    assert_eq!(peek(res.addr() + 4 * P), 11);
    let m = maps_in(res.addr() + 4 * P, res.addr() + 6 * P);
    assert_eq!(m.len(), 1);
    assert!(m[0].perms.shared);
    assert_eq!(m[0].inode, region.file_id());
}

/// Three VMAs with a gap: [RW anon 2p][gap 1p][memfd 2p], moved as one range.
fn multi_vma_layout(e: &Engine, res: &mremap_shim::engine::Reservation) -> usize {
    let a = res.addr();
    e.map_anon(res, a, 2 * P).unwrap();
    e.release(res, a + 2 * P, P).unwrap();
    e.map_memfd(res, a + 3 * P, 2 * P, "multi").unwrap();
    poke(a, 1);
    poke(a + P, 2);
    poke(a + 4 * P, 3);
    a
}

fn check_moved_layout(e: &Engine, from: usize, to: usize) {
    assert_eq!((peek(to), peek(to + P), peek(to + 4 * P)), (1, 2, 3));
    let moved = maps_in(to, to + 5 * P);
    let shape: Vec<(u64, bool, bool)> = moved
        .iter()
        .map(|m| (m.start - to as u64, m.perms.write, m.perms.shared))
        .collect();
    assert_eq!(
        shape,
        vec![
            (0, true, false),
            (2 * P as u64, false, false),
            (3 * P as u64, true, true)
        ],
        "gap (still the reservation's PROT_NONE) preserved"
    );
    // The source range went back to the reservation (no hole).
    let src = maps_in(from, from + 5 * P);
    assert_eq!(src.len(), 1, "{src:?}");
    assert!(!src[0].perms.read && !src[0].perms.write);
    let model: Vec<(u64, u64)> = e
        .model_vmas()
        .iter()
        .filter(|v| v.end > to as u64 && v.start < (to + 5 * P) as u64)
        .map(|v| (v.start, v.end))
        .collect();
    let kernel: Vec<(u64, u64)> = moved.iter().map(|m| (m.start, m.end)).collect();
    assert_eq!(model, kernel, "engine model tracks the kernel");
}

#[test]
fn move_range_spanning_vmas_preserves_gaps() {
    let e = engine();
    if !e.features().multi_vma_move {
        println!(
            "skip: kernel lacks multi-VMA mremap ({})",
            e.features().summary()
        );
        return;
    }
    let res = e.reserve(16 * P, P).unwrap();
    let from = multi_vma_layout(&e, &res);
    let to = res.addr() + 8 * P;
    e.move_range(from, to, 5 * P).unwrap();
    check_moved_layout(&e, from, to);
}

#[test]
fn emulated_move_range_matches_native_layout() {
    let e = engine();
    let res = e.reserve(16 * P, P).unwrap();
    let from = multi_vma_layout(&e, &res);
    let to = res.addr() + 8 * P;
    e.move_range_by_vma(from, to, 5 * P).unwrap();
    check_moved_layout(&e, from, to);
}

#[test]
fn discard_zeroes_anonymous_pages() {
    let e = engine();
    let res = e.reserve(4 * P, P).unwrap();
    e.map_anon(&res, res.addr(), 2 * P).unwrap();
    poke(res.addr(), 42);
    e.discard(res.addr(), 2 * P).unwrap();
    assert_eq!(resident(res.addr(), P).unwrap(), vec![false]);
    assert_eq!(peek(res.addr()), 0);
}

#[test]
fn release_merges_back_into_the_reservation() {
    let e = engine();
    let res = e.reserve(8 * P, P).unwrap();
    e.map_anon(&res, res.addr() + 2 * P, 2 * P).unwrap();
    poke(res.addr() + 2 * P, 1);
    assert_eq!(maps_in(res.addr(), res.end()).len(), 3);
    e.release(&res, res.addr() + 2 * P, 2 * P).unwrap();
    assert_eq!(maps_in(res.addr(), res.end()).len(), 1);
    assert_eq!(
        e.model_vmas()
            .iter()
            .filter(|v| v.start >= res.addr() as u64 && v.end <= res.end() as u64)
            .count(),
        1
    );
}

#[test]
fn flip_and_release_cycles_keep_vma_count_constant() {
    let e = engine();
    let res = e.reserve(8 * PMD, PMD).unwrap();
    let (heap, from_space) = (res.addr(), res.addr() + 4 * PMD);
    e.map_anon(&res, heap, 2 * PMD).unwrap();
    let count = || maps_in(res.addr(), res.end()).len();
    let mut baseline = None;
    for cycle in 0..200u64 {
        poke(heap, cycle);
        poke(heap + PMD + 5 * P, cycle);
        e.flip(heap, from_space, 2 * PMD).unwrap();
        assert_eq!(peek(from_space), cycle);
        e.release(&res, from_space, 2 * PMD).unwrap();
        let n = count();
        match baseline {
            None => baseline = Some(n),
            Some(b) => assert_eq!(n, b, "cycle {cycle}: VMA count changed"),
        }
    }
    assert_eq!(
        baseline,
        Some(2),
        "[heap RW][rest of the reservation PROT_NONE]"
    );
}

#[test]
fn repeated_flips_keep_the_engine_model_in_step_with_the_kernel() {
    let e = engine();
    let res = e.reserve(8 * PMD, PMD).unwrap();
    let (a, b) = (res.addr(), res.addr() + 4 * PMD);
    e.map_anon(&res, a, 2 * PMD).unwrap();
    poke(a, 1);
    let first = e.flip(a, b, 2 * PMD).unwrap();
    for i in 0..20 {
        let (from, to) = if i % 2 == 0 { (b, a) } else { (a, b) };
        let r = e.flip(from, to, 2 * PMD).unwrap();
        assert_eq!(r.cost, first.cost, "flip {i}: same prediction every cycle");
    }
    // 21 flips: the page is at b.
    assert_eq!(peek(b), 1);
    let kernel: Vec<(u64, u64, bool)> = maps_in(res.addr(), res.end())
        .iter()
        .map(|m| (m.start, m.end, m.perms.write))
        .collect();
    let model: Vec<(u64, u64, bool)> = e
        .model_vmas()
        .iter()
        .filter(|v| v.end > res.addr() as u64 && v.start < res.end() as u64)
        .map(|v| (v.start, v.end, v.prot.write))
        .collect();
    assert_eq!(model, kernel);
}
