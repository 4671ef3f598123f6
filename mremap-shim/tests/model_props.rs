//! Property tests of the model's structural invariants over random
//! operation sequences: VMAs sorted, non-overlapping, page-aligned,
//! `map_count` consistent, `check` agreeing with `mremap`, and (for
//! sequences without DONTUNMAP or userfaultfd, which legitimately leave
//! mergeable neighbours unmerged in the kernel too) no two adjacent VMAs
//! that the kernel would have merged.

use mremap_shim::model::{
    AddressSpace, Backing, ModelConfig, MremapRequest, Prot, Vma, VmaFlags, MREMAP_DONTUNMAP,
    MREMAP_FIXED, MREMAP_MAYMOVE, PAGE_SIZE,
};
use proptest::prelude::*;

const B: u64 = 64 << 30;
const WINDOW_PAGES: u64 = 48;

#[derive(Clone, Debug)]
enum Op {
    Mmap(u64, u64, u8, bool),
    Munmap(u64, u64),
    Mprotect(u64, u64, bool),
    Write(u64, u64),
    Uffd(u64, u64, bool),
    Mremap(u64, u64, u64, u64, u64),
}

fn page() -> impl Strategy<Value = u64> {
    0..WINDOW_PAGES
}

fn len() -> impl Strategy<Value = u64> {
    0u64..8
}

fn op(dontunmap_and_uffd: bool) -> impl Strategy<Value = Op> {
    let flags = if dontunmap_and_uffd {
        prop_oneof![
            Just(0),
            Just(MREMAP_MAYMOVE),
            Just(MREMAP_MAYMOVE | MREMAP_FIXED),
            Just(MREMAP_MAYMOVE | MREMAP_DONTUNMAP),
            Just(MREMAP_MAYMOVE | MREMAP_FIXED | MREMAP_DONTUNMAP),
            Just(MREMAP_FIXED),
        ]
        .boxed()
    } else {
        prop_oneof![
            Just(0),
            Just(MREMAP_MAYMOVE),
            Just(MREMAP_MAYMOVE | MREMAP_FIXED),
            Just(MREMAP_FIXED),
        ]
        .boxed()
    };
    let uffd_weight = if dontunmap_and_uffd { 1 } else { 0 };
    prop_oneof![
        3 => (page(), 1u64..8, 0u8..3, any::<bool>()).prop_map(|(a, l, b, w)| Op::Mmap(a, l, b, w)),
        1 => (page(), len()).prop_map(|(a, l)| Op::Munmap(a, l)),
        2 => (page(), len(), any::<bool>()).prop_map(|(a, l, w)| Op::Mprotect(a, l, w)),
        3 => (page(), any::<u64>()).prop_map(|(a, v)| Op::Write(a, v)),
        uffd_weight => (page(), len(), any::<bool>()).prop_map(|(a, l, r)| Op::Uffd(a, l, r)),
        4 => (page(), len(), len(), flags, page())
            .prop_map(|(a, o, n, f, t)| Op::Mremap(a, o, n, f, t)),
    ]
}

fn apply(s: &mut AddressSpace, op: &Op) {
    let at = |p: u64| B + p * PAGE_SIZE;
    let prot = |w: bool| if w { Prot::RW } else { Prot::R };
    // Errors are legitimate outcomes here: only the invariants matter.
    match *op {
        Op::Mmap(a, l, b, w) => {
            let backing = match b {
                0 => Backing::PrivateAnon,
                1 => Backing::SharedAnon { object: 1 },
                _ => Backing::SharedFile { file: 2 },
            };
            let _ = s.mmap(
                at(a),
                l * PAGE_SIZE,
                prot(w),
                backing,
                VmaFlags::default(),
                a,
            );
        }
        Op::Munmap(a, l) => {
            let _ = s.munmap(at(a), l * PAGE_SIZE);
        }
        Op::Mprotect(a, l, w) => {
            let _ = s.mprotect(at(a), l * PAGE_SIZE, prot(w));
        }
        Op::Write(a, v) => {
            let _ = s.write_page(at(a), v);
        }
        Op::Uffd(a, l, r) => {
            let _ = s.set_uffd(at(a), l * PAGE_SIZE, r);
        }
        Op::Mremap(a, o, n, f, t) => {
            let req = MremapRequest {
                addr: at(a),
                old_len: o * PAGE_SIZE,
                new_len: n * PAGE_SIZE,
                flags: f,
                new_addr: at(t),
            };
            let predicted = s.check(&req);
            let got = s.mremap(&req);
            assert_eq!(predicted, got, "check() and mremap() disagree on {req:x?}");
        }
    }
}

fn mergeable(a: &Vma, b: &Vma) -> bool {
    let anon_ok = match (a.anon, b.anon) {
        (Some(x), Some(y)) => x == y,
        _ => true,
    };
    a.end == b.start
        && a.backing == b.backing
        && a.prot == b.prot
        && a.flags == b.flags
        && !a.flags.is_special()
        && b.pgoff == a.pgoff + (a.end - a.start) / PAGE_SIZE
        && anon_ok
}

fn check_invariants(s: &AddressSpace, strict_merge: bool) -> Result<(), TestCaseError> {
    let vmas: Vec<&Vma> = s.vmas().collect();
    prop_assert_eq!(vmas.len(), s.map_count());
    for v in &vmas {
        prop_assert!(v.start < v.end, "empty VMA {:x?}", v);
        prop_assert!(v.start % PAGE_SIZE == 0 && v.end % PAGE_SIZE == 0);
        prop_assert_eq!(s.vma_at(v.start).map(|x| x.start), Some(v.start));
    }
    for w in vmas.windows(2) {
        prop_assert!(w[0].end <= w[1].start, "overlap or disorder: {:x?}", w);
        if strict_merge {
            prop_assert!(!mergeable(w[0], w[1]), "left mergeable: {:#x?}", w);
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn layout_invariants_hold_after_every_operation(ops in prop::collection::vec(op(true), 1..40)) {
        let mut s = AddressSpace::new(ModelConfig::default());
        for op in &ops {
            apply(&mut s, op);
            check_invariants(&s, false)?;
        }
    }

    #[test]
    fn no_mergeable_neighbours_without_dontunmap_or_uffd(ops in prop::collection::vec(op(false), 1..40)) {
        let mut s = AddressSpace::new(ModelConfig::default());
        for op in &ops {
            apply(&mut s, op);
            check_invariants(&s, true)?;
        }
    }

    #[test]
    fn unmapped_pages_read_as_sigsegv(ops in prop::collection::vec(op(true), 1..30), probe in page()) {
        let mut s = AddressSpace::new(ModelConfig::default());
        for op in &ops {
            apply(&mut s, op);
        }
        let addr = B + probe * PAGE_SIZE;
        prop_assert_eq!(s.read_page(addr).is_none(), s.vma_at(addr).is_none() || s.vma_at(addr).is_some_and(|v| v.prot == Prot::NONE));
    }
}
