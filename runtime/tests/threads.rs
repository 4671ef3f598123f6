//! Several mutator threads: pauses stop them all at safepoints, a blocked
//! thread does not hold a cycle up, threads come and go during cycles, the
//! write barrier works across threads, and threads fault on the same pages.
//! Every test runs in each mode (a mode the kernel lacks is skipped with
//! the reason).

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use runtime::{AllocSpec, CyclePhase, Gc, Global, Mode, Mutator, Runtime, Value};

const THREADS: usize = 4;

mod common;
use common::{id, CONCURRENT};

fn build(
    mode: Mode,
    configure: impl FnOnce(runtime::RuntimeBuilder) -> runtime::RuntimeBuilder,
) -> Option<Runtime> {
    common::in_mode(configure(Runtime::builder().heap_limit(128 << 20)), mode)
}

/// An object with `slots` slots whose first raw word is `id`.
fn obj(m: &mut Mutator, id: u64, slots: u32) -> (&Mutator, Gc<'_>) {
    common::obj(m, id, slots, false)
}

/// A list of `n` nodes whose ids are `base + i`, with garbage between them
/// so compaction moves every node; the head goes to value-stack slot
/// `slot`.
fn build_list(m: &mut Mutator, slot: usize, base: u64, n: u64) {
    for i in 0..n {
        obj(m, u64::MAX, 1);
        let (m, node) = obj(m, base + i, 1);
        m.write(node, 0, m.stack_get(slot));
        m.stack_set(slot, node.into());
    }
}

/// The ids along the list from `head`, newest first.
fn list_ids(mut v: Value<'_>) -> Vec<u64> {
    let mut ids = Vec::new();
    while let Some(o) = v.as_object() {
        ids.push(o.raw_word(0));
        v = o.slot(0);
    }
    ids
}

fn expected_ids(base: u64, n: u64) -> Vec<u64> {
    (0..n).rev().map(|i| base + i).collect()
}

/// Each of four threads builds and rebuilds its own lists while the others
/// collect, and checks them after every collection it runs; one list per
/// thread is published through a global and read by the next thread. At
/// the end one thread verifies the heap and the heap drains to empty.
#[test]
fn four_threads_keep_their_graphs_through_cycles() {
    for mode in Mode::ALL {
        let Some(rt) = build(mode, |b| b.large_object_threshold(4 << 10)) else {
            continue;
        };
        let globals: Vec<Global> = {
            let m = rt.mutator().expect("mutator");
            (0..THREADS).map(|_| m.add_global(Value::NIL)).collect()
        };
        let start = Arc::new(Barrier::new(THREADS));
        let handles: Vec<_> = (0..THREADS)
            .map(|t| {
                let (rt, globals, start) = (rt.clone(), globals.clone(), start.clone());
                std::thread::spawn(move || {
                    let mut m = rt.mutator().expect("mutator");
                    start.wait();
                    let base = (t as u64 + 1) << 32;
                    m.push(Value::NIL);
                    for round in 0..6u64 {
                        let n = 2_000 + 500 * round;
                        m.stack_set(0, Value::NIL);
                        build_list(&mut m, 0, base + (round << 20), n);
                        // A large (non-moving) array pointing at the head.
                        let (m2, arr) = m
                            .alloc(AllocSpec {
                                tag: 3,
                                slots: 1024,
                                bytes: 0,
                                ..Default::default()
                            })
                            .expect("array");
                        m2.write(arr, 1023, m2.stack_get(0));
                        m2.set_global(globals[t], arr.into());
                        match round % 3 {
                            0 => m.collect().expect("collect"),
                            1 => {
                                m.start_cycle();
                            }
                            _ => {}
                        }
                        assert_eq!(
                            list_ids(m.stack_get(0)),
                            expected_ids(base + (round << 20), n),
                            "{mode}: thread {t} round {round}: own list intact"
                        );
                        // The previous thread's published list, read across
                        // threads: whole, whichever round it is in.
                        let other = m.global(globals[(t + THREADS - 1) % THREADS]);
                        if let Some(other) = other.as_object() {
                            let ids = list_ids(other.slot(1023));
                            assert!(!ids.is_empty(), "{mode}: published list is non-empty");
                            let top = ids[0];
                            let first = top - (ids.len() as u64 - 1);
                            assert_eq!(
                                ids,
                                expected_ids(first, ids.len() as u64),
                                "{mode}: thread {t} reads another thread's list whole"
                            );
                        }
                    }
                    m.checksum()
                })
            })
            .collect();
        for h in handles {
            h.join().expect("mutator thread");
        }
        let mut m = rt.mutator().expect("mutator");
        let report = m.verify().expect("heap valid");
        assert!(
            report.non_moving_objects >= THREADS,
            "{mode}: the published arrays are live"
        );
        for g in &globals {
            m.set_global(*g, Value::NIL);
        }
        m.collect().expect("collect");
        m.finish_cycle().expect("finish");
        rt.quiesce();
        assert_eq!(m.used_bytes(), 0, "{mode}: everything dropped is freed");
        let stats = rt.stats();
        assert!(stats.cycles >= 4, "{mode}: {} cycles ran", stats.cycles);
        assert!(
            stats.safepoint_quantile(1.0) > Duration::ZERO,
            "{mode}: time to safepoint is measured"
        );
    }
}

/// The lost-object race split over two threads: while the marker waits,
/// thread B copies a reference out of an old object into an object born
/// during marking and cuts the old path. The write barrier must keep the
/// object alive although thread A drives the cycle. Every mode with a
/// concurrent marking (stw marks in its pause: nothing can hide).
#[test]
fn a_reference_hidden_by_another_thread_during_marking_survives() {
    for mode in CONCURRENT {
        let Some(rt) = build(mode, |b| {
            b.concurrent_mark_delay(Duration::from_millis(150))
        }) else {
            continue;
        };
        let mut a = rt.mutator().expect("mutator");
        // holder.0 -> hidden; holder reachable through a global.
        let (a2, holder) = obj(&mut a, 1, 1);
        let g_holder = a2.add_global(holder.into());
        let (a2, hidden) = obj(&mut a, 2, 0);
        let holder = a2.global(g_holder).as_object().expect("holder");
        a2.write(holder, 0, hidden.into());
        let g_out = a2.add_global(Value::NIL);
        assert!(a.start_cycle(), "{mode}: a cycle starts");
        let marking = Arc::new(AtomicBool::new(true));
        let b = {
            let (rt, marking) = (rt.clone(), marking.clone());
            std::thread::spawn(move || {
                let mut b = rt.mutator().expect("mutator");
                let (b, newborn) = obj(&mut b, 3, 1);
                let holder = b.global(g_holder).as_object().expect("holder");
                let hidden = holder.slot(0);
                b.write(newborn, 0, hidden);
                b.write(holder, 0, Value::NIL);
                let still_marking = b.cycle_phase() == CyclePhase::Marking;
                marking.store(still_marking, Ordering::Relaxed);
                b.set_global(g_out, newborn.into());
            })
        };
        a.blocking(|| b.join()).expect("thread b");
        assert!(
            marking.load(Ordering::Relaxed),
            "{mode}: the move happened during marking"
        );
        a.finish_cycle().expect("cycle");
        a.verify().expect("heap valid");
        let out = a.global(g_out);
        assert_eq!(id(out), 3);
        let kept = out.as_object().expect("out").slot(0);
        assert!(kept.is_object(), "{mode}: the hidden object survived");
        assert_eq!(id(kept), 2, "{mode}: and it is still itself");
    }
}

/// Short-lived threads register, allocate, check and leave while a main
/// thread runs cycles against a slowed compactor (so threads come and go
/// in every phase).
#[test]
fn threads_start_and_stop_during_cycles() {
    for mode in Mode::ALL {
        let Some(rt) = build(mode, |b| {
            b.compaction_page_delay(Duration::from_micros(200))
                .concurrent_mark_delay(Duration::from_millis(2))
        }) else {
            continue;
        };
        let mut main = rt.mutator().expect("mutator");
        main.push(Value::NIL);
        build_list(&mut main, 0, 1 << 40, 3_000);
        let done = Arc::new(AtomicBool::new(false));
        let spawned = Arc::new(AtomicUsize::new(0));
        let spawner = {
            let (rt, done, spawned) = (rt.clone(), done.clone(), spawned.clone());
            std::thread::spawn(move || {
                let mut k = 0u64;
                while !done.load(Ordering::Relaxed) || k < 8 {
                    let rt = rt.clone();
                    let h = std::thread::spawn(move || {
                        let mut m = rt.mutator().expect("mutator");
                        m.push(Value::NIL);
                        let base = (k + 2) << 40;
                        build_list(&mut m, 0, base, 500);
                        m.safepoint();
                        assert_eq!(list_ids(m.stack_get(0)), expected_ids(base, 500));
                    });
                    h.join().expect("short-lived thread");
                    spawned.fetch_add(1, Ordering::Relaxed);
                    k += 1;
                }
            })
        };
        let mut cycles = 0;
        while cycles < 4 || spawned.load(Ordering::Relaxed) < 8 {
            main.start_cycle();
            // Allocate through the cycle's phases while threads come and go.
            for _ in 0..2_000 {
                obj(&mut main, u64::MAX, 1);
            }
            main.finish_cycle().expect("cycle");
            cycles += 1;
        }
        done.store(true, Ordering::Relaxed);
        // Joining is blocking: a registered thread that waited here while
        // running would hold up the short-lived threads' pauses.
        main.blocking(|| spawner.join()).expect("spawner");
        assert_eq!(
            list_ids(main.stack_get(0)),
            expected_ids(1 << 40, 3_000),
            "{mode}: the main thread's list survived"
        );
        main.verify().expect("heap valid");
        assert_eq!(rt.mutator_count(), 1, "{mode}: exited threads deregistered");
    }
}

/// A thread blocked in a system call (a read from a pipe nobody writes yet)
/// holds roots while other threads run full cycles: the pauses do not wait
/// for it, its roots are updated, and it finds its list whole afterwards.
#[test]
fn a_thread_blocked_in_a_system_call_does_not_hold_up_cycles() {
    for mode in Mode::ALL {
        let Some(rt) = build(mode, |b| b) else {
            continue;
        };
        let (mut reader, mut writer) = std::io::pipe().expect("pipe");
        let blocked = Arc::new(Barrier::new(2));
        let cycles_while_blocked = Arc::new(AtomicUsize::new(0));
        let b = {
            let (rt, blocked, seen) = (rt.clone(), blocked.clone(), cycles_while_blocked.clone());
            std::thread::spawn(move || {
                let mut m = rt.mutator().expect("mutator");
                m.push(Value::NIL);
                build_list(&mut m, 0, 7 << 40, 5_000);
                let before = rt.stats().cycles;
                let mut buf = [0u8; 1];
                let n = m.blocking(|| {
                    blocked.wait();
                    std::io::Read::read(&mut reader, &mut buf).expect("read")
                });
                assert_eq!(n, 1, "{mode}: read the byte");
                seen.store((rt.stats().cycles - before) as usize, Ordering::Relaxed);
                assert_eq!(
                    list_ids(m.stack_get(0)),
                    expected_ids(7 << 40, 5_000),
                    "{mode}: the blocked thread's list was kept and updated"
                );
            })
        };
        blocked.wait();
        // Give the reader time to enter read(2).
        std::thread::sleep(Duration::from_millis(20));
        let mut a = rt.mutator().expect("mutator");
        let started = Instant::now();
        for _ in 0..3 {
            a.collect().expect("collect");
            a.finish_cycle().expect("finish");
        }
        let took = started.elapsed();
        std::io::Write::write_all(&mut writer, b"x").expect("write");
        a.blocking(|| b.join()).expect("blocked thread");
        assert!(
            cycles_while_blocked.load(Ordering::Relaxed) >= 3,
            "{mode}: three cycles ran while the thread was blocked (they took {took:?})"
        );
        a.verify().expect("heap valid");
    }
}

/// Four mutator threads walk the same list (published through a global)
/// while a slowed compactor leaves most pages to their faults.
#[test]
fn four_threads_fault_on_the_same_pages() {
    for mode in CONCURRENT {
        let Some(rt) = build(mode, |b| b.compaction_page_delay(Duration::from_millis(2))) else {
            continue;
        };
        let mut main = rt.mutator().expect("mutator");
        main.push(Value::NIL);
        build_list(&mut main, 0, 1, 20_000);
        let g = main.add_global(main.stack_get(0));
        let ready = Arc::new(Barrier::new(THREADS + 1));
        let walkers: Vec<_> = (0..THREADS)
            .map(|_| {
                let (rt, ready) = (rt.clone(), ready.clone());
                std::thread::spawn(move || {
                    let mut m = rt.mutator().expect("mutator");
                    // Stopped while the main thread flips, so that every
                    // walker starts on a freshly flipped heap.
                    m.blocking(|| ready.wait());
                    let head = m.global(g);
                    list_ids(head)
                })
            })
            .collect();
        // Wait until every walker has registered and stopped, then flip.
        while rt.mutator_count() < THREADS + 1 {
            std::thread::yield_now();
        }
        main.collect().expect("collect");
        main.blocking(|| ready.wait());
        for w in walkers {
            assert_eq!(
                main.blocking(|| w.join()).expect("walker"),
                expected_ids(1, 20_000),
                "{mode}: every walker read the whole list"
            );
        }
        main.finish_cycle().expect("finish");
        let stats = rt.stats();
        assert!(stats.faults > 0, "{mode}: the walkers faulted ({stats})");
        main.verify().expect("heap valid");
    }
}

/// The remark's handshake reaches a thread running a safepoint loop (it
/// hands its buffer over itself) and a thread blocked on a barrier (the
/// driver takes its buffer), and what each hid during marking survives.
#[test]
fn the_remark_handshake_reaches_running_and_blocked_threads() {
    for mode in [Mode::UffdWorkers, Mode::Uffd] {
        let Some(rt) = build(mode, |b| {
            b.concurrent_mark_delay(Duration::from_millis(100))
        }) else {
            continue;
        };
        let mut a = rt.mutator().expect("mutator");
        // Two holders, each holding one object only it references.
        let holders: Vec<Global> = (0..2u64)
            .map(|k| {
                let (a2, h) = obj(&mut a, 10 + k, 1);
                let g = a2.add_global(h.into());
                let (a2, x) = obj(&mut a, 20 + k, 0);
                let h = a2.global(g).as_object().expect("holder");
                a2.write(h, 0, x.into());
                g
            })
            .collect();
        let outs: Vec<Global> = (0..2).map(|_| a.add_global(Value::NIL)).collect();
        assert!(a.start_cycle(), "{mode}: a cycle starts");
        let hidden = Arc::new(Barrier::new(3));
        let release = Arc::new(Barrier::new(2));
        let stop = Arc::new(AtomicBool::new(false));
        let hide = |m: &mut Mutator, k: usize| {
            let (m, newborn) = obj(m, 30 + k as u64, 1);
            let holder = m.global(holders[k]).as_object().expect("holder");
            let x = holder.slot(0);
            m.write(newborn, 0, x);
            m.write(holder, 0, Value::NIL);
            m.set_global(outs[k], newborn.into());
        };
        std::thread::scope(|s| {
            let (rt, hidden, release, stop) = (&rt, &hidden, &release, &stop);
            s.spawn(move || {
                let mut b = rt.mutator().expect("mutator");
                hide(&mut b, 0);
                b.blocking(|| {
                    hidden.wait();
                    release.wait();
                });
            });
            s.spawn(move || {
                let mut c = rt.mutator().expect("mutator");
                hide(&mut c, 1);
                c.blocking(|| hidden.wait());
                while !stop.load(Ordering::Relaxed) {
                    c.safepoint();
                    std::hint::spin_loop();
                }
            });
            a.blocking(|| hidden.wait());
            assert_eq!(
                a.cycle_phase(),
                CyclePhase::Marking,
                "{mode}: hidden during marking"
            );
            a.finish_cycle().expect("cycle");
            stop.store(true, Ordering::Relaxed);
            a.blocking(|| release.wait());
        });
        a.verify().expect("heap valid");
        assert!(rt.stats().handshakes >= 1, "{mode}: the remark handshook");
        for (k, g) in outs.iter().enumerate() {
            let kept = a.global(*g).as_object().expect("out").slot(0);
            assert!(
                kept.is_object(),
                "{mode}: thread {k}'s hidden object survived"
            );
            assert_eq!(id(kept), 20 + k as u64);
        }
    }
}
