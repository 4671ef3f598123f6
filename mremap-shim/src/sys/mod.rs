//! The real backend: thin, safe wrappers over the memory-management system
//! calls, a memfd constructor and a `/proc/self/maps` reader.
//!
//! Every call returns a [`SysError`] carrying the errno the kernel gave (and
//! which call gave it), never a string. `mremap` is issued as the raw system
//! call with all five arguments as `usize` (the libc wrapper is variadic and
//! may drop `new_addr`), and `new_addr` is passed as 0 unless FIXED or
//! DONTUNMAP is requested, as the spec's backend notes ask.
//!
//! Module map:
//! - [`error`] holds [`SysError`], [`SysOp`].
//! - [`mman`] holds `mmap`/`mremap`/`munmap`/`mprotect`/`madvise`/`mincore`.
//! - [`memfd`] holds memfd creation, sized with `ftruncate`.
//! - [`maps`] holds a parser for `/proc/self/maps`.
//! - [`memory`] holds volatile loads and stores of one `u64` at a raw address
//!   (the only accessors of mapped memory the crate offers).
//!
//! This module (with [`memory`]) holds all of the crate's `unsafe` code
//! outside the model-free tests.

pub mod error;
pub mod maps;
pub mod memfd;
pub mod memory;
pub mod mman;

pub use error::{SysError, SysOp};
pub use maps::{read_maps, MapsEntry, Perms};
pub use memfd::{create_memfd, file_identity};
pub use mman::{
    madvise, mincore, mmap_anon, mmap_fd, mprotect, mremap, munmap, page_size, Advice, MapFlags,
    ProtFlags, MREMAP_DONTUNMAP, MREMAP_FIXED, MREMAP_MAYMOVE,
};
