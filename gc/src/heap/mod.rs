//! The heap: its address-space layout, its two spaces and allocation.
//!
//! One reservation holds four regions at a stride of the space rounded up
//! to an alignment unit plus one unit of gap (see [`Layout`]): every region
//! starts at the same offset modulo that unit, so a flip moves whole page-
//! table entries, and no two regions are adjacent, so their VMAs never
//! merge. The unit is a PUD (1 GiB) for spaces of a PUD or more and a PMD
//! (2 MiB) below (no PUD entry fits such a region anyway), so a small heap
//! reserves little address space (an 8 MiB heap 42 MiB, not 9 GiB):
//!
//! ```text
//! R + 0*S  moving space      private anonymous, RW, `space` bytes
//! R + 1*S  from-space        PROT_NONE except during a compaction
//! R + 2*S  non-moving space  memfd, MAP_SHARED, RW
//! R + 3*S  second view       of the memfd (used by the uffd modes)
//! ```

pub mod moving;
pub mod non_moving;
pub mod prefault;
pub mod recycled;

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use mremap_shim::engine::{Engine, EngineError, MemfdRegion, Reservation};

use crate::error::HeapError;
use crate::mark::MarkBitmaps;
use crate::object::{init_object, size_in_words, Header, ObjRef, FLAG_NON_MOVING, FLAG_WEAK, WORD};
use crate::remembered::CardTable;
use crate::units::{PAGE_SIZE, PMD_SIZE, PUD_SIZE};
pub use moving::{MovingSpace, Tlab};
pub use non_moving::NonMovingSpace;

/// How a heap is sized and tuned.
#[derive(Clone, Debug)]
pub struct HeapConfig {
    /// Upper bound on allocated bytes (moving + non-moving).
    pub heap_limit: usize,
    /// Objects of at least this many bytes go to the non-moving space.
    pub large_object_threshold: usize,
    /// Bytes per thread-local allocation buffer.
    pub tlab_bytes: usize,
    /// Threads that drain the mark stack (work stealing when more than one).
    pub mark_threads: usize,
    /// Live ratio (live bytes / page size, from the live-words bitmap) at or
    /// above which the moving space's leading pages form the *dense
    /// prefix*: its objects keep their addresses, only their references are
    /// updated (dead objects become fillers), and sliding starts behind it.
    /// 1.0 or more disables the prefix; must be above 0. Off by default
    /// (see [`DEFAULT_DENSE_PREFIX_THRESHOLD`]). Adjustable later with
    /// [`Heap::set_dense_prefix_threshold`].
    pub dense_prefix_threshold: f64,
}

impl Default for HeapConfig {
    fn default() -> Self {
        HeapConfig {
            heap_limit: 256 << 20,
            large_object_threshold: 32 << 10,
            tlab_bytes: 32 << 10,
            mark_threads: 1,
            dense_prefix_threshold: DEFAULT_DENSE_PREFIX_THRESHOLD,
        }
    }
}

/// The default [`HeapConfig::dense_prefix_threshold`]: off. With the
/// prefix on, a collection no longer leaves exactly the live bytes in use
/// (the prefix keeps its dead objects as fillers), which the runtime's tests
/// assert. [`RECOMMENDED_DENSE_PREFIX_THRESHOLD`] is the measured choice for
/// turning it on.
pub const DEFAULT_DENSE_PREFIX_THRESHOLD: f64 = 1.0;

/// The threshold `compactbench --dense-prefix off,0.95,0.9,0.75` found
/// fastest (`benches/results/dense-prefix-2026-11-30.md`): a higher one
/// keeps almost no pages once a few percent of the heap is dead (one page
/// under the threshold ends the prefix), while this one keeps the lower
/// heap in place at the cost of its dead objects as fillers.
pub const RECOMMENDED_DENSE_PREFIX_THRESHOLD: f64 = 0.75;

/// Checks a dense-prefix threshold: above 0 (a page with no live word must
/// never join the prefix, so that every gap between its live objects is
/// shorter than two pages and fits one filler), not NaN.
fn check_dense_prefix_threshold(t: f64) -> Result<(), HeapError> {
    if t > 0.0 {
        Ok(())
    } else {
        Err(HeapError::Config(format!(
            "dense-prefix threshold {t} must be above 0 (1.0 or more disables the prefix)"
        )))
    }
}

/// What an allocation asks for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AllocRequest {
    /// Embedder type tag.
    pub tag: u16,
    /// Reference slots (initialised to nil).
    pub slots: u32,
    /// Raw bytes after the slots (zeroed).
    pub bytes: usize,
    /// Never move this object (it goes to the non-moving space).
    pub pinned: bool,
    /// Every slot is weak.
    pub weak: bool,
}

/// The collector's heap.
pub struct Heap {
    engine: Engine,
    reservation: Reservation,
    config: HeapConfig,
    space_bytes: usize,
    moving: MovingSpace,
    from_base: usize,
    non_moving: NonMovingSpace,
    nm_region: MemfdRegion,
    nm_view_base: usize,
    marks: MarkBitmaps,
    cards: CardTable,
    generations: crate::generations::Generations,
    /// Bytes in use at which allocation reports a full heap (see
    /// [`Heap::set_alloc_threshold`]).
    alloc_threshold: AtomicUsize,
    allocating_black: AtomicBool,
    satb_active: AtomicBool,
    /// `f64` bits of the dense-prefix threshold.
    dense_prefix_threshold: AtomicU64,
    /// To-space pages the dense prefix kept in place, all cycles.
    dense_pages: AtomicU64,
}

/// Where a heap's four regions go in its reservation, sized from the heap
/// limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout {
    /// Bytes of each region: the heap limit rounded up to a PMD.
    pub space_bytes: usize,
    /// Alignment of the reservation and of every region: a PUD for spaces
    /// of at least a PUD, so that a flip moves whole PUD entries; a PMD
    /// below, where no PUD entry fits a region.
    pub align: usize,
    /// From one region's start to the next: the space rounded up to the
    /// alignment, plus one alignment unit of gap.
    pub stride: usize,
}

impl Layout {
    /// The layout of a heap limited to `heap_limit` bytes.
    pub fn for_limit(heap_limit: usize) -> Layout {
        let space_bytes = heap_limit.next_multiple_of(PMD_SIZE);
        let align = if space_bytes >= PUD_SIZE {
            PUD_SIZE
        } else {
            PMD_SIZE
        };
        Layout {
            space_bytes,
            align,
            stride: space_bytes.next_multiple_of(align) + align,
        }
    }

    /// Bytes of the reservation: four strides.
    pub fn reserved_bytes(&self) -> usize {
        4 * self.stride
    }

    /// Bytes of address space a heap of this layout maps when it is
    /// created: the reservation, over-mapped by one alignment unit while it
    /// is aligned, the side bitmaps covering the spaces and the card table
    /// (each cycle's forwarding tables come on top).
    pub fn address_space_bytes(&self) -> usize {
        let bitmap =
            crate::table::mapped_len(crate::mark::bitmap::Bitmap::table_bytes(self.space_bytes));
        let cards =
            crate::table::mapped_len((3 * self.stride).div_ceil(crate::remembered::CARD_BYTES));
        self.reserved_bytes()
            + self.align
            + (MarkBitmaps::COUNT + NonMovingSpace::BITMAPS + 1) * bitmap
            + crate::table::mapped_len(NonMovingSpace::covering_table_bytes(self.space_bytes))
            + cards
    }
}

impl Heap {
    /// Reserves and maps a heap for `config`.
    pub fn new(config: HeapConfig) -> Result<Heap, HeapError> {
        if config.heap_limit < PAGE_SIZE || config.heap_limit > (1usize << 40) {
            return Err(HeapError::Config(format!(
                "heap limit {} is outside [4 KiB, 1 TiB]",
                config.heap_limit
            )));
        }
        if config.tlab_bytes < 256 || !config.tlab_bytes.is_multiple_of(16) {
            return Err(HeapError::Config(format!(
                "TLAB size {} must be a multiple of 16 and at least 256",
                config.tlab_bytes
            )));
        }
        check_dense_prefix_threshold(config.dense_prefix_threshold)?;
        let engine = Engine::new()?;
        let layout = Layout::for_limit(config.heap_limit);
        let (space_bytes, stride) = (layout.space_bytes, layout.stride);
        let no_room = |what: &'static str| {
            let limit = config.heap_limit;
            move |source: EngineError| HeapError::AddressSpace {
                what,
                limit,
                needed: layout.address_space_bytes(),
                source,
            }
        };
        let reservation = engine
            .reserve(layout.reserved_bytes(), layout.align)
            .map_err(no_room("the reservation of the heap's four regions"))?;
        let base = reservation.addr();
        let (moving_base, from_base, nm_base, nm_view_base) =
            (base, base + stride, base + 2 * stride, base + 3 * stride);
        engine.map_anon(&reservation, moving_base, space_bytes)?;
        let nm_region = engine.map_memfd(&reservation, nm_base, space_bytes, "gc-non-moving")?;
        let side_tables = "the side bitmaps";
        let marks = MarkBitmaps::new(moving_base, nm_base, space_bytes)
            .map_err(|e| no_room(side_tables)(e.into()))?;
        let non_moving = NonMovingSpace::new(nm_base, space_bytes)
            .map_err(|e| no_room(side_tables)(e.into()))?;
        // Moving space, from-space and non-moving space: one table, so the
        // barrier needs no branch on the space.
        let cards = CardTable::try_new(base, 3 * stride)
            .map_err(|e| no_room("the card table")(e.into()))?;
        let generations = crate::generations::Generations::new(moving_base, space_bytes)
            .map_err(|e| no_room(side_tables)(e.into()))?;
        Ok(Heap {
            cards,
            generations,
            alloc_threshold: AtomicUsize::new(config.heap_limit),
            allocating_black: AtomicBool::new(false),
            satb_active: AtomicBool::new(false),
            dense_prefix_threshold: AtomicU64::new(config.dense_prefix_threshold.to_bits()),
            dense_pages: AtomicU64::new(0),
            marks,
            moving: MovingSpace::new(moving_base, space_bytes),
            non_moving,
            engine,
            reservation,
            config,
            space_bytes,
            from_base,
            nm_region,
            nm_view_base,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &HeapConfig {
        &self.config
    }

    /// The mremap engine that owns the heap's address space.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The reservation holding every region.
    pub fn reservation(&self) -> &Reservation {
        &self.reservation
    }

    /// The moving space.
    pub fn moving(&self) -> &MovingSpace {
        &self.moving
    }

    /// The non-moving space.
    pub fn non_moving(&self) -> &NonMovingSpace {
        &self.non_moving
    }

    /// The memfd region behind the non-moving space.
    pub fn non_moving_region(&self) -> &MemfdRegion {
        &self.nm_region
    }

    /// Where the second view of the non-moving memfd goes.
    pub fn non_moving_view_base(&self) -> usize {
        self.nm_view_base
    }

    /// Where the moving space's pages go during a compaction.
    pub fn from_base(&self) -> usize {
        self.from_base
    }

    /// Bytes of each region.
    pub fn space_bytes(&self) -> usize {
        self.space_bytes
    }

    /// The mark bitmaps.
    pub fn marks(&self) -> &MarkBitmaps {
        &self.marks
    }

    /// The card table over the moving, from- and non-moving spaces.
    pub fn cards(&self) -> &CardTable {
        &self.cards
    }

    /// The generations of the moving space.
    pub fn generations(&self) -> &crate::generations::Generations {
        &self.generations
    }

    /// Bytes allocated in both spaces (TLABs count as allocated).
    pub fn used_bytes(&self) -> usize {
        self.moving.used() + self.non_moving.used()
    }

    /// Whether the object at `addr` is marked in the current cycle. In a
    /// young cycle, every old moving object counts as marked (marking
    /// neither traces nor marks them, and they survive it).
    pub fn is_marked(&self, addr: usize) -> bool {
        if self.moving.contains(addr) {
            addr < self.generations.young_floor() || self.marks.moving.test(addr)
        } else {
            self.non_moving.contains(addr) && self.marks.non_moving.test(addr)
        }
    }

    /// Whether `addr` is inside either space.
    pub fn contains(&self, addr: usize) -> bool {
        self.moving.contains(addr) || self.non_moving.contains(addr)
    }

    fn within_limit(&self, moving_used: usize, nm_used: usize) -> bool {
        moving_used + nm_used <= self.alloc_threshold.load(Ordering::Relaxed)
    }

    /// Allocation reports a full heap (`Ok(None)`) once this many bytes
    /// are in use; clamped to the heap limit (its initial value). The
    /// heap only enforces it: its embedder's policy sets it (a collection
    /// trigger, a pacing threshold).
    pub fn set_alloc_threshold(&self, bytes: usize) {
        self.alloc_threshold
            .store(bytes.min(self.config.heap_limit), Ordering::Relaxed);
    }

    /// The bytes in use at which allocation reports a full heap.
    pub fn alloc_threshold(&self) -> usize {
        self.alloc_threshold.load(Ordering::Relaxed)
    }

    /// The dense-prefix threshold the next plan uses (see
    /// [`HeapConfig::dense_prefix_threshold`]).
    pub fn dense_prefix_threshold(&self) -> f64 {
        f64::from_bits(self.dense_prefix_threshold.load(Ordering::Relaxed))
    }

    /// Changes the dense-prefix threshold from the next plan on; `Err` for a
    /// threshold not above 0 (1.0 or more disables the prefix).
    pub fn set_dense_prefix_threshold(&self, threshold: f64) -> Result<(), HeapError> {
        check_dense_prefix_threshold(threshold)?;
        self.dense_prefix_threshold
            .store(threshold.to_bits(), Ordering::Relaxed);
        Ok(())
    }

    /// To-space pages that compactions kept in place as the dense prefix
    /// (references updated, nothing slid), summed over all cycles.
    pub fn dense_pages_total(&self) -> u64 {
        self.dense_pages.load(Ordering::Relaxed)
    }

    /// Accounts a compaction's dense prefix.
    pub(crate) fn note_dense_pages(&self, pages: usize) {
        self.dense_pages.fetch_add(pages as u64, Ordering::Relaxed);
    }

    /// While on (from the start of a concurrent marking to the flip), every
    /// new object is born marked, so the cycle keeps it.
    pub fn set_allocating_black(&self, on: bool) {
        self.allocating_black.store(on, Ordering::SeqCst);
    }

    /// While on (a concurrent marking runs), mutators must record the old
    /// value of every reference slot they overwrite, and every weak slot
    /// value they read, in their SATB buffers.
    pub fn set_satb_active(&self, on: bool) {
        self.satb_active.store(on, Ordering::SeqCst);
    }

    /// Whether the SATB write barrier is on.
    #[inline(always)]
    pub fn is_satb_active(&self) -> bool {
        self.satb_active.load(Ordering::Relaxed)
    }

    /// Whether new objects are born marked.
    #[inline(always)]
    pub fn is_allocating_black(&self) -> bool {
        self.allocating_black.load(Ordering::Relaxed)
    }

    /// Allocates an object without collecting: `Ok(None)` means the heap is
    /// full (the caller collects and retries, or reports out of memory).
    ///
    /// The common case, a small movable object that fits the thread's
    /// buffer, is inline (a size the caller knows at compile time folds
    /// into constants: a bump, a compare and the header stores, plus a
    /// cold call marking the object while marking allocates black);
    /// everything else (a refill, large or pinned objects, sizes that do
    /// not fit) is out of line.
    ///
    /// # Safety
    /// 1. `tlab` is the calling thread's buffer of this heap: empty, or
    ///    installed by this heap and not reclaimed by a collection since.
    /// 2. No collection runs concurrently with the call (the caller is a
    ///    running mutator), and the result is used as [`ObjRef::from_addr`]
    ///    requires: only until the next collection may move the object.
    #[inline(always)]
    pub unsafe fn alloc(
        &self,
        tlab: &mut Tlab,
        req: &AllocRequest,
    ) -> Result<Option<ObjRef>, HeapError> {
        if let Some(words) = size_in_words(req.slots, req.bytes) {
            let bytes = words * WORD;
            if !req.pinned && bytes < self.config.large_object_threshold {
                if let Some(addr) = tlab.bump(bytes) {
                    let header = Self::header(words, req);
                    if self.is_allocating_black() {
                        self.mark_new(addr, words);
                    }
                    // SAFETY: `bytes` of this thread's TLAB, just bumped
                    // (fresh moving-space memory, which reads as zero, so
                    // only the header and slots need writing); the header
                    // is sane by construction (`size_in_words` checked the
                    // slot count and size).
                    return Ok(Some(unsafe { init_object(addr, header, false) }));
                }
            }
        }
        // SAFETY: the caller's promises, passed on.
        unsafe { self.alloc_slow(tlab, req) }
    }

    /// The header of a new object of `words` words for `req`.
    #[inline(always)]
    fn header(words: usize, req: &AllocRequest) -> Header {
        Header {
            size_words: words as u32,
            slots: req.slots,
            tag: req.tag,
            flags: if req.weak { FLAG_WEAK } else { 0 },
            aux: 0,
        }
    }

    /// Marks a moving-space object allocated while marking allocates black.
    #[cold]
    #[inline(never)]
    fn mark_new(&self, addr: usize, words: usize) {
        self.marks.moving.set(addr);
        self.marks.live.set_range(addr, words);
    }

    /// [`Heap::alloc`] outside its inline case: large or pinned objects,
    /// a TLAB refill, sizes that do not fit.
    ///
    /// # Safety
    /// As for [`Heap::alloc`].
    #[inline(never)]
    unsafe fn alloc_slow(
        &self,
        tlab: &mut Tlab,
        req: &AllocRequest,
    ) -> Result<Option<ObjRef>, HeapError> {
        let words = size_in_words(req.slots, req.bytes).ok_or(HeapError::TooLarge {
            slots: req.slots,
            bytes: req.bytes,
        })?;
        let bytes = words * WORD;
        if bytes > self.config.heap_limit {
            return Err(HeapError::TooLarge {
                slots: req.slots,
                bytes: req.bytes,
            });
        }
        let mut header = Self::header(words, req);
        if req.pinned || bytes >= self.config.large_object_threshold {
            header.flags |= FLAG_NON_MOVING;
            let Some(addr) = self.non_moving.alloc(bytes, |nm_used| {
                self.within_limit(self.moving.used(), nm_used)
            }) else {
                return Ok(None);
            };
            if self.is_allocating_black() {
                self.marks.non_moving.set(addr);
            }
            // SAFETY: `addr` is a fresh non-moving allocation of `bytes`
            // bytes, exclusively ours; the header is sane by construction.
            return Ok(Some(unsafe { init_object(addr, header, true) }));
        }
        let addr = match tlab.bump(bytes) {
            Some(a) => a,
            None => match self.refill(tlab, bytes) {
                Some(a) => a,
                None => return Ok(None),
            },
        };
        if self.is_allocating_black() {
            self.mark_new(addr, words);
        }
        // SAFETY: `addr` is `bytes` of fresh moving-space memory from this
        // thread's TLAB or a direct claim; fresh anonymous memory,
        // compacted-away tails and claimed recycled pages (zeroed by the
        // claim) read as zero, so only the header and slots need writing.
        Ok(Some(unsafe { init_object(addr, header, false) }))
    }

    fn refill(&self, tlab: &mut Tlab, bytes: usize) -> Option<usize> {
        if crate::inject::check(crate::inject::Site::TlabRefill).is_some() {
            // An injected failure looks like a full heap (tests only).
            return None;
        }
        let nm_used = self.non_moving.used();
        let allow = |used| self.within_limit(used, nm_used);
        if bytes * 4 > self.config.tlab_bytes {
            // Big for a TLAB: claim it directly and keep the current buffer.
            let start = self.moving.claim(bytes, allow)?;
            self.prefault_ahead(start + bytes, nm_used);
            return Some(start);
        }
        // SAFETY: the buffer is this thread's and this heap's (`alloc`'s
        // contract 1).
        unsafe { tlab.retire() };
        let start = self.moving.claim(self.config.tlab_bytes, allow)?;
        self.prefault_ahead(start + self.config.tlab_bytes, nm_used);
        // SAFETY: the range was just claimed for this buffer alone.
        unsafe { tlab.refill(start, start + self.config.tlab_bytes) };
        tlab.bump(bytes)
    }

    /// Populates the moving space ahead of a claim ending at `end`, up to
    /// the collection trigger at most (see [`prefault`]).
    fn prefault_ahead(&self, end: usize, nm_used: usize) {
        self.moving
            .prefault()
            .ahead(end, self.moving_limit(nm_used));
    }

    /// How far the moving space may grow before allocation reports a full
    /// heap, with `nm_used` bytes in use in the non-moving space: the
    /// threshold's budget, clamped to the space.
    pub(crate) fn moving_limit(&self, nm_used: usize) -> usize {
        let budget = self.alloc_threshold().saturating_sub(nm_used);
        self.moving.base() + budget.min(self.moving.capacity())
    }
}
