//! `GC_LOG` with a bad value is an error that names the variable (its own
//! test binary: it sets the process environment).

use runtime::Runtime;

#[test]
fn a_bad_gc_log_value_is_an_error_naming_the_variable() {
    std::env::set_var("GC_LOG", "verbose");
    let e = Runtime::builder()
        .build()
        .err()
        .expect("a bad GC_LOG is refused");
    let text = e.to_string();
    assert!(
        text.contains("GC_LOG") && text.contains("\"verbose\""),
        "{text}"
    );
    std::env::set_var("GC_LOG", "1");
    assert!(
        Runtime::builder().build().is_ok(),
        "GC_LOG=1 still means info"
    );
    std::env::remove_var("GC_LOG");
}
