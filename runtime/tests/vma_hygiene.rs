//! Repeated collections never grow the process's VMA count: every cycle's
//! flip and release leave the heap's reservation exactly as it was.

use runtime::{AllocSpec, Runtime, Value};

/// VMAs (lines of /proc/self/maps) that intersect `[start, end)`.
fn vmas_in(start: usize, end: usize) -> usize {
    let maps = std::fs::read_to_string("/proc/self/maps").expect("read /proc/self/maps");
    maps.lines()
        .filter_map(|l| {
            let range = l.split_whitespace().next()?;
            let (a, b) = range.split_once('-')?;
            Some((
                usize::from_str_radix(a, 16).ok()?,
                usize::from_str_radix(b, 16).ok()?,
            ))
        })
        .filter(|&(a, b)| a < end && b > start)
        .count()
}

#[test]
fn vma_count_stays_constant_over_200_collections() {
    let rt = Runtime::builder()
        .heap_limit(32 << 20)
        .build()
        .expect("runtime");
    let mut m = rt.mutator().expect("mutator");
    let res = rt.heap().reservation();
    let (start, end) = (res.addr(), res.addr() + res.len());
    // A pinned object populates the non-moving space too.
    let p = m
        .alloc(AllocSpec {
            tag: 1,
            slots: 1,
            bytes: 64,
            pinned: true,
            weak: false,
        })
        .expect("pinned");
    m.roots().push(Value::object(p));
    m.collect().expect("first collection");
    let baseline = vmas_in(start, end);
    let total_before = vmas_in(0, usize::MAX);
    for cycle in 0..200 {
        for i in 0..200 {
            let o = m
                .alloc(AllocSpec {
                    tag: 1,
                    slots: 1,
                    bytes: 48,
                    ..Default::default()
                })
                .expect("alloc");
            if i % 10 == 0 {
                m.roots().push(Value::object(o));
            }
        }
        m.roots().truncate(50);
        m.collect().expect("collection");
        assert_eq!(
            vmas_in(start, end),
            baseline,
            "heap VMA count changed at cycle {cycle}"
        );
    }
    // Other tests in this process may map things; the heap's share is fixed.
    let total_after = vmas_in(0, usize::MAX);
    assert!(
        total_after <= total_before + 8,
        "process VMA count grew from {total_before} to {total_after}"
    );
}
