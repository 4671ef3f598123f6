//! The regions the engine hands out: reservations of address space and
//! memfd-backed shared regions inside them.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::Weak;

use crate::sys;

use super::error::EngineError;
use super::Shared;

/// A PROT_NONE range of address space reserved by [`Engine::reserve`](super::Engine::reserve).
///
/// Every other engine call that takes a range checks it against a
/// reservation. Dropping a reservation unmaps it (errors are logged, never
/// raised); [`Engine::unreserve`](super::Engine::unreserve) does the same
/// and reports errors.
#[derive(Debug)]
pub struct Reservation {
    addr: usize,
    len: usize,
    pub(crate) owner: Weak<Shared>,
    /// False once unmapped (by `unreserve`), so Drop does nothing.
    pub(crate) live: bool,
}

impl Reservation {
    pub(crate) fn new(addr: usize, len: usize, owner: Weak<Shared>) -> Self {
        Reservation {
            addr,
            len,
            owner,
            live: true,
        }
    }

    /// First byte (aligned as requested).
    pub fn addr(&self) -> usize {
        self.addr
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the reservation is empty (never: `reserve` refuses 0).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// One past the last byte.
    pub fn end(&self) -> usize {
        self.addr + self.len
    }

    /// Whether `[addr, addr + len)` lies inside the reservation.
    pub fn contains(&self, addr: usize, len: usize) -> bool {
        addr >= self.addr && addr.checked_add(len).is_some_and(|end| end <= self.end())
    }

    /// Unmaps the whole reservation and drops it from its engine's table.
    /// Dropping the reservation does this too, but can only ignore a
    /// failure (the range then leaks); call this to see it.
    pub fn unmap(&mut self) -> Result<(), EngineError> {
        if !self.live {
            return Ok(());
        }
        self.live = false;
        match self.owner.upgrade() {
            Some(shared) => {
                let mut state = shared.state.lock();
                state.remove_reservation(self.addr);
                // The model's munmap can only fail on a malformed range.
                let _ = state.model_mut().munmap(self.addr as u64, self.len as u64);
                sys::munmap(self.addr, self.len)?;
            }
            // The engine is gone: nobody else tracks this range.
            None => sys::munmap(self.addr, self.len)?,
        }
        Ok(())
    }
}

impl Drop for Reservation {
    /// Unmaps the reservation. `munmap` of a range this reservation owns
    /// fails only on a malformed range, which `reserve` never makes; a
    /// failure leaks the range, silently (a library prints nothing: callers
    /// who want the error call [`Reservation::unmap`] first).
    fn drop(&mut self) {
        let _ = self.unmap();
    }
}

/// A memfd mapped `MAP_SHARED` inside a reservation by
/// [`Engine::map_memfd`](super::Engine::map_memfd). Owns the fd; dropping
/// it closes the fd, not the mapping (the reservation owns that).
#[derive(Debug)]
pub struct MemfdRegion {
    pub(crate) addr: usize,
    pub(crate) len: usize,
    pub(crate) fd: OwnedFd,
    pub(crate) file: u64,
}

impl MemfdRegion {
    /// Where the region was mapped.
    pub fn addr(&self) -> usize {
        self.addr
    }

    /// Length in bytes (also the memfd's size).
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the region is empty (never).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The memfd.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// The memfd's inode number (as `/proc/self/maps` shows it).
    pub fn file_id(&self) -> u64 {
        self.file
    }
}
