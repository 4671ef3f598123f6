//! # benches: pause-time harness and micro-benchmarks
//!
//! - [`workload`]: the live-heap churn workload shared by `pausebench` and,
//!   later, the stress test.
//! - [`procstat`]: process figures (peak RSS) read from `/proc/self/status`.
//! - binaries: `pausebench` (pause phases against live heap size).

pub mod procstat;
pub mod workload;
