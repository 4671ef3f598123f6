//! Pacing (uffd modes): an allocating thread that outruns a slow cycle is
//! slowed down in short sleeps only, and its allocations still complete.
//!
//! The sleeps are counted as the runtime asked for them
//! ([`runtime::GcStats::longest_pacing_sleep`]), not timed.

use std::time::Duration;

use runtime::{AllocSpec, Mode, Runtime, PACE_SLICE};

mod common;

/// 1 KiB garbage objects.
const GARBAGE: AllocSpec = AllocSpec {
    tag: 1,
    slots: 0,
    bytes: 1 << 10,
    pinned: false,
    weak: false,
};

#[test]
fn no_pacing_sleep_is_longer_than_a_slice_and_pacing_ends() {
    for mode in [Mode::UffdCopy, Mode::Uffd] {
        // Every marking waits 300 ms before it traces: allocation of
        // garbage reaches deep into the room above the live data while it
        // waits, and is paced there.
        let builder = Runtime::builder()
            .heap_limit(64 << 20)
            .concurrent_mark_delay(Duration::from_millis(300));
        let Some(rt) = common::in_mode(builder, mode) else {
            continue;
        };
        let mut m = rt.mutator().expect("mutator");
        let n = 256 << 10; // 256 MiB of garbage: several cycles' worth.
        let mut done = 0;
        for _ in 0..n {
            m.alloc(GARBAGE).expect("garbage fits");
            done += 1;
        }
        assert_eq!(done, n, "{mode}: every allocation completed");
        m.finish_cycle().expect("cycle");
        let stats = m.stats();
        assert!(stats.cycles >= 2, "{mode}: {} cycles", stats.cycles);
        assert!(stats.paced > 0, "{mode}: the slow cycles paced allocation");
        assert!(
            stats.longest_pacing_sleep <= PACE_SLICE,
            "{mode}: a pacing sleep of {:?} (at most {PACE_SLICE:?})",
            stats.longest_pacing_sleep
        );
    }
}

/// A cycle whose collector threads are slowed down (a sleep after every
/// page) compacts for long; a thread allocating garbage meanwhile crosses
/// pacing thresholds during the compaction and installs pages instead of
/// sleeping. The heap verifies after every cycle and at the end, and the
/// rooted list is unchanged.
#[test]
fn allocation_paced_during_a_compaction_assists_it() {
    for mode in [
        Mode::Uffd,
        Mode::UffdWorkers,
        Mode::UffdMove,
        Mode::Sigbus,
        Mode::UffdCopy,
    ] {
        let builder = Runtime::builder()
            .heap_limit(64 << 20)
            .compaction_page_delay(Duration::from_micros(500))
            .verify(true);
        let Some(rt) = common::in_mode(builder, mode) else {
            continue;
        };
        let mut m = rt.mutator().expect("mutator");
        // About 2000 live pages: 0.5 s of compaction per collector thread.
        let nodes = 200_000;
        common::build_list_with_garbage(&mut m, nodes);
        let before = m.checksum();
        // Garbage until an assist installed pages (or 1 GiB of it: many
        // cycles, each of them compacting the list slowly).
        let mut assisted = 0;
        for i in 0..(1u64 << 20) {
            m.alloc(GARBAGE).expect("garbage fits");
            if i % (64 << 10) == 0 {
                assisted = m.stats().assist_pages;
                if assisted > 0 {
                    break;
                }
            }
        }
        m.finish_cycle().expect("cycle");
        let stats = m.stats();
        assert!(
            assisted > 0 && stats.assists > 0,
            "{mode}: paced allocation during a compaction installed no page \
             ({} assists, {} cycles, {} sleeps)",
            stats.assists,
            stats.cycles,
            stats.paced
        );
        assert!(
            stats.longest_pacing_sleep <= PACE_SLICE,
            "{mode}: a pacing sleep of {:?}",
            stats.longest_pacing_sleep
        );
        m.verify().expect("heap valid after assisted compactions");
        assert_eq!(m.checksum(), before, "{mode}: the list changed");
    }
}
