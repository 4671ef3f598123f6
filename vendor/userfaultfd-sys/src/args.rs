//! Argument structs of the range ioctls (`UFFDIO_REGISTER`, `COPY`,
//! `ZEROPAGE`, `WRITEPROTECT`, `CONTINUE`, `POISON`, `MOVE`) and their mode
//! bits.
//!
//! The last field of each "result" struct (`copy`, `zeropage`, `mapped`,
//! `updated`, `move`) is written by the kernel: the byte count done, or a
//! negated errno.

/// An address range: `start` and `len` must be page-aligned.
#[repr(C)]
#[derive(Debug, Default, Copy, Clone, PartialEq, Eq)]
pub struct uffdio_range {
    /// Start address.
    pub start: u64,
    /// Length in bytes.
    pub len: u64,
}

/// Register for missing-page faults (anonymous, shmem, hugetlbfs).
pub const UFFDIO_REGISTER_MODE_MISSING: u64 = 1 << 0;
/// Register for write-protect faults.
pub const UFFDIO_REGISTER_MODE_WP: u64 = 1 << 1;
/// Register for minor faults (page in the page cache, PTE missing).
pub const UFFDIO_REGISTER_MODE_MINOR: u64 = 1 << 2;

/// Argument of `UFFDIO_REGISTER`.
#[repr(C)]
#[derive(Debug, Default, Copy, Clone, PartialEq, Eq)]
pub struct uffdio_register {
    /// The range to register.
    pub range: uffdio_range,
    /// `UFFDIO_REGISTER_MODE_*` bits.
    pub mode: u64,
    /// Out: bitmask of `1 << _UFFDIO_*` usable on this range.
    pub ioctls: u64,
}

/// Do not wake the threads waiting on the destination range.
pub const UFFDIO_COPY_MODE_DONTWAKE: u64 = 1 << 0;
/// Map the copied pages write-protected.
pub const UFFDIO_COPY_MODE_WP: u64 = 1 << 1;

/// Argument of `UFFDIO_COPY`: atomically fill missing pages from a buffer.
#[repr(C)]
#[derive(Debug, Default, Copy, Clone, PartialEq, Eq)]
pub struct uffdio_copy {
    /// Destination (registered, page-aligned).
    pub dst: u64,
    /// Source buffer (page-aligned).
    pub src: u64,
    /// Length in bytes (multiple of the page size).
    pub len: u64,
    /// `UFFDIO_COPY_MODE_*` bits.
    pub mode: u64,
    /// Out: bytes copied, or a negated errno.
    pub copy: i64,
}

/// Do not wake the threads waiting on the range.
pub const UFFDIO_ZEROPAGE_MODE_DONTWAKE: u64 = 1 << 0;
/// Map the zero pages write-protected.
pub const UFFDIO_ZEROPAGE_MODE_WP: u64 = 1 << 1;
/// Do not use the shared zero page (later writes need no copy-on-write).
pub const UFFDIO_ZEROPAGE_MODE_UNSHARED: u64 = 1 << 2;

/// Argument of `UFFDIO_ZEROPAGE`: map zero pages into missing pages.
#[repr(C)]
#[derive(Debug, Default, Copy, Clone, PartialEq, Eq)]
pub struct uffdio_zeropage {
    /// The range to fill.
    pub range: uffdio_range,
    /// `UFFDIO_ZEROPAGE_MODE_*` bits.
    pub mode: u64,
    /// Out: bytes mapped, or a negated errno.
    pub zeropage: i64,
}

/// Set write protection (clear it when absent).
pub const UFFDIO_WRITEPROTECT_MODE_WP: u64 = 1 << 0;
/// Do not wake waiters when removing protection.
pub const UFFDIO_WRITEPROTECT_MODE_DONTWAKE: u64 = 1 << 1;

/// Argument of `UFFDIO_WRITEPROTECT`.
#[repr(C)]
#[derive(Debug, Default, Copy, Clone, PartialEq, Eq)]
pub struct uffdio_writeprotect {
    /// The range to (un)protect.
    pub range: uffdio_range,
    /// `UFFDIO_WRITEPROTECT_MODE_*` bits.
    pub mode: u64,
}

/// Do not wake the threads waiting on the range.
pub const UFFDIO_CONTINUE_MODE_DONTWAKE: u64 = 1 << 0;
/// Map the pages write-protected.
pub const UFFDIO_CONTINUE_MODE_WP: u64 = 1 << 1;

/// Argument of `UFFDIO_CONTINUE`: map the page-cache pages already present
/// behind a MINOR-registered range.
#[repr(C)]
#[derive(Debug, Default, Copy, Clone, PartialEq, Eq)]
pub struct uffdio_continue {
    /// The range to map.
    pub range: uffdio_range,
    /// `UFFDIO_CONTINUE_MODE_*` bits.
    pub mode: u64,
    /// Out: bytes mapped, or a negated errno.
    pub mapped: i64,
}

/// Do not wake the threads waiting on the range.
pub const UFFDIO_POISON_MODE_DONTWAKE: u64 = 1 << 0;

/// Argument of `UFFDIO_POISON`: mark missing pages as poisoned (accesses
/// then raise `SIGBUS`).
#[repr(C)]
#[derive(Debug, Default, Copy, Clone, PartialEq, Eq)]
pub struct uffdio_poison {
    /// The range to poison.
    pub range: uffdio_range,
    /// `UFFDIO_POISON_MODE_*` bits.
    pub mode: u64,
    /// Out: bytes poisoned, or a negated errno.
    pub updated: i64,
}

/// Do not wake the threads waiting on the destination range.
pub const UFFDIO_MOVE_MODE_DONTWAKE: u64 = 1 << 0;
/// Treat holes in the source as success (the destination stays missing)
/// instead of failing with `ENOENT`.
pub const UFFDIO_MOVE_MODE_ALLOW_SRC_HOLES: u64 = 1 << 1;

/// Argument of `UFFDIO_MOVE`: move populated anonymous pages from `src` to
/// missing pages at `dst` by remapping them (no copy).
#[repr(C)]
#[derive(Debug, Default, Copy, Clone, PartialEq, Eq)]
pub struct uffdio_move {
    /// Destination (registered, page-aligned).
    pub dst: u64,
    /// Source (page-aligned, private anonymous).
    pub src: u64,
    /// Length in bytes.
    pub len: u64,
    /// `UFFDIO_MOVE_MODE_*` bits.
    pub mode: u64,
    /// Out: bytes moved, or a negated errno.
    pub r#move: i64,
}
