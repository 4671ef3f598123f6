//! The transcription checked against the C header: every size, offset,
//! request code and mask below is the value `gcc` printed for
//! `<linux/userfaultfd.h>` (6.1 uapi) on x86-64, plus, for the items that
//! header predates (MOVE, POISON, their masks), the values its `_IOWR`
//! formula gives for the 6.8+ header's structs.

use std::mem::{align_of, offset_of, size_of};
use userfaultfd_sys::*;

#[test]
fn struct_sizes_match_the_uapi_header() {
    assert_eq!(size_of::<uffd_msg>(), 32, "uffd_msg");
    assert_eq!(size_of::<uffdio_api>(), 24, "uffdio_api");
    assert_eq!(size_of::<uffdio_range>(), 16, "uffdio_range");
    assert_eq!(size_of::<uffdio_register>(), 32, "uffdio_register");
    assert_eq!(size_of::<uffdio_copy>(), 40, "uffdio_copy");
    assert_eq!(size_of::<uffdio_zeropage>(), 32, "uffdio_zeropage");
    assert_eq!(size_of::<uffdio_writeprotect>(), 24, "uffdio_writeprotect");
    assert_eq!(size_of::<uffdio_continue>(), 32, "uffdio_continue");
    assert_eq!(size_of::<uffdio_poison>(), 32, "uffdio_poison");
    assert_eq!(size_of::<uffdio_move>(), 40, "uffdio_move");
}

#[test]
fn uffd_msg_is_packed_with_fields_at_their_c_offsets() {
    assert_eq!(align_of::<uffd_msg>(), 1, "uffd_msg is __packed");
    assert_eq!(offset_of!(uffd_msg, event), 0);
    assert_eq!(offset_of!(uffd_msg, reserved2), 2);
    assert_eq!(offset_of!(uffd_msg, reserved3), 4);
    assert_eq!(offset_of!(uffd_msg, arg), 8);
    assert_eq!(size_of::<uffd_msg_arg>(), 24);
    assert_eq!(
        offset_of!(uffd_pagefault, address),
        8,
        "pagefault.address at msg+16"
    );
    assert_eq!(
        offset_of!(uffd_pagefault, feat),
        16,
        "pagefault.feat.ptid at msg+24"
    );
    assert_eq!(offset_of!(uffd_remap, len), 16, "remap.len at msg+24");
    assert_eq!(offset_of!(uffd_remove, end), 8, "remove.end at msg+16");
}

#[test]
fn result_fields_sit_last_where_the_kernel_writes_them() {
    assert_eq!(offset_of!(uffdio_copy, mode), 24);
    assert_eq!(offset_of!(uffdio_copy, copy), 32);
    assert_eq!(offset_of!(uffdio_zeropage, zeropage), 24);
    assert_eq!(offset_of!(uffdio_continue, mapped), 24);
    assert_eq!(offset_of!(uffdio_poison, updated), 24);
    assert_eq!(offset_of!(uffdio_move, r#move), 32);
    assert_eq!(offset_of!(uffdio_register, ioctls), 24);
    assert_eq!(offset_of!(uffdio_api, ioctls), 16);
}

#[test]
fn request_codes_match_the_header_macros() {
    assert_eq!(UFFDIO_API, 0xc018_aa3f);
    assert_eq!(UFFDIO_REGISTER, 0xc020_aa00);
    assert_eq!(UFFDIO_UNREGISTER, 0x8010_aa01);
    assert_eq!(UFFDIO_WAKE, 0x8010_aa02);
    assert_eq!(UFFDIO_COPY, 0xc028_aa03);
    assert_eq!(UFFDIO_ZEROPAGE, 0xc020_aa04);
    assert_eq!(UFFDIO_MOVE, 0xc028_aa05);
    assert_eq!(UFFDIO_WRITEPROTECT, 0xc018_aa06);
    assert_eq!(UFFDIO_CONTINUE, 0xc020_aa07);
    assert_eq!(UFFDIO_POISON, 0xc020_aa08);
    assert_eq!(USERFAULTFD_IOC_NEW, 0xaa00);
}

#[test]
fn summary_masks_match_the_header() {
    assert_eq!(UFFD_API, 0xaa);
    // The 6.1 header's UFFD_API_FEATURES is 0x1fff; 6.8 adds bits 13..=16.
    assert_eq!(UFFD_API_FEATURES & 0x1fff, 0x1fff);
    assert_eq!(UFFD_API_FEATURES, 0x1_ffff);
    assert_eq!(UFFD_API_IOCTLS, 0x8000_0000_0000_0003);
    assert_eq!(UFFD_API_RANGE_IOCTLS, 0x1fc);
    assert_eq!(UFFD_API_RANGE_IOCTLS_BASIC, 0x1cc);
    assert_eq!(UFFD_API_REGISTER_MODES, 0x7);
}

#[test]
fn feature_and_flag_bits_match_the_header() {
    assert_eq!(UFFD_FEATURE_SIGBUS, 0x80);
    assert_eq!(UFFD_FEATURE_THREAD_ID, 0x100);
    assert_eq!(UFFD_FEATURE_MINOR_SHMEM, 0x400);
    assert_eq!(UFFD_FEATURE_EXACT_ADDRESS, 0x800);
    assert_eq!(UFFD_FEATURE_POISON, 0x4000);
    assert_eq!(UFFD_FEATURE_MOVE, 0x1_0000);
    assert_eq!(UFFD_PAGEFAULT_FLAG_MINOR, 4);
    assert_eq!(UFFD_EVENT_PAGEFAULT, 0x12);
    assert_eq!(UFFD_EVENT_UNMAP, 0x16);
    assert_eq!(UFFDIO_MOVE_MODE_ALLOW_SRC_HOLES, 2);
    assert_eq!(UFFDIO_ZEROPAGE_MODE_UNSHARED, 4);
    assert_eq!(UFFD_USER_MODE_ONLY, 1);
}

#[test]
fn default_msg_is_all_zero_bytes() {
    let msg = uffd_msg::default();
    // SAFETY: uffd_msg is plain old data of 32 bytes with no padding
    // (packed), so viewing it as bytes reads only initialized memory.
    let bytes: [u8; 32] = unsafe { std::mem::transmute(msg) };
    assert_eq!(bytes, [0u8; 32]);
}
