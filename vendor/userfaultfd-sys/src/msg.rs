//! `struct uffd_msg`: one event as `read(2)` on a userfaultfd returns it,
//! the event codes and the page-fault flags.

use core::fmt;

/// Fields of a `UFFD_EVENT_PAGEFAULT` thread-id union (`feat`).
#[repr(C)]
#[derive(Copy, Clone)]
pub union uffd_pagefault_feat {
    /// The faulting thread's id, when `UFFD_FEATURE_THREAD_ID` was enabled
    /// (0 otherwise).
    pub ptid: u32,
}

/// `arg.pagefault` of a `UFFD_EVENT_PAGEFAULT` message.
#[repr(C)]
#[derive(Copy, Clone)]
pub struct uffd_pagefault {
    /// `UFFD_PAGEFAULT_FLAG_*` bits.
    pub flags: u64,
    /// The faulting address: page-aligned unless `UFFD_FEATURE_EXACT_ADDRESS`.
    pub address: u64,
    /// Feature-dependent extra data.
    pub feat: uffd_pagefault_feat,
}

/// `arg.fork` of a `UFFD_EVENT_FORK` message.
#[repr(C)]
#[derive(Debug, Default, Copy, Clone, PartialEq, Eq)]
pub struct uffd_fork {
    /// The new userfaultfd for the child, already installed in this process.
    pub ufd: u32,
}

/// `arg.remap` of a `UFFD_EVENT_REMAP` message.
#[repr(C)]
#[derive(Debug, Default, Copy, Clone, PartialEq, Eq)]
pub struct uffd_remap {
    /// Old start address.
    pub from: u64,
    /// New start address.
    pub to: u64,
    /// Length of the moved range.
    pub len: u64,
}

/// `arg.remove` of a `UFFD_EVENT_REMOVE` or `UFFD_EVENT_UNMAP` message.
#[repr(C)]
#[derive(Debug, Default, Copy, Clone, PartialEq, Eq)]
pub struct uffd_remove {
    /// Start of the removed range.
    pub start: u64,
    /// End (exclusive) of the removed range.
    pub end: u64,
}

/// `arg.reserved`: the union's full 24 bytes as words.
#[repr(C)]
#[derive(Debug, Default, Copy, Clone, PartialEq, Eq)]
pub struct uffd_reserved {
    /// Unused.
    pub reserved1: u64,
    /// Unused.
    pub reserved2: u64,
    /// Unused.
    pub reserved3: u64,
}

/// The event-specific part of [`uffd_msg`]; which member is valid depends on
/// `uffd_msg.event`.
#[repr(C)]
#[derive(Copy, Clone)]
pub union uffd_msg_arg {
    /// Valid for `UFFD_EVENT_PAGEFAULT`.
    pub pagefault: uffd_pagefault,
    /// Valid for `UFFD_EVENT_FORK`.
    pub fork: uffd_fork,
    /// Valid for `UFFD_EVENT_REMAP`.
    pub remap: uffd_remap,
    /// Valid for `UFFD_EVENT_REMOVE` and `UFFD_EVENT_UNMAP`.
    pub remove: uffd_remove,
    /// Always valid: the raw words.
    pub reserved: uffd_reserved,
}

/// One userfaultfd event (`struct uffd_msg`, `__packed`, 32 bytes).
///
/// Packed like the C struct; its fields sit at their natural offsets anyway,
/// but references to them cannot be taken: copy fields out.
#[repr(C, packed)]
#[derive(Copy, Clone)]
pub struct uffd_msg {
    /// One of the `UFFD_EVENT_*` codes.
    pub event: u8,
    /// Reserved.
    pub reserved1: u8,
    /// Reserved.
    pub reserved2: u16,
    /// Reserved.
    pub reserved3: u32,
    /// Event-specific data.
    pub arg: uffd_msg_arg,
}

impl Default for uffd_msg {
    fn default() -> Self {
        uffd_msg {
            event: 0,
            reserved1: 0,
            reserved2: 0,
            reserved3: 0,
            arg: uffd_msg_arg {
                reserved: uffd_reserved::default(),
            },
        }
    }
}

impl fmt::Debug for uffd_msg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // SAFETY: `reserved` spans the whole union and every bit pattern is a
        // valid `u64`, so reading it is sound whichever member was written.
        let raw = unsafe { self.arg.reserved };
        let event = self.event;
        f.debug_struct("uffd_msg")
            .field("event", &event)
            .field("arg", &raw)
            .finish()
    }
}

/// bindgen's name for [`uffd_msg_arg`], kept for source compatibility.
pub type uffd_msg__bindgen_ty_1 = uffd_msg_arg;
/// bindgen's name for [`uffd_pagefault`].
pub type uffd_msg__bindgen_ty_1__bindgen_ty_1 = uffd_pagefault;
/// bindgen's name for [`uffd_pagefault_feat`].
pub type uffd_msg__bindgen_ty_1__bindgen_ty_1__bindgen_ty_1 = uffd_pagefault_feat;
/// bindgen's name for [`uffd_fork`].
pub type uffd_msg__bindgen_ty_1__bindgen_ty_2 = uffd_fork;
/// bindgen's name for [`uffd_remap`].
pub type uffd_msg__bindgen_ty_1__bindgen_ty_3 = uffd_remap;
/// bindgen's name for [`uffd_remove`].
pub type uffd_msg__bindgen_ty_1__bindgen_ty_4 = uffd_remove;
/// bindgen's name for [`uffd_reserved`].
pub type uffd_msg__bindgen_ty_1__bindgen_ty_5 = uffd_reserved;

/// A page fault in a registered range (the only event unless an
/// `UFFD_FEATURE_EVENT_*` was requested). Codes start at 0x12 to catch
/// zeroed messages.
pub const UFFD_EVENT_PAGEFAULT: u8 = 0x12;
/// The process forked (`UFFD_FEATURE_EVENT_FORK`).
pub const UFFD_EVENT_FORK: u8 = 0x13;
/// A registered range was mremapped (`UFFD_FEATURE_EVENT_REMAP`).
pub const UFFD_EVENT_REMAP: u8 = 0x14;
/// Pages were dropped by madvise (`UFFD_FEATURE_EVENT_REMOVE`).
pub const UFFD_EVENT_REMOVE: u8 = 0x15;
/// A registered range was unmapped (`UFFD_FEATURE_EVENT_UNMAP`).
pub const UFFD_EVENT_UNMAP: u8 = 0x16;

/// Page-fault flag: the access was a write.
pub const UFFD_PAGEFAULT_FLAG_WRITE: u64 = 1 << 0;
/// Page-fault flag: a write-protect fault (`UFFDIO_REGISTER_MODE_WP`).
pub const UFFD_PAGEFAULT_FLAG_WP: u64 = 1 << 1;
/// Page-fault flag: a minor fault (`UFFDIO_REGISTER_MODE_MINOR`): the page
/// is in the page cache but not mapped here.
pub const UFFD_PAGEFAULT_FLAG_MINOR: u64 = 1 << 2;
