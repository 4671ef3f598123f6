//! The examples, scaled down (each example's `// @scale` line is set to its
//! `// test-scale:` value), must print their `// test-expect:` lines in the
//! default mode and under `--gc-stress` in every collector mode.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{files_under, parallel_map, run_vm};

const TIMEOUT: Duration = Duration::from_secs(300);

struct ScaledExample {
    name: String,
    source: PathBuf,
    expected: String,
}

/// Writes the scaled-down copy of `path` and returns it with its expectation.
fn scale_down(path: &Path, dir: &Path) -> ScaledExample {
    let text = std::fs::read_to_string(path).expect("examples are UTF-8");
    let scale = text
        .lines()
        .find_map(|l| l.strip_prefix("// test-scale: "))
        .unwrap_or_else(|| panic!("{} has no test-scale line", path.display()))
        .trim()
        .to_string();
    let expected: String = text
        .lines()
        .filter_map(|l| l.strip_prefix("// test-expect: "))
        .map(|l| format!("{l}\n"))
        .collect();
    assert!(
        !expected.is_empty(),
        "{} has no test-expect lines",
        path.display()
    );
    let mut scaled_lines = 0;
    let scaled: String = text
        .lines()
        .map(|l| {
            if l.ends_with("// @scale") {
                scaled_lines += 1;
                let name = l.split('=').next().unwrap_or("");
                format!("{name}= {scale}; // @scale\n")
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    assert_eq!(
        scaled_lines,
        1,
        "{} needs exactly one @scale line",
        path.display()
    );
    let name = path
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("example")
        .to_string();
    let source = dir.join(format!("{name}.lox"));
    std::fs::write(&source, scaled).expect("temp dir is writable");
    ScaledExample {
        name,
        source,
        expected,
    }
}

fn examples(tag: &str) -> Vec<ScaledExample> {
    let dir = std::env::temp_dir().join(format!("demo-vm-examples-{}-{tag}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir can be created");
    let all = files_under(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("examples"),
        "lox",
    );
    assert!(
        all.len() >= 4,
        "expected at least four examples, found {}",
        all.len()
    );
    all.iter().map(|p| scale_down(p, &dir)).collect()
}

fn check_all(extra: &[&str], tag: &str) {
    let list = examples(tag);
    let results = parallel_map(&list, |ex| {
        let mut args: Vec<&str> = extra.to_vec();
        let src = ex.source.to_str().expect("temp paths are UTF-8");
        args.push(src);
        let out = run_vm(&args, b"", TIMEOUT);
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        if out.code == Some(0) && stdout == ex.expected {
            Ok(())
        } else {
            Err(format!(
                "== {} {extra:?}: exit {:?}\nstdout:\n{stdout}--- expected:\n{}--- stderr:\n{}",
                ex.name,
                out.code,
                ex.expected,
                String::from_utf8_lossy(&out.stderr)
            ))
        }
    });
    let failures: Vec<String> = results.into_iter().filter_map(Result::err).collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn scaled_examples_print_their_expected_results() {
    check_all(&[], "plain");
}

#[test]
fn scaled_examples_print_the_same_under_gc_stress_in_stw_mode() {
    check_all(
        &["--gc-stress", "--gc", "stw", "--heap-limit", "16M"],
        "stw",
    );
}

#[test]
fn scaled_examples_print_the_same_under_gc_stress_in_uffd_copy_mode() {
    check_all(
        &["--gc-stress", "--gc", "uffd-copy", "--heap-limit", "16M"],
        "uffd-copy",
    );
}

#[test]
fn scaled_examples_print_the_same_under_gc_stress_in_uffd_workers_mode() {
    check_all(
        &["--gc-stress", "--gc", "uffd-workers", "--heap-limit", "16M"],
        "uffd-workers",
    );
}

#[test]
fn scaled_examples_print_the_same_under_gc_stress_in_uffd_mode() {
    check_all(
        &["--gc-stress", "--gc", "uffd", "--heap-limit", "16M"],
        "uffd",
    );
}
