//! # benches: pause-time harness and micro-benchmarks
//!
//! - [`workload`]: `pausebench`'s live-heap churn workload, and the
//!   random generator `gc-stress` shares.
//! - [`procstat`]: process figures (peak RSS) read from `/proc/self/status`.
//! - [`mmu`]: minimum mutator utilisation over time windows.
//! - [`peers`]: the peer kit's workloads (GCBench, binary-trees, liveheap)
//!   on the runtime's API.
//! - [`progress`]: the progress line long runs print on stderr.
//! - [`timeline`]: pauses and heap use over a run, for the JSON and plots.
//! - [`plot`]: the SVG charts `gc-plot` draws.
//! - binaries: `pausebench` (pause phases against live heap size),
//!   `gc-stress`, `compactbench`, `fault-observed`, `peer-workloads` (the
//!   peer kit's `PROJECT_CMD`) and `gc-plot` (charts from their results).

pub mod mmu;
pub mod peers;
pub mod plot;
pub mod procstat;
pub mod progress;
pub mod stress;
pub mod timeline;
pub mod workload;
