//! `GC_PROMOTION_AGE` (its own process: the environment is global): `1`
//! promotes a young survivor at its first young cycle, `2` (the default in
//! stw) at its second; a bad value is an error naming the variable.

use runtime::{AllocSpec, ConfigError, Mode, Runtime};

/// Whether an object that survived one young cycle of a stop-the-world
/// runtime built from the environment is old.
fn old_after_one_survival() -> bool {
    let rt = Runtime::builder()
        .mode(Mode::Stw)
        .generational(true)
        .heap_limit(16 << 20)
        .build()
        .expect("runtime");
    let mut m = rt.mutator().expect("mutator");
    m.collect().expect("full");
    let (r, o) = m.alloc(AllocSpec::default()).expect("object");
    r.push(o.into());
    m.collect_young().expect("young collection");
    let addr = m.stack_get(0).as_object().expect("the object").addr();
    rt.heap().is_old(addr)
}

#[test]
fn gc_promotion_age_sets_the_survivals_before_promotion() {
    std::env::set_var("GC_PROMOTION_AGE", "1");
    assert!(old_after_one_survival(), "GC_PROMOTION_AGE=1");
    std::env::set_var("GC_PROMOTION_AGE", "2");
    assert!(!old_after_one_survival(), "GC_PROMOTION_AGE=2");
    for bad in ["3", "0", "two"] {
        std::env::set_var("GC_PROMOTION_AGE", bad);
        let e = Runtime::builder().build().err().expect("refused");
        assert!(
            matches!(
                e,
                ConfigError::Env {
                    var: "GC_PROMOTION_AGE",
                    ..
                }
            ),
            "{bad}: {e}"
        );
    }
    std::env::remove_var("GC_PROMOTION_AGE");
    assert!(!old_after_one_survival(), "unset: two survivals in stw");
    let e = Runtime::builder().promotion_age(3).build().err();
    assert!(
        matches!(
            e,
            Some(ConfigError::BadValue {
                what: "promotion age",
                ..
            })
        ),
        "{e:?}"
    );
}
