//! CONTRACT SKELETON (owned by the model helper; signatures are the contract
//! shared with `engine` and the differential tests; bodies to be written).

use nix::errno::Errno;

/// Page size the model uses (x86-64).
pub const PAGE_SIZE: u64 = 4096;
/// Bytes mapped by one PMD entry.
pub const PMD_SIZE: u64 = 2 << 20;
/// Bytes mapped by one PUD entry.
pub const PUD_SIZE: u64 = 1 << 30;

/// `MREMAP_MAYMOVE`.
pub const MREMAP_MAYMOVE: u64 = 1;
/// `MREMAP_FIXED`.
pub const MREMAP_FIXED: u64 = 2;
/// `MREMAP_DONTUNMAP`.
pub const MREMAP_DONTUNMAP: u64 = 4;
/// Proposed `MREMAP_RELOCATE_ANON` (not merged as of 6.18).
pub const MREMAP_RELOCATE_ANON: u64 = 8;
/// Proposed `MREMAP_MUST_RELOCATE_ANON`.
pub const MREMAP_MUST_RELOCATE_ANON: u64 = 16;

/// The five arguments of `mremap(2)`, raw, as the syscall sees them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MremapRequest {
    pub addr: u64,
    pub old_len: u64,
    pub new_len: u64,
    pub flags: u64,
    pub new_addr: u64,
}

/// What backs a VMA.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Backing {
    /// `MAP_PRIVATE | MAP_ANONYMOUS`.
    PrivateAnon,
    /// `MAP_SHARED | MAP_ANONYMOUS` (shmem).
    SharedAnon { object: u64 },
    /// `MAP_SHARED` of a memfd / shmem file `file`.
    SharedFile { file: u64 },
    /// `MAP_PRIVATE` of a file `file`.
    PrivateFile { file: u64 },
}

/// Protection bits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Prot {
    pub read: bool,
    pub write: bool,
    pub exec: bool,
}

/// VMA flags that mremap cares about beyond backing and protection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct VmaFlags {
    pub locked: bool,
    pub dontexpand: bool,
    pub pfnmap: bool,
    pub hugetlb: bool,
    pub sealed: bool,
    /// Registered with a userfaultfd (MISSING and/or MINOR), without EVENT_REMAP.
    pub uffd: bool,
    /// Private writable and not NORESERVE (charged on expansion / DONTUNMAP).
    pub account: bool,
}

/// One VMA of the model.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Vma {
    pub start: u64,
    pub end: u64,
    pub backing: Backing,
    pub prot: Prot,
    pub flags: VmaFlags,
    /// Page offset (for anonymous VMAs: as the kernel keeps it, see spec (b)).
    pub pgoff: u64,
    /// anon_vma identity (None = never faulted); merge decisions use it.
    pub anon: Option<u64>,
}

/// Entries relocated by a page-table move, per level, as `move_page_tables` picks extents.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MoveCost {
    pub ptes: u64,
    pub pmds: u64,
    pub puds: u64,
}

/// The kernel rule that rejected a request (Display names the rule).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rule {
    // filled by the model
}

/// A rejected request: the kernel's errno and the rule that produced it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ModelError {
    pub errno: Errno,
    pub rule: Rule,
}

/// A successful mremap: the returned address and the page-table move cost.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MremapOutcome {
    pub new_addr: u64,
    pub cost: MoveCost,
}
