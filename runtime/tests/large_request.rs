//! A request larger than the room below the collection trigger grows the
//! heap for itself only: collection goes on afterwards at the usual
//! distance, instead of waiting for the heap limit.

mod common;

use runtime::{AllocSpec, Mode, Runtime};

#[test]
fn a_large_allocation_does_not_switch_collection_off_until_the_limit() {
    for mode in [Mode::Stw, Mode::Uffd] {
        let Some(rt) = common::in_mode(Runtime::builder().heap_limit(512 << 20), mode) else {
            continue;
        };
        let mut m = rt.mutator().expect("mutator");
        // A 64 MiB array: more than the first trigger (16 MiB) leaves.
        let (m2, big) = m
            .alloc(AllocSpec {
                slots: 8 << 20,
                ..Default::default()
            })
            .expect("the large array");
        m2.push(big.into());
        let cycles = rt.stats().cycles;
        // 160 MiB of garbage in small objects: far below the limit.
        for _ in 0..(160 << 20) / 64 {
            m.alloc(AllocSpec {
                slots: 4,
                ..Default::default()
            })
            .expect("a small object");
        }
        m.finish_cycle().expect("the cycle in flight ends");
        let after = rt.stats().cycles;
        assert!(
            after >= cycles + 2,
            "{mode}: {} cycle(s) for 160 MiB of garbage after a 64 MiB array \
             (the growth for it must not move the trigger to the 512 MiB limit)",
            after - cycles
        );
        assert!(
            m.used_bytes() < 256 << 20,
            "{mode}: {} MiB in use",
            m.used_bytes() >> 20
        );
    }
}
