//! Recycled from-space pages in the concurrent modes: while young cycles
//! end (and move from-space pages back above the top, fencing allocation
//! for the move), two threads allocate without pause. Every object reads
//! zero when allocated (the recycled pages held garbage), and the objects
//! each thread keeps alive keep their contents. Modes whose kernel support
//! is missing are skipped with a message.

use std::sync::{Arc, Barrier};

use runtime::{AllocSpec, Mode, Mutator, Runtime, Value};

mod common;
use common::CONCURRENT;

const THREADS: usize = 2;
/// Raw words per object.
const WORDS: usize = 8;
/// Objects each thread keeps alive, in value-stack slots `0..KEPT`.
const KEPT: usize = 64;
/// Objects each thread allocates (64 MiB of 96-byte objects each, the heap
/// being 24 MiB: dozens of cycles).
const OBJECTS: u64 = 700_000;

/// What object `id` holds in raw word `w` (never zero).
fn pattern(id: u64, w: usize) -> u64 {
    (id << 8 | w as u64) ^ 0xA5A5_0000_0000_0000
}

/// Allocates and checks objects on `m` (thread `t`), keeping every 97th in
/// a ring of [`KEPT`] stack slots whose contents are checked as it turns.
fn churn(m: &mut Mutator, mode: Mode, t: usize) {
    for _ in 0..KEPT {
        m.push(Value::NIL);
    }
    for n in 0..OBJECTS {
        let id = (t as u64) << 40 | n;
        let (m, o) = m
            .alloc(AllocSpec {
                tag: 1,
                slots: 1,
                bytes: WORDS * 8,
                ..Default::default()
            })
            .expect("alloc");
        for w in 0..WORDS {
            assert_eq!(
                o.raw_word(w),
                0,
                "{mode}: thread {t}: object {n} reads garbage in raw word {w}"
            );
            o.set_raw_word(w, pattern(id, w));
        }
        if n % 97 == 0 {
            let slot = (n / 97) as usize % KEPT;
            if let Some(old) = m.stack_get(slot).as_object() {
                let old_id = old.raw_word(0) ^ 0xA5A5_0000_0000_0000;
                let old_id = old_id >> 8;
                for w in 0..WORDS {
                    assert_eq!(
                        old.raw_word(w),
                        pattern(old_id, w),
                        "{mode}: thread {t}: kept object {old_id:#x} lost raw word {w}"
                    );
                }
            }
            m.stack_set(slot, o.into());
        }
    }
}

#[test]
fn allocation_racing_the_end_of_young_cycles_reads_zero_and_keeps_contents() {
    for mode in CONCURRENT {
        let Some(rt) = common::in_mode(
            Runtime::builder().heap_limit(24 << 20).generational(true),
            mode,
        ) else {
            continue;
        };
        let start = Arc::new(Barrier::new(THREADS));
        let handles: Vec<_> = (0..THREADS)
            .map(|t| {
                let (rt, start) = (rt.clone(), start.clone());
                std::thread::spawn(move || {
                    let mut m = rt.mutator().expect("mutator");
                    start.wait();
                    churn(&mut m, mode, t);
                })
            })
            .collect();
        for h in handles {
            h.join().expect("mutator thread");
        }
        rt.quiesce();
        let stats = rt.stats();
        assert!(stats.young_cycles > 0, "{mode}: young cycles ran");
        assert!(
            stats.pages_recycled > 0,
            "{mode}: young cycles recycled from-space pages ({} cycles)",
            stats.cycles
        );
        let mut m = rt.mutator().expect("mutator");
        m.verify().expect("heap valid");
    }
}
