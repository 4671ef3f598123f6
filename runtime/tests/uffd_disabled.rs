//! With userfaultfd forced off (`GC_UFFD_DISABLE=1`, as if the kernel had
//! none) the uffd modes select `stw` and say why. Its own test binary:
//! setting an environment variable races with other threads reading it.

use runtime::{AllocSpec, Mode, Runtime};

#[test]
fn forcing_the_probe_to_find_no_userfaultfd_selects_stw_with_a_reason() {
    std::env::set_var("GC_UFFD_DISABLE", "1");
    let runtimes: Vec<_> = [Mode::UffdCopy, Mode::UffdWorkers, Mode::Sigbus, Mode::Uffd]
        .into_iter()
        .map(|mode| {
            (
                mode,
                Runtime::builder().mode(mode).build().expect("runtime"),
            )
        })
        .collect();
    std::env::remove_var("GC_UFFD_DISABLE");
    for (mode, rt) in runtimes {
        assert_eq!(rt.requested_mode(), mode);
        assert_eq!(rt.mode(), Mode::Stw, "{mode} falls back to stw");
        let reason = rt.fallback_reason().expect("a fallback reason");
        assert!(
            reason.contains(mode.name()) && reason.contains("GC_UFFD_DISABLE"),
            "the reason names the mode and the cause: {reason}"
        );
        // And the fallback collects.
        let mut m = rt.mutator().expect("mutator");
        let (m2, o) = m
            .alloc(AllocSpec {
                tag: 1,
                slots: 1,
                bytes: 8,
                ..Default::default()
            })
            .expect("alloc");
        m2.push(o.into());
        let before = m.checksum();
        m.collect().expect("stw collection");
        assert_eq!(m.checksum(), before);
        assert_eq!(rt.stats().cycles, 1);
    }
}
