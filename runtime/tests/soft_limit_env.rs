//! `GC_SOFT_LIMIT` (its own process: the environment is global): a bad
//! value and one above the heap limit are errors naming the variable, and
//! a good one reaches the runtime.

use runtime::{ConfigError, Mode, Runtime};

#[test]
fn gc_soft_limit_is_parsed_and_checked() {
    std::env::set_var("GC_SOFT_LIMIT", "lots");
    let e = Runtime::builder().build().err().expect("refused");
    assert!(
        matches!(
            e,
            ConfigError::Env {
                var: "GC_SOFT_LIMIT",
                ..
            }
        ),
        "{e}"
    );
    assert!(e.to_string().contains("GC_SOFT_LIMIT"), "{e}");

    std::env::set_var("GC_HEAP_LIMIT", "64M");
    std::env::set_var("GC_SOFT_LIMIT", "96M");
    let e = Runtime::builder().build().err().expect("refused");
    assert!(e.to_string().contains("GC_SOFT_LIMIT"), "{e}");
    assert!(e.to_string().contains("at most the heap limit"), "{e}");

    std::env::set_var("GC_SOFT_LIMIT", "48M");
    let rt = Runtime::builder().mode(Mode::Stw).build().expect("runtime");
    assert_eq!(rt.soft_limit(), Some(48 << 20));
}
