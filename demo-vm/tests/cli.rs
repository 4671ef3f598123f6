//! The command line: usage and file errors, flags, the REPL, and heap
//! exhaustion, checked through the built binary.

mod common;

use std::time::Duration;

use common::run_vm;

const TIMEOUT: Duration = Duration::from_secs(120);

fn temp_script(name: &str, source: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("demo-vm-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir can be created");
    let p = dir.join(name);
    std::fs::write(&p, source).expect("temp dir is writable");
    p
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn two_scripts_are_a_usage_error_with_exit_64() {
    let out = run_vm(&["a.lox", "b.lox"], b"", TIMEOUT);
    assert_eq!(out.code, Some(64));
    assert!(text(&out.stderr).contains("Usage"), "{}", text(&out.stderr));
}

#[test]
fn unknown_flag_and_bad_mode_are_usage_errors() {
    assert_eq!(run_vm(&["--frobnicate"], b"", TIMEOUT).code, Some(64));
    let out = run_vm(&["--gc", "fast", "x.lox"], b"", TIMEOUT);
    assert_eq!(out.code, Some(64));
    assert!(
        text(&out.stderr).contains("stw, uffd-copy, uffd"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(
        run_vm(&["--heap-limit", "lots", "x.lox"], b"", TIMEOUT).code,
        Some(64)
    );
}

#[test]
fn unreadable_script_exits_74_with_clox_message() {
    let out = run_vm(&["/nonexistent/dir/script.lox"], b"", TIMEOUT);
    assert_eq!(out.code, Some(74));
    assert_eq!(
        text(&out.stderr),
        "Could not open file \"/nonexistent/dir/script.lox\".\n"
    );
}

#[test]
fn help_explains_every_flag_and_exits_0() {
    let out = run_vm(&["--help"], b"", TIMEOUT);
    assert_eq!(out.code, Some(0));
    let help = text(&out.stdout);
    for flag in [
        "--gc <MODE>",
        "--heap-limit <SIZE>",
        "--soft-limit <SIZE>",
        "--gc-log[=<LEVEL>]",
        "--gc-stats",
        "--version",
        "--gc-stress",
        "[SCRIPT]",
    ] {
        assert!(help.contains(flag), "--help lacks {flag}:\n{help}");
    }
}

#[test]
fn repl_keeps_globals_between_lines_and_survives_errors() {
    let input = b"var a = 1;\nprint a + 1;\nprint nope;\nprint a;\nvar = ;\nprint \"end\";\n";
    let out = run_vm(&[], input, TIMEOUT);
    assert_eq!(out.code, Some(0));
    assert_eq!(text(&out.stdout), "> > 2\n> > 1\n> > end\n> \n");
    assert_eq!(
        text(&out.stderr),
        "Undefined variable 'nope'.\n[line 1] in script\n[line 1] Error at '=': Expect variable name.\n"
    );
}

#[test]
fn repl_defines_functions_and_classes_across_lines() {
    let input =
        b"fun sq(x) { return x * x; }\nclass P { init(v) { this.v = v; } }\nprint sq(P(7).v);\n";
    let out = run_vm(&["--gc-stress"], input, TIMEOUT);
    assert_eq!(text(&out.stdout), "> > > 49\n> \n");
    assert_eq!(out.code, Some(0));
}

#[test]
fn unbounded_growth_prints_out_of_memory_and_exits_70() {
    let p = temp_script(
        "grow.lox",
        "class Cell {}\nvar head = nil;\nvar n = 0;\nwhile (true) { var c = Cell(); c.next = head; c.n = n; head = c; n = n + 1; }\n",
    );
    let out = run_vm(
        &["--heap-limit", "8M", p.to_str().expect("utf-8 temp path")],
        b"",
        TIMEOUT,
    );
    assert_eq!(out.code, Some(70), "stderr: {}", text(&out.stderr));
    assert_eq!(text(&out.stderr), "Out of memory.\n[line 4] in script\n");
}

/// Live data that keeps doubling (one rooted string) ends in `Out of
/// memory.` and exit 70 in every mode and at several limits; the
/// concurrent modes used to spin for ever once a compaction was in flight.
#[test]
fn doubling_live_data_ends_in_out_of_memory_in_every_mode() {
    let p = temp_script(
        "double_forever.lox",
        "var s = \"0123456789abcdef\";\nwhile (true) { s = s + s; }\n",
    );
    let path = p.to_str().expect("utf-8 temp path");
    let mut runs: Vec<Vec<&str>> = Vec::new();
    for mode in [
        "stw",
        "uffd-copy",
        "uffd-workers",
        "uffd-move",
        "sigbus",
        "uffd",
    ] {
        for limit in ["32M", "64M", "256M"] {
            runs.push(vec!["--gc", mode, "--heap-limit", limit, path]);
        }
    }
    // The default mode at the default limit (1 GiB).
    runs.push(vec![path]);
    for args in runs {
        let out = run_vm(&args, b"", TIMEOUT);
        assert!(!out.timed_out, "{args:?}: still running after {TIMEOUT:?}");
        assert_eq!(out.code, Some(70), "{args:?}: {}", text(&out.stderr));
        assert_eq!(
            text(&out.stderr),
            "Out of memory.\n[line 2] in script\n",
            "{args:?}"
        );
    }
    // With the log on, the runtime says why it gave up: at 48 MiB the
    // 32 MiB string does not fit beside its 16 MiB half, after every step.
    for mode in ["stw", "uffd"] {
        let out = run_vm(
            &["--gc", mode, "--gc-log", "--heap-limit", "48M", path],
            b"",
            TIMEOUT,
        );
        assert_eq!(out.code, Some(70), "{mode}: {}", text(&out.stderr));
        let err = text(&out.stderr);
        // (A compaction still in flight may log its line after the VM's.)
        assert!(
            err.contains("[gc] out of memory: ")
                && err.contains("a full collection and growth to the limit)\nOut of memory.\n[line 2] in script\n"),
            "{mode}: {err}"
        );
    }
}

/// Runs the binary with `args` under an address-space limit (`RLIMIT_AS`)
/// of `bytes`, set in the child between fork and exec.
fn run_vm_with_address_space(bytes: u64, args: &[&str]) -> std::process::Output {
    use std::os::unix::process::CommandExt;
    let mut cmd = std::process::Command::new(common::BIN);
    cmd.args(args)
        .env_remove("GC_MODE")
        .env_remove("GC_STRESS")
        .env_remove("GC_HEAP_LIMIT")
        .env_remove("GC_LOG");
    // SAFETY: the closure runs between fork and exec and calls only
    // setrlimit, which is async-signal-safe.
    unsafe {
        cmd.pre_exec(move || {
            let limit = libc::rlimit {
                rlim_cur: bytes,
                rlim_max: bytes,
            };
            if libc::setrlimit(libc::RLIMIT_AS, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    cmd.output().expect("the demo-vm binary runs")
}

/// Under a 1 GiB address-space limit a small heap works (a heap used to
/// reserve 9 GiB whatever its limit), and the default 1 GiB heap, which
/// does not fit, says that the heap reserves address space and how much.
#[test]
fn a_small_heap_runs_under_an_address_space_limit_and_a_large_one_says_why_not() {
    let p = temp_script("hello_rlimit.lox", "print \"hi\";\n");
    let path = p.to_str().expect("utf-8 temp path");
    let out = run_vm_with_address_space(1 << 30, &["--heap-limit", "8M", path]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "hi\n");
    let out = run_vm_with_address_space(1 << 30, &[path]);
    assert_eq!(out.status.code(), Some(64), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(
        err.contains("the heap reserves address space: a heap limit of 1024 MiB needs")
            && err.contains("RLIMIT_AS"),
        "{err}"
    );
}

/// A thread that cannot be created is reported with its cause (it used to
/// be a bare "internal error"): under 128 MiB of address space the
/// interpreter's 256 MiB stack does not fit.
#[test]
fn a_failed_thread_spawn_is_reported_with_its_cause() {
    let p = temp_script("hello_spawn.lox", "print \"hi\";\n");
    let out = run_vm_with_address_space(128 << 20, &[p.to_str().expect("utf-8 temp path")]);
    assert_eq!(out.status.code(), Some(70), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(
        err.starts_with("demo-vm: cannot start the interpreter thread (a 256 MiB stack): ")
            && err.contains("os error"),
        "{err}"
    );
}

#[test]
fn gc_heap_limit_env_overrides_the_default_and_the_flag_overrides_both() {
    // About 24 MiB live at the end (a 16 MiB string and its 8 MiB half).
    let p = temp_script(
        "double.lox",
        "var s = \"x\";\nfor (var i = 0; i < 24; i = i + 1) s = s + s;\nprint \"built\";\n",
    );
    let run = |args: &[&str]| {
        std::process::Command::new(common::BIN)
            .args(args)
            .arg(&p)
            .env("GC_HEAP_LIMIT", "8M")
            .env_remove("GC_MODE")
            .env_remove("GC_STRESS")
            .output()
            .expect("the demo-vm binary runs")
    };
    let out = run(&[]);
    assert_eq!(out.status.code(), Some(70), "{}", text(&out.stderr));
    assert_eq!(text(&out.stderr), "Out of memory.\n[line 2] in script\n");
    let out = run(&["--heap-limit", "64M"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "built\n");
    // Without either, demo-vm's 1 GiB default applies.
    let out = run_vm(&[p.to_str().expect("utf-8 temp path")], b"", TIMEOUT);
    assert_eq!(out.code, Some(0), "{}", text(&out.stderr));
}

#[test]
fn gc_stats_flag_prints_a_summary_at_exit() {
    let p = temp_script(
        "stats.lox",
        "for (var i = 0; i < 3; i = i + 1) gc();\nprint \"done\";\n",
    );
    let out = run_vm(
        &["--gc-stats", p.to_str().expect("utf-8 temp path")],
        b"",
        TIMEOUT,
    );
    assert_eq!(out.code, Some(0));
    assert_eq!(text(&out.stdout), "done\n");
    let err = text(&out.stderr);
    assert!(
        err.contains("cycles") && err.contains("p99") && err.contains("faults"),
        "{err}"
    );
}

#[test]
fn gc_log_flag_prints_one_line_per_cycle() {
    let p = temp_script("log.lox", "gc(); gc(); gc();\n");
    let out = run_vm(
        &["--gc-log", p.to_str().expect("utf-8 temp path")],
        b"",
        TIMEOUT,
    );
    assert_eq!(out.code, Some(0));
    let cycle_lines = text(&out.stderr)
        .lines()
        .filter(|l| l.contains("][gc] GC(") && l.contains(" Full (explicit) "))
        .count();
    assert!(
        cycle_lines >= 3,
        "expected a log line per cycle:\n{}",
        text(&out.stderr)
    );
}

#[test]
fn gc_stats_native_reports_cycles_as_a_string() {
    let p = temp_script("native_stats.lox", "gc();\nprint gcStats();\n");
    let out = run_vm(&[p.to_str().expect("utf-8 temp path")], b"", TIMEOUT);
    assert_eq!(out.code, Some(0));
    assert!(
        text(&out.stdout).contains("cycles"),
        "{}",
        text(&out.stdout)
    );
}

/// A tree kept live and trees dropped at once: about 8 MiB live, and
/// garbage enough for several cycles.
const LIVE_TREE_AND_GARBAGE: &str = "class Node { init(l, r) { this.l = l; this.r = r; } }
fun tree(d) { if (d == 0) return nil; return Node(tree(d - 1), tree(d - 1)); }
var keep = tree(14);
for (var i = 0; i < 60; i = i + 1) { tree(12); }
print \"done\";
";

#[test]
fn soft_limit_flag_starts_cycles_for_the_soft_limit_and_must_stay_below_the_heap_limit() {
    // In stw the trigger is exactly where the policy puts it (a concurrent
    // mode's cycles may also start for the allocation rate).
    let p = temp_script("soft_limit.lox", LIVE_TREE_AND_GARBAGE);
    let path = p.to_str().expect("utf-8 temp path");
    let soft = run_vm(
        &[
            "--gc",
            "stw",
            "--gc-log",
            "--heap-limit",
            "256M",
            "--soft-limit",
            "12M",
            path,
        ],
        b"",
        TIMEOUT,
    );
    let log = text(&soft.stderr);
    assert_eq!(soft.code, Some(0), "{log}");
    assert_eq!(text(&soft.stdout), "done\n");
    assert!(
        log.contains("(soft limit)"),
        "cycles name the soft limit as their cause:\n{log}"
    );
    let without = run_vm(
        &["--gc", "stw", "--gc-log", "--heap-limit", "256M", path],
        b"",
        TIMEOUT,
    );
    let without = text(&without.stderr);
    assert!(
        !without.contains("(soft limit)"),
        "without the flag no cycle is for a soft limit:\n{without}"
    );
    let above = run_vm(
        &["--heap-limit", "8M", "--soft-limit", "64M", path],
        b"",
        TIMEOUT,
    );
    assert_eq!(
        above.code,
        Some(64),
        "a soft limit above the heap limit is bad usage"
    );
    assert!(
        text(&above.stderr).contains("soft limit"),
        "{}",
        text(&above.stderr)
    );
}

#[test]
fn gc_log_levels_add_phases_and_pauses() {
    let p = temp_script("levels.lox", "gc();\n");
    let path = p.to_str().expect("utf-8 temp path");
    let debug = text(&run_vm(&["--gc-log=debug", path], b"", TIMEOUT).stderr);
    assert!(debug.contains("[gc,phases] GC(0) paused: "), "{debug}");
    assert!(!debug.contains("[gc,pause] "), "{debug}");
    let trace = text(&run_vm(&["--gc-log=trace", path], b"", TIMEOUT).stderr);
    assert!(trace.contains("[gc,pause] GC(0) "), "{trace}");
    let out = run_vm(&["--gc-log=loud", path], b"", TIMEOUT);
    assert_eq!(out.code, Some(64), "a bad level is a usage error");
}

#[test]
fn help_lists_exactly_the_runtime_modes() {
    let help = text(&run_vm(&["--help"], b"", TIMEOUT).stdout);
    for spec in runtime::MODES {
        assert!(
            help.contains(&format!("- {}:", spec.name)),
            "{} missing:\n{help}",
            spec.name
        );
        assert!(help.contains(spec.help), "{help}");
    }
    // The old text called uffd "SIGBUS and MOVE".
    assert!(!help.contains("SIGBUS and MOVE"), "{help}");
}
