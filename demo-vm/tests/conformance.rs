//! The conformance suite: every `tests/lox/**/*.lox` file run through the
//! binary, stdout/stderr/exit code compared exactly with the expectation
//! comments (format: `tests/lox/README.md`); then the whole suite again
//! under `--gc-stress` in every collector mode.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{files_under, parallel_map, run_vm};

/// Safety net against a hung VM (not a performance assertion).
const TIMEOUT: Duration = Duration::from_secs(120);

/// What one file expects.
#[derive(Debug, Default)]
struct Expectation {
    stdout: Vec<String>,
    stderr: Vec<String>,
    exit: i32,
    args: Vec<String>,
    skip_stress: bool,
}

fn after<'a>(line: &'a str, marker: &str) -> Option<&'a str> {
    line.find(marker).map(|i| &line[i + marker.len()..])
}

fn parse_expectation(source: &[u8]) -> Expectation {
    let text = String::from_utf8_lossy(source);
    let mut e = Expectation::default();
    let mut compile_error = false;
    let mut runtime_error = false;
    let mut explicit_exit = None;
    let mut pending_default_trace: Option<String> = None;
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        if let Some(t) = after(line, "// expect: ") {
            e.stdout.push(t.to_string());
        } else if let Some(t) = after(line, "// expect runtime error: ") {
            runtime_error = true;
            e.stderr.push(t.to_string());
            pending_default_trace = Some(format!("[line {n}] in script"));
        } else if let Some(t) = after(line, "// trace: ") {
            pending_default_trace = None;
            e.stderr.push(t.to_string());
        } else if let Some(t) = after(line, "// stderr: ") {
            e.stderr.push(t.to_string());
        } else if let Some(t) = after(line, "// exit: ") {
            explicit_exit = t.trim().parse().ok();
        } else if let Some(t) = after(line, "// args: ") {
            e.args.extend(t.split_whitespace().map(str::to_string));
        } else if line.contains("// stress: skip") {
            e.skip_stress = true;
        } else if let Some(t) = after(line, "// [line ") {
            compile_error = true;
            e.stderr.push(format!("[line {t}"));
        } else if let Some(t) = after(line, "// Error") {
            compile_error = true;
            e.stderr.push(format!("[line {n}] Error{t}"));
        }
    }
    if let Some(t) = pending_default_trace {
        e.stderr.push(t);
    }
    e.exit = explicit_exit.unwrap_or(if compile_error {
        65
    } else if runtime_error {
        70
    } else {
        0
    });
    e
}

/// Runs one file with `extra` flags; `Err` describes the mismatch.
fn check_file(path: &Path, extra: &[&str]) -> Result<(), String> {
    let source = std::fs::read(path).map_err(|e| format!("cannot read: {e}"))?;
    let e = parse_expectation(&source);
    let path_str = path.to_str().ok_or("non-UTF-8 path")?;
    let mut args: Vec<&str> = extra.to_vec();
    args.extend(e.args.iter().map(String::as_str));
    args.push(path_str);
    let out = run_vm(&args, b"", TIMEOUT);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let want_out: String = e.stdout.iter().map(|l| format!("{l}\n")).collect();
    let want_err: String = e.stderr.iter().map(|l| format!("{l}\n")).collect();
    let mut problems = Vec::new();
    if out.timed_out {
        problems.push("timed out".to_string());
    }
    if out.code != Some(e.exit) {
        problems.push(format!("exit code {:?}, expected {}", out.code, e.exit));
    }
    if stdout != want_out {
        problems.push(format!("stdout:\n{stdout}--- expected:\n{want_out}---"));
    }
    if stderr != want_err {
        problems.push(format!("stderr:\n{stderr}--- expected:\n{want_err}---"));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("\n"))
    }
}

fn suite_files() -> Vec<PathBuf> {
    files_under(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/lox"),
        "lox",
    )
}

/// Runs the suite with `extra` flags and panics listing every failure.
fn run_suite(extra: &[&str], stress: bool) -> usize {
    let files: Vec<PathBuf> = suite_files()
        .into_iter()
        .filter(|p| {
            !stress || !parse_expectation(&std::fs::read(p).unwrap_or_default()).skip_stress
        })
        .collect();
    assert!(
        files.len() >= 100,
        "the suite has only {} files",
        files.len()
    );
    let results = parallel_map(&files, |p| check_file(p, extra));
    let failures: Vec<String> = files
        .iter()
        .zip(&results)
        .filter_map(|(p, r)| {
            r.as_ref()
                .err()
                .map(|e| format!("== {} ({extra:?})\n{e}", p.display()))
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} files failed:\n{}",
        failures.len(),
        files.len(),
        failures.join("\n")
    );
    files.len()
}

#[test]
fn every_suite_file_matches_its_expectations() {
    run_suite(&[], false);
}

#[test]
fn suite_output_is_identical_under_gc_stress_in_stw_mode() {
    run_suite(&["--gc-stress", "--gc", "stw", "--heap-limit", "16M"], true);
}

#[test]
fn suite_output_is_identical_under_gc_stress_in_uffd_copy_mode() {
    run_suite(
        &["--gc-stress", "--gc", "uffd-copy", "--heap-limit", "16M"],
        true,
    );
}

#[test]
fn suite_output_is_identical_under_gc_stress_in_uffd_workers_mode() {
    run_suite(
        &["--gc-stress", "--gc", "uffd-workers", "--heap-limit", "16M"],
        true,
    );
}

#[test]
fn suite_output_is_identical_under_gc_stress_in_uffd_mode() {
    run_suite(
        &["--gc-stress", "--gc", "uffd", "--heap-limit", "16M"],
        true,
    );
}

#[test]
fn expectation_parser_derives_lines_and_exit_codes() {
    let e = parse_expectation(
        b"print 1; // expect: 1\nx; // Error at 'x': bad\n// [line 9] Error at end: eof\n",
    );
    assert_eq!(e.stdout, ["1"]);
    assert_eq!(
        e.stderr,
        ["[line 2] Error at 'x': bad", "[line 9] Error at end: eof"]
    );
    assert_eq!(e.exit, 65);
    let r = parse_expectation(b"\n-nil; // expect runtime error: Operand must be a number.\n");
    assert_eq!(
        r.stderr,
        ["Operand must be a number.", "[line 2] in script"]
    );
    assert_eq!(r.exit, 70);
}
