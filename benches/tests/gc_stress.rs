//! The stress workload end to end: a short run per mode finds nothing
//! wrong, and a payload corrupted on purpose is found.

use std::time::Duration;

use benches::stress::{run, StressConfig};
use runtime::{Mode, Runtime};

/// A short run: 3 threads for about 3 s on an 8 MiB live heap.
fn short(mode: Mode) -> StressConfig {
    StressConfig {
        threads: 3,
        duration: Duration::from_secs(3),
        mode,
        seed: 7,
        live: 8 << 20,
        lifetime_ops: 20_000,
        full_check_ops: 5_000,
        // Several explicit full collections (each verified by the runtime)
        // and heap verifications in 3 s.
        collect_interval: Duration::from_millis(700),
        verify_interval: Duration::from_millis(500),
        progress: None,
        ..StressConfig::default()
    }
}

/// Whether the runtime gives `mode` rather than falling back to stw
/// (userfaultfd unavailable); prints the skip reason if not.
fn mode_available(mode: Mode) -> bool {
    let probe = Runtime::builder().mode(mode).heap_limit(16 << 20).build();
    match probe {
        Ok(rt) if rt.mode() == Mode::Stw && mode != Mode::Stw => {
            eprintln!(
                "skipped: {mode} fell back to stw: {}",
                rt.fallback_reason().unwrap_or("no reason given")
            );
            false
        }
        Ok(_) => true,
        Err(e) => panic!("cannot build a {mode} runtime: {e}"),
    }
}

fn passes_in(mode: Mode) {
    if !mode_available(mode) {
        return;
    }
    let report = run(&short(mode)).expect("the stress run starts");
    eprintln!("{report}");
    assert!(
        report.passed(),
        "{mode}: {} failures: {:#?}",
        report.failure_count,
        report.failures
    );
    assert!(report.cycles > 0, "{mode}: no collection ran in 3 s");
    assert!(
        report.collections > 0 && report.verifies > 0,
        "{mode}: {} full collections and {} verifications in 3 s",
        report.collections,
        report.verifies
    );
    assert!(
        report.checks > 0 && report.operations > 0,
        "{mode}: no work done"
    );
    assert!(
        report.threads_started > report.threads as u64,
        "{mode}: no worker thread was replaced ({} started)",
        report.threads_started
    );
}

#[test]
fn three_threads_find_no_corruption_in_stw() {
    passes_in(Mode::Stw);
}

#[test]
fn three_threads_find_no_corruption_in_uffd() {
    passes_in(Mode::Uffd);
}

#[test]
fn a_corrupted_payload_byte_is_reported_with_its_node() {
    let config = StressConfig {
        threads: 2,
        duration: Duration::from_secs(20),
        mode: Mode::Stw,
        verify_collections: false,
        corrupt_at_op: Some(2_000),
        full_check_ops: 1_000,
        lifetime_ops: 1_000_000,
        ..short(Mode::Stw)
    };
    let report = run(&config).expect("the stress run starts");
    let id = report
        .corrupted_node
        .expect("worker 0 found a small node of its own to corrupt");
    assert!(!report.passed(), "the corruption went unnoticed: {report}");
    let needle = format!("node {id:#x}");
    assert!(
        report
            .failures
            .iter()
            .any(|f| f.contains(&needle) && f.contains("payload")),
        "no failure names the payload of {needle}: {:#?}",
        report.failures
    );
    assert!(
        report.seconds < 15.0,
        "a failure ends the run early ({:.1}s)",
        report.seconds
    );
}

#[test]
fn random_young_and_full_collections_find_no_corruption_in_stw() {
    let config = StressConfig {
        young_every: 2,
        collect_interval: Duration::from_millis(100),
        ..short(Mode::Stw)
    };
    let report = run(&config).expect("the stress run starts");
    eprintln!("{report}");
    assert!(report.passed(), "{:#?}", report.failures);
    assert!(
        report.young_collections > 0 && report.young_collections < report.collections,
        "{} young of {} explicit collections",
        report.young_collections,
        report.collections
    );
    let k = &report.kinds;
    assert!(
        k.young_cycles >= report.young_collections && k.full_cycles > 0,
        "{k:?}"
    );
    assert_eq!(k.young_cycles + k.full_cycles, report.cycles);
}
