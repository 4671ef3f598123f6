//! Opening a userfaultfd and probing features on the running kernel.

mod uffd_common;

use uffd::{OpenMethod, OpenOptions, RegisterMode, UffdError, UffdFeatures, UserFaultFd};
use uffd_common::{probe_or_skip, Mapping};
use userfaultfd_sys as sys;

#[test]
fn probe_and_open_agree_on_method_and_features() {
    let Some(features) = probe_or_skip("probe_and_open_agree", |_| true, "") else {
        return;
    };
    println!("{}", features.summary());
    for failure in &features.open_failures {
        println!("  earlier attempt: {failure}");
    }
    let uffd = match UserFaultFd::open(&OpenOptions::new()) {
        Ok(uffd) => uffd,
        Err(err) => panic!("probe said available but open failed: {err}"),
    };
    println!(
        "opened via {} (features enabled {:#x}, offered {:#x}, api ioctls {:#x})",
        uffd.method(),
        uffd.features(),
        uffd.offered_features(),
        uffd.api_ioctls()
    );
    assert_eq!(Some(uffd.method()), features.method);
    assert_eq!(uffd.offered_features(), features.offered);
    // The handshake reports the fd-wide ioctls: REGISTER, UNREGISTER, API.
    assert_eq!(
        uffd.api_ioctls() & sys::UFFD_API_IOCTLS,
        sys::UFFD_API_IOCTLS
    );
    assert_eq!(
        uffd.features() & sys::UFFD_FEATURE_EVENT_REMAP,
        0,
        "EVENT_REMAP must never be requested"
    );
    assert!(!uffd.is_sigbus());
    assert_eq!(uffd.has_thread_id(), features.thread_id);
}

#[test]
fn method_display_names_the_mechanism() {
    let names: Vec<String> = OpenMethod::ALL.iter().map(ToString::to_string).collect();
    assert!(names[0].contains("UFFD_USER_MODE_ONLY"), "{}", names[0]);
    assert!(names[1].contains("/dev/userfaultfd"), "{}", names[1]);
    assert!(names[2].contains("without"), "{}", names[2]);
    assert!(OpenMethod::SyscallUserModeOnly.user_mode_only());
    assert!(!OpenMethod::Syscall.user_mode_only());
}

#[test]
fn sigbus_mode_is_a_separate_fd_with_the_sigbus_feature() {
    let Some(_) = probe_or_skip(
        "sigbus_mode_is_a_separate_fd",
        |f| f.sigbus,
        "UFFD_FEATURE_SIGBUS",
    ) else {
        return;
    };
    let events = uffd_common::open(OpenOptions::new());
    let sigbus = uffd_common::open(OpenOptions::new().sigbus(true));
    assert!(sigbus.is_sigbus() && !events.is_sigbus());
    assert!(
        !sigbus.has_thread_id(),
        "thread ids are meaningless in SIGBUS mode"
    );
    // One range belongs to one userfaultfd: the second registration is refused.
    let page = Mapping::anon(1);
    events
        .register(page.ptr, page.len, RegisterMode::Missing)
        .expect("register with the event-mode fd");
    let err = sigbus
        .register(page.ptr, page.len, RegisterMode::Missing)
        .expect_err("a range registered with one uffd cannot join another");
    assert_eq!(err.errno(), Some(nix::errno::Errno::EBUSY), "{err}");
}

#[test]
fn minor_shmem_request_is_granted_when_offered() {
    let Some(_) = probe_or_skip(
        "minor_shmem_request",
        |f| f.minor_shmem,
        "UFFD_FEATURE_MINOR_SHMEM",
    ) else {
        return;
    };
    let uffd = uffd_common::open(OpenOptions::new().minor_shmem(true));
    assert_ne!(uffd.features() & sys::UFFD_FEATURE_MINOR_SHMEM, 0);
}

#[test]
fn disabled_option_yields_a_clear_reason() {
    let err = UserFaultFd::open(&OpenOptions::new().disabled(true)).expect_err("forced off");
    assert!(matches!(err, UffdError::Disabled { .. }), "{err}");
    assert!(err.to_string().contains("disabled"), "{err}");
    let features = UffdFeatures::probe_with(true);
    assert!(!features.is_available());
    assert!(
        features.summary().contains("disabled"),
        "{}",
        features.summary()
    );
}

#[test]
fn fd_hands_over_to_the_userfaultfd_crate() {
    let Some(_) = probe_or_skip("fd_hands_over", |_| true, "") else {
        return;
    };
    let uffd = uffd_common::open(OpenOptions::new());
    let crate_uffd = uffd.into_uffd();
    let page = Mapping::anon(1);
    let ioctls = crate_uffd
        .register(page.ptr.cast(), page.len)
        .expect("the crate can register with our handshaken fd");
    assert!(ioctls.contains(userfaultfd::IoctlFlags::COPY));
}
