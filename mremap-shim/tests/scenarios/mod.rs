//! The kernel's mremap selftests (`tools/testing/selftests/mm/mremap_test.c`
//! and `mremap_dontunmap.c`), re-expressed as data: each [`Scenario`] is a
//! list of [`Step`]s with expected outcomes, and [`run`] plays them against
//! anything implementing [`MemoryOps`]: [`ModelOps`] over the model,
//! [`kernel::KernelOps`] over the real kernel inside a sandbox hole, so both
//! sides run the very same scenarios (`tests/selftest_scenarios.rs`).
//!
//! Addresses are [`Loc`]s: relative to the sandbox base (which must be
//! PUD-aligned and span [`Scenario::span`] bytes, all free), absolute, or
//! relative to the address an earlier mremap returned (for destinations the
//! kernel chooses, which are never compared directly).

#![allow(dead_code)]

pub mod kernel;

use nix::errno::Errno;

use mremap_shim::model::{
    AddressSpace, Backing, MremapRequest, Prot, VmaFlags, MREMAP_DONTUNMAP, MREMAP_FIXED,
    MREMAP_MAYMOVE, PAGE_SIZE, PMD_SIZE,
};

const P: u64 = PAGE_SIZE;
const MB: u64 = 1 << 20;

/// What a scenario needs from an address space (model or kernel).
pub trait MemoryOps {
    /// Start of the sandbox (PUD-aligned, free, at least [`Scenario::span`] long).
    fn base(&self) -> u64;
    /// `mmap(addr, len, prot, MAP_FIXED | backing, ...)`. Shared backings
    /// with the same id map the same object (the kernel side creates one
    /// memfd/shmem object per id).
    fn mmap(&mut self, addr: u64, len: u64, prot: Prot, backing: Backing) -> Result<u64, Errno>;
    /// `munmap`.
    fn munmap(&mut self, addr: u64, len: u64) -> Result<(), Errno>;
    /// `mprotect`.
    fn mprotect(&mut self, addr: u64, len: u64, prot: Prot) -> Result<(), Errno>;
    /// Register `[addr, addr+len)` with a userfaultfd (MISSING mode, no EVENT_REMAP).
    fn uffd_register(&mut self, addr: u64, len: u64) -> Result<(), Errno>;
    /// `mremap` with the raw five arguments.
    fn mremap(&mut self, req: &MremapRequest) -> Result<u64, Errno>;
    /// Store `value` in the first u64 of the page at `addr`.
    fn write(&mut self, addr: u64, value: u64) -> Result<(), Errno>;
    /// The first u64 of the page at `addr`; None if unmapped.
    fn read(&mut self, addr: u64) -> Option<u64>;
    /// VMAs intersecting `[start, end)`, clipped to it, in address order.
    fn layout(&self, start: u64, end: u64) -> Vec<(u64, u64)>;
}

/// An address in a scenario.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Loc {
    /// `base + offset`.
    Base(u64),
    /// An absolute address (used for invalid or ignored arguments).
    Abs(u64),
    /// `offset` past the address returned by the `n`-th successful mremap.
    Ret(usize, u64),
}

/// The expected outcome of an mremap step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expect {
    /// Success returning exactly this address.
    At(Loc),
    /// Success at an address the kernel chooses (recorded for [`Loc::Ret`]).
    Anywhere,
    /// Failure with this errno.
    Err(Errno),
}

/// Expected page contents.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Content {
    /// Every page reads 0 (mapped).
    Zero,
    /// Page `i` reads `seed + i`.
    Pattern(u64),
    /// Every page is unmapped.
    Unmapped,
}

/// One step of a scenario.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// Map `len` bytes at `at` (must succeed).
    Mmap {
        /// Where.
        at: Loc,
        /// Bytes.
        len: u64,
        /// Protection.
        prot: Prot,
        /// Backing.
        backing: Backing,
    },
    /// Unmap (must succeed).
    Munmap {
        /// Where.
        at: Loc,
        /// Bytes.
        len: u64,
    },
    /// Change protection (must succeed).
    Mprotect {
        /// Where.
        at: Loc,
        /// Bytes.
        len: u64,
        /// New protection.
        prot: Prot,
    },
    /// Register with userfaultfd (must succeed).
    UffdRegister {
        /// Where.
        at: Loc,
        /// Bytes.
        len: u64,
    },
    /// Write `seed + i` to page `i` of `pages` pages at `at`.
    Fill {
        /// Where.
        at: Loc,
        /// Pages.
        pages: u64,
        /// First value.
        seed: u64,
    },
    /// An mremap call and its expected outcome.
    Mremap {
        /// Source.
        addr: Loc,
        /// Old length.
        old_len: u64,
        /// New length.
        new_len: u64,
        /// Flags.
        flags: u64,
        /// Destination argument.
        new_addr: Loc,
        /// Outcome.
        expect: Expect,
    },
    /// Check `pages` pages at `at`.
    Check {
        /// Where.
        at: Loc,
        /// Pages.
        pages: u64,
        /// Expected contents.
        content: Content,
    },
    /// Check the VMAs in `[at, at+len)`, as (offset from `at`, length) pairs.
    Layout {
        /// Window start.
        at: Loc,
        /// Window length.
        len: u64,
        /// Expected VMAs, clipped to the window.
        vmas: Vec<(u64, u64)>,
    },
}

/// A named scenario.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scenario {
    /// Name (the selftest it comes from, and what it checks).
    pub name: &'static str,
    /// Sandbox bytes the scenario uses from the base.
    pub span: u64,
    /// Whether it needs a userfaultfd.
    pub needs_uffd: bool,
    /// The steps.
    pub steps: Vec<Step>,
}

/// A scenario step that did not go as expected.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("scenario {scenario}, step {step}: {what}")]
pub struct ScenarioFailure {
    /// The scenario's name.
    pub scenario: &'static str,
    /// Index of the failing step.
    pub step: usize,
    /// What differed.
    pub what: String,
}

/// Play `scenario` against `ops`, checking every expectation.
pub fn run(scenario: &Scenario, ops: &mut dyn MemoryOps) -> Result<(), ScenarioFailure> {
    let base = ops.base();
    let mut rets: Vec<u64> = Vec::new();
    for (i, step) in scenario.steps.iter().enumerate() {
        let fail = |what: String| ScenarioFailure {
            scenario: scenario.name,
            step: i,
            what,
        };
        let loc = |l: Loc, rets: &[u64]| -> Result<u64, ScenarioFailure> {
            match l {
                Loc::Base(off) => Ok(base + off),
                Loc::Abs(a) => Ok(a),
                Loc::Ret(n, off) => rets
                    .get(n)
                    .map(|r| r + off)
                    .ok_or_else(|| fail(format!("no mremap result #{n} yet"))),
            }
        };
        match step {
            Step::Mmap {
                at,
                len,
                prot,
                backing,
            } => {
                let a = loc(*at, &rets)?;
                ops.mmap(a, *len, *prot, *backing)
                    .map_err(|e| fail(format!("mmap failed: {e}")))?;
            }
            Step::Munmap { at, len } => {
                let a = loc(*at, &rets)?;
                ops.munmap(a, *len)
                    .map_err(|e| fail(format!("munmap failed: {e}")))?;
            }
            Step::Mprotect { at, len, prot } => {
                let a = loc(*at, &rets)?;
                ops.mprotect(a, *len, *prot)
                    .map_err(|e| fail(format!("mprotect failed: {e}")))?;
            }
            Step::UffdRegister { at, len } => {
                let a = loc(*at, &rets)?;
                ops.uffd_register(a, *len)
                    .map_err(|e| fail(format!("uffd register failed: {e}")))?;
            }
            Step::Fill { at, pages, seed } => {
                let a = loc(*at, &rets)?;
                for p in 0..*pages {
                    ops.write(a + p * P, seed + p)
                        .map_err(|e| fail(format!("write failed: {e}")))?;
                }
            }
            Step::Mremap {
                addr,
                old_len,
                new_len,
                flags,
                new_addr,
                expect,
            } => {
                let req = MremapRequest {
                    addr: loc(*addr, &rets)?,
                    old_len: *old_len,
                    new_len: *new_len,
                    flags: *flags,
                    new_addr: loc(*new_addr, &rets)?,
                };
                let got = ops.mremap(&req);
                match (*expect, got) {
                    (Expect::Err(want), Err(e)) if want == e => {}
                    (Expect::Anywhere, Ok(r)) => rets.push(r),
                    (Expect::At(l), Ok(r)) if loc(l, &rets)? == r => rets.push(r),
                    (want, got) => {
                        return Err(fail(format!(
                            "mremap {req:x?}: expected {want:?}, got {got:x?}"
                        )))
                    }
                }
            }
            Step::Check { at, pages, content } => {
                let a = loc(*at, &rets)?;
                for p in 0..*pages {
                    let want = match content {
                        Content::Zero => Some(0),
                        Content::Pattern(seed) => Some(seed + p),
                        Content::Unmapped => None,
                    };
                    let got = ops.read(a + p * P);
                    if got != want {
                        return Err(fail(format!(
                            "page {p} at {:#x}: expected {want:?}, got {got:?}",
                            a + p * P
                        )));
                    }
                }
            }
            Step::Layout { at, len, vmas } => {
                let a = loc(*at, &rets)?;
                let got: Vec<(u64, u64)> = ops
                    .layout(a, a + len)
                    .into_iter()
                    .map(|(s, e)| (s - a, e - s))
                    .collect();
                if &got != vmas {
                    return Err(fail(format!(
                        "layout at {a:#x}: expected {vmas:x?}, got {got:x?}"
                    )));
                }
            }
        }
    }
    Ok(())
}

/// The model as a [`MemoryOps`]: a default 6.18 [`AddressSpace`] with the
/// sandbox at 64 GiB.
#[derive(Clone, Debug)]
pub struct ModelOps {
    /// The modelled space.
    pub space: AddressSpace,
}

impl ModelOps {
    /// Sandbox base used by the model.
    pub const BASE: u64 = 64 << 30;

    /// Wrap `space`.
    pub fn new(space: AddressSpace) -> Self {
        ModelOps { space }
    }
}

impl MemoryOps for ModelOps {
    fn base(&self) -> u64 {
        Self::BASE
    }
    fn mmap(&mut self, addr: u64, len: u64, prot: Prot, backing: Backing) -> Result<u64, Errno> {
        self.space
            .mmap(addr, len, prot, backing, VmaFlags::default(), 0)
            .map_err(|e| e.errno)
    }
    fn munmap(&mut self, addr: u64, len: u64) -> Result<(), Errno> {
        self.space.munmap(addr, len).map_err(|e| e.errno)
    }
    fn mprotect(&mut self, addr: u64, len: u64, prot: Prot) -> Result<(), Errno> {
        self.space.mprotect(addr, len, prot).map_err(|e| e.errno)
    }
    fn uffd_register(&mut self, addr: u64, len: u64) -> Result<(), Errno> {
        self.space.set_uffd(addr, len, true).map_err(|e| e.errno)
    }
    fn mremap(&mut self, req: &MremapRequest) -> Result<u64, Errno> {
        self.space
            .mremap(req)
            .map(|o| o.new_addr)
            .map_err(|e| e.errno)
    }
    fn write(&mut self, addr: u64, value: u64) -> Result<(), Errno> {
        self.space.write_page(addr, value).map_err(|e| e.errno)
    }
    fn read(&mut self, addr: u64) -> Option<u64> {
        self.space.read_fault(addr)
    }
    fn layout(&self, start: u64, end: u64) -> Vec<(u64, u64)> {
        self.space
            .vmas()
            .filter(|v| v.end > start && v.start < end)
            .map(|v| (v.start.max(start), v.end.min(end)))
            .collect()
    }
}

fn mmap(at: u64, len: u64) -> Step {
    Step::Mmap {
        at: Loc::Base(at),
        len,
        prot: Prot::RW,
        backing: Backing::PrivateAnon,
    }
}

fn fill(at: Loc, pages: u64, seed: u64) -> Step {
    Step::Fill { at, pages, seed }
}

fn check(at: Loc, pages: u64, content: Content) -> Step {
    Step::Check { at, pages, content }
}

fn remap(addr: Loc, old_len: u64, new_len: u64, flags: u64, new_addr: Loc, expect: Expect) -> Step {
    Step::Mremap {
        addr,
        old_len,
        new_len,
        flags,
        new_addr,
        expect,
    }
}

fn layout(at: Loc, len: u64, vmas: &[(u64, u64)]) -> Step {
    Step::Layout {
        at,
        len,
        vmas: vmas.to_vec(),
    }
}

const MOVE: u64 = MREMAP_MAYMOVE;
const FIXED: u64 = MREMAP_MAYMOVE | MREMAP_FIXED;
const DONTUNMAP: u64 = MREMAP_MAYMOVE | MREMAP_DONTUNMAP;

/// The scenarios of `mremap_dontunmap.c`.
pub fn dontunmap_scenarios() -> Vec<Scenario> {
    let b = Loc::Base;
    let shmem = Backing::SharedAnon { object: 1 };
    vec![
        Scenario {
            name: "dontunmap_simple: source stays mapped and reads zero",
            span: 64 * MB,
            needs_uffd: false,
            steps: vec![
                mmap(0, 5 * P),
                fill(b(0), 5, 0x61),
                remap(b(0), 5 * P, 5 * P, DONTUNMAP, Loc::Abs(0), Expect::Anywhere),
                check(Loc::Ret(0, 0), 5, Content::Pattern(0x61)),
                check(b(0), 5, Content::Zero),
                layout(b(0), 5 * P, &[(0, 5 * P)]),
            ],
        },
        Scenario {
            name: "dontunmap_simple_shmem: shared source keeps showing its pages",
            span: 64 * MB,
            needs_uffd: false,
            steps: vec![
                Step::Mmap {
                    at: b(0),
                    len: 5 * P,
                    prot: Prot::RW,
                    backing: shmem,
                },
                fill(b(0), 5, 0x61),
                remap(b(0), 5 * P, 5 * P, DONTUNMAP, Loc::Abs(0), Expect::Anywhere),
                check(Loc::Ret(0, 0), 5, Content::Pattern(0x61)),
                check(b(0), 5, Content::Pattern(0x61)),
            ],
        },
        Scenario {
            name: "dontunmap_simple_fixed: destination clobbered, source zero",
            span: 64 * MB,
            needs_uffd: false,
            steps: vec![
                mmap(0, 5 * P),
                fill(b(0), 5, 0x78),
                mmap(16 * P, 5 * P),
                fill(b(16 * P), 5, 0x79),
                remap(
                    b(0),
                    5 * P,
                    5 * P,
                    DONTUNMAP | MREMAP_FIXED,
                    b(16 * P),
                    Expect::At(b(16 * P)),
                ),
                check(b(16 * P), 5, Content::Pattern(0x78)),
                check(b(0), 5, Content::Zero),
            ],
        },
        Scenario {
            name: "dontunmap_partial_mapping: source VMA not split",
            span: 64 * MB,
            needs_uffd: false,
            steps: vec![
                mmap(0, 10 * P),
                fill(b(0), 10, 0x61),
                remap(
                    b(5 * P),
                    5 * P,
                    5 * P,
                    DONTUNMAP,
                    Loc::Abs(0),
                    Expect::Anywhere,
                ),
                check(Loc::Ret(0, 0), 5, Content::Pattern(0x61 + 5)),
                check(b(0), 5, Content::Pattern(0x61)),
                check(b(5 * P), 5, Content::Zero),
                layout(b(0), 10 * P, &[(0, 10 * P)]),
            ],
        },
        Scenario {
            name: "dontunmap_partial_mapping_overwrite: rest of destination kept",
            span: 64 * MB,
            needs_uffd: false,
            steps: vec![
                mmap(0, 5 * P),
                fill(b(0), 5, 0x61),
                mmap(16 * P, 10 * P),
                fill(b(16 * P), 10, 0x100),
                remap(
                    b(0),
                    5 * P,
                    5 * P,
                    DONTUNMAP | MREMAP_FIXED,
                    b(16 * P),
                    Expect::At(b(16 * P)),
                ),
                check(b(16 * P), 5, Content::Pattern(0x61)),
                check(b(21 * P), 5, Content::Pattern(0x105)),
                check(b(0), 5, Content::Zero),
            ],
        },
        Scenario {
            name: "dontunmap_requires_equal_lengths",
            span: 64 * MB,
            needs_uffd: false,
            steps: vec![
                mmap(0, 5 * P),
                remap(
                    b(0),
                    5 * P,
                    6 * P,
                    DONTUNMAP,
                    Loc::Abs(0),
                    Expect::Err(Errno::EINVAL),
                ),
                remap(
                    b(0),
                    5 * P,
                    5 * P,
                    MREMAP_DONTUNMAP,
                    Loc::Abs(0),
                    Expect::Err(Errno::EINVAL),
                ),
            ],
        },
    ]
}

/// The scenarios of `mremap_test.c` (layout, merge, multi-VMA and
/// alignment cases; the perf cases are in the model's move-cost tests).
pub fn mremap_test_scenarios() -> Vec<Scenario> {
    let b = Loc::Base;
    let mut v = vec![
        Scenario {
            name: "mremap_expand_merge: in-place expansion merges with next",
            span: 64 * MB,
            needs_uffd: false,
            steps: vec![
                mmap(0, 3 * P),
                Step::Munmap { at: b(P), len: P },
                remap(b(0), P, 2 * P, 0, Loc::Abs(0), Expect::At(b(0))),
                layout(b(0), 3 * P, &[(0, 3 * P)]),
            ],
        },
        Scenario {
            name: "mremap_expand_merge_offset: expansion from an offset restores the VMA",
            span: 64 * MB,
            needs_uffd: false,
            steps: vec![
                mmap(0, 3 * P),
                Step::Munmap {
                    at: b(2 * P),
                    len: P,
                },
                remap(b(P), P, 2 * P, 0, Loc::Abs(0), Expect::At(b(P))),
                layout(b(0), 3 * P, &[(0, 3 * P)]),
            ],
        },
        Scenario {
            name: "mremap_move_within_range: unmoved part of the VMA intact",
            span: 64 * MB,
            needs_uffd: false,
            steps: vec![
                mmap(0, 20 * MB),
                fill(b(4 * MB), 512, 0x5000),
                remap(
                    b(5 * MB),
                    MB,
                    MB,
                    FIXED,
                    b(3 * MB),
                    Expect::At(b(3 * MB)),
                ),
                check(b(4 * MB), 256, Content::Pattern(0x5000)),
                check(b(3 * MB), 256, Content::Pattern(0x5000 + 256)),
                check(b(5 * MB), 256, Content::Unmapped),
            ],
        },
        Scenario {
            name: "mremap_move_1mb_from_start: realignment clobbers nothing",
            span: 64 * MB,
            needs_uffd: false,
            steps: vec![
                mmap(MB, MB),
                fill(b(MB), 256, 0x7000),
                mmap(8 * MB, 2 * MB),
                Step::Munmap {
                    at: b(8 * MB),
                    len: MB,
                },
                // A mapping in the aligned-down part of the destination PMD:
                // realignment must be refused rather than clobber it.
                mmap(8 * MB + P, P),
                fill(b(8 * MB + P), 1, 0x42),
                remap(b(MB), MB, MB, FIXED, b(9 * MB), Expect::At(b(9 * MB))),
                check(b(9 * MB), 256, Content::Pattern(0x7000)),
                check(b(8 * MB + P), 1, Content::Pattern(0x42)),
                check(b(MB), 256, Content::Unmapped),
            ],
        },
        Scenario {
            name: "mremap_shrink_multiple_vmas: in-place shrink unmaps across VMAs and gaps",
            span: 64 * MB,
            needs_uffd: false,
            steps: shrink_multiple_vmas(false),
        },
        Scenario {
            name: "mremap_shrink_multiple_vmas_fixed: shrinking move across VMAs and gaps",
            span: 64 * MB,
            needs_uffd: false,
            steps: shrink_multiple_vmas(true),
        },
        Scenario {
            name: "mremap_move_multiple_vmas: gaps preserved",
            span: 64 * MB,
            needs_uffd: false,
            steps: move_multiple_vmas(false),
        },
        Scenario {
            name: "mremap_move_multiple_vmas_dontunmap: gaps preserved, sources kept",
            span: 64 * MB,
            needs_uffd: false,
            steps: move_multiple_vmas(true),
        },
        Scenario {
            name: "mremap_move_multiple_vmas_split: partial first and last VMAs split",
            span: 64 * MB,
            needs_uffd: false,
            steps: vec![
                mmap(0, 10 * P),
                Step::Munmap {
                    at: b(5 * P),
                    len: P,
                },
                fill(b(0), 5, 0x10),
                fill(b(6 * P), 4, 0x16),
                remap(b(2 * P), 6 * P, 6 * P, FIXED, b(64 * P), Expect::At(b(64 * P))),
                check(b(64 * P), 3, Content::Pattern(0x12)),
                check(b(67 * P), 1, Content::Unmapped),
                check(b(68 * P), 2, Content::Pattern(0x16)),
                layout(b(0), 10 * P, &[(0, 2 * P), (8 * P, 2 * P)]),
                layout(b(64 * P), 6 * P, &[(0, 3 * P), (4 * P, 2 * P)]),
            ],
        },
        Scenario {
            name: "mremap_move_multi_invalid_vmas: uffd VMA after the first is EFAULT, partial",
            span: 64 * MB,
            needs_uffd: true,
            steps: vec![
                mmap(0, 2 * P),
                mmap(3 * P, 2 * P),
                mmap(6 * P, 2 * P),
                Step::UffdRegister {
                    at: b(3 * P),
                    len: 2 * P,
                },
                fill(b(0), 2, 0x30),
                remap(b(0), 8 * P, 8 * P, FIXED, b(64 * P), Expect::Err(Errno::EFAULT)),
                check(b(64 * P), 2, Content::Pattern(0x30)),
                check(b(0), 2, Content::Unmapped),
                layout(b(3 * P), 5 * P, &[(0, 2 * P), (3 * P, 2 * P)]),
            ],
        },
        Scenario {
            name: "mremap_move_multi_invalid_first: uffd first VMA spanning more is EFAULT, nothing moves",
            span: 64 * MB,
            needs_uffd: true,
            steps: vec![
                mmap(0, 2 * P),
                mmap(3 * P, 2 * P),
                Step::UffdRegister { at: b(0), len: 2 * P },
                remap(b(0), 3 * P, 3 * P, FIXED, b(64 * P), Expect::Err(Errno::EFAULT)),
                layout(b(0), 5 * P, &[(0, 2 * P), (3 * P, 2 * P)]),
                remap(b(0), 2 * P, 2 * P, FIXED, b(64 * P), Expect::At(b(64 * P))),
                layout(b(64 * P), 2 * P, &[(0, 2 * P)]),
            ],
        },
        Scenario {
            name: "mremap_errors: overlap, misaligned destination, misaligned source",
            span: 64 * MB,
            needs_uffd: false,
            steps: vec![
                mmap(0, 8 * P),
                remap(b(0), 4 * P, 4 * P, FIXED, b(2 * P), Expect::Err(Errno::EINVAL)),
                remap(b(0), 4 * P, 4 * P, FIXED, b(32 * P + 1024), Expect::Err(Errno::EINVAL)),
                remap(b(1024), 4 * P, 4 * P, FIXED, b(32 * P), Expect::Err(Errno::EINVAL)),
                layout(b(0), 8 * P, &[(0, 8 * P)]),
            ],
        },
    ];
    // The correctness half of the alignment matrix: contents survive moves
    // whatever the source/destination offsets within a PMD.
    for (i, &(src_off, dst_off)) in [(0, 0), (0, P), (P, 0), (P, P), (MB, MB)]
        .iter()
        .enumerate()
    {
        let len = 2 * PMD_SIZE;
        let src = 4 * PMD_SIZE + src_off;
        let dst = 16 * PMD_SIZE + dst_off;
        let seed = 0x1_0000 * (i as u64 + 1);
        v.push(Scenario {
            name: ALIGNMENT_NAMES[i],
            span: 64 * MB,
            needs_uffd: false,
            steps: vec![
                mmap(src, len),
                fill(b(src), len / P, seed),
                remap(b(src), len, len, FIXED, b(dst), Expect::At(b(dst))),
                check(b(dst), len / P, Content::Pattern(seed)),
                check(b(src), len / P, Content::Unmapped),
            ],
        });
    }
    v.push(Scenario {
        name: "mremap_expand_by_move: kernel-chosen destination keeps contents",
        span: 64 * MB,
        needs_uffd: false,
        steps: vec![
            mmap(0, 4 * P),
            mmap(4 * P, P),
            Step::Mprotect {
                at: b(4 * P),
                len: P,
                prot: Prot::R,
            },
            fill(b(0), 4, 0x900),
            remap(
                b(0),
                4 * P,
                8 * P,
                0,
                Loc::Abs(0),
                Expect::Err(Errno::ENOMEM),
            ),
            remap(b(0), 4 * P, 8 * P, MOVE, Loc::Abs(0), Expect::Anywhere),
            check(Loc::Ret(0, 0), 4, Content::Pattern(0x900)),
            check(Loc::Ret(0, 4 * P), 4, Content::Zero),
            check(b(0), 4, Content::Unmapped),
        ],
    });
    v
}

const ALIGNMENT_NAMES: [&str; 5] = [
    "move 4MB: source PMD-aligned, destination PMD-aligned",
    "move 4MB: source PMD-aligned, destination PTE-aligned",
    "move 4MB: source PTE-aligned, destination PMD-aligned",
    "move 4MB: source PTE-aligned, destination PTE-aligned (same offset)",
    "move 4MB: source and destination 1MB into a PMD",
];

fn shrink_multiple_vmas(fixed: bool) -> Vec<Step> {
    let b = Loc::Base;
    let mut steps = vec![mmap(0, 10 * P)];
    for i in (1..10).step_by(2) {
        steps.push(Step::Munmap {
            at: b(i * P),
            len: P,
        });
    }
    steps.push(fill(b(0), 1, 0x77));
    if fixed {
        steps.push(remap(
            b(0),
            10 * P,
            P,
            FIXED,
            b(64 * P),
            Expect::At(b(64 * P)),
        ));
        steps.push(check(b(64 * P), 1, Content::Pattern(0x77)));
        steps.push(check(b(65 * P), 9, Content::Unmapped));
        steps.push(check(b(0), 10, Content::Unmapped));
    } else {
        steps.push(remap(b(0), 10 * P, P, 0, Loc::Abs(0), Expect::At(b(0))));
        steps.push(check(b(0), 1, Content::Pattern(0x77)));
        steps.push(check(b(P), 9, Content::Unmapped));
    }
    steps
}

fn move_multiple_vmas(dontunmap: bool) -> Vec<Step> {
    let b = Loc::Base;
    let flags = if dontunmap { FIXED | DONTUNMAP } else { FIXED };
    let mut steps = vec![mmap(0, 11 * P)];
    for i in (1..10).step_by(2) {
        if i != 5 {
            steps.push(Step::Munmap {
                at: b(i * P),
                len: P,
            });
        }
    }
    for i in [0, 2, 4, 5, 6, 8, 10] {
        steps.push(fill(b(i * P), 1, 0x200 + i));
    }
    steps.push(remap(
        b(0),
        11 * P,
        11 * P,
        flags,
        b(64 * P),
        Expect::At(b(64 * P)),
    ));
    for i in 0..11 {
        let content = if [0, 2, 4, 5, 6, 8, 10].contains(&i) {
            Content::Pattern(0x200 + i)
        } else {
            Content::Unmapped
        };
        steps.push(check(b((64 + i) * P), 1, content));
        let src = match content {
            Content::Unmapped => Content::Unmapped,
            _ if dontunmap => Content::Zero,
            _ => Content::Unmapped,
        };
        steps.push(check(b(i * P), 1, src));
    }
    steps
}

/// Every scenario.
pub fn all() -> Vec<Scenario> {
    let mut v = dontunmap_scenarios();
    v.extend(mremap_test_scenarios());
    v
}
