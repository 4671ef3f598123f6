//! Side bitmaps with one bit per heap word (mark bits, live words, object starts).
//!
//! Bits are set with atomic `fetch_or`, so several marking threads and the
//! mutators (whose objects are born marked during a concurrent marking) can
//! share one bitmap. Reads during compaction use
//! relaxed loads: by then marking has finished and a fence separates them.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::object::WORD;
use mremap_shim::sys::SysError;

use crate::table::Table;

/// A bitmap covering `[base, base + covered_bytes)` with one bit per 8-byte word.
pub struct Bitmap {
    base: usize,
    bits: Table<AtomicU64>,
}

impl Bitmap {
    /// A cleared bitmap for `covered_bytes` bytes starting at `base`.
    /// Panics if its table cannot be mapped: for tools such as the
    /// verifier; the heap's own bitmaps use [`Bitmap::try_new`].
    pub fn new(base: usize, covered_bytes: usize) -> Bitmap {
        Bitmap {
            base,
            bits: Table::new(Bitmap::words(covered_bytes)),
        }
    }

    /// A cleared bitmap for `covered_bytes` bytes starting at `base`, or
    /// the failed `mmap`'s error.
    pub fn try_new(base: usize, covered_bytes: usize) -> Result<Bitmap, SysError> {
        Ok(Bitmap {
            base,
            bits: Table::try_new(Bitmap::words(covered_bytes))?,
        })
    }

    /// Bytes of the table of a bitmap covering `covered_bytes`.
    pub fn table_bytes(covered_bytes: usize) -> usize {
        Bitmap::words(covered_bytes) * size_of::<u64>()
    }

    fn words(covered_bytes: usize) -> usize {
        covered_bytes.div_ceil(WORD).div_ceil(64)
    }

    /// First covered address.
    pub fn base(&self) -> usize {
        self.base
    }

    /// Number of bits (words of heap covered).
    pub fn len_bits(&self) -> usize {
        self.bits.len() * 64
    }

    /// Bit index of `addr`.
    #[inline(always)]
    pub fn bit_of(&self, addr: usize) -> usize {
        debug_assert!(
            addr >= self.base,
            "address {addr:#x} below bitmap base {:#x}",
            self.base
        );
        (addr - self.base) / WORD
    }

    /// Address of bit `bit`.
    #[inline(always)]
    pub fn addr_of(&self, bit: usize) -> usize {
        self.base + bit * WORD
    }

    /// Sets the bit for `addr`; returns true if it was clear before.
    #[inline(always)]
    pub fn set(&self, addr: usize) -> bool {
        let bit = self.bit_of(addr);
        let mask = 1u64 << (bit % 64);
        self.bits[bit / 64].fetch_or(mask, Ordering::Relaxed) & mask == 0
    }

    /// Clears the bit for `addr`.
    #[inline(always)]
    pub fn clear(&self, addr: usize) {
        let bit = self.bit_of(addr);
        self.bits[bit / 64].fetch_and(!(1u64 << (bit % 64)), Ordering::Relaxed);
    }

    /// Whether the bit for `addr` is set.
    #[inline(always)]
    pub fn test(&self, addr: usize) -> bool {
        self.test_bit(self.bit_of(addr))
    }

    /// Whether bit `bit` is set.
    #[inline(always)]
    pub fn test_bit(&self, bit: usize) -> bool {
        self.bits[bit / 64].load(Ordering::Relaxed) & (1u64 << (bit % 64)) != 0
    }

    /// Sets `count` bits starting with the bit for `addr`.
    pub fn set_range(&self, addr: usize, count: usize) {
        let mut bit = self.bit_of(addr);
        let end = bit + count;
        while bit < end {
            let in_word = bit % 64;
            let n = (64 - in_word).min(end - bit);
            let mask = if n == 64 {
                u64::MAX
            } else {
                ((1u64 << n) - 1) << in_word
            };
            self.bits[bit / 64].fetch_or(mask, Ordering::Relaxed);
            bit += n;
        }
    }

    /// Bitmap word `i` (bits `64*i .. 64*i+64`).
    #[inline(always)]
    pub fn word(&self, i: usize) -> u64 {
        self.bits[i].load(Ordering::Relaxed)
    }

    /// ORs `bits` into bitmap word `i`.
    #[inline(always)]
    pub fn or_word(&self, i: usize, bits: u64) {
        if bits != 0 {
            self.bits[i].fetch_or(bits, Ordering::Relaxed);
        }
    }

    /// Starts loading the bitmap word holding the bit of `addr` into cache
    /// (a hint; nothing for addresses the bitmap does not cover).
    #[inline(always)]
    pub fn prefetch(&self, addr: usize) {
        self.bits
            .prefetch(addr.wrapping_sub(self.base) / (WORD * 64));
    }

    /// Clears every bit below `end_addr` (the rest is known clear).
    pub fn clear_below(&self, end_addr: usize) {
        self.clear_words_over(self.base, end_addr);
    }

    /// Clears the words that hold the bits of `[start_addr, end_addr)`,
    /// whole: the other bits of the first and last word go too (callers
    /// know them clear).
    pub fn clear_words_over(&self, start_addr: usize, end_addr: usize) {
        let end = self
            .bit_of(end_addr.max(self.base))
            .div_ceil(64)
            .min(self.bits.len());
        let first = (self.bit_of(start_addr.max(self.base)) / 64).min(end);
        for w in &self.bits[first..end] {
            w.store(0, Ordering::Relaxed);
        }
    }

    /// The highest set bit at or below `bit`, if any.
    pub fn find_prev_set(&self, bit: usize) -> Option<usize> {
        let mut wi = bit / 64;
        let mut w = self.word(wi) & (u64::MAX >> (63 - bit % 64));
        loop {
            if w != 0 {
                return Some(wi * 64 + 63 - w.leading_zeros() as usize);
            }
            if wi == 0 {
                return None;
            }
            wi -= 1;
            w = self.word(wi);
        }
    }

    /// The highest set bit in `[floor, bit]`, if any (scans no lower than
    /// `floor`).
    pub fn find_prev_set_above(&self, bit: usize, floor: usize) -> Option<usize> {
        if bit < floor {
            return None;
        }
        let floor_word = floor / 64;
        let mut wi = bit / 64;
        let mut w = self.word(wi) & (u64::MAX >> (63 - bit % 64));
        loop {
            if wi == floor_word {
                w &= u64::MAX << (floor % 64);
            }
            if w != 0 {
                return Some(wi * 64 + 63 - w.leading_zeros() as usize);
            }
            if wi == floor_word {
                return None;
            }
            wi -= 1;
            w = self.word(wi);
        }
    }

    /// The lowest set bit in `[bit, limit)`, if any.
    pub fn find_next_set(&self, bit: usize, limit: usize) -> Option<usize> {
        if bit >= limit {
            return None;
        }
        let mut wi = bit / 64;
        let mut w = self.word(wi) & (u64::MAX << (bit % 64));
        let last = (limit - 1) / 64;
        loop {
            if w != 0 {
                let found = wi * 64 + w.trailing_zeros() as usize;
                return (found < limit).then_some(found);
            }
            if wi >= last {
                return None;
            }
            wi += 1;
            w = self.word(wi);
        }
    }

    /// Calls `f` with the address of every set bit below `end_addr`, in order.
    pub fn for_each_set(&self, end_addr: usize, mut f: impl FnMut(usize)) {
        let end_bit = self.bit_of(end_addr.max(self.base)).min(self.len_bits());
        let mut bit = 0;
        while let Some(b) = self.find_next_set(bit, end_bit) {
            f(self.addr_of(b));
            bit = b + 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_reports_first_setter_only() {
        let b = Bitmap::new(0x1000, 4096);
        assert!(b.set(0x1008));
        assert!(!b.set(0x1008));
        assert!(b.test(0x1008) && !b.test(0x1000));
        b.clear(0x1008);
        assert!(!b.test(0x1008));
    }

    #[test]
    fn ranges_cross_word_boundaries() {
        let b = Bitmap::new(0, 8 * 1024);
        b.set_range(8 * 60, 70);
        for bit in 0..200 {
            assert_eq!(b.test_bit(bit), (60..130).contains(&bit), "bit {bit}");
        }
    }

    #[test]
    fn searches_find_neighbours_across_words() {
        let b = Bitmap::new(0, 8 * 1024);
        b.set(8 * 3);
        b.set(8 * 200);
        assert_eq!(b.find_prev_set(199), Some(3));
        assert_eq!(b.find_prev_set(200), Some(200));
        assert_eq!(b.find_prev_set(2), None);
        assert_eq!(b.find_prev_set_above(199, 3), Some(3));
        assert_eq!(b.find_prev_set_above(199, 4), None);
        assert_eq!(b.find_prev_set_above(200, 130), Some(200));
        assert_eq!(b.find_prev_set_above(2, 3), None);
        assert_eq!(b.find_next_set(4, 1024), Some(200));
        assert_eq!(b.find_next_set(4, 200), None);
        let mut seen = vec![];
        b.for_each_set(8 * 1024, |a| seen.push(a / 8));
        assert_eq!(seen, vec![3, 200]);
        b.clear_below(8 * 100);
        assert!(!b.test_bit(3) && b.test_bit(200));
    }
}
