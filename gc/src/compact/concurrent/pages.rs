//! The per-page state machine every thread of a concurrent compaction
//! agrees on: `unprocessed -> processing -> mapped`.
//!
//! Exactly one thread wins the claim of a page (a compare-and-swap), computes
//! it and installs it; any other thread that needs the page waits until it is
//! mapped. Lock-free and allocation-free after construction, so fault
//! handlers may use it.

use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};

const UNPROCESSED: u8 = 0;
const PROCESSING: u8 = 1;
const MAPPED: u8 = 2;

/// The states of `len` pages, and how many are mapped.
pub struct PageStates {
    states: Box<[AtomicU8]>,
    mapped: AtomicUsize,
}

impl PageStates {
    /// `len` unprocessed pages.
    pub fn new(len: usize) -> PageStates {
        PageStates::with_mapped_prefix(len, 0)
    }

    /// `len` pages of which the first `mapped` are mapped already (a young
    /// cycle's old pages, which it neither moves nor registers) and the
    /// rest unprocessed.
    pub fn with_mapped_prefix(len: usize, mapped: usize) -> PageStates {
        let mapped = mapped.min(len);
        PageStates {
            states: (0..len)
                .map(|i| AtomicU8::new(if i < mapped { MAPPED } else { UNPROCESSED }))
                .collect(),
            mapped: AtomicUsize::new(mapped),
        }
    }

    /// Number of pages.
    pub fn len(&self) -> usize {
        self.states.len()
    }

    /// Whether there are no pages at all.
    pub fn is_empty(&self) -> bool {
        self.states.is_empty()
    }

    /// Claims page `i` for processing; `false` if another thread has it or
    /// it is done.
    #[inline]
    pub fn try_claim(&self, i: usize) -> bool {
        self.states[i]
            .compare_exchange(
                UNPROCESSED,
                PROCESSING,
                Ordering::Acquire,
                Ordering::Relaxed,
            )
            .is_ok()
    }

    /// Whether page `i` is unclaimed (a hint: another thread may claim it
    /// right after).
    #[inline]
    pub fn is_unprocessed(&self, i: usize) -> bool {
        self.states[i].load(Ordering::Relaxed) == UNPROCESSED
    }

    /// Marks a claimed page mapped.
    #[inline]
    pub fn set_mapped(&self, i: usize) {
        let old = self.states[i].swap(MAPPED, Ordering::Release);
        debug_assert_eq!(old, PROCESSING, "page {i} mapped without a claim");
        self.mapped.fetch_add(1, Ordering::AcqRel);
    }

    /// Whether page `i` is mapped.
    #[inline]
    pub fn is_mapped(&self, i: usize) -> bool {
        self.states[i].load(Ordering::Acquire) == MAPPED
    }

    /// Waits (spinning, then yielding) until page `i` is mapped by whichever
    /// thread claimed it.
    pub fn wait_mapped(&self, i: usize) {
        let mut spins = 0u32;
        while !self.is_mapped(i) {
            if spins < 64 {
                std::hint::spin_loop();
                spins += 1;
            } else {
                std::thread::yield_now();
            }
        }
    }

    /// Pages mapped so far.
    pub fn mapped_count(&self) -> usize {
        self.mapped.load(Ordering::Acquire)
    }

    /// Whether every page is mapped.
    pub fn all_mapped(&self) -> bool {
        self.mapped_count() == self.len()
    }

    /// The first page at or after `from` that is not mapped (`len()` if none).
    pub fn first_unmapped(&self, from: usize) -> usize {
        (from..self.len())
            .find(|&i| !self.is_mapped(i))
            .unwrap_or(self.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_claim_wins_and_mapping_counts() {
        let p = PageStates::new(3);
        assert!(p.try_claim(1));
        assert!(!p.try_claim(1), "a page is claimed once");
        assert!(!p.is_mapped(1));
        p.set_mapped(1);
        assert!(p.is_mapped(1) && !p.try_claim(1));
        assert_eq!(p.mapped_count(), 1);
        assert_eq!(p.first_unmapped(0), 0);
        assert_eq!(p.first_unmapped(1), 2);
        assert!(p.try_claim(0) && p.try_claim(2));
        p.set_mapped(0);
        p.set_mapped(2);
        assert!(p.all_mapped());
        assert_eq!(p.first_unmapped(0), 3);
    }

    #[test]
    fn waiters_see_the_winner_map_the_page() {
        let p = std::sync::Arc::new(PageStates::new(1));
        assert!(p.try_claim(0));
        let q = p.clone();
        let waiter = std::thread::spawn(move || {
            q.wait_mapped(0);
            q.is_mapped(0)
        });
        std::thread::sleep(std::time::Duration::from_millis(5));
        p.set_mapped(0);
        assert!(waiter.join().expect("waiter"));
    }
}
