//! # gc: the collector's mechanics
//!
//! A compacting collector whose pause does not grow with the heap, after the
//! Android runtime's userfaultfd design: marking fills side bitmaps, the
//! live-words bitmap gives every object's post-compaction address without
//! forwarding pointers, and [`compact::PageComputer::compute_page`] fills any
//! to-space page from a read-only from-space in any order, on any thread.
//!
//! Modules:
//! - [`value`]: the NaN-boxed slot value ([`Value`]).
//! - [`object`]: object layout, headers and [`ObjRef`].
//! - [`heap`]: the reservation layout, the moving space (bump + TLABs) and
//!   the memfd-backed non-moving space.
//! - [`mark`]: side bitmaps and the (work-stealing) tracer.
//! - [`compact`]: post-compaction addresses, `compute_page`, the
//!   stop-the-world driver.
//! - [`verify`]: the heap verifier and the address-independent graph checksum.
//! - [`cycle`]: per-cycle reports.
//! - [`roots`]: the [`RootSet`] trait embedders implement.
//! - [`table`]: side tables (bitmaps, forwarding counts) on huge pages.
//! - [`inject`]: fault injection for tests (the `fault-injection` feature),
//!   re-exported from `mremap_shim`.
//! - `fatal` (private): ending the process from a fault path with a message
//!   written without allocating.
//!
//! No policy and no embedder callbacks live here: the `runtime` crate decides
//! when to collect and owns mutators and roots.

pub mod compact;
pub mod cpu;
pub mod cycle;
pub mod error;
mod fatal;
pub mod heap;
pub mod mark;
pub mod object;
pub mod roots;
pub mod table;
pub mod uffd;
pub mod value;
pub mod verify;

pub use mremap_shim::inject;

pub use cycle::{CycleReport, PauseEntry, Phase};
pub use error::HeapError;
pub use heap::{AllocRequest, Heap, HeapConfig, Tlab};
pub use object::ObjRef;
pub use roots::RootSet;
pub use value::Value;
