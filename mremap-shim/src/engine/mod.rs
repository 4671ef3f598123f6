//! The engine: what the GC uses to lay out and flip its heap.
//!
//! Every call is planned with the model (an [`AddressSpace`](crate::model::AddressSpace) of the
//! engine's own mappings, in cheap mode so a call costs O(VMAs) whatever
//! the sizes) and checked against the region table before any system call:
//! an invalid request returns [`EngineError::Rejected`] naming the kernel
//! rule and errno, and never reaches the kernel. Valid requests are issued
//! through [`crate::sys`]; the model is committed only when the kernel
//! agreed (and resynchronised from `/proc/self/maps` when it did not).
//!
//! The running kernel is probed once per process ([`KernelFeatures`]):
//! `MREMAP_RELOCATE_ANON` is passed only where accepted, multi-VMA moves
//! are emulated VMA by VMA where the kernel lacks them, and the mirror of a
//! shared region falls back to a second mmap of its memfd.
//!
//! Module map:
//! - [`error`] holds [`EngineError`].
//! - [`features`] holds [`KernelFeatures`], the probe, and [`probe_flips`]
//!   (the flip tried now, not cached).
//! - [`region`] holds [`Reservation`], [`MemfdRegion`].
//! - `state`: the locked region table + model, and the validate/issue/commit step.

pub mod error;
pub mod features;
mod memo;
pub mod region;
mod state;

use std::os::fd::AsFd;
use std::sync::Arc;

use parking_lot::Mutex;

use crate::model::{Backing, MoveCost, MremapRequest, Prot, Rule, Vma, MREMAP_RELOCATE_ANON};
use crate::model::{MREMAP_DONTUNMAP, MREMAP_FIXED, MREMAP_MAYMOVE};
use crate::sys::{self, Advice, MapFlags, ProtFlags, SysOp};
use crate::units::PAGE_SIZE;

pub use error::EngineError;
pub use features::{probe_flips, FlipProbe, KernelFeatures};
pub use region::{MemfdRegion, Reservation};

use state::State;

/// State shared between an [`Engine`] and its [`Reservation`]s.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) state: Mutex<State>,
}

impl std::fmt::Debug for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("State")
            .field("vmas", &self.model.map_count())
            .finish_non_exhaustive()
    }
}

/// What a flip did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FlipReport {
    /// The model's prediction of the page-table entries moved, assuming
    /// every page of the range is populated.
    pub cost: MoveCost,
}

/// The mremap engine. `Send + Sync`; every call takes one short lock.
#[derive(Debug)]
pub struct Engine {
    shared: Arc<Shared>,
    features: &'static KernelFeatures,
}

const RW: ProtFlags = ProtFlags::PROT_READ.union(ProtFlags::PROT_WRITE);

impl Engine {
    /// An engine with an empty region table; probes the kernel on first use
    /// in the process (cached).
    pub fn new() -> Result<Engine, EngineError> {
        let features = features::probe_once()?;
        Ok(Engine {
            shared: Arc::new(Shared {
                state: Mutex::new(State::new(features)),
            }),
            features,
        })
    }

    /// What the running kernel supports.
    pub fn features(&self) -> &KernelFeatures {
        self.features
    }

    /// Reserve `len` bytes (rounded up to pages) aligned to `align` (a
    /// power of two >= the page size) as PROT_NONE,
    /// `MAP_PRIVATE|MAP_ANONYMOUS|MAP_NORESERVE`: over-maps by `align` and
    /// trims both ends.
    pub fn reserve(&self, len: usize, align: usize) -> Result<Reservation, EngineError> {
        let bad = EngineError::BadReservation { len, align };
        if !align.is_power_of_two() || align < PAGE_SIZE || len == 0 {
            return Err(bad);
        }
        let len = len.checked_next_multiple_of(PAGE_SIZE).ok_or(bad.clone())?;
        let over = if align > PAGE_SIZE { align } else { 0 };
        let total = len.checked_add(over).ok_or(bad)?;
        let mut state = self.shared.state.lock();
        let base = sys::mmap_anon(
            0,
            total,
            ProtFlags::PROT_NONE,
            MapFlags::MAP_PRIVATE | MapFlags::MAP_NORESERVE,
        )?;
        let addr = base.next_multiple_of(align);
        let trim = |a: usize, l: usize| if l > 0 { sys::munmap(a, l) } else { Ok(()) };
        let trimmed =
            trim(base, addr - base).and_then(|()| trim(addr + len, base + total - (addr + len)));
        if let Err(e) = trimmed {
            // Undo what is left of the over-mapping (best effort).
            let _ = sys::munmap(base, total);
            return Err(e.into());
        }
        let flags = crate::model::VmaFlags {
            noreserve: true,
            ..Default::default()
        };
        state
            .model_mut()
            .mmap(
                addr as u64,
                len as u64,
                Prot::NONE,
                Backing::PrivateAnon,
                flags,
                0,
            )
            .map_err(|e| EngineError::rejected(SysOp::Mmap, e))?;
        state.add_reservation(addr, len);
        Ok(Reservation::new(addr, len, Arc::downgrade(&self.shared)))
    }

    /// Turn `[addr, addr + len)` inside `res` into private anonymous RW
    /// memory (`MAP_FIXED|MAP_NORESERVE`).
    pub fn map_anon(&self, res: &Reservation, addr: usize, len: usize) -> Result<(), EngineError> {
        let mut state = self.shared.state.lock();
        state.check_range(SysOp::Mmap, Some(self.owned(res)?), addr, len)?;
        state.map_fixed(addr, len, Prot::RW, Backing::PrivateAnon, || {
            if let Some(errno) = crate::inject::check(crate::inject::Site::Mmap) {
                return Err(sys::SysError::new(SysOp::Mmap, errno));
            }
            sys::mmap_anon(addr, len, RW, private_fixed())
        })
    }

    /// Create a memfd of `len` bytes named `name` and map it `MAP_SHARED` RW
    /// at `[addr, addr + len)` inside `res`.
    pub fn map_memfd(
        &self,
        res: &Reservation,
        addr: usize,
        len: usize,
        name: &str,
    ) -> Result<MemfdRegion, EngineError> {
        let mut state = self.shared.state.lock();
        state.check_range(SysOp::Mmap, Some(self.owned(res)?), addr, len)?;
        let fd = sys::create_memfd(name, len as u64)?;
        let file = sys::file_identity(fd.as_fd())?;
        state.map_fixed(addr, len, Prot::RW, Backing::SharedFile { file }, || {
            sys::mmap_fd(addr, len, RW, shared_fixed(), fd.as_fd(), 0)
        })?;
        Ok(MemfdRegion {
            addr,
            len,
            fd,
            file,
        })
    }

    /// The GC's flip: `mremap(from, len, len, MAYMOVE|FIXED|DONTUNMAP, to)`.
    /// `from` stays mapped and empty (private anon) or keeps showing the
    /// file (shared); `to` (inside a reservation) gets the pages.
    pub fn flip(&self, from: usize, to: usize, len: usize) -> Result<FlipReport, EngineError> {
        let mut state = self.shared.state.lock();
        state.check_range(SysOp::Mremap, None, to, len)?;
        let req = MremapRequest {
            addr: from as u64,
            old_len: len as u64,
            new_len: len as u64,
            flags: MREMAP_MAYMOVE | MREMAP_FIXED | MREMAP_DONTUNMAP | self.relocate_flag(),
            new_addr: to as u64,
        };
        let outcome = state.remap(req, &[(from, len), (to, len)])?;
        Ok(FlipReport { cost: outcome.cost })
    }

    /// A second view of `region` at `at` inside `res` (FIXED): the
    /// `old_len == 0` mirror where the kernel allows it, else a second mmap
    /// of the memfd. Writes through either view alias.
    pub fn mirror(
        &self,
        region: &MemfdRegion,
        res: &Reservation,
        at: usize,
    ) -> Result<(), EngineError> {
        let mut state = self.shared.state.lock();
        state.check_range(SysOp::Mremap, Some(self.owned(res)?), at, region.len)?;
        if self.features.mirror_shared {
            let req = MremapRequest {
                addr: region.addr as u64,
                old_len: 0,
                new_len: region.len as u64,
                flags: MREMAP_MAYMOVE | MREMAP_FIXED,
                new_addr: at as u64,
            };
            state.remap(req, &[(at, region.len)])?;
            Ok(())
        } else {
            let backing = Backing::SharedFile { file: region.file };
            state.map_fixed(at, region.len, Prot::RW, backing, || {
                sys::mmap_fd(at, region.len, RW, shared_fixed(), region.fd.as_fd(), 0)
            })
        }
    }

    /// Move `[from, from + len)`, which may span several VMAs (gaps are
    /// preserved), to `to` (inside a reservation): `MAYMOVE|FIXED`, same
    /// size. Native on 6.17+, emulated VMA by VMA otherwise. Refused for a
    /// uffd-registered VMA that is not alone in the range. A source inside
    /// a reservation goes back to it (PROT_NONE) rather than becoming a
    /// hole: the move uses DONTUNMAP and the kept source is then released.
    pub fn move_range(&self, from: usize, to: usize, len: usize) -> Result<(), EngineError> {
        if !self.features.multi_vma_move {
            return self.move_range_by_vma(from, to, len);
        }
        let mut state = self.shared.state.lock();
        state.check_range(SysOp::Mremap, None, to, len)?;
        let keep = self.keep_source(&state, from, len);
        let req = MremapRequest {
            addr: from as u64,
            old_len: len as u64,
            new_len: len as u64,
            flags: MREMAP_MAYMOVE | MREMAP_FIXED | keep | self.relocate_flag(),
            new_addr: to as u64,
        };
        state.remap(req, &[(from, len), (to, len)])?;
        self.rereserve_source(&mut state, keep, from, len)
    }

    /// DONTUNMAP when the source lies in a reservation (and the kernel can
    /// DONTUNMAP every kind of VMA the engine makes): a plain move would
    /// leave a hole in the reservation that another thread's mmap could
    /// take before the engine re-reserves it, and a later `MAP_FIXED` of
    /// the engine would then clobber that foreign mapping.
    fn keep_source(&self, state: &State, from: usize, len: usize) -> u64 {
        let f = self.features;
        if f.dontunmap_anon && f.dontunmap_shared && state.reservation_holding(from, len).is_some()
        {
            MREMAP_DONTUNMAP
        } else {
            0
        }
    }

    /// Give a DONTUNMAP-kept source back to its reservation (PROT_NONE).
    fn rereserve_source(
        &self,
        state: &mut State,
        keep: u64,
        from: usize,
        len: usize,
    ) -> Result<(), EngineError> {
        if keep == 0 {
            return Ok(());
        }
        state.map_fixed(from, len, Prot::NONE, Backing::PrivateAnon, || {
            sys::mmap_anon(from, len, ProtFlags::PROT_NONE, private_fixed())
        })
    }

    /// [`move_range`](Self::move_range) emulated with one single-VMA
    /// mremap per VMA, as on kernels before 6.17 (public so that it can be
    /// tested on any kernel). Every piece is validated before the first
    /// moves; a uffd-registered VMA among several is refused up front
    /// (the native path moves the VMAs before it first). A kernel failure
    /// part-way leaves the earlier pieces moved, like the native path.
    pub fn move_range_by_vma(&self, from: usize, to: usize, len: usize) -> Result<(), EngineError> {
        let mut state = self.shared.state.lock();
        state.check_range(SysOp::Mremap, None, to, len)?;
        let reject = |rule: Rule| EngineError::rejected(SysOp::Mremap, rule.into());
        if !from.is_multiple_of(PAGE_SIZE) {
            return Err(reject(Rule::AddrUnaligned));
        }
        let end = from.checked_add(len).ok_or(reject(Rule::RangePastVmaEnd))?;
        if from < to + len && to < end {
            return Err(reject(Rule::Overlap));
        }
        let pieces: Vec<Vma> = state
            .model
            .vmas()
            .filter(|v| v.end > from as u64 && v.start < end as u64)
            .cloned()
            .collect();
        let first = pieces.first().ok_or(reject(Rule::MultiNoVma))?;
        if first.start > from as u64 {
            return Err(reject(Rule::MultiGapAtStart));
        }
        if pieces.len() > 1 && pieces.iter().any(|v| v.flags.uffd) {
            return Err(reject(Rule::MultiIneligible));
        }
        let keep = self.keep_source(&state, from, len);
        let requests: Vec<MremapRequest> = pieces
            .iter()
            .map(|v| {
                let s = v.start.max(from as u64);
                let e = v.end.min(end as u64);
                MremapRequest {
                    addr: s,
                    old_len: e - s,
                    new_len: e - s,
                    flags: MREMAP_MAYMOVE | MREMAP_FIXED | keep | self.relocate_flag(),
                    new_addr: to as u64 + (s - from as u64),
                }
            })
            .collect();
        // Validate the whole sequence on a copy before the first syscall.
        let mut trial = (*state.model).clone();
        for req in &requests {
            trial
                .mremap(req)
                .map_err(|e| EngineError::rejected(SysOp::Mremap, e))?;
        }
        for req in requests {
            state.remap(req, &[(from, len), (to, len)])?;
        }
        self.rereserve_source(&mut state, keep, from, len)
    }

    /// `MADV_DONTNEED` over `[addr, addr + len)` (inside a reservation):
    /// drops the pages; private anonymous memory reads zero afterwards.
    pub fn discard(&self, addr: usize, len: usize) -> Result<(), EngineError> {
        let state = self.shared.state.lock();
        state.check_range(SysOp::Madvise, None, addr, len)?;
        // madvise fails with ENOMEM on unmapped holes.
        let covered: u64 = state
            .model
            .vmas()
            .filter(|v| v.end > addr as u64 && v.start < (addr + len) as u64)
            .map(|v| v.end.min((addr + len) as u64) - v.start.max(addr as u64))
            .sum();
        if covered != len as u64 {
            return Err(EngineError::rejected(
                SysOp::Madvise,
                Rule::UnmappedHole.into(),
            ));
        }
        sys::madvise(addr, len, Advice::MADV_DONTNEED)?;
        Ok(())
    }

    /// Give `[addr, addr + len)` back to `res`: PROT_NONE
    /// `MAP_FIXED|MAP_NORESERVE` over it, freeing its pages. The range
    /// merges back into the reservation's VMA.
    pub fn release(&self, res: &Reservation, addr: usize, len: usize) -> Result<(), EngineError> {
        let mut state = self.shared.state.lock();
        state.check_range(SysOp::Mmap, Some(self.owned(res)?), addr, len)?;
        state.map_fixed(addr, len, Prot::NONE, Backing::PrivateAnon, || {
            if let Some(errno) = crate::inject::check(crate::inject::Site::Release) {
                return Err(sys::SysError::new(SysOp::Mmap, errno));
            }
            sys::mmap_anon(addr, len, ProtFlags::PROT_NONE, private_fixed())
        })
    }

    /// Tell the model that `[addr, addr + len)` was registered (or
    /// unregistered) with userfaultfd; the caller does the ioctl. A range
    /// the model holds no VMA for is ignored (the kernel refuses such a
    /// registration too).
    pub fn note_uffd(&self, addr: usize, len: usize, registered: bool) {
        let mut state = self.shared.state.lock();
        let _ = state
            .model_mut()
            .set_uffd(addr as u64, len as u64, registered);
    }

    /// Unmap the whole reservation.
    pub fn unreserve(&self, mut res: Reservation) -> Result<(), EngineError> {
        self.owned(&res)?;
        res.unmap()
    }

    /// A snapshot of the engine's model of its mappings, in address order.
    pub fn model_vmas(&self) -> Vec<Vma> {
        self.shared.state.lock().model.vmas().cloned().collect()
    }

    /// `(addr, len)` of `res` if it is a live reservation of this engine.
    fn owned(&self, res: &Reservation) -> Result<(usize, usize), EngineError> {
        if res.live && std::ptr::eq(res.owner.as_ptr(), Arc::as_ptr(&self.shared)) {
            Ok((res.addr(), res.len()))
        } else {
            Err(EngineError::OutsideReservation {
                addr: res.addr(),
                len: res.len(),
            })
        }
    }

    fn relocate_flag(&self) -> u64 {
        if self.features.relocate_anon {
            MREMAP_RELOCATE_ANON
        } else {
            0
        }
    }
}

fn private_fixed() -> MapFlags {
    MapFlags::MAP_PRIVATE | MapFlags::MAP_FIXED | MapFlags::MAP_NORESERVE
}

fn shared_fixed() -> MapFlags {
    MapFlags::MAP_SHARED | MapFlags::MAP_FIXED
}
