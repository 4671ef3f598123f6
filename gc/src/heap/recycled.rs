//! Recycled from-space pages in the moving space's free area, and the
//! zeroing they owe allocation.
//!
//! A cycle that flipped part of the moving space (a young cycle, or one
//! with a dense prefix) moves from-space pages above the compacted top back
//! at their own offsets instead of giving them to the kernel and faulting
//! fresh ones in (see [`crate::compact::recycle`]). Those pages hold
//! garbage, while allocation relies on free moving-space memory reading
//! zero (`init_object` writes only the header and the slots; raw bytes,
//! TLAB tails and plugged page ends are left as they are). So the range is
//! recorded here, and every claim from the shared bump pointer zeroes its
//! overlap with it (`Recycled::zero_claim`) before anything is allocated
//! there: each byte is zeroed once, by the one thread that claimed it, as
//! the kernel would have done at the page's first fault (but in user space,
//! without the page allocation, memcg charge and later free).
//!
//! The range is set while no claim can reach it (the world stopped, or the
//! top fenced: `MovingSpace::fence_top`) and published by the
//! store that lifts the fence or ends the pause; a claim that gets bytes of
//! the range read the range after its claim, so it sees it. It is cleared
//! when the next compaction resets the top.

use std::sync::atomic::{AtomicUsize, Ordering};

/// The recycled range `[lo, hi)` of the moving space still owed zeroing by
/// whoever claims it (empty when `lo >= hi`).
#[derive(Debug, Default)]
pub struct Recycled {
    lo: AtomicUsize,
    hi: AtomicUsize,
}

impl Recycled {
    /// No recycled range.
    pub const fn new() -> Recycled {
        Recycled {
            lo: AtomicUsize::new(0),
            hi: AtomicUsize::new(0),
        }
    }

    /// The range `(lo, hi)` (empty when `lo >= hi`).
    pub fn range(&self) -> (usize, usize) {
        (
            self.lo.load(Ordering::Acquire),
            self.hi.load(Ordering::Acquire),
        )
    }

    /// Records `[lo, hi)` as recycled. Called while no claim can reach the
    /// range (see the module docs).
    pub(crate) fn set(&self, lo: usize, hi: usize) {
        self.lo.store(lo, Ordering::Release);
        self.hi.store(hi, Ordering::Release);
    }

    /// Forgets the range (a compaction reset the top: nothing above it is
    /// recycled any more).
    pub(crate) fn clear(&self) {
        self.set(0, 0);
    }

    /// Zeroes the part of the claimed range `[start, end)` that lies in the
    /// recycled range; returns the bytes zeroed.
    ///
    /// # Safety
    /// `[start, end)` was just claimed from the moving space's bump pointer
    /// by the caller, for the caller alone, and nothing was allocated in it
    /// yet.
    #[inline]
    pub(crate) unsafe fn zero_claim(&self, start: usize, end: usize) -> usize {
        let (lo, hi) = self.range();
        let (from, to) = (start.max(lo), end.min(hi));
        if from >= to {
            return 0;
        }
        // SAFETY: `[from, to)` lies in the caller's fresh claim (its promise)
        // and in the recycled range, which is mapped RW moving-space memory
        // (moved back from from-space); no one else reads or writes it.
        unsafe { std::ptr::write_bytes(from as *mut u8, 0, to - from) };
        to - from
    }
}
