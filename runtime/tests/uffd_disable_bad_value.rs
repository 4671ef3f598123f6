//! `GC_UFFD_DISABLE` takes `1` or `0`: any other value is an error naming
//! the variable and the accepted values, like every `GC_*` variable (it
//! used to be ignored). Its own test binary: setting an environment
//! variable races with other threads reading it.

use runtime::{ConfigError, Runtime};

#[test]
fn a_bad_gc_uffd_disable_value_is_an_error_naming_the_variable() {
    std::env::set_var("GC_UFFD_DISABLE", "banana");
    let bad = Runtime::builder().build();
    std::env::set_var("GC_UFFD_DISABLE", "0");
    let off = Runtime::builder().build();
    std::env::remove_var("GC_UFFD_DISABLE");
    match bad {
        Err(e @ ConfigError::Env { var, .. }) => {
            assert_eq!(var, "GC_UFFD_DISABLE");
            let msg = e.to_string();
            assert!(
                msg.contains("GC_UFFD_DISABLE")
                    && msg.contains("\"banana\"")
                    && msg.contains("1 (act as if the kernel had no userfaultfd) or 0"),
                "{msg}"
            );
        }
        Err(e) => panic!("expected an environment error, got {e}"),
        Ok(_) => panic!("GC_UFFD_DISABLE=banana was accepted"),
    }
    off.expect("GC_UFFD_DISABLE=0 is accepted");
}
