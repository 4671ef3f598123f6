//! The `UFFDIO_API` handshake: the API number, `struct uffdio_api`, the
//! feature bits it negotiates and the kernel's summary masks.

use crate::args::{
    UFFDIO_REGISTER_MODE_MINOR, UFFDIO_REGISTER_MODE_MISSING, UFFDIO_REGISTER_MODE_WP,
};
use crate::ioctl::{
    _UFFDIO_API, _UFFDIO_CONTINUE, _UFFDIO_COPY, _UFFDIO_MOVE, _UFFDIO_POISON, _UFFDIO_REGISTER,
    _UFFDIO_UNREGISTER, _UFFDIO_WAKE, _UFFDIO_WRITEPROTECT, _UFFDIO_ZEROPAGE,
};

/// The only userfaultfd API version: what `uffdio_api.api` must hold.
pub const UFFD_API: u64 = 0xAA;

/// Argument of `UFFDIO_API`: userland asks for an API number and features;
/// the kernel answers with every feature it offers and the ioctls the fd
/// accepts. Can succeed once per fd.
#[repr(C)]
#[derive(Debug, Default, Copy, Clone, PartialEq, Eq)]
pub struct uffdio_api {
    /// In: must be [`UFFD_API`].
    pub api: u64,
    /// In: features requested; out: features available.
    pub features: u64,
    /// Out: bitmask of `1 << _UFFDIO_*` the fd accepts.
    pub ioctls: u64,
}

/// Report write-protect faults (`UFFDIO_REGISTER_MODE_WP`) on anonymous memory.
pub const UFFD_FEATURE_PAGEFAULT_FLAG_WP: u64 = 1 << 0;
/// Deliver `UFFD_EVENT_FORK` with a new fd for the child.
pub const UFFD_FEATURE_EVENT_FORK: u64 = 1 << 1;
/// Deliver `UFFD_EVENT_REMAP` on `mremap(2)` of a registered range (the
/// mremap then waits for the event to be read).
pub const UFFD_FEATURE_EVENT_REMAP: u64 = 1 << 2;
/// Deliver `UFFD_EVENT_REMOVE` on `MADV_DONTNEED`/`MADV_REMOVE`.
pub const UFFD_FEATURE_EVENT_REMOVE: u64 = 1 << 3;
/// MISSING registration works on hugetlbfs.
pub const UFFD_FEATURE_MISSING_HUGETLBFS: u64 = 1 << 4;
/// MISSING registration works on shmem (tmpfs, memfd).
pub const UFFD_FEATURE_MISSING_SHMEM: u64 = 1 << 5;
/// Deliver `UFFD_EVENT_UNMAP` on `munmap(2)`.
pub const UFFD_FEATURE_EVENT_UNMAP: u64 = 1 << 6;
/// Raise `SIGBUS` in the faulting thread instead of queueing a fault event.
pub const UFFD_FEATURE_SIGBUS: u64 = 1 << 7;
/// Fill `uffd_msg.arg.pagefault.feat.ptid` with the faulting thread's id.
pub const UFFD_FEATURE_THREAD_ID: u64 = 1 << 8;
/// MINOR registration works on hugetlbfs (5.13).
pub const UFFD_FEATURE_MINOR_HUGETLBFS: u64 = 1 << 9;
/// MINOR registration works on shmem (5.14).
pub const UFFD_FEATURE_MINOR_SHMEM: u64 = 1 << 10;
/// Report the exact faulting address, not masked to the page.
pub const UFFD_FEATURE_EXACT_ADDRESS: u64 = 1 << 11;
/// Write-protect mode works on shmem and hugetlbfs.
pub const UFFD_FEATURE_WP_HUGETLBFS_SHMEM: u64 = 1 << 12;
/// Write-protection applies to unpopulated anonymous PTEs too.
pub const UFFD_FEATURE_WP_UNPOPULATED: u64 = 1 << 13;
/// `UFFDIO_POISON` is available (6.6).
pub const UFFD_FEATURE_POISON: u64 = 1 << 14;
/// Write-protect faults are resolved by the kernel itself (6.7).
pub const UFFD_FEATURE_WP_ASYNC: u64 = 1 << 15;
/// `UFFDIO_MOVE` is available (6.8).
pub const UFFD_FEATURE_MOVE: u64 = 1 << 16;

/// Every feature the header names (`UFFD_API_FEATURES`).
pub const UFFD_API_FEATURES: u64 = UFFD_FEATURE_PAGEFAULT_FLAG_WP
    | UFFD_FEATURE_EVENT_FORK
    | UFFD_FEATURE_EVENT_REMAP
    | UFFD_FEATURE_EVENT_REMOVE
    | UFFD_FEATURE_EVENT_UNMAP
    | UFFD_FEATURE_MISSING_HUGETLBFS
    | UFFD_FEATURE_MISSING_SHMEM
    | UFFD_FEATURE_SIGBUS
    | UFFD_FEATURE_THREAD_ID
    | UFFD_FEATURE_MINOR_HUGETLBFS
    | UFFD_FEATURE_MINOR_SHMEM
    | UFFD_FEATURE_EXACT_ADDRESS
    | UFFD_FEATURE_WP_HUGETLBFS_SHMEM
    | UFFD_FEATURE_WP_UNPOPULATED
    | UFFD_FEATURE_POISON
    | UFFD_FEATURE_WP_ASYNC
    | UFFD_FEATURE_MOVE;

/// Every registration mode the header names (`UFFD_API_REGISTER_MODES`).
pub const UFFD_API_REGISTER_MODES: u64 =
    UFFDIO_REGISTER_MODE_MISSING | UFFDIO_REGISTER_MODE_WP | UFFDIO_REGISTER_MODE_MINOR;

/// The fd-wide ioctls (`UFFD_API_IOCTLS`): REGISTER, UNREGISTER, API.
pub const UFFD_API_IOCTLS: u64 = 1 << _UFFDIO_REGISTER | 1 << _UFFDIO_UNREGISTER | 1 << _UFFDIO_API;

/// Every range ioctl (`UFFD_API_RANGE_IOCTLS`), as `UFFDIO_REGISTER` may
/// report them for an anonymous range.
pub const UFFD_API_RANGE_IOCTLS: u64 = 1 << _UFFDIO_WAKE
    | 1 << _UFFDIO_COPY
    | 1 << _UFFDIO_ZEROPAGE
    | 1 << _UFFDIO_MOVE
    | 1 << _UFFDIO_WRITEPROTECT
    | 1 << _UFFDIO_CONTINUE
    | 1 << _UFFDIO_POISON;

/// The range ioctls of hugetlbfs ranges (`UFFD_API_RANGE_IOCTLS_BASIC`).
pub const UFFD_API_RANGE_IOCTLS_BASIC: u64 = 1 << _UFFDIO_WAKE
    | 1 << _UFFDIO_COPY
    | 1 << _UFFDIO_WRITEPROTECT
    | 1 << _UFFDIO_CONTINUE
    | 1 << _UFFDIO_POISON;
