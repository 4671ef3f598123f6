//! A read-only view of a runtime's heap: its configuration, layout and
//! counters, for tests, benchmarks and telemetry. Nothing here allocates,
//! writes or reaches the collector's internals.

use gc::{Heap, HeapConfig};

/// A read-only view of a runtime's heap ([`crate::Runtime::heap`]).
#[derive(Clone, Copy)]
pub struct HeapView<'a> {
    heap: &'a Heap,
}

impl<'a> HeapView<'a> {
    pub(crate) fn new(heap: &'a Heap) -> HeapView<'a> {
        HeapView { heap }
    }

    /// The heap's configuration (limit, thresholds, threads).
    pub fn config(&self) -> &'a HeapConfig {
        self.heap.config()
    }

    /// Bytes allocated in both spaces (allocation buffers count as used).
    pub fn used_bytes(&self) -> usize {
        self.heap.used_bytes()
    }

    /// The collection trigger: bytes in use at which the next cycle starts
    /// (or, during a cycle, the next pacing threshold).
    pub fn trigger(&self) -> usize {
        self.heap.alloc_threshold()
    }

    /// The moving space: `(base, top)`; `[base, top)` is allocated.
    pub fn moving_range(&self) -> (usize, usize) {
        (self.heap.moving().base(), self.heap.moving().top())
    }

    /// The address-space reservation holding every region: `(start, len)`.
    pub fn reservation(&self) -> (usize, usize) {
        let r = self.heap.reservation();
        (r.addr(), r.len())
    }

    /// Bytes of each of the reservation's four regions.
    pub fn space_bytes(&self) -> usize {
        self.heap.space_bytes()
    }

    /// Where the moving space's pages go during a compaction (from-space).
    pub fn from_space_base(&self) -> usize {
        self.heap.from_base()
    }

    /// Where the non-moving space's second view goes (uffd modes).
    pub fn non_moving_view_base(&self) -> usize {
        self.heap.non_moving_view_base()
    }

    /// Whether `addr` lies in the moving or the non-moving space.
    pub fn contains(&self, addr: usize) -> bool {
        self.heap.contains(addr)
    }

    /// Whether `addr` lies in the non-moving space (large and pinned
    /// objects).
    pub fn in_non_moving(&self, addr: usize) -> bool {
        self.heap.non_moving().contains(addr)
    }

    /// To-space pages compactions kept in place as the dense prefix, all
    /// cycles.
    pub fn dense_pages_total(&self) -> u64 {
        self.heap.dense_pages_total()
    }

    /// Whether the card of `addr` (an address in the moving or non-moving
    /// space) is dirty: a store into a slot there dirtied it since a
    /// collection last cleaned it.
    pub fn card_dirty(&self, addr: usize) -> bool {
        self.heap.contains(addr) && self.heap.cards().is_dirty(addr)
    }

    /// Bytes of the moving space's old generation (generational
    /// collection; 0 when it is empty or off).
    pub fn old_generation_bytes(&self) -> usize {
        self.heap.generations().old_end() - self.heap.moving().base()
    }

    /// Whether the object at `addr` is in the old generation: below the
    /// old end in the moving space, or a non-moving object that survived a
    /// cycle (generational collection; `false` outside the heap).
    pub fn is_old(&self, addr: usize) -> bool {
        let (moving, nm) = (self.heap.moving(), self.heap.non_moving());
        if moving.contains(addr) {
            addr < self.heap.generations().old_end()
        } else {
            nm.contains(addr) && !nm.is_young(addr)
        }
    }

    /// Dirty cards of the moving and non-moving spaces.
    pub fn dirty_cards(&self) -> usize {
        let (m, nm) = (self.heap.moving(), self.heap.non_moving());
        let cards = self.heap.cards();
        cards.count_dirty(m.base(), m.base() + m.capacity())
            + cards.count_dirty(nm.base(), nm.base() + nm.capacity())
    }

    /// The dense-prefix threshold in effect.
    pub fn dense_prefix_threshold(&self) -> f64 {
        self.heap.dense_prefix_threshold()
    }
}

impl std::fmt::Debug for HeapView<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HeapView")
            .field("used_bytes", &self.used_bytes())
            .field("trigger", &self.trigger())
            .field("config", self.config())
            .finish()
    }
}
