//! The SIGBUS handler table's protocol under the `loom` model checker: the
//! table's source (`gc/src/compact/concurrent/sigbus/table.rs`) compiled
//! against `loom`'s atomics, and every interleaving (and every value each
//! read may return) of a collector withdrawing and freeing a cycle while
//! handlers look it up and use it. A handler that could read a freed cycle
//! shows up as a causality violation on the cycle's cell (loom's race
//! detector) or a wrong value.
//!
//! With the orderings the table had before (a Release store of null, an
//! AcqRel increment, Acquire loads, no fences) the first model fails: that
//! is the store-buffering bug this test pins.

use loom::cell::UnsafeCell;
use loom::sync::atomic::{AtomicPtr, AtomicUsize};
use loom::thread;

/// The atomics `table.rs` uses through `super::sync`.
mod sync {
    pub(super) use loom::sync::atomic::{fence, AtomicPtr, AtomicUsize, Ordering};
    pub(super) use loom::thread::yield_now;
}

#[allow(dead_code)]
#[path = "../src/compact/concurrent/sigbus/table.rs"]
mod table;

use table::Table;

/// A stand-in for a cycle: one cell the handler reads and the collector
/// overwrites when it frees the cycle.
struct Cycle {
    data: UnsafeCell<u64>,
}

const LIVE: u64 = 7;
const FREED: u64 = 0xdead;

fn leak<T>(t: T) -> &'static T {
    Box::leak(Box::new(t))
}

fn table() -> &'static Table<Cycle, 2> {
    leak(Table {
        slots: std::array::from_fn(|_| AtomicPtr::new(std::ptr::null_mut())),
        active: AtomicUsize::new(0),
    })
}

/// What a handler does: enter, look the slot up, read the cycle if there.
fn handle(table: &Table<Cycle, 2>, slot: usize) -> Option<u64> {
    let entered = table.enter();
    let cycle = entered.get(slot)?;
    // SAFETY: a read of the cell (loom checks it against the free below).
    Some(cycle.data.with(|p| unsafe { *p }))
}

/// The collector's end of a cycle: withdraw, then free (overwrite).
fn withdraw_and_free(table: &Table<Cycle, 2>, slot: usize, cycle: &Cycle) {
    table.withdraw(slot);
    // SAFETY: after withdraw no handler may read the cell (what loom checks).
    cycle.data.with_mut(|p| unsafe { *p = FREED });
}

#[test]
fn a_withdrawn_cycle_is_never_read_after_it_is_freed() {
    loom::model(|| {
        let table = table();
        let cycle = leak(Cycle {
            data: UnsafeCell::new(LIVE),
        });
        table.publish(0, cycle);
        let handler = thread::spawn(move || handle(table, 0));
        withdraw_and_free(table, 0, cycle);
        let seen = handler.join().expect("handler");
        assert!(matches!(seen, None | Some(LIVE)), "handler saw {seen:?}");
    });
}

#[test]
fn a_cycle_published_concurrently_is_seen_fully_built() {
    loom::model(|| {
        let table = table();
        let cycle = leak(Cycle {
            data: UnsafeCell::new(0),
        });
        let collector = thread::spawn(move || {
            // SAFETY: nobody else can reach the cycle before it is published.
            cycle.data.with_mut(|p| unsafe { *p = LIVE });
            table.publish(1, cycle);
            withdraw_and_free(table, 1, cycle);
        });
        let seen = handle(table, 1);
        collector.join().expect("collector");
        assert!(matches!(seen, None | Some(LIVE)), "handler saw {seen:?}");
    });
}

#[test]
fn two_handlers_and_two_slots_with_one_withdrawn() {
    let mut builder = loom::model::Builder::new();
    // Three threads: bound the preemptions so the model stays small.
    builder.preemption_bound = Some(3);
    builder.check(|| {
        let table = table();
        let a = leak(Cycle {
            data: UnsafeCell::new(LIVE),
        });
        let b = leak(Cycle {
            data: UnsafeCell::new(LIVE),
        });
        table.publish(0, a);
        table.publish(1, b);
        let h0 = thread::spawn(move || handle(table, 0));
        let h1 = thread::spawn(move || (handle(table, 1), handle(table, 0)));
        withdraw_and_free(table, 0, a);
        let s0 = h0.join().expect("handler 0");
        let (s1, s0b) = h1.join().expect("handler 1");
        assert!(matches!(s0, None | Some(LIVE)), "handler 0 saw {s0:?}");
        assert!(
            matches!(s0b, None | Some(LIVE)),
            "handler 1 saw {s0b:?} in slot 0"
        );
        assert_eq!(s1, Some(LIVE), "slot 1 stays published");
    });
}
