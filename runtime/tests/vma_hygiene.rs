//! Repeated collections never grow the process's VMA count, and each cycle
//! gives its from-space (and, in `uffd` mode, the non-moving space's second
//! view) back entirely: every cycle's flip, registration and release (and,
//! in young cycles, the from-space pages moved back above the top) leave
//! the heap's reservation exactly as it was.

use runtime::{AllocSpec, Mode, Runtime};

/// The VMAs of /proc/self/maps as (start, end).
fn maps() -> Vec<(usize, usize)> {
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
        .collect()
}

/// VMAs that intersect `[start, end)`.
fn vmas_in(start: usize, end: usize) -> usize {
    maps()
        .into_iter()
        .filter(|&(a, b)| a < end && b > start)
        .count()
}

/// Resident kilobytes of the VMAs intersecting `[start, end)` (smaps `Rss`).
fn rss_kib_in(start: usize, end: usize) -> usize {
    let smaps = std::fs::read_to_string("/proc/self/smaps").expect("read /proc/self/smaps");
    let mut inside = false;
    let mut kib = 0;
    for line in smaps.lines() {
        if let Some((a, b)) = line
            .split_whitespace()
            .next()
            .and_then(|r| r.split_once('-'))
            .and_then(|(a, b)| {
                Some((
                    usize::from_str_radix(a, 16).ok()?,
                    usize::from_str_radix(b, 16).ok()?,
                ))
            })
        {
            inside = a < end && b > start;
        } else if let (true, Some(rest)) = (inside, line.strip_prefix("Rss:")) {
            kib += rest
                .trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<usize>()
                .expect("Rss value");
        }
    }
    kib
}

/// 200 cycles in `mode`; with `generational`, every other one young.
fn churn_200_cycles(mode: Mode, generational: bool) {
    let rt = Runtime::builder()
        .mode(mode)
        .generational(generational)
        .heap_limit(32 << 20)
        .build()
        .expect("runtime");
    if rt.mode() != mode {
        eprintln!(
            "skipped {mode}: {}",
            rt.fallback_reason().unwrap_or("mode unavailable")
        );
        return;
    }
    let mut m = rt.mutator().expect("mutator");
    let heap = rt.heap();
    let (start, len) = heap.reservation();
    let end = start + len;
    let space = heap.space_bytes();
    // A pinned object populates the non-moving space too.
    let (m2, p) = m
        .alloc(AllocSpec {
            tag: 1,
            slots: 1,
            bytes: 64,
            pinned: true,
            weak: false,
        })
        .expect("pinned");
    m2.push(p.into());
    m.collect().expect("first collection");
    rt.quiesce();
    let baseline = vmas_in(start, end);
    let total_before = vmas_in(0, usize::MAX);
    for cycle in 0..200 {
        for i in 0..200 {
            let (m, o) = m
                .alloc(AllocSpec {
                    tag: 1,
                    slots: 1,
                    bytes: 48,
                    ..Default::default()
                })
                .expect("alloc");
            if i % 10 == 0 {
                m.push(o.into());
            }
        }
        m.stack_truncate(50);
        if generational && cycle % 2 == 0 {
            m.collect_young().expect("young collection");
        } else {
            m.collect().expect("collection");
        }
        rt.quiesce();
        assert_eq!(
            vmas_in(start, end),
            baseline,
            "{mode}: heap VMA count changed at cycle {cycle}"
        );
        let from = heap.from_space_base();
        assert_eq!(
            rss_kib_in(from, from + space),
            0,
            "{mode}: from-space still holds pages after cycle {cycle}"
        );
        let view = heap.non_moving_view_base();
        assert_eq!(
            rss_kib_in(view, view + space),
            0,
            "{mode}: the second view still holds pages after cycle {cycle}"
        );
    }
    assert_eq!(rt.stats().cycles, 201, "{mode}: every cycle was accounted");
    if generational {
        assert_eq!(rt.stats().young_cycles, 100, "{mode}: young cycles ran");
        // Young cycles move from-space pages back above the top; the count
        // above says that kept the moving space one VMA.
        assert!(
            rt.stats().pages_recycled > 0,
            "{mode}: young cycles recycled from-space pages"
        );
    }
    // The compactor's threads and buffers may map a little; the heap's share
    // is fixed.
    let total_after = vmas_in(0, usize::MAX);
    assert!(
        total_after <= total_before + 8,
        "{mode}: process VMA count grew from {total_before} to {total_after}"
    );
}

/// One test for all modes, run one after another: the process-wide VMA
/// count is only meaningful with no other heap coming and going.
#[test]
fn vma_count_stays_constant_over_200_cycles_in_every_mode() {
    for mode in Mode::ALL {
        churn_200_cycles(mode, false);
    }
    // Young cycles flip (and in the uffd modes register) only the pages
    // above the old generation.
    for mode in Mode::ALL {
        churn_200_cycles(mode, true);
    }
}
