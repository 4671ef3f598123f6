//! A small multi-threaded graph workload with a checksum and the verifier,
//! for the fault-injection tests: every thread builds a graph (small nodes
//! with garbage between them, large non-moving nodes, pinned nodes),
//! publishes its head through a global and roots the next thread's graph
//! too, then churns garbage while one thread drives cycles; after every
//! cycle each thread checks that the checksum of what it roots has not
//! changed. At the end the heap is verified.
//!
//! A failed allocation ends a thread cleanly (an error value, as an
//! embedder would see it); a changed checksum or a failed verification is a
//! wrong value.
#![allow(dead_code)]

use std::sync::{Arc, Barrier, Mutex};

use runtime::{AllocSpec, Mode, Mutator, Runtime, RuntimeBuilder, Value};

/// What the workload does.
#[derive(Clone, Copy, Debug)]
pub struct Workload {
    /// Mutator threads (thread 0 drives the cycles).
    pub threads: usize,
    /// Graph nodes per thread.
    pub nodes: u64,
    /// Cycles thread 0 drives.
    pub rounds: usize,
    /// Garbage objects each thread allocates per round.
    pub churn: u64,
}

impl Default for Workload {
    fn default() -> Self {
        Workload {
            threads: 3,
            nodes: 5000,
            rounds: 6,
            churn: 20_000,
        }
    }
}

/// The builder the workload's runtime comes from: a small heap, large
/// objects from 4 KiB, two marking threads, and a slow collector (so that
/// mutators fault on pages themselves).
pub fn builder(mode: Mode) -> RuntimeBuilder {
    Runtime::builder()
        .mode(mode)
        .heap_limit(48 << 20)
        .large_object_threshold(4 << 10)
        .mark_threads(2)
        .compaction_threads(2)
        .compaction_page_delay(std::time::Duration::from_micros(20))
}

/// How a run ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum End {
    /// Every check passed.
    Ok,
    /// An allocation or a collection returned an error value (the first
    /// one's text); the checks that ran passed.
    ErrorValue(String),
    /// A checksum changed or the verifier failed.
    Wrong(String),
}

/// Node kinds by id: every 61st is large (non-moving), every 97th pinned.
fn spec(id: u64) -> AllocSpec {
    let large = id.is_multiple_of(61);
    AllocSpec {
        tag: 9,
        slots: 2,
        bytes: if large { 6 << 10 } else { 16 },
        pinned: id.is_multiple_of(97),
        weak: false,
    }
}

fn garbage(m: &mut Mutator, i: u64) -> Result<(), String> {
    let big = i.is_multiple_of(211);
    m.alloc(AllocSpec {
        tag: 2,
        slots: 1,
        bytes: if big { 8 << 10 } else { 24 },
        ..Default::default()
    })
    .map(drop)
    .map_err(|e| e.to_string())
}

/// Builds thread `t`'s graph into value-stack slot 0 (head) and slot 2
/// (an anchor the nodes' second slots point at).
fn build(m: &mut Mutator, t: u64, nodes: u64) -> Result<(), String> {
    for i in 0..nodes {
        garbage(m, i)?;
        let id = (t << 32) | i;
        let (m, node) = m.alloc(spec(id)).map_err(|e| e.to_string())?;
        node.set_raw_word(0, id);
        m.write(node, 0, m.stack_get(0));
        m.write(node, 1, m.stack_get(2));
        m.stack_set(0, node.into());
        if i.is_multiple_of(50) {
            m.stack_set(2, node.into());
        }
    }
    Ok(())
}

/// One thread's part. Returns how it ended.
fn thread_main(
    rt: &Runtime,
    w: Workload,
    t: usize,
    globals: &[runtime::Global],
    start: &Barrier,
    built: &Barrier,
) -> End {
    let mut m = match rt.mutator() {
        Ok(m) => m,
        Err(e) => return End::ErrorValue(e.to_string()),
    };
    for _ in 0..3 {
        m.push(Value::NIL);
    }
    start.wait();
    let result = build(&mut m, t as u64, w.nodes);
    m.set_global(globals[t], m.stack_get(0));
    // Waiting for the others is a blocking call: pauses run meanwhile.
    m.blocking(|| built.wait());
    if let Err(e) = result {
        return End::ErrorValue(e);
    }
    m.stack_set(1, m.global(globals[(t + 1) % w.threads]));
    let expected = m.checksum();
    for round in 0..w.rounds {
        for i in 0..w.churn {
            if let Err(e) = garbage(&mut m, i) {
                return End::ErrorValue(e);
            }
            if i == w.churn / 2 && t == 0 {
                if let Err(e) = drive(&mut m, rt.mode(), round) {
                    return End::ErrorValue(e);
                }
            }
            if i.is_multiple_of(2000) && m.checksum() != expected {
                return End::Wrong(format!(
                    "thread {t} round {round}: the checksum changed mid-cycle"
                ));
            }
        }
        if t == 0 {
            if let Err(e) = m.finish_cycle() {
                return End::ErrorValue(e.to_string());
            }
        }
        if m.checksum() != expected {
            return End::Wrong(format!("thread {t} round {round}: the checksum changed"));
        }
    }
    End::Ok
}

/// Thread 0's cycle for `round`: a full collection (marking in the pause)
/// or a concurrently marked cycle it pushes through while allocating.
fn drive(m: &mut Mutator, mode: Mode, round: usize) -> Result<(), String> {
    if mode == Mode::Stw || round.is_multiple_of(2) {
        m.collect().map_err(|e| e.to_string())
    } else {
        m.start_cycle();
        Ok(())
    }
}

/// Runs `w` on `rt`; then finishes the cycle in flight and verifies the
/// heap (unless a thread ended with an error value first, in which case
/// verification still runs: a clean error leaves a valid heap).
pub fn run(rt: &Runtime, w: Workload) -> End {
    let globals: Vec<_> = {
        let m = match rt.mutator() {
            Ok(m) => m,
            Err(e) => return End::ErrorValue(e.to_string()),
        };
        (0..w.threads).map(|_| m.add_global(Value::NIL)).collect()
    };
    let start = Arc::new(Barrier::new(w.threads));
    let built = Arc::new(Barrier::new(w.threads));
    let ends = Arc::new(Mutex::new(Vec::new()));
    let handles: Vec<_> = (0..w.threads)
        .map(|t| {
            let (rt, globals, start, built, ends) = (
                rt.clone(),
                globals.clone(),
                start.clone(),
                built.clone(),
                ends.clone(),
            );
            std::thread::spawn(move || {
                let end = thread_main(&rt, w, t, &globals, &start, &built);
                ends.lock().expect("ends").push(end);
            })
        })
        .collect();
    for h in handles {
        if let Err(p) = h.join() {
            std::panic::resume_unwind(p);
        }
    }
    let ends = std::mem::take(&mut *ends.lock().expect("ends"));
    if let Some(wrong) = ends.iter().find(|e| matches!(e, End::Wrong(_))) {
        return wrong.clone();
    }
    let mut m = match rt.mutator() {
        Ok(m) => m,
        Err(e) => return End::ErrorValue(e.to_string()),
    };
    let verified = m.verify();
    let first_error = ends.into_iter().find(|e| matches!(e, End::ErrorValue(_)));
    match verified {
        Ok(_) => first_error.unwrap_or(End::Ok),
        Err(runtime::GcError::Corrupt(e)) => End::Wrong(format!("the verifier failed: {e}")),
        Err(e) => first_error.unwrap_or(End::ErrorValue(e.to_string())),
    }
}
