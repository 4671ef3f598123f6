//! # uffd: the userfaultfd layer
//!
//! Everything the collector needs from the kernel's userfaultfd, and nothing
//! of the collector: open a userfaultfd the least privileged way that works,
//! learn what the running kernel offers, register ranges, install pages
//! (`UFFDIO_COPY`, `UFFDIO_CONTINUE`, `UFFDIO_MOVE`, `UFFDIO_ZEROPAGE`), wake
//! waiters and read fault events. The `gc` crate builds its concurrent
//! compaction on it; this crate knows no heap, object or policy.
//!
//! Modules:
//! - [`open`]: [`UserFaultFd`] (an owned, handshaken fd), [`OpenOptions`],
//!   [`OpenMethod`] and the fallback order syscall with
//!   `UFFD_USER_MODE_ONLY` → `/dev/userfaultfd` → plain syscall.
//! - [`features`]: [`UffdFeatures`], the probe of what this kernel and this
//!   process can use, and when nothing can be used, why
//!   ([`UffdFeatures::unavailable_reason`], one loggable line in
//!   [`UffdFeatures::summary`]); `GC_UFFD_DISABLE=1` forces "none".
//! - [`ioctl`]: the range ioctls, with races reported as [`InstallOutcome`]s
//!   rather than errors.
//! - [`events`]: [`FaultEvent`] and [`UserFaultFd::read_event`], a
//!   poll-with-timeout read so worker threads can shut down.
//! - [`error`]: [`UffdError`], carrying the errno of every failed call.
//!
//! ## Safety contract
//!
//! - Every call after [`UserFaultFd::open`] (the range ioctls, waking,
//!   reading an event) is one system call on arguments on the stack: no
//!   allocation, no locks, no formatting, and the errors built there hold no
//!   heap data. So
//!   they may run on a fault path while a mutator holds any lock, and the
//!   installing ioctls and [`UserFaultFd::wake`] from a `SIGBUS` handler
//!   (async-signal-safe). Opening, probing and registering allocate and
//!   take the mmap lock: set-up only.
//! - COPY, CONTINUE and ZEROPAGE are safe: the kernel fills only pages that
//!   were missing, which no thread can have read, and reads a COPY source
//!   as a system call would (`EFAULT` if unreadable). MOVE is `unsafe`: its
//!   source pages vanish, so no Rust reference may point into them.
//! - Addresses and lengths are in pages of [`PAGE_SIZE`]; a misaligned range
//!   is the kernel's `EINVAL`, reported as an error, never undefined
//!   behaviour.
//! - Closing a [`UserFaultFd`] unregisters its ranges and wakes their
//!   waiters; a range belongs to at most one userfaultfd.
//!
//! ## What comes from the `userfaultfd` crate, and what does not
//!
//! The fd is held as `userfaultfd::Uffd` ([`UserFaultFd::into_uffd`] hands
//! it over whole). Through that crate go what it does right: reading fault
//! events (`Uffd::read_event` reads one `uffd_msg` into a buffer on its
//! stack and decodes it without allocating or locking: fit for the fault
//! workers) and `UFFDIO_REGISTER`/`UNREGISTER`/`WAKE`. Hand-written here,
//! because the crate (0.9) lacks them or gets them wrong:
//! - opening: its builder tries `/dev/userfaultfd` first and fails for an
//!   unprivileged process when the node exists but is root-only, and it
//!   discards the feature mask `UFFDIO_API` returns (the probe needs it);
//! - the installing ioctls: its COPY turns `EAGAIN` with a negated errno in
//!   the result field into a huge bogus partial count, its ZEROPAGE drops the
//!   partial count of `EAGAIN`, its CONTINUE folds a partial install into
//!   success; here all four share one mapping to [`InstallOutcome`];
//! - `UFFDIO_MOVE`, and the MOVE and POISON feature bits, which it does not
//!   name;
//! - waiting with a timeout (`poll`) before its read, so workers can stop.
//!
//! Its `nix` (0.27) types never appear in this crate's API. The raw structs
//! and ioctl numbers come from `userfaultfd-sys`, which this workspace
//! replaces with the hand-written `vendor/userfaultfd-sys` (no bindgen, no
//! libclang). The fault-injection hooks on REGISTER, UNREGISTER, COPY,
//! CONTINUE and MOVE are `mremap_shim::inject`'s (its `fault-injection`
//! feature); that is all this crate uses of `mremap-shim`.
//!
//! ## Kernel rules this layer leans on
//!
//! `UFFDIO_API` succeeds once per fd, so probing and opening use separate
//! fds; a range belongs to at most one userfaultfd, so SIGBUS mode (a feature
//! of the fd) means a separate fd; `UFFD_FEATURE_EVENT_REMAP` is never
//! requested, because with it an `mremap` of a registered range blocks until
//! the event is read and COPY/MOVE fail with `EAGAIN` meanwhile.

pub mod error;
pub mod events;
pub mod features;
pub mod ioctl;
pub mod open;

pub use error::{UffdError, UffdOp};
pub use events::{FaultEvent, FaultKind};
pub use features::UffdFeatures;
pub use ioctl::{InstallOutcome, RangeIoctls, RegisterMode};
pub use open::{OpenFailure, OpenMethod, OpenOptions, UserFaultFd};

/// The page size every range ioctl works in on the platforms this layer
/// supports (x86-64, arm64 with 4 KiB pages): the workspace's one
/// definition, [`mremap_shim::units::PAGE_SIZE`] (this crate already stands
/// on `mremap-shim` for fault injection).
pub const PAGE_SIZE: usize = mremap_shim::units::PAGE_SIZE;

/// Environment variable that, set to `1`, makes [`UffdFeatures::probe`] and
/// [`UserFaultFd::open`] report userfaultfd as unavailable (to exercise the
/// stop-the-world fallback).
pub const DISABLE_ENV: &str = "GC_UFFD_DISABLE";
