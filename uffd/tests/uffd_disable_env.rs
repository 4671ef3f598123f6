//! `GC_UFFD_DISABLE=1` forces "no userfaultfd". Its own test binary, because
//! setting an environment variable races with other threads reading it.

use uffd::{OpenOptions, UffdError, UffdFeatures, UserFaultFd, DISABLE_ENV};

#[test]
fn env_var_disables_probe_and_open_with_a_reason() {
    std::env::set_var(DISABLE_ENV, "1");
    let features = UffdFeatures::probe();
    let open = UserFaultFd::open(&OpenOptions::new());
    std::env::remove_var(DISABLE_ENV);

    assert!(!features.is_available());
    let reason = features.unavailable_reason().unwrap_or_default();
    assert!(reason.contains("GC_UFFD_DISABLE=1"), "reason: {reason}");
    match open {
        Err(UffdError::Disabled { reason }) => {
            assert!(reason.contains("GC_UFFD_DISABLE"), "{reason}")
        }
        other => panic!("expected Disabled, got {other:?}"),
    }
}
