//! The real kernel as a [`MemoryOps`]: the scenario's span is a hole punched
//! into a test-owned sandbox reservation far below the mmap area, so no
//! other thread's mapping can land in it, and every fixed address a scenario
//! names lies inside it.

use std::collections::HashMap;
use std::os::fd::{AsFd, OwnedFd};

use mremap_shim::model::{Backing, MremapRequest, Prot, PUD_SIZE};
use mremap_shim::sys::{self, MapFlags, ProtFlags};
use nix::errno::Errno;

use super::MemoryOps;
use crate::common::uffd::Uffd;
use crate::common::{maps_in, peek, poke, Sandbox, P};

/// The kernel, confined to one scenario's span.
pub struct KernelOps {
    sandbox: Sandbox,
    /// One memfd per shared or file backing id, grown to cover every
    /// mapping of it.
    files: HashMap<u64, OwnedFd>,
    /// The userfaultfd ranges are registered with (opened on first use);
    /// it must outlive the registrations.
    uffd: Option<Uffd>,
    /// Mappings the kernel placed outside the hole (mremap to an address of
    /// its choosing), unmapped on drop.
    outside: Vec<(usize, usize)>,
}

impl Drop for KernelOps {
    fn drop(&mut self) {
        for &(addr, len) in &self.outside {
            let _ = sys::munmap(addr, len);
        }
    }
}

impl KernelOps {
    /// A PUD-aligned hole of `span` bytes.
    pub fn new(span: u64) -> KernelOps {
        let len = usize::try_from(span).expect("span fits usize");
        let sandbox = Sandbox::new(len, PUD_SIZE as usize);
        // The hole: from here on, only the scenario maps in this range.
        sys::munmap(sandbox.base, sandbox.len).expect("punch the scenario's hole");
        KernelOps {
            sandbox,
            files: HashMap::new(),
            uffd: None,
            outside: Vec::new(),
        }
    }

    fn file(&mut self, id: u64, len: u64) -> Result<&OwnedFd, Errno> {
        let fd = match self.files.entry(id) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(v) => {
                v.insert(sys::create_memfd(&format!("scenario-{id}"), len).map_err(|e| e.errno)?)
            }
        };
        let size = nix::sys::stat::fstat(fd.as_fd())?.st_size as u64;
        if size < len {
            nix::unistd::ftruncate(fd.as_fd(), len as i64)?;
        }
        Ok(fd)
    }
}

fn prot_flags(prot: Prot) -> ProtFlags {
    let mut f = ProtFlags::PROT_NONE;
    if prot.read {
        f |= ProtFlags::PROT_READ;
    }
    if prot.write {
        f |= ProtFlags::PROT_WRITE;
    }
    if prot.exec {
        f |= ProtFlags::PROT_EXEC;
    }
    f
}

impl MemoryOps for KernelOps {
    fn base(&self) -> u64 {
        self.sandbox.base as u64
    }

    fn mmap(&mut self, addr: u64, len: u64, prot: Prot, backing: Backing) -> Result<u64, Errno> {
        let (a, l, p) = (addr as usize, len as usize, prot_flags(prot));
        let got = match backing {
            Backing::PrivateAnon => {
                sys::mmap_anon(a, l, p, MapFlags::MAP_PRIVATE | MapFlags::MAP_FIXED)
            }
            Backing::SharedAnon { object: id } | Backing::SharedFile { file: id } => {
                let fd = self.file(id, len)?;
                sys::mmap_fd(
                    a,
                    l,
                    p,
                    MapFlags::MAP_SHARED | MapFlags::MAP_FIXED,
                    fd.as_fd(),
                    0,
                )
            }
            Backing::PrivateFile { file } => {
                let fd = self.file(file, len)?;
                sys::mmap_fd(
                    a,
                    l,
                    p,
                    MapFlags::MAP_PRIVATE | MapFlags::MAP_FIXED,
                    fd.as_fd(),
                    0,
                )
            }
        };
        got.map(|a| a as u64).map_err(|e| e.errno)
    }

    fn munmap(&mut self, addr: u64, len: u64) -> Result<(), Errno> {
        sys::munmap(addr as usize, len as usize).map_err(|e| e.errno)
    }

    fn mprotect(&mut self, addr: u64, len: u64, prot: Prot) -> Result<(), Errno> {
        sys::mprotect(addr as usize, len as usize, prot_flags(prot)).map_err(|e| e.errno)
    }

    fn uffd_register(&mut self, addr: u64, len: u64) -> Result<(), Errno> {
        if self.uffd.is_none() {
            self.uffd = Some(Uffd::open()?);
        }
        let uffd = self.uffd.as_ref().expect("opened above");
        uffd.register(addr as usize, len as usize)
    }

    fn mremap(&mut self, req: &MremapRequest) -> Result<u64, Errno> {
        sys::mremap(
            req.addr as usize,
            req.old_len as usize,
            req.new_len as usize,
            req.flags as usize,
            req.new_addr as usize,
        )
        .map(|a| {
            if !(self.sandbox.base..self.sandbox.end()).contains(&a) {
                self.outside.push((a, req.new_len as usize));
            }
            a as u64
        })
        .map_err(|e| e.errno)
    }

    fn write(&mut self, addr: u64, value: u64) -> Result<(), Errno> {
        let a = addr as usize;
        match maps_in(a, a + P).first() {
            Some(m) if m.perms.write => {
                poke(a, value);
                Ok(())
            }
            // A store would raise SIGSEGV: the model answers EFAULT.
            _ => Err(Errno::EFAULT),
        }
    }

    /// Never called by the scenarios on a missing page of a registered
    /// range: nothing serves this userfaultfd, so such a read would block.
    fn read(&mut self, addr: u64) -> Option<u64> {
        let a = addr as usize;
        let readable = maps_in(a, a + P)
            .first()
            .is_some_and(|m| m.perms.read || m.perms.write || m.perms.exec);
        readable.then(|| peek(a))
    }

    fn layout(&self, start: u64, end: u64) -> Vec<(u64, u64)> {
        maps_in(start as usize, end as usize)
            .into_iter()
            .map(|m| (m.start, m.end))
            .collect()
    }
}
