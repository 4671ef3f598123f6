//! # benches: pause-time harness and micro-benchmarks
//!
//! - [`workload`]: the live-heap churn workload shared by `pausebench` and,
//!   later, the stress test.
//! - [`procstat`]: process figures (peak RSS) read from `/proc/self/status`.
//! - [`mmu`]: minimum mutator utilisation over time windows.
//! - [`peers`]: the peer kit's workloads (GCBench, binary-trees, liveheap)
//!   on the runtime's API.
//! - binaries: `pausebench` (pause phases against live heap size),
//!   `peer-workloads` (the peer kit's `PROJECT_CMD`).

pub mod mmu;
pub mod peers;
pub mod procstat;
pub mod stress;
pub mod workload;
