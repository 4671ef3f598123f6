//! Marking: side bitmaps, the tracer that fills them, the SATB queue and
//! the concurrent marking that drains it.
//!
//! A moving object is live when its *mark bit* (first word) is set; marking
//! also sets its words in the *live-words bitmap*, from which compaction
//! computes every post-compaction address. Non-moving objects have a mark
//! bitmap of their own. Nothing is written into objects.

pub mod bitmap;
pub mod cards;
pub mod concurrent;
pub mod satb;
pub mod tracer;

use bitmap::Bitmap;

/// The bitmaps one marking fills.
pub struct MarkBitmaps {
    /// Mark bits of the moving space (object starts).
    pub moving: Bitmap,
    /// Live words of the moving space (every word of a marked object).
    pub live: Bitmap,
    /// Mark bits of the non-moving space.
    pub non_moving: Bitmap,
}

impl MarkBitmaps {
    /// Cleared bitmaps for spaces of `space_bytes` at the given bases, or
    /// the error of the `mmap` that failed.
    pub fn new(
        moving_base: usize,
        nm_base: usize,
        space_bytes: usize,
    ) -> Result<MarkBitmaps, mremap_shim::sys::SysError> {
        Ok(MarkBitmaps {
            moving: Bitmap::try_new(moving_base, space_bytes)?,
            live: Bitmap::try_new(moving_base, space_bytes)?,
            non_moving: Bitmap::try_new(nm_base, space_bytes)?,
        })
    }

    /// How many bitmaps [`MarkBitmaps::new`] maps.
    pub const COUNT: usize = 3;
}
