//! # uffd: the userfaultfd layer
//!
//! Everything the collector needs from the kernel's userfaultfd, and nothing
//! of policy: open a userfaultfd the least privileged way that works, learn
//! what the running kernel offers, register ranges, install pages
//! (`UFFDIO_COPY`, `UFFDIO_CONTINUE`, `UFFDIO_MOVE`, `UFFDIO_ZEROPAGE`), wake
//! waiters and read fault events.
//!
//! Modules:
//! - [`open`]: [`UserFaultFd`] (an owned, handshaken fd), [`OpenOptions`],
//!   [`OpenMethod`] and the fallback order syscall with
//!   `UFFD_USER_MODE_ONLY` → `/dev/userfaultfd` → plain syscall.
//! - [`features`]: [`UffdFeatures`], the probe of what this kernel and this
//!   process can use (and the `GC_UFFD_DISABLE=1` switch that forces "none").
//! - [`ioctl`]: the range ioctls, with races reported as [`InstallOutcome`]s
//!   rather than errors. Safe to call on fault paths and in signal handlers.
//! - [`events`]: [`FaultEvent`] and [`UserFaultFd::read_event`], a
//!   poll-with-timeout read so worker threads can shut down.
//! - [`error`]: [`UffdError`], carrying the errno of every failed call.
//!
//! The `userfaultfd` crate (0.9) is a dependency, but only as a way to hand
//! the fd to code that wants its API ([`UserFaultFd::into_uffd`]): it opens
//! `/dev/userfaultfd` first and fails for unprivileged processes when the node
//! exists but is root-only, discards the feature mask `UFFDIO_API` returns,
//! reports `EEXIST` from `UFFDIO_COPY` as an error and can turn `EAGAIN` into
//! a huge bogus partial count, and names neither MOVE nor POISON. Its `nix`
//! (0.27) types never appear in this module's API. The raw structs and ioctl
//! numbers come from `userfaultfd-sys`, which this workspace replaces with the
//! hand-written `vendor/userfaultfd-sys`.
//!
//! Kernel rules this layer leans on: `UFFDIO_API` succeeds once
//! per fd, so probing and opening use separate fds; a range belongs to at
//! most one userfaultfd, so SIGBUS mode (a feature of the fd) means a
//! separate fd; `UFFD_FEATURE_EVENT_REMAP` is never requested, because with
//! it an `mremap` of a registered range blocks until the event is read and
//! COPY/MOVE fail with `EAGAIN` meanwhile.

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
/// supports (x86-64, arm64 with 4 KiB pages).
pub const PAGE_SIZE: usize = 4096;

/// Environment variable that, set to `1`, makes [`UffdFeatures::probe`] and
/// [`UserFaultFd::open`] report userfaultfd as unavailable (to exercise the
/// stop-the-world fallback).
pub const DISABLE_ENV: &str = "GC_UFFD_DISABLE";
