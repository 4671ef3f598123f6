//! The kernel selftest scenarios (`mremap_test.c`, `mremap_dontunmap.c`),
//! played against the model and against the running kernel: the same steps,
//! the same expected errnos, layouts and page contents on both sides.

mod common;
mod scenarios;

use mremap_shim::model::{AddressSpace, ModelConfig};
use scenarios::kernel::KernelOps;
use scenarios::{MemoryOps, ModelOps, Scenario};

/// Plays every scenario on a fresh side from `make`; returns how many ran.
/// Scenarios that need a userfaultfd are skipped (with the reason) when
/// `uffd` is false.
fn run_all(
    list: Vec<Scenario>,
    uffd: bool,
    make: impl Fn(&Scenario) -> Box<dyn MemoryOps>,
) -> usize {
    let mut failures = Vec::new();
    let mut ran = 0;
    for s in &list {
        if s.needs_uffd && !uffd {
            eprintln!(
                "skipped {:?}: this process cannot open a userfaultfd",
                s.name
            );
            continue;
        }
        let mut ops = make(s);
        if let Err(e) = scenarios::run(s, ops.as_mut()) {
            failures.push(e.to_string());
        }
        ran += 1;
    }
    assert!(
        failures.is_empty(),
        "failed scenarios:\n{}",
        failures.join("\n")
    );
    ran
}

fn model(_: &Scenario) -> Box<dyn MemoryOps> {
    Box::new(ModelOps::new(AddressSpace::new(ModelConfig::default())))
}

fn kernel(s: &Scenario) -> Box<dyn MemoryOps> {
    Box::new(KernelOps::new(s.span))
}

fn kernel_has_uffd() -> bool {
    common::uffd::Uffd::open().is_ok()
}

#[test]
fn model_passes_every_dontunmap_selftest_scenario() {
    assert!(run_all(scenarios::dontunmap_scenarios(), true, model) >= 5);
}

#[test]
fn model_passes_every_mremap_test_scenario() {
    assert!(run_all(scenarios::mremap_test_scenarios(), true, model) >= 10);
}

#[test]
fn kernel_passes_every_dontunmap_selftest_scenario() {
    assert!(run_all(scenarios::dontunmap_scenarios(), kernel_has_uffd(), kernel) >= 5);
}

#[test]
fn kernel_passes_every_mremap_test_scenario() {
    assert!(
        run_all(
            scenarios::mremap_test_scenarios(),
            kernel_has_uffd(),
            kernel
        ) >= 8
    );
}

#[test]
fn scenario_runner_reports_a_wrong_expectation() {
    use mremap_shim::model::{Backing, Prot};
    use scenarios::{Expect, Loc, Step};
    let s = Scenario {
        name: "deliberately wrong",
        span: 1 << 20,
        needs_uffd: false,
        steps: vec![
            Step::Mmap {
                at: Loc::Base(0),
                len: 4096,
                prot: Prot::RW,
                backing: Backing::PrivateAnon,
            },
            Step::Mremap {
                addr: Loc::Base(0),
                old_len: 4096,
                new_len: 4096,
                flags: 0,
                new_addr: Loc::Abs(0),
                expect: Expect::Err(nix::errno::Errno::EINVAL),
            },
        ],
    };
    for side in [model as fn(&Scenario) -> Box<dyn MemoryOps>, kernel] {
        let mut ops = side(&s);
        let err = scenarios::run(&s, ops.as_mut()).unwrap_err();
        assert_eq!(err.step, 1, "{err}");
    }
}
