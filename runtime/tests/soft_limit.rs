//! The soft memory limit through a runtime: a churn workload whose heap
//! would grow to growth x live stays near the soft limit, the setters
//! change the knobs at run time and refuse what cannot hold, and
//! `GC_SOFT_LIMIT` above the heap limit is an error naming the variable.

mod common;

use std::sync::{Arc, Mutex};

use runtime::{AllocError, AllocSpec, ConfigError, LimitError, Mode, Runtime, Value};

const M: usize = 1 << 20;
/// Live data the workload keeps (slots of one array, replaced in turn).
const LIVE_OBJECTS: usize = 32 * 1024;
/// Bytes of one object (1 KiB with header and slots, about).
const OBJECT_BYTES: usize = 1000;

/// Keeps about 32 MiB live and allocates `total` bytes, replacing one
/// live object in eight allocations; returns the largest heap use seen
/// after any allocation.
fn churn(rt: &Runtime, total: usize) -> usize {
    let mut m = rt.mutator().expect("mutator");
    // The array is value-stack slot 0.
    {
        let (m, a) = m
            .alloc(AllocSpec {
                tag: 2,
                slots: LIVE_OBJECTS as u32,
                bytes: 0,
                ..Default::default()
            })
            .expect("array");
        m.push(Value::object(a));
    }
    let mut peak = 0;
    for i in 0..total / OBJECT_BYTES {
        let (m, o) = m
            .alloc(AllocSpec {
                tag: 1,
                slots: 1,
                bytes: OBJECT_BYTES,
                ..Default::default()
            })
            .expect("alloc");
        if i % 8 == 0 || i < LIVE_OBJECTS {
            let arr = m.stack_get(0).as_object().expect("the array");
            let slot = if i < LIVE_OBJECTS {
                i
            } else {
                (i / 8) % LIVE_OBJECTS
            };
            m.write(arr, slot, Value::object(o));
        }
        peak = peak.max(rt.heap().used_bytes());
    }
    peak
}

fn builder(soft: Option<usize>) -> runtime::RuntimeBuilder {
    let b = Runtime::builder().heap_limit(512 * M).growth(4.0);
    match soft {
        Some(s) => b.soft_limit(s),
        None => b,
    }
}

#[test]
fn with_a_soft_limit_the_peak_heap_stays_near_it() {
    for mode in [Mode::Stw, Mode::Uffd] {
        let Some(free) = common::in_mode(builder(None), mode) else {
            continue;
        };
        let free_peak = churn(&free, 1200 * M);
        drop(free);
        let soft = common::in_mode(builder(Some(64 * M)), mode).expect("same mode");
        assert_eq!(soft.soft_limit(), Some(64 * M));
        let soft_peak = churn(&soft, 1200 * M);
        let live = soft.stats().last_live;
        eprintln!(
            "{mode}: peak {} MiB without, {} MiB with a 64 MiB soft limit (live {} MiB)",
            free_peak / M,
            soft_peak / M,
            live / M
        );
        // Without it the heap grows towards 4 x live (about 128 MiB).
        assert!(free_peak > 100 * M, "{mode}: {free_peak}");
        // With it, the peak stays near the goal: within an eighth of it
        // (what a concurrent cycle allocates past its trigger).
        assert!(soft_peak <= 64 * M + 8 * M, "{mode}: {soft_peak}");
        assert!(live < 64 * M, "{mode}: {live}");
    }
}

#[test]
fn live_data_above_the_soft_limit_grows_the_heap_past_it() {
    // 32 MiB live, a 16 MiB goal: the heap must pass it, and does.
    let rt = builder(Some(16 * M))
        .mode(Mode::Stw)
        .build()
        .expect("runtime");
    let peak = churn(&rt, 200 * M);
    assert!(peak > 32 * M, "{peak}");
    assert!(peak < 512 * M, "{peak}");
}

#[test]
fn setters_change_the_knobs_and_refuse_what_cannot_hold() {
    let lines: Arc<Mutex<Vec<String>>> = Arc::default();
    let sink = lines.clone();
    let rt = builder(None)
        .mode(Mode::Stw)
        .log_level(runtime::LogLevel::Info)
        .log_to(move |l| sink.lock().unwrap().push(l.to_string()))
        .build()
        .expect("runtime");
    assert_eq!(rt.soft_limit(), None);
    assert_eq!(
        rt.set_soft_limit(Some(600 * M)),
        Err(LimitError::SoftAboveHard {
            soft: 600 * M,
            hard: 512 * M
        })
    );
    assert_eq!(
        rt.set_heap_limit(1024 * M),
        Err(LimitError::AboveReserved {
            requested: 1024 * M,
            reserved: 512 * M
        })
    );
    assert_eq!(rt.set_growth(0.5), Err(LimitError::BadGrowth(0.5)));
    assert_eq!(rt.growth(), 4.0);
    rt.set_growth(3.0).expect("growth");
    assert_eq!(rt.growth(), 3.0);
    rt.set_heap_limit(256 * M).expect("lower the limit");
    assert_eq!(rt.heap_limit(), 256 * M);
    assert!(matches!(
        rt.set_soft_limit(Some(300 * M)),
        Err(LimitError::SoftAboveHard { .. })
    ));
    rt.set_soft_limit(Some(48 * M)).expect("soft limit");
    assert_eq!(rt.soft_limit(), Some(48 * M));
    // A soft limit set at run time applies from the next trigger on.
    let peak = churn(&rt, 400 * M);
    assert!(peak <= 48 * M + 8 * M, "{peak}");
    let log = lines.lock().unwrap().join("\n");
    assert!(log.contains("soft limit"), "{log}");
    // A hard limit below the bytes in use is refused, and nothing changes.
    let used = rt.heap().used_bytes();
    assert!(matches!(
        rt.set_heap_limit(used / 2),
        Err(LimitError::BelowUse { .. })
    ));
    assert_eq!(rt.heap_limit(), 256 * M);
    // Nor can the hard limit go below the soft one.
    assert!(matches!(
        rt.set_heap_limit(40 * M),
        Err(LimitError::SoftAboveHard { .. } | LimitError::BelowUse { .. })
    ));
}

#[test]
fn a_soft_limit_above_the_heap_limit_is_an_error() {
    let e = Runtime::builder()
        .heap_limit(64 * M)
        .soft_limit(128 * M)
        .build()
        .err()
        .expect("refused");
    assert_eq!(
        e,
        ConfigError::SoftAboveHard {
            soft: 128 * M,
            hard: 64 * M
        }
    );
    assert!(e.to_string().contains("at most the heap limit"), "{e}");
}

#[test]
fn a_lowered_heap_limit_is_a_wall() {
    for mode in [Mode::Stw, Mode::Uffd] {
        let Some(rt) = common::in_mode(builder(None), mode) else {
            continue;
        };
        rt.set_heap_limit(48 * M).expect("lower the limit");
        let mut m = rt.mutator().expect("mutator");
        // Keep everything (a list headed by value-stack slot 0): 64 MiB
        // cannot fit below 48 MiB.
        m.push(Value::NIL);
        let mut failed = None;
        for _ in 0..64 * 1024 {
            match m.alloc(AllocSpec {
                tag: 1,
                slots: 1,
                bytes: OBJECT_BYTES,
                ..Default::default()
            }) {
                Ok((m, o)) => {
                    m.write(o, 0, m.stack_get(0));
                    m.stack_set(0, Value::object(o));
                }
                Err(e) => {
                    failed = Some(e);
                    break;
                }
            }
            assert!(rt.heap().used_bytes() <= 48 * M, "{mode}");
        }
        match failed.expect("out of memory at the lowered limit") {
            AllocError::OutOfMemory(e) => assert_eq!(e.limit, 48 * M, "{mode}: {e}"),
            e => panic!("{mode}: expected OutOfMemory at the lowered limit, got {e}"),
        }
    }
}
