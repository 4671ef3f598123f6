//! `GC_GENERATIONAL` (its own process: the environment is global): `0`
//! turns generational collection off in the stop-the-world mode, where it
//! is on by default; a bad value is an error naming the variable.

use runtime::{ConfigError, Mode, Runtime};

/// Young cycles after one young request in a stop-the-world runtime built
/// from the environment.
fn young_cycles_on_request() -> u64 {
    let rt = Runtime::builder()
        .mode(Mode::Stw)
        .heap_limit(16 << 20)
        .build()
        .expect("runtime");
    let mut m = rt.mutator().expect("mutator");
    m.collect_young().expect("collection");
    drop(m);
    rt.stats().young_cycles
}

#[test]
fn gc_generational_switches_young_cycles() {
    std::env::set_var("GC_GENERATIONAL", "0");
    assert_eq!(young_cycles_on_request(), 0, "GC_GENERATIONAL=0: off");
    std::env::set_var("GC_GENERATIONAL", "1");
    assert_eq!(young_cycles_on_request(), 1, "GC_GENERATIONAL=1: on");
    std::env::remove_var("GC_GENERATIONAL");
    assert_eq!(young_cycles_on_request(), 1, "on by default in stw");
    std::env::set_var("GC_GENERATIONAL", "sometimes");
    let e = Runtime::builder().build().err().expect("refused");
    assert!(
        matches!(
            e,
            ConfigError::Env {
                var: "GC_GENERATIONAL",
                ..
            }
        ),
        "{e}"
    );
}
