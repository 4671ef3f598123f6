//! The kernel selftest scenarios (`mremap_test.c`, `mremap_dontunmap.c`)
//! played against the model.

use mremap_shim::model::scenarios::{self, ModelOps};
use mremap_shim::model::{AddressSpace, ModelConfig};

fn run_all(list: Vec<scenarios::Scenario>) -> usize {
    let mut failures = Vec::new();
    let n = list.len();
    for s in &list {
        let mut ops = ModelOps::new(AddressSpace::new(ModelConfig::default()));
        if let Err(e) = scenarios::run(s, &mut ops) {
            failures.push(e.to_string());
        }
    }
    assert!(
        failures.is_empty(),
        "failed scenarios:\n{}",
        failures.join("\n")
    );
    n
}

#[test]
fn model_passes_every_dontunmap_selftest_scenario() {
    assert!(run_all(scenarios::dontunmap_scenarios()) >= 5);
}

#[test]
fn model_passes_every_mremap_test_scenario() {
    assert!(run_all(scenarios::mremap_test_scenarios()) >= 10);
}

#[test]
fn scenario_runner_reports_a_wrong_expectation() {
    use mremap_shim::model::scenarios::{Expect, Loc, Scenario, Step};
    use mremap_shim::model::{Backing, Prot};
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
    let mut ops = ModelOps::new(AddressSpace::new(ModelConfig::default()));
    let err = scenarios::run(&s, &mut ops).unwrap_err();
    assert_eq!(err.step, 1);
}
