//! Concurrent compaction with userfaultfd: what a cycle in flight holds and
//! every thread runs after the flip pause ([`crate::collector`] drives the
//! cycle and runs its pauses).
//!
//! Modules: [`in_flight`] (one compaction in flight, and the fault path),
//! [`assist`] (compaction work a paced mutator does instead of sleeping),
//! [`pages`] (the per-page state machine), [`plan`] (the forwarding plan
//! built concurrently), [`threads`] (fault workers and collector threads),
//! [`sigbus`] (faults served on the faulting thread), [`from_space`]
//! (drained from-space, MOVE's destinations), [`end`] (the end of a cycle),
//! [`fault_log`] (fault service times).

pub mod assist;
pub mod end;
pub mod fault_log;
pub mod from_space;
pub mod in_flight;
pub mod pages;
pub mod plan;
pub mod sigbus;
pub mod threads;
