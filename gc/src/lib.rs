//! # gc: the collector's mechanics
//!
//! A compacting collector whose pause does not grow with the heap, after the
//! Android runtime's userfaultfd design: marking fills side bitmaps, the
//! live-words bitmap gives every object's post-compaction address without
//! forwarding pointers, and [`compact::PageComputer::compute_page`] fills any
//! to-space page from a read-only from-space in any order, on any thread.
//!
//! Modules (`docs/architecture.md` draws them and a cycle through them):
//! - [`value`]: the NaN-boxed slot value ([`Value`]).
//! - [`object`]: object layout, headers and [`ObjRef`].
//! - [`heap`]: the reservation layout, the moving space (bump + TLABs,
//!   pre-faulted ahead of allocation after each compaction) and the
//!   memfd-backed non-moving space.
//! - [`table`]: side tables (bitmaps, forwarding counts) on huge pages.
//! - [`mark`]: side bitmaps, the (work-stealing) tracer, the SATB queue and
//!   concurrent marking.
//! - [`compact`]: post-compaction addresses, `compute_page`, the
//!   non-moving space's update and sweep, the stop-the-world driver, and
//!   the mechanics of concurrent compaction ([`compact::concurrent`]).
//! - [`collector`]: the [`collector::ConcurrentCollector`], which drives a
//!   concurrent cycle through its pauses.
//! - [`report`]: per-cycle reports (phases, pauses, what was marked and
//!   moved).
//! - [`generations`]: the old generation's end and start map (generational
//!   collection).
//! - [`remembered`]: the card table the write barrier dirties (the
//!   remembered set of generational collection).
//! - [`roots`]: the [`RootSet`] trait embedders implement.
//! - [`verify`]: the heap verifier and the address-independent graph checksum.
//! - [`error`]: the heap's errors ([`HeapError`]).
//! - [`cpu`]: CPU features detected at run time (POPCNT).
//! - [`uffd`]: the userfaultfd layer, the `uffd` crate re-exported (open,
//!   feature probe, range ioctls, fault events).
//! - [`units`]: page, PMD and PUD sizes, re-exported from `mremap_shim`.
//! - [`inject`]: fault injection for tests (the `fault-injection` feature),
//!   re-exported from `mremap_shim`.
//! - `fatal` (private): ending the process from a fault path with a message
//!   written without allocating.
//!
//! No policy and no embedder callbacks live here: the `runtime` crate decides
//! when to collect and owns mutators and roots.
//!
//! ## What is `unsafe` here
//!
//! This is the mechanism crate; embedders use the runtime, whose `Gc<'m>`
//! carries the rule "a reference is valid until its thread's next
//! safepoint" in its lifetime. Here, what cannot be checked is `unsafe`:
//! making an object reference from an address or raw bits
//! ([`ObjRef::from_addr`], [`Value::as_object`]; a [`Value`] itself is
//! inert data), allocating into a caller's buffer ([`Heap::alloc`]),
//! installing and retiring buffers ([`Tlab::refill`], [`Tlab::retire`]),
//! and every entry point that needs the world stopped or a concurrent
//! marking's protocol ([`compact::stw::collect`], the
//! [`collector::ConcurrentCollector`] pauses, [`mark::tracer::mark`],
//! [`verify::verify`], [`verify::graph_checksum`]). An [`ObjRef`]'s
//! accessors are safe because making one is not: its maker answers for its
//! uses. The building blocks below those entry points (forwarding plans,
//! page computation, the non-moving update and sweep, the bump-pointer
//! reset) are `#[doc(hidden)]`: they run inside the entry points' contracts
//! and are public only for this crate's tests. A heap holds objects only
//! through `unsafe` allocation, so safe code cannot reach a live object
//! through this crate.

pub mod collector;
pub mod compact;
pub mod cpu;
pub mod error;
mod fatal;
pub mod generations;
pub mod heap;
pub mod mark;
pub mod object;
pub mod remembered;
pub mod report;
pub mod roots;
pub mod table;
pub mod value;
pub mod verify;

pub use mremap_shim::{inject, units};
/// The userfaultfd layer (the `uffd` crate), re-exported so that the
/// runtime names it through the collector it configures.
pub use uffd;

pub use error::HeapError;
pub use heap::{AllocRequest, Heap, HeapConfig, Tlab};
pub use object::ObjRef;
pub use report::{CycleReport, KindCause, PauseEntry, Phase};
pub use roots::RootSet;
pub use value::Value;
