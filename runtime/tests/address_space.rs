//! Under an address-space limit (`RLIMIT_AS`) of 1 GiB a runtime with an
//! 8 MiB heap is built and collects in every mode (a heap used to reserve
//! 9 GiB whatever its limit), and one whose heap cannot fit says that the
//! heap reserves address space, and how much.
//!
//! `setrlimit` binds the whole process, so the parent re-executes this test
//! binary with the limit set between fork and exec, to run
//! [`address_space_child_entry`]; the child reports through its exit code.

#[path = "../../uffd/tests/child/mod.rs"]
mod child;

use runtime::{AllocSpec, ConfigError, Mode, Runtime, Value};

const CHILD_ENV: &str = "RUNTIME_ADDRESS_SPACE_CHILD";
const RLIMIT: u64 = 1 << 30;

/// The child's exit codes, each naming the check that failed.
const CHILD_CODES: &[(i32, &str)] = &[
    (0, "ok"),
    (10, "an 8 MiB runtime could not be built"),
    (11, "allocation or collection failed"),
    (12, "the graph changed across collections"),
    (13, "a 4 GiB heap was created within 1 GiB of address space"),
    (
        14,
        "the error does not say that the heap reserves address space, and how much",
    ),
];

fn child_body() -> i32 {
    for mode in Mode::ALL {
        let rt = match Runtime::builder().mode(mode).heap_limit(8 << 20).build() {
            Ok(rt) => rt,
            Err(e) => {
                eprintln!("child: {mode}: {e}");
                return 10;
            }
        };
        if let Some(reason) = rt.fallback_reason() {
            eprintln!("child: {mode} runs as {}: {reason}", rt.mode());
        }
        let mut m = rt.mutator().expect("mutator");
        m.push(Value::NIL);
        // About 24 MiB allocated, a tenth of it live: several cycles.
        for i in 0..200_000u64 {
            let Ok((m, o)) = m.alloc(AllocSpec {
                tag: 1,
                slots: 1,
                bytes: 96,
                ..Default::default()
            }) else {
                return 11;
            };
            if i % 10 == 0 {
                m.write(o, 0, m.stack_get(0));
                m.stack_set(0, o.into());
            }
        }
        let before = m.checksum();
        if m.collect().and_then(|()| m.finish_cycle()).is_err() {
            return 11;
        }
        if m.checksum() != before || m.verify().is_err() {
            return 12;
        }
    }
    match Runtime::builder().heap_limit(4 << 30).build() {
        Ok(_) => 13,
        Err(e @ ConfigError::Heap(_)) => {
            let msg = e.to_string();
            eprintln!("child: 4 GiB heap: {msg}");
            if msg.contains("the heap reserves address space")
                && msg.contains("a heap limit of 4096 MiB needs")
                && msg.contains("RLIMIT_AS")
            {
                0
            } else {
                14
            }
        }
        Err(e) => {
            eprintln!("child: 4 GiB heap: {e}");
            14
        }
    }
}

#[test]
fn an_8_mib_runtime_runs_in_1_gib_of_address_space_in_every_mode() {
    child::assert_passes_under_rlimit_as(
        "address_space_child_entry",
        CHILD_ENV,
        RLIMIT,
        CHILD_CODES,
    );
}

/// The re-executed child's entry (see the module doc); ignored in normal
/// runs.
#[test]
#[ignore = "entry point of the child process spawned under RLIMIT_AS"]
fn address_space_child_entry() {
    if std::env::var_os(CHILD_ENV).is_none() {
        return;
    }
    std::process::exit(child_body());
}
