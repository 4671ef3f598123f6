//! ioctl numbers of userfaultfd: the type byte, the per-command numbers and
//! the full request codes.
//!
//! The request codes are built the way `<asm-generic/ioctl.h>` builds
//! `_IO`/`_IOR`/`_IOWR` (x86, arm64, riscv, loongarch all use it; powerpc,
//! mips and sparc encode direction bits differently, and this crate does not
//! cover them).

use core::mem::size_of;

use crate::args::{
    uffdio_continue, uffdio_copy, uffdio_move, uffdio_poison, uffdio_range, uffdio_register,
    uffdio_writeprotect, uffdio_zeropage,
};
use crate::feature::uffdio_api;

/// The ioctl "type" byte of every userfaultfd ioctl (`UFFDIO`).
pub const UFFDIO: u8 = 0xAA;
/// The ioctl "type" byte of the `/dev/userfaultfd` device's ioctls.
pub const USERFAULTFD_IOC: u32 = 0xAA;

/// Command number of `UFFDIO_REGISTER`.
pub const _UFFDIO_REGISTER: u64 = 0x00;
/// Command number of `UFFDIO_UNREGISTER`.
pub const _UFFDIO_UNREGISTER: u64 = 0x01;
/// Command number of `UFFDIO_WAKE`.
pub const _UFFDIO_WAKE: u64 = 0x02;
/// Command number of `UFFDIO_COPY`.
pub const _UFFDIO_COPY: u64 = 0x03;
/// Command number of `UFFDIO_ZEROPAGE`.
pub const _UFFDIO_ZEROPAGE: u64 = 0x04;
/// Command number of `UFFDIO_MOVE` (Linux 6.8).
pub const _UFFDIO_MOVE: u64 = 0x05;
/// Command number of `UFFDIO_WRITEPROTECT` (Linux 5.7).
pub const _UFFDIO_WRITEPROTECT: u64 = 0x06;
/// Command number of `UFFDIO_CONTINUE` (Linux 5.13).
pub const _UFFDIO_CONTINUE: u64 = 0x07;
/// Command number of `UFFDIO_POISON` (Linux 6.6).
pub const _UFFDIO_POISON: u64 = 0x08;
/// Command number of `UFFDIO_API`: fixed for every API version.
pub const _UFFDIO_API: u64 = 0x3F;

/// `_IOC_NONE`: the ioctl transfers no argument struct.
pub const _IOC_NONE: u32 = 0;
/// `_IOC_WRITE`: userland writes the argument, the kernel reads it.
pub const _IOC_WRITE: u32 = 1;
/// `_IOC_READ`: the kernel writes the argument, userland reads it.
pub const _IOC_READ: u32 = 2;

const _IOC_NRSHIFT: u32 = 0;
const _IOC_TYPESHIFT: u32 = 8;
const _IOC_SIZESHIFT: u32 = 16;
const _IOC_DIRSHIFT: u32 = 30;
const _IOC_SIZEMASK: usize = (1 << 14) - 1;

/// `_IOC(dir, type, nr, size)` of `<asm-generic/ioctl.h>`.
///
/// Fails to compile (in const context) if `size` does not fit the 14-bit
/// size field, as the C header's `_IOC_TYPECHECK` does.
pub const fn _IOC(dir: u32, ty: u32, nr: u32, size: usize) -> u32 {
    assert!(size <= _IOC_SIZEMASK, "ioctl argument too large for _IOC");
    (dir << _IOC_DIRSHIFT)
        | (ty << _IOC_TYPESHIFT)
        | (nr << _IOC_NRSHIFT)
        | ((size as u32) << _IOC_SIZESHIFT)
}

const fn iowr(nr: u64, size: usize) -> u32 {
    _IOC(_IOC_READ | _IOC_WRITE, UFFDIO as u32, nr as u32, size)
}

const fn ior(nr: u64, size: usize) -> u32 {
    _IOC(_IOC_READ, UFFDIO as u32, nr as u32, size)
}

/// `UFFDIO_API`: `_IOWR(UFFDIO, _UFFDIO_API, struct uffdio_api)`.
pub const UFFDIO_API: u32 = iowr(_UFFDIO_API, size_of::<uffdio_api>());
/// `UFFDIO_REGISTER`: `_IOWR(UFFDIO, _UFFDIO_REGISTER, struct uffdio_register)`.
pub const UFFDIO_REGISTER: u32 = iowr(_UFFDIO_REGISTER, size_of::<uffdio_register>());
/// `UFFDIO_UNREGISTER`: `_IOR(UFFDIO, _UFFDIO_UNREGISTER, struct uffdio_range)`.
///
/// `_IOR` although the kernel reads the struct: the header keeps this
/// historical direction for ABI compatibility.
pub const UFFDIO_UNREGISTER: u32 = ior(_UFFDIO_UNREGISTER, size_of::<uffdio_range>());
/// `UFFDIO_WAKE`: `_IOR(UFFDIO, _UFFDIO_WAKE, struct uffdio_range)`.
pub const UFFDIO_WAKE: u32 = ior(_UFFDIO_WAKE, size_of::<uffdio_range>());
/// `UFFDIO_COPY`: `_IOWR(UFFDIO, _UFFDIO_COPY, struct uffdio_copy)`.
pub const UFFDIO_COPY: u32 = iowr(_UFFDIO_COPY, size_of::<uffdio_copy>());
/// `UFFDIO_ZEROPAGE`: `_IOWR(UFFDIO, _UFFDIO_ZEROPAGE, struct uffdio_zeropage)`.
pub const UFFDIO_ZEROPAGE: u32 = iowr(_UFFDIO_ZEROPAGE, size_of::<uffdio_zeropage>());
/// `UFFDIO_MOVE`: `_IOWR(UFFDIO, _UFFDIO_MOVE, struct uffdio_move)` (6.8).
pub const UFFDIO_MOVE: u32 = iowr(_UFFDIO_MOVE, size_of::<uffdio_move>());
/// `UFFDIO_WRITEPROTECT`: `_IOWR(UFFDIO, _UFFDIO_WRITEPROTECT, struct uffdio_writeprotect)`.
pub const UFFDIO_WRITEPROTECT: u32 = iowr(_UFFDIO_WRITEPROTECT, size_of::<uffdio_writeprotect>());
/// `UFFDIO_CONTINUE`: `_IOWR(UFFDIO, _UFFDIO_CONTINUE, struct uffdio_continue)` (5.13).
pub const UFFDIO_CONTINUE: u32 = iowr(_UFFDIO_CONTINUE, size_of::<uffdio_continue>());
/// `UFFDIO_POISON`: `_IOWR(UFFDIO, _UFFDIO_POISON, struct uffdio_poison)` (6.6).
pub const UFFDIO_POISON: u32 = iowr(_UFFDIO_POISON, size_of::<uffdio_poison>());

/// `USERFAULTFD_IOC_NEW`: `_IO(USERFAULTFD_IOC, 0x00)`, issued on an open
/// `/dev/userfaultfd` with the `userfaultfd(2)` flags as its integer
/// argument; returns a new userfaultfd (Linux 6.1).
pub const USERFAULTFD_IOC_NEW: u32 = _IOC(_IOC_NONE, USERFAULTFD_IOC, 0x00, 0);

/// Flag of the `userfaultfd(2)` system call itself (5.11): the fd handles
/// only faults taken in user mode, so any user may open it whatever
/// `vm.unprivileged_userfaultfd` says; a kernel access to a missing page then
/// fails with `EFAULT` instead of waiting.
pub const UFFD_USER_MODE_ONLY: u32 = 1;
