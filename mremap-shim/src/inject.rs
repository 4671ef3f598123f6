//! Fault injection, for tests: makes the k-th call of one of the system
//! calls the collector makes fail with a chosen errno, so that tests can
//! check that every failure ends in a completed cycle, an abandoned one or a
//! clean error value.
//!
//! Every hooked call asks [`check`] first. Without the `fault-injection`
//! feature (which only tests turn on, through dev-dependencies) `check` is an
//! empty `#[inline(always)]` function returning `None`, so a release build's
//! hooks compile to nothing. With it, `check` counts the call and, if its
//! site is armed (`arm`) and the call is the chosen one, returns the errno
//! the call then fails with, as if the kernel had returned it.
//!
//! Some hooked calls (`UFFDIO_COPY`, `UFFDIO_CONTINUE`, `UFFDIO_MOVE`) run
//! inside the collector's SIGBUS handler, so `check` uses atomics only: no
//! lock, no allocation, async-signal-safe.

pub use nix::errno::Errno;

/// A system call (or a step that needs one) the collector makes, as tests
/// name it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(usize)]
pub enum Site {
    /// Every `mremap(2)`: the flips of both spaces, range moves.
    Mremap,
    /// The engine's `mmap(2)` of private anonymous memory at a fixed place
    /// in a reservation (the moving space; from-space when a flip copies).
    Mmap,
    /// The engine's release of a range back to its reservation (a
    /// `PROT_NONE` `mmap` over from-space or the second view).
    Release,
    /// Every `madvise(2)`: discarding drained from-space, populating
    /// to-space, huge-page advice.
    Madvise,
    /// `memfd_create(2)` of the non-moving space.
    MemfdCreate,
    /// The `mmap(2)` of a side table (mark bitmaps, the plan's chunk table).
    SideTable,
    /// A refill of a thread's allocation buffer (fails as a full heap).
    TlabRefill,
    /// Creating a collector, fault-worker or marking thread.
    ThreadSpawn,
    /// `UFFDIO_REGISTER`.
    UffdRegister,
    /// `UFFDIO_UNREGISTER`.
    UffdUnregister,
    /// `UFFDIO_COPY`.
    UffdCopy,
    /// `UFFDIO_CONTINUE`.
    UffdContinue,
    /// `UFFDIO_MOVE`.
    UffdMove,
}

/// Number of sites.
pub const SITES: usize = 13;

impl Site {
    /// Every site.
    pub const ALL: [Site; SITES] = [
        Site::Mremap,
        Site::Mmap,
        Site::Release,
        Site::Madvise,
        Site::MemfdCreate,
        Site::SideTable,
        Site::TlabRefill,
        Site::ThreadSpawn,
        Site::UffdRegister,
        Site::UffdUnregister,
        Site::UffdCopy,
        Site::UffdContinue,
        Site::UffdMove,
    ];

    /// The site's name as tests and tables print it.
    pub fn name(self) -> &'static str {
        match self {
            Site::Mremap => "mremap",
            Site::Mmap => "mmap",
            Site::Release => "release",
            Site::Madvise => "madvise",
            Site::MemfdCreate => "memfd_create",
            Site::SideTable => "side-table mmap",
            Site::TlabRefill => "TLAB refill",
            Site::ThreadSpawn => "thread creation",
            Site::UffdRegister => "UFFDIO_REGISTER",
            Site::UffdUnregister => "UFFDIO_UNREGISTER",
            Site::UffdCopy => "UFFDIO_COPY",
            Site::UffdContinue => "UFFDIO_CONTINUE",
            Site::UffdMove => "UFFDIO_MOVE",
        }
    }

    /// The site named `name` (as [`Site::name`] prints it).
    pub fn from_name(name: &str) -> Option<Site> {
        Site::ALL.into_iter().find(|s| s.name() == name)
    }
}

/// Whether the call about to be made at `site` is to fail, and with which
/// errno. Async-signal-safe. Compiles to `None` without the
/// `fault-injection` feature.
#[inline(always)]
pub fn check(site: Site) -> Option<Errno> {
    #[cfg(feature = "fault-injection")]
    {
        armed::check(site)
    }
    #[cfg(not(feature = "fault-injection"))]
    {
        let _ = site;
        None
    }
}

#[cfg(feature = "fault-injection")]
pub use armed::{arm, calls, disarm_all, fired};

#[cfg(feature = "fault-injection")]
mod armed {
    use std::sync::atomic::{AtomicI32, AtomicU64, Ordering};

    use nix::errno::Errno;

    use super::{Site, SITES};

    struct Slot {
        /// Calls to let through before the first failure.
        skip: AtomicU64,
        /// Calls still to fail.
        fail: AtomicU64,
        errno: AtomicI32,
        /// Calls made at the site since the process started.
        calls: AtomicU64,
        /// Calls failed by injection.
        fired: AtomicU64,
    }

    static SLOTS: [Slot; SITES] = [const {
        Slot {
            skip: AtomicU64::new(0),
            fail: AtomicU64::new(0),
            errno: AtomicI32::new(0),
            calls: AtomicU64::new(0),
            fired: AtomicU64::new(0),
        }
    }; SITES];

    /// Makes the `nth` call (1-based, counted from now) at `site` and the
    /// `times - 1` calls after it fail with `errno` (`times == u64::MAX`:
    /// every call from the `nth` on). Replaces an earlier arming of `site`.
    pub fn arm(site: Site, nth: u64, errno: Errno, times: u64) {
        let s = &SLOTS[site as usize];
        s.fail.store(0, Ordering::SeqCst);
        s.skip.store(nth.saturating_sub(1), Ordering::SeqCst);
        s.errno.store(errno as i32, Ordering::SeqCst);
        s.fail.store(times, Ordering::SeqCst);
    }

    /// Disarms every site (counts stay).
    pub fn disarm_all() {
        for s in &SLOTS {
            s.fail.store(0, Ordering::SeqCst);
        }
    }

    /// Calls made at `site` so far (failed ones included).
    pub fn calls(site: Site) -> u64 {
        SLOTS[site as usize].calls.load(Ordering::SeqCst)
    }

    /// Calls at `site` that injection failed so far.
    pub fn fired(site: Site) -> u64 {
        SLOTS[site as usize].fired.load(Ordering::SeqCst)
    }

    pub(super) fn check(site: Site) -> Option<Errno> {
        let s = &SLOTS[site as usize];
        s.calls.fetch_add(1, Ordering::Relaxed);
        if s.fail.load(Ordering::Acquire) == 0 {
            return None;
        }
        let dec = |x: u64| x.checked_sub(1);
        if s.skip
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, dec)
            .is_ok()
        {
            return None;
        }
        let unlimited = |x: u64| if x == u64::MAX { Some(x) } else { dec(x) };
        s.fail
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, unlimited)
            .ok()?;
        s.fired.fetch_add(1, Ordering::Relaxed);
        Some(Errno::from_raw(s.errno.load(Ordering::Acquire)))
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn the_nth_call_fails_then_calls_pass_again() {
            // TlabRefill: no code of this crate calls it, so no other test
            // counts on it.
            let site = Site::TlabRefill;
            arm(site, 3, Errno::ENOMEM, 2);
            let got: Vec<_> = (0..6).map(|_| super::super::check(site)).collect();
            assert_eq!(
                got,
                [
                    None,
                    None,
                    Some(Errno::ENOMEM),
                    Some(Errno::ENOMEM),
                    None,
                    None
                ]
            );
            assert_eq!(fired(site), 2);
            arm(site, 1, Errno::EPERM, u64::MAX);
            assert!((0..100).all(|_| super::super::check(site) == Some(Errno::EPERM)));
            disarm_all();
            assert_eq!(super::super::check(site), None);
        }
    }
}
