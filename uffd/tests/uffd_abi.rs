//! The vendored `userfaultfd-sys` against the uapi header, from inside the
//! workspace (the vendor crate's own tests run only with its manifest): struct
//! sizes as `<linux/userfaultfd.h>` gives them, and request codes as nix's
//! independent `_IOC` encoding computes them.

use std::mem::size_of;
use userfaultfd_sys::*;

#[test]
fn struct_sizes_match_the_uapi() {
    assert_eq!(size_of::<uffd_msg>(), 32);
    assert_eq!(size_of::<uffdio_api>(), 24);
    assert_eq!(size_of::<uffdio_range>(), 16);
    assert_eq!(size_of::<uffdio_register>(), 32);
    assert_eq!(size_of::<uffdio_copy>(), 40);
    assert_eq!(size_of::<uffdio_zeropage>(), 32);
    assert_eq!(size_of::<uffdio_continue>(), 32);
    assert_eq!(size_of::<uffdio_move>(), 40);
    assert_eq!(size_of::<uffdio_poison>(), 32);
}

#[test]
fn request_codes_match_nix_ioc_encoding() {
    let ty = UFFDIO;
    assert_eq!(
        libc::Ioctl::from(UFFDIO_API),
        nix::request_code_readwrite!(ty, _UFFDIO_API, size_of::<uffdio_api>())
    );
    assert_eq!(
        libc::Ioctl::from(UFFDIO_COPY),
        nix::request_code_readwrite!(ty, _UFFDIO_COPY, size_of::<uffdio_copy>())
    );
    assert_eq!(
        libc::Ioctl::from(UFFDIO_MOVE),
        nix::request_code_readwrite!(ty, _UFFDIO_MOVE, size_of::<uffdio_move>())
    );
    assert_eq!(
        libc::Ioctl::from(UFFDIO_CONTINUE),
        nix::request_code_readwrite!(ty, _UFFDIO_CONTINUE, size_of::<uffdio_continue>())
    );
    assert_eq!(
        libc::Ioctl::from(UFFDIO_POISON),
        nix::request_code_readwrite!(ty, _UFFDIO_POISON, size_of::<uffdio_poison>())
    );
    assert_eq!(
        libc::Ioctl::from(UFFDIO_WAKE),
        nix::request_code_read!(ty, _UFFDIO_WAKE, size_of::<uffdio_range>())
    );
    assert_eq!(
        libc::Ioctl::from(USERFAULTFD_IOC_NEW),
        nix::request_code_none!(USERFAULTFD_IOC, 0)
    );
}
