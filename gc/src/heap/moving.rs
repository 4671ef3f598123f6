//! The moving space: private anonymous memory with bump allocation and
//! per-mutator allocation buffers (TLABs).
//!
//! The space is `[base, base + capacity)`; `[base, top)` is allocated and
//! walkable (TLAB tails are plugged with filler objects when a buffer is
//! retired). Compaction slides every live object towards `base`, so after a
//! cycle `top` is `base + live bytes`.
//!
//! The end of a concurrent cycle may *fence* the bump pointer for the one
//! page-table move that recycles from-space pages above it
//! (`MovingSpace::fence_top`): claims wait (spinning, they hold nothing)
//! until `MovingSpace::unfence_top`, so no mutator owns a byte of the
//! range the move replaces.

use std::sync::atomic::{AtomicUsize, Ordering};

use super::prefault::Prefault;
use super::recycled::Recycled;
use crate::object::{init_filler, OBJECT_ALIGN_WORDS, WORD};

/// Bump-pointer state of the moving space.
pub struct MovingSpace {
    base: usize,
    capacity: usize,
    /// The bump pointer, with [`FENCE`] set while a recycling move runs.
    top: AtomicUsize,
    prefault: Prefault,
    recycled: Recycled,
}

/// The bit of `top` that fences claims (no address of the space has it:
/// user-space addresses lie below 2^57).
const FENCE: usize = 1 << 63;

impl MovingSpace {
    /// A space over `[base, base + capacity)`, empty.
    pub fn new(base: usize, capacity: usize) -> MovingSpace {
        MovingSpace {
            base,
            capacity,
            top: AtomicUsize::new(base),
            prefault: Prefault::probe(base),
            recycled: Recycled::new(),
        }
    }

    /// First address of the space.
    pub fn base(&self) -> usize {
        self.base
    }

    /// Bytes the space can hold.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// One past the last allocated byte.
    pub fn top(&self) -> usize {
        self.top.load(Ordering::Acquire) & !FENCE
    }

    /// The pre-fault frontier (see [`super::prefault`]).
    pub fn prefault(&self) -> &Prefault {
        &self.prefault
    }

    /// The recycled range owed zeroing (see [`super::recycled`]).
    pub fn recycled(&self) -> &Recycled {
        &self.recycled
    }

    /// Bytes allocated (including TLAB space not yet used).
    pub fn used(&self) -> usize {
        self.top() - self.base
    }

    /// Whether `addr` lies in the space's capacity.
    #[inline(always)]
    pub fn contains(&self, addr: usize) -> bool {
        addr.wrapping_sub(self.base) < self.capacity
    }

    /// Claims `bytes` (a multiple of 16) from the shared bump pointer if
    /// `allow(new_used)` accepts the space's use after the claim. The
    /// claimer must fill the range with objects (or fillers) before the
    /// heap is next walked. Bytes of the claim in the recycled range are
    /// zeroed before it returns. Waits while the top is fenced.
    pub(crate) fn claim(&self, bytes: usize, allow: impl Fn(usize) -> bool) -> Option<usize> {
        debug_assert!(bytes.is_multiple_of(OBJECT_ALIGN_WORDS * WORD));
        let mut top = self.top.load(Ordering::Relaxed);
        loop {
            if top & FENCE != 0 {
                // One page-table move (see `fence_top`); no lock is held.
                std::hint::spin_loop();
                std::thread::yield_now();
                top = self.top.load(Ordering::Relaxed);
                continue;
            }
            let new_top = top.checked_add(bytes)?;
            if new_top > self.base + self.capacity || !allow(new_top - self.base) {
                return None;
            }
            match self
                .top
                .compare_exchange_weak(top, new_top, Ordering::AcqRel, Ordering::Relaxed)
            {
                Ok(_) => {
                    // SAFETY: `[top, new_top)` was just claimed, for this
                    // caller alone, and nothing is allocated in it yet.
                    unsafe { self.recycled.zero_claim(top, new_top) };
                    return Some(top);
                }
                Err(t) => top = t,
            }
        }
    }

    /// Fences the bump pointer: claims wait until
    /// [`MovingSpace::unfence_top`]. Returns the top, above which no byte
    /// is claimed until then. Only the collector fences, one fence at a
    /// time, outside pauses (a pause's world is stopped anyway).
    pub(crate) fn fence_top(&self) -> usize {
        let prev = self.top.fetch_or(FENCE, Ordering::AcqRel);
        debug_assert_eq!(prev & FENCE, 0, "the top is fenced twice");
        prev & !FENCE
    }

    /// Lifts the fence [`MovingSpace::fence_top`] set; what the fencer
    /// stored before (the recycled range) is published with it.
    pub(crate) fn unfence_top(&self) {
        self.top.fetch_and(!FENCE, Ordering::AcqRel);
    }

    /// Sets the bump pointer after a compaction.
    ///
    /// # Safety
    /// The world is stopped, and `[base, top)` holds exactly the compacted
    /// objects (anything above is free): objects above `top` are lost, and
    /// a `top` inside an object breaks the heap walk.
    #[doc(hidden)]
    pub unsafe fn reset_top(&self, top: usize) {
        debug_assert!(self.contains(top) || top == self.base + self.capacity);
        self.top.store(top, Ordering::Release);
        self.prefault.reset(top);
        self.recycled.clear();
    }
}

/// A thread-local allocation buffer: `[cursor, end)` of the moving space.
#[derive(Debug, Default)]
pub struct Tlab {
    cursor: usize,
    end: usize,
}

impl Tlab {
    /// An empty buffer (the first allocation refills it).
    pub const fn empty() -> Tlab {
        Tlab { cursor: 0, end: 0 }
    }

    /// Bump-allocates `bytes` from the buffer.
    #[inline(always)]
    pub fn bump(&mut self, bytes: usize) -> Option<usize> {
        let next = self.cursor.checked_add(bytes)?;
        if next <= self.end {
            let addr = self.cursor;
            self.cursor = next;
            Some(addr)
        } else {
            None
        }
    }

    /// Installs a fresh buffer `[start, end)`.
    ///
    /// # Safety
    /// `[start, end)` is moving-space memory claimed for this buffer alone
    /// (16-byte aligned, mapped and writable): allocation writes headers
    /// there, and [`Tlab::retire`] a filler.
    pub unsafe fn refill(&mut self, start: usize, end: usize) {
        self.cursor = start;
        self.end = end;
    }

    /// Plugs the unused tail with a filler object and empties the buffer, so
    /// that the moving space stays walkable.
    ///
    /// # Safety
    /// The buffer is empty or was installed by [`Tlab::refill`] and its
    /// range is still this buffer's (no collection reclaimed it since).
    pub unsafe fn retire(&mut self) {
        if self.end > self.cursor {
            let words = (self.end - self.cursor) / WORD;
            // SAFETY: [cursor, end) is unused space of this buffer, owned by
            // this thread (the caller's promise); tails are multiples of 16
            // bytes (object alignment).
            unsafe { init_filler(self.cursor, words) };
        }
        *self = Tlab::empty();
    }

    /// Forgets the buffer without touching memory (after a compaction moved
    /// everything; the old range is no longer this thread's).
    pub fn discard(&mut self) {
        *self = Tlab::empty();
    }
}
