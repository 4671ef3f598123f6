//! A user-space model of a process address space, for `mremap(2)`.
//!
//! The model holds an ordered map of VMAs and a page-table/page-cache model,
//! and re-implements the kernel's `mm/mremap.c` (6.17/6.18) step by step: it
//! validates a request in the kernel's order and returns the kernel's errno
//! (with the [`Rule`] that produced it), and for valid requests it computes
//! the resulting layout, the page contents and the cost of the page-table
//! move. No system call is ever made. The reference is
//! `reference/mremap-spec.md`; step numbers in comments (a.1 … a.9, b … g)
//! point into it.
//!
//! Module map (kernel-style, one concept per module):
//! - [`rules`]: [`Rule`], the rejection rules, each with its errno and a
//!   Display naming it.
//! - `vma`: the VMA tree: lookup, split, merge (the kernel's mergeability
//!   rules, including anon identity and anon pgoff).
//! - `pagetable`: which pages are populated, the page cache of shared
//!   objects, and [`MoveCost`] as `move_page_tables` picks extents.
//! - `mmap`: `mmap`/`munmap`/`mprotect`/userfaultfd registration.
//! - `fault`: page writes, reads and residency (`mincore`).
//! - `unmapped_area`: `get_unmapped_area` (hint, `MAP_FIXED`, top-down).
//! - `check`: `check_mremap_params` and `check_prep_vma`.
//! - `remap`: `mremap_to`, `mremap_at`, `move_vma`, DONTUNMAP completion,
//!   the mirror case and the multi-VMA move.
//!
//! ## Addresses the kernel chooses
//! When the kernel picks the destination (an expansion that has to move
//! without `MREMAP_FIXED`, a mirror, a `MREMAP_DONTUNMAP` whose hint
//! collides), the real address depends on the architecture, THP settings and
//! the process's other mappings. The model picks deterministically (top
//! down from `task_size`, PMD-aligned for PMD-multiple anonymous lengths) so
//! that it is reproducible, but differential tests must not compare that
//! address. Instead they pass the kernel's answer to
//! [`AddressSpace::mremap_with_dest`] / [`AddressSpace::check_with_dest`],
//! which use it as the destination (after checking that it was a legal
//! choice: free, aligned, inside `[mmap_min_addr, task_size)`), and then
//! compare everything else: layout, contents, errnos.

use nix::errno::Errno;

mod check;
mod fault;
mod mmap;
mod pagetable;
mod remap;
pub mod rules;
mod unmapped_area;
mod vma;

pub use rules::Rule;

use pagetable::PageTable;
use vma::VmaTree;

/// Page size the model uses ([`crate::units::PAGE_SIZE`] as the model's
/// `u64`).
pub const PAGE_SIZE: u64 = crate::units::PAGE_SIZE as u64;
/// Bytes mapped by one PMD entry ([`crate::units::PMD_SIZE`]).
pub const PMD_SIZE: u64 = crate::units::PMD_SIZE as u64;
/// Bytes mapped by one PUD entry ([`crate::units::PUD_SIZE`]).
pub const PUD_SIZE: u64 = crate::units::PUD_SIZE as u64;
/// Huge page size the model assumes for hugetlb VMAs.
pub const HUGE_PAGE_SIZE: u64 = PMD_SIZE;

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
    /// Start of the source range (must be page-aligned).
    pub addr: u64,
    /// Length of the source range (rounded up to pages; 0 = mirror).
    pub old_len: u64,
    /// Length of the result (rounded up to pages; 0 is EINVAL).
    pub new_len: u64,
    /// `MREMAP_*` flags.
    pub flags: u64,
    /// Destination (FIXED: exact; DONTUNMAP alone: a hint; else ignored).
    pub new_addr: u64,
}

/// What backs a VMA.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Backing {
    /// `MAP_PRIVATE | MAP_ANONYMOUS`.
    PrivateAnon,
    /// `MAP_SHARED | MAP_ANONYMOUS` (shmem).
    SharedAnon {
        /// Identity of the shmem object (each `MAP_SHARED|MAP_ANONYMOUS` mmap is a new one).
        object: u64,
    },
    /// `MAP_SHARED` of a memfd / shmem file `file`.
    SharedFile {
        /// Identity of the file.
        file: u64,
    },
    /// `MAP_PRIVATE` of a file `file`.
    PrivateFile {
        /// Identity of the file.
        file: u64,
    },
}

impl Backing {
    /// `VM_SHARED | VM_MAYSHARE`: the mapping writes through to a shared object.
    pub fn is_shared(self) -> bool {
        matches!(
            self,
            Backing::SharedAnon { .. } | Backing::SharedFile { .. }
        )
    }

    /// `vma_is_anonymous()`: private anonymous memory (no file, no vm_ops).
    pub fn is_private_anon(self) -> bool {
        matches!(self, Backing::PrivateAnon)
    }
}

/// Protection bits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Prot {
    /// `PROT_READ`.
    pub read: bool,
    /// `PROT_WRITE`.
    pub write: bool,
    /// `PROT_EXEC`.
    pub exec: bool,
}

impl Prot {
    /// `PROT_READ | PROT_WRITE`.
    pub const RW: Prot = Prot {
        read: true,
        write: true,
        exec: false,
    };
    /// `PROT_READ`.
    pub const R: Prot = Prot {
        read: true,
        write: false,
        exec: false,
    };
    /// `PROT_NONE`.
    pub const NONE: Prot = Prot {
        read: false,
        write: false,
        exec: false,
    };
}

/// VMA flags that mremap cares about beyond backing and protection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct VmaFlags {
    /// `VM_LOCKED` (mlock / `MAP_LOCKED`).
    pub locked: bool,
    /// `VM_DONTEXPAND` (special mappings; implied by `hugetlb`).
    pub dontexpand: bool,
    /// `VM_PFNMAP` (raw PFN mappings of drivers).
    pub pfnmap: bool,
    /// `VM_HUGETLB` (huge pages of [`HUGE_PAGE_SIZE`]; carries `VM_DONTEXPAND`).
    pub hugetlb: bool,
    /// `mseal()`ed.
    pub sealed: bool,
    /// Registered with a userfaultfd (MISSING and/or MINOR), without EVENT_REMAP.
    pub uffd: bool,
    /// Private writable and not NORESERVE (charged on expansion / DONTUNMAP).
    ///
    /// [`AddressSpace::mmap`] derives this itself like `accountable_mapping()`
    /// (private, writable, not `noreserve`, not hugetlb); `mprotect` sets it
    /// when a private VMA first becomes writable, and nothing clears it.
    pub account: bool,
    /// `MAP_NORESERVE` (only used to derive `account`).
    pub noreserve: bool,
}

impl VmaFlags {
    /// `VM_SPECIAL` for merging purposes: such VMAs never merge.
    pub fn is_special(self) -> bool {
        self.dontexpand || self.pfnmap || self.hugetlb
    }
}

/// One VMA of the model.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Vma {
    /// First byte (page-aligned).
    pub start: u64,
    /// One past the last byte (page-aligned).
    pub end: u64,
    /// What the VMA maps.
    pub backing: Backing,
    /// Protection.
    pub prot: Prot,
    /// Other flags.
    pub flags: VmaFlags,
    /// Page offset (for anonymous VMAs: as the kernel keeps it, see spec (b)).
    pub pgoff: u64,
    /// anon_vma identity (None = never faulted); merge decisions use it.
    pub anon: Option<u64>,
}

impl Vma {
    /// Length in bytes.
    pub fn len(&self) -> u64 {
        self.end - self.start
    }

    /// Whether the VMA is empty (never true for a VMA in an [`AddressSpace`]).
    pub fn is_empty(&self) -> bool {
        self.end == self.start
    }

    /// Whether `addr` lies inside the VMA.
    pub fn contains(&self, addr: u64) -> bool {
        self.start <= addr && addr < self.end
    }

    /// The page offset of the page holding `addr` (`linear_page_index`).
    pub fn pgoff_at(&self, addr: u64) -> u64 {
        self.pgoff + (addr - self.start) / PAGE_SIZE
    }
}

/// Entries relocated by a page-table move, per level, as `move_page_tables` picks extents.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MoveCost {
    /// Individual PTEs moved (present entries only).
    pub ptes: u64,
    /// Whole PMD entries moved (a PTE table, or a hugetlb/THP leaf).
    pub pmds: u64,
    /// Whole PUD entries moved (a PMD table).
    pub puds: u64,
}

impl MoveCost {
    fn add(&mut self, other: MoveCost) {
        self.ptes += other.ptes;
        self.pmds += other.pmds;
        self.puds += other.puds;
    }
}

/// A rejected request: the kernel's errno and the rule that produced it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{rule}")]
pub struct ModelError {
    /// The errno the kernel returns.
    pub errno: Errno,
    /// The rule that rejected the request.
    pub rule: Rule,
}

impl From<Rule> for ModelError {
    fn from(rule: Rule) -> Self {
        ModelError {
            errno: rule.errno(),
            rule,
        }
    }
}

/// A successful mremap: the returned address and the page-table move cost.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MremapOutcome {
    /// What the syscall returns.
    pub new_addr: u64,
    /// Page-table entries relocated (summed over every VMA moved).
    pub cost: MoveCost,
}

/// Which kernel behaviours the model reproduces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KernelModel {
    /// 6.17+: `FIXED` with `old_len == new_len` may span several VMAs (spec e).
    pub multi_vma_move: bool,
    /// Whether flag bits 8/16 (`MREMAP_[MUST_]RELOCATE_ANON`) are accepted.
    /// False on 6.18 (EINVAL); true models the 2025 proposal (spec g).
    pub relocate_anon_accepted: bool,
    /// 5.13+: DONTUNMAP on any VMA without DONTEXPAND/PFNMAP (else private anon only).
    pub dontunmap_shared: bool,
}

impl Default for KernelModel {
    /// This machine: Linux 6.18.
    fn default() -> Self {
        KernelModel {
            multi_vma_move: true,
            relocate_anon_accepted: false,
            dontunmap_shared: true,
        }
    }
}

/// Limits and switches of a modelled address space.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ModelConfig {
    /// Track populated pages for the move cost. False is the engine's cheap
    /// mode: every page of a moved range counts as populated and the cost is
    /// computed arithmetically, in time independent of the range's size.
    /// Page values written through [`AddressSpace::write_page`] are kept in
    /// both modes.
    pub track_pages: bool,
    /// `TASK_SIZE` (x86-64, 4-level paging: `0x7fff_ffff_f000`).
    pub task_size: u64,
    /// `vm.max_map_count`.
    pub max_map_count: u64,
    /// Effective `vm.mmap_min_addr`: set 0 for a process with CAP_SYS_RAWIO
    /// (root), which may map below it.
    pub mmap_min_addr: u64,
    /// `RLIMIT_MEMLOCK` in bytes (`u64::MAX`: unlimited or CAP_IPC_LOCK).
    pub memlock_limit: u64,
    /// Which kernel behaviours to model.
    pub kernel: KernelModel,
}

impl Default for ModelConfig {
    /// 6.18 x86-64 defaults.
    fn default() -> Self {
        ModelConfig {
            track_pages: true,
            task_size: 0x7fff_ffff_f000,
            max_map_count: 65530,
            mmap_min_addr: 65536,
            memlock_limit: u64::MAX,
            kernel: KernelModel::default(),
        }
    }
}

/// Where the destination of a move comes from when the kernel chooses it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum DestChoice {
    /// The model's deterministic choice (see the module docs).
    #[default]
    Model,
    /// The address the real kernel returned: used where the kernel chooses,
    /// ignored where the destination is determined by the request.
    Kernel(u64),
}

/// The modelled address space.
#[derive(Clone, Debug)]
pub struct AddressSpace {
    config: ModelConfig,
    vmas: VmaTree,
    pages: PageTable,
    /// Next anon_vma identity to hand out.
    next_anon: u64,
}

impl AddressSpace {
    /// An empty address space.
    pub fn new(config: ModelConfig) -> Self {
        AddressSpace {
            config,
            vmas: VmaTree::default(),
            pages: PageTable::new(config.track_pages),
            next_anon: 1,
        }
    }

    /// The configuration this space was built with.
    pub fn config(&self) -> &ModelConfig {
        &self.config
    }

    /// Validate without changing anything: the kernel's errno and rule, in
    /// the kernel's order, or Ok with the outcome it would produce. Errors
    /// the kernel reports after partial effects are reported the same way
    /// (the effects are not applied here).
    pub fn check(&self, req: &MremapRequest) -> Result<MremapOutcome, ModelError> {
        self.check_with_dest(req, DestChoice::Model)
    }

    /// [`check`](Self::check) with the destination the kernel chose (see
    /// [`mremap_with_dest`](Self::mremap_with_dest)).
    pub fn check_with_dest(
        &self,
        req: &MremapRequest,
        dest: DestChoice,
    ) -> Result<MremapOutcome, ModelError> {
        self.clone().mremap_with_dest(req, dest)
    }

    /// Apply mremap (validation + effects). On errors that the kernel
    /// reports after partial effects (FIXED target unmapped, FIXED shrink
    /// done, multi-VMA partial moves) those partial effects are applied too.
    pub fn mremap(&mut self, req: &MremapRequest) -> Result<MremapOutcome, ModelError> {
        self.mremap_with_dest(req, DestChoice::Model)
    }

    /// Apply mremap, taking the destination from `dest` where the kernel
    /// chooses it. With [`DestChoice::Kernel`] an address that the kernel
    /// could not legally have chosen (not free, unaligned, outside
    /// `[mmap_min_addr, task_size)`) gives [`Rule::KernelChoiceInvalid`]
    /// (EEXIST, an errno mremap never returns) and changes nothing further.
    pub fn mremap_with_dest(
        &mut self,
        req: &MremapRequest,
        dest: DestChoice,
    ) -> Result<MremapOutcome, ModelError> {
        self.do_mremap(req, dest)
    }

    /// The VMAs in address order.
    pub fn vmas(&self) -> impl Iterator<Item = &Vma> {
        self.vmas.iter()
    }

    /// The VMA containing `addr`.
    pub fn vma_at(&self, addr: u64) -> Option<&Vma> {
        self.vmas.find(addr)
    }

    /// `mm->map_count`.
    pub fn map_count(&self) -> usize {
        self.vmas.len()
    }

    /// `mm->locked_vm` in bytes, as the sum of the VM_LOCKED VMAs.
    pub fn locked_bytes(&self) -> u64 {
        self.vmas
            .iter()
            .filter(|v| v.flags.locked)
            .map(Vma::len)
            .sum()
    }

    /// Hand out a fresh anon_vma identity.
    fn new_anon_identity(&mut self) -> u64 {
        let id = self.next_anon;
        self.next_anon += 1;
        id
    }
}

/// Round `len` up to a multiple of `align` (a power of two), wrapping to 0
/// on overflow exactly like the kernel's `ALIGN()` on `unsigned long`.
pub(crate) fn align_up_wrapping(len: u64, align: u64) -> u64 {
    len.wrapping_add(align - 1) & !(align - 1)
}
