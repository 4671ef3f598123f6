//! # mremap-shim
//!
//! An mremap engine modelled on the kernel's `mm/mremap.c`, in three layers:
//!
//! - [`model`]: a user-space model of an address space (VMAs, merging, a
//!   page-table model) that validates an mremap request in the kernel's order
//!   and returns the kernel's errno, or the resulting layout plus the cost of
//!   the page-table move.
//! - [`sys`]: the real backend: `mmap`/`mremap`/`munmap`/`mprotect`/`madvise`
//!   on anonymous and memfd regions, and a `/proc/self/maps` reader.
//! - [`engine`]: what the GC uses: plans with the model, executes with the
//!   backend, keeps the region table and probes the running kernel once.
//! - [`inject`]: fault injection for tests (the `fault-injection` feature):
//!   the k-th call of a system call fails with a chosen errno.
//! - [`units`]: page, PMD and PUD sizes, shared by the workspace.
pub mod engine;
pub mod inject;
pub mod model;
pub mod sys;
pub mod units;
