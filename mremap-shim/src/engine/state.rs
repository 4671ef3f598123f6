//! The engine's locked state: the region table (live reservations) and the
//! model of every mapping the engine made, plus the step that every
//! mremap goes through (validate on a copy of the model, issue the system
//! call, commit the copy).

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::model::{
    AddressSpace, Backing, DestChoice, ModelConfig, MremapOutcome, MremapRequest, Prot, Rule,
    VmaFlags, PAGE_SIZE,
};
use crate::sys::{self, MapsEntry, SysOp};

use super::error::EngineError;
use super::features::KernelFeatures;
use super::memo::TransitionMemo;

/// What the engine's mutex guards.
pub(crate) struct State {
    /// Every mapping the engine made, in cheap mode (`track_pages = false`):
    /// O(VMAs) per call whatever the sizes. Shared with the memo's
    /// remembered states; mutate through [`State::model_mut`].
    pub(crate) model: Arc<AddressSpace>,
    /// Validated mremap transitions (steady-state flips skip the model run).
    memo: TransitionMemo,
    /// Live reservations: start -> length.
    reservations: BTreeMap<usize, usize>,
}

/// Read a `/proc/sys/vm` integer, if readable.
fn vm_sysctl(name: &str) -> Option<u64> {
    std::fs::read_to_string(format!("/proc/sys/vm/{name}"))
        .ok()?
        .trim()
        .parse()
        .ok()
}

impl State {
    /// An empty table and a model of this kernel.
    pub(crate) fn new(features: &KernelFeatures) -> Self {
        let defaults = ModelConfig::default();
        let config = ModelConfig {
            track_pages: false,
            max_map_count: vm_sysctl("max_map_count").unwrap_or(defaults.max_map_count),
            mmap_min_addr: vm_sysctl("mmap_min_addr").unwrap_or(defaults.mmap_min_addr),
            kernel: features.kernel_model(),
            ..defaults
        };
        State {
            model: Arc::new(AddressSpace::new(config)),
            memo: TransitionMemo::default(),
            reservations: BTreeMap::new(),
        }
    }

    /// The model, for mutation (copied first if the memo shares it).
    pub(crate) fn model_mut(&mut self) -> &mut AddressSpace {
        Arc::make_mut(&mut self.model)
    }

    /// Record a reservation.
    pub(crate) fn add_reservation(&mut self, addr: usize, len: usize) {
        self.reservations.insert(addr, len);
    }

    /// Forget a reservation; false if it was not live.
    pub(crate) fn remove_reservation(&mut self, addr: usize) -> bool {
        self.reservations.remove(&addr).is_some()
    }

    /// Whether `(addr, len)` is exactly a live reservation.
    pub(crate) fn is_live(&self, addr: usize, len: usize) -> bool {
        self.reservations.get(&addr) == Some(&len)
    }

    /// The live reservation holding all of `[addr, addr + len)`.
    pub(crate) fn reservation_holding(&self, addr: usize, len: usize) -> Option<(usize, usize)> {
        let (&start, &rlen) = self.reservations.range(..=addr).next_back()?;
        let end = addr.checked_add(len)?;
        (end <= start + rlen).then_some((start, rlen))
    }

    /// Validate `op`'s range: page-aligned, non-empty, inside the live
    /// reservation `(res_addr, res_len)` (or any live reservation if None).
    pub(crate) fn check_range(
        &self,
        op: SysOp,
        res: Option<(usize, usize)>,
        addr: usize,
        len: usize,
    ) -> Result<(), EngineError> {
        let page = crate::units::PAGE_SIZE;
        if !addr.is_multiple_of(page) || !len.is_multiple_of(page) {
            return Err(EngineError::rejected(op, Rule::RangeUnaligned.into()));
        }
        if len == 0 {
            return Err(EngineError::rejected(op, Rule::RangeZeroLength.into()));
        }
        let outside = EngineError::OutsideReservation { addr, len };
        let inside = match res {
            Some((ra, rl)) => {
                self.is_live(ra, rl)
                    && addr >= ra
                    && addr.checked_add(len).is_some_and(|end| end <= ra + rl)
            }
            None => self.reservation_holding(addr, len).is_some(),
        };
        if inside {
            Ok(())
        } else {
            Err(outside)
        }
    }

    /// mmap `[addr, addr + len)` (MAP_FIXED) in the model first, then with
    /// `syscall`; the model is committed only if the kernel agreed.
    pub(crate) fn map_fixed(
        &mut self,
        addr: usize,
        len: usize,
        prot: Prot,
        backing: Backing,
        syscall: impl FnOnce() -> Result<usize, sys::SysError>,
    ) -> Result<(), EngineError> {
        let mut next = (*self.model).clone();
        let flags = VmaFlags {
            noreserve: !backing.is_shared(),
            ..VmaFlags::default()
        };
        next.mmap(addr as u64, len as u64, prot, backing, flags, 0)
            .map_err(|e| EngineError::rejected(SysOp::Mmap, e))?;
        match syscall() {
            Ok(_) => {
                self.model = Arc::new(next);
                Ok(())
            }
            Err(e) => {
                self.resync(addr, len);
                Err(e.into())
            }
        }
    }

    /// One mremap: validated on a copy of the model (no system call if the
    /// model refuses), issued, and the copy committed with the kernel's
    /// returned address. On a kernel failure the model is resynchronised
    /// over `resync` ranges from `/proc/self/maps`.
    pub(crate) fn remap(
        &mut self,
        req: MremapRequest,
        resync: &[(usize, usize)],
    ) -> Result<MremapOutcome, EngineError> {
        let (predicted, next) = match self.memo.lookup(&self.model, &req) {
            Some(hit) => hit,
            None => {
                let mut next = (*self.model).clone();
                let predicted = next
                    .mremap(&req)
                    .map_err(|e| EngineError::rejected(SysOp::Mremap, e))?;
                let next = Arc::new(next);
                self.memo
                    .insert(req, Arc::clone(&self.model), predicted, Arc::clone(&next));
                (predicted, next)
            }
        };
        let ret = sys::mremap(
            req.addr as usize,
            req.old_len as usize,
            req.new_len as usize,
            req.flags as usize,
            req.new_addr as usize,
        );
        match ret {
            Ok(addr) if addr as u64 == predicted.new_addr => {
                self.model = next;
                Ok(predicted)
            }
            Ok(addr) => {
                // The kernel chose another destination (only possible
                // without FIXED): replay with its choice.
                let outcome = self
                    .model_mut()
                    .mremap_with_dest(&req, DestChoice::Kernel(addr as u64))
                    .map_err(|e| EngineError::rejected(SysOp::Mremap, e))?;
                Ok(outcome)
            }
            Err(e) => {
                for &(a, l) in resync {
                    self.resync(a, l);
                }
                Err(e.into())
            }
        }
    }

    /// Rebuild the model of `[addr, addr + len)` from `/proc/self/maps`
    /// after the kernel and the model disagreed. Anon identities are lost
    /// (fresh VMAs), which only makes the model more conservative.
    pub(crate) fn resync(&mut self, addr: usize, len: usize) {
        let Ok(maps) = sys::read_maps() else {
            return;
        };
        let (start, end) = (addr as u64, (addr + len) as u64);
        // An error here means the range was invalid to begin with.
        let model = self.model_mut();
        let _ = model.munmap(start, end - start);
        for m in maps.iter().filter(|m| m.end > start && m.start < end) {
            let (s, e) = (m.start.max(start), m.end.min(end));
            let (backing, prot) = model_view(m);
            let pgoff = (m.offset + (s - m.start)) / PAGE_SIZE;
            let flags = VmaFlags {
                noreserve: !backing.is_shared(),
                ..VmaFlags::default()
            };
            let _ = model.mmap(s, e - s, prot, backing, flags, pgoff);
        }
    }
}

/// The model's view of a maps line: backing and protection.
pub(crate) fn model_view(m: &MapsEntry) -> (Backing, Prot) {
    let backing = match (m.perms.shared, m.inode) {
        (true, _) if m.path.starts_with("/dev/zero") => Backing::SharedAnon { object: m.inode },
        (true, inode) => Backing::SharedFile { file: inode },
        (false, 0) => Backing::PrivateAnon,
        (false, inode) => Backing::PrivateFile { file: inode },
    };
    let prot = Prot {
        read: m.perms.read,
        write: m.perms.write,
        exec: m.perms.exec,
    };
    (backing, prot)
}
