//! The kernel's mremap selftests, re-expressed as scenarios that run against
//! anything implementing [`MemoryOps`]: the model here, the real kernel in
//! the differential tests.
