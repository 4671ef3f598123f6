//! Every benchmark binary's command line: modes come from the runtime's
//! table (so `--help` lists exactly the modes that exist), `--version`
//! answers, and booleans that default on are turned off with `--no-...`.

use std::process::{Command, Output};

const BINARIES: [&str; 6] = [
    env!("CARGO_BIN_EXE_pausebench"),
    env!("CARGO_BIN_EXE_gc-stress"),
    env!("CARGO_BIN_EXE_compactbench"),
    env!("CARGO_BIN_EXE_peer-workloads"),
    env!("CARGO_BIN_EXE_fault-observed"),
    env!("CARGO_BIN_EXE_gc-plot"),
];

fn run(bin: &str, args: &[&str]) -> Output {
    Command::new(bin)
        .args(args)
        .env_remove("GC_MODE")
        .env_remove("GC_LOG")
        .output()
        .expect("the binary runs")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn every_binary_answers_version_and_help() {
    for bin in BINARIES {
        let out = run(bin, &["--version"]);
        assert!(out.status.success(), "{bin} --version");
        assert!(
            text(&out.stdout).contains("0.1.0"),
            "{bin}: {}",
            text(&out.stdout)
        );
        let out = run(bin, &["--help"]);
        assert!(out.status.success(), "{bin} --help");
    }
}

#[test]
fn mode_options_list_exactly_the_runtime_modes() {
    // gc-plot takes no mode.
    for bin in &BINARIES[..5] {
        let help = text(&run(bin, &["--help"]).stdout);
        for spec in runtime::MODES {
            assert!(
                help.contains(spec.name),
                "{bin}: {} missing:\n{help}",
                spec.name
            );
        }
        let out = run(bin, &["--mode", "fast", "--help"]);
        let err = text(&out.stderr);
        if bin.ends_with("compactbench") {
            continue; // --modes, checked below
        }
        assert!(!out.status.success(), "{bin} accepted --mode fast");
        assert!(
            err.contains("stw, uffd-copy, uffd-workers, uffd-move, sigbus, uffd"),
            "{bin}: {err}"
        );
    }
    let out = run(BINARIES[2], &["--modes", "stw,fast"]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("possible values"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn help_documents_units_and_no_flags() {
    let pb = text(&run(BINARIES[0], &["--help"]).stdout);
    for s in [
        "--no-check",
        "--seconds <SECONDS>",
        "--live <SIZE>",
        "--heap-limit <SIZE>",
        "--soft-limit <SIZE>",
        "--no-progress",
    ] {
        assert!(pb.contains(s), "pausebench --help lacks {s}:\n{pb}");
    }
    let gs = text(&run(BINARIES[1], &["--help"]).stdout);
    for s in [
        "--no-verify-collections",
        "--seconds <SECONDS>",
        "--watchdog-seconds <SECONDS>",
        "--heap-limit <SIZE>",
        "--soft-limit <SIZE>",
    ] {
        assert!(gs.contains(s), "gc-stress --help lacks {s}:\n{gs}");
    }
    // The old form is gone.
    let out = run(BINARIES[1], &["--verify-collections", "false"]);
    assert!(!out.status.success());
}

/// A short stop-the-world run of pausebench, then of gc-stress.
const SHORT_RUNS: [&[&str]; 2] = [
    &["--mode", "stw", "--live", "2M", "--seconds", "0.2"],
    &[
        "--mode",
        "stw",
        "--threads",
        "1",
        "--seconds",
        "0.5",
        "--live",
        "1M",
    ],
];

/// Binary `i` on its short run with `extra` arguments.
fn short_run(i: usize, extra: &[&str]) -> Output {
    run(BINARIES[i], &[SHORT_RUNS[i], extra].concat())
}

#[test]
fn soft_limit_flags_reach_the_runtime() {
    for (i, name) in BINARIES.iter().enumerate().take(SHORT_RUNS.len()) {
        let soft = |limit| {
            short_run(
                i,
                &["--no-progress", "--heap-limit", "8M", "--soft-limit", limit],
            )
        };
        let out = soft("6M");
        assert!(out.status.success(), "{name}: {}", text(&out.stderr));
        // Above the heap limit: the runtime's refusal, not a silent default.
        let out = soft("16M");
        assert!(
            !out.status.success(),
            "{name} accepted a soft limit above the heap limit"
        );
        assert!(
            text(&out.stderr).contains("soft limit"),
            "{name}: {}",
            text(&out.stderr)
        );
    }
}

#[test]
fn no_flags_turn_checks_off() {
    let out = short_run(0, &["--no-check"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        !text(&out.stderr).contains("structure checked"),
        "{}",
        text(&out.stderr)
    );
    let out = short_run(1, &["--no-verify-collections"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
}

#[test]
fn gc_plot_draws_well_formed_svgs_from_a_pausebench_json() {
    let dir = std::env::temp_dir().join(format!("gc-plot-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let json = dir.join("run.json");
    let json_arg = json.to_str().expect("utf-8 path");
    let out = run(
        BINARIES[0],
        &[
            "--mode",
            "stw",
            "--live",
            "2M",
            "--seconds",
            "0.3",
            "--no-progress",
            "--json",
            json_arg,
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let labelled = format!("{json_arg}=stw run");
    let out = run(
        BINARIES[5],
        &[
            "runs",
            "--out",
            dir.to_str().expect("utf-8"),
            "--name",
            "t",
            &labelled,
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    for chart in ["pauses", "pause-cdf", "mmu", "heap"] {
        let path = dir.join(format!("t-{chart}.svg"));
        let svg = std::fs::read_to_string(&path).expect("the SVG was written");
        let doc = roxmltree::Document::parse(&svg).expect("well-formed XML");
        assert_eq!(doc.root_element().tag_name().name(), "svg");
        assert!(
            doc.descendants()
                .any(|n| n.text().is_some_and(|t| t.contains("stw run"))),
            "{chart}: no legend"
        );
    }
    let out = run(
        BINARIES[5],
        &[
            "runs",
            "--out",
            dir.to_str().expect("utf-8"),
            "/nonexistent.json",
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("/nonexistent.json"),
        "{}",
        text(&out.stderr)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_run_longer_than_three_seconds_prints_progress_lines_on_a_pipe() {
    let out = run(
        BINARIES[1],
        &[
            "--mode",
            "stw",
            "--threads",
            "1",
            "--seconds",
            "3.6",
            "--live",
            "1M",
            "--progress-seconds",
            "1",
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    let lines: Vec<&str> = err
        .lines()
        .filter(|l| l.starts_with("gc-stress: ") && l.contains("s elapsed, "))
        .collect();
    assert!(!lines.is_empty(), "no progress line:\n{err}");
    assert!(
        lines[0].contains(" GC cycles, ") && lines[0].contains(" M allocations/s"),
        "{}",
        lines[0]
    );
    assert!(!err.contains('\r'), "a pipe gets whole lines, not rewrites");
}

#[test]
fn json_counts_young_and_full_cycles_and_tags_each_pause_with_its_cycle_kind() {
    let dir = std::env::temp_dir().join(format!("kinds-json-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    // pausebench's young cycles come from the policy (GC_GENERATIONAL=1),
    // gc-stress's also from its random explicit young collections.
    let extras: [&[&str]; 2] = [&[], &["--young-every", "2", "--collect-ms", "50"]];
    for (i, extra) in extras.into_iter().enumerate() {
        let json = dir.join(format!("run{i}.json"));
        let json_arg = json.to_str().expect("utf-8 path");
        let out = Command::new(BINARIES[i])
            .args([SHORT_RUNS[i], extra, &["--no-progress", "--json", json_arg]].concat())
            .env_remove("GC_MODE")
            .env_remove("GC_LOG")
            .env("GC_GENERATIONAL", "1")
            .output()
            .expect("the binary runs");
        let name = BINARIES[i];
        assert!(out.status.success(), "{name}: {}", text(&out.stderr));
        let v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&json).expect("the JSON")).expect("JSON");
        let n = |k: &str| {
            v[k].as_u64()
                .unwrap_or_else(|| panic!("{name}: no number {k} in the JSON"))
        };
        let (young, full) = (n("young_cycles"), n("full_cycles"));
        assert_eq!(young + full, n("cycles"), "{name}");
        // After the first (full) cycle the policy runs a young one.
        assert!(
            young > 0,
            "{name}: no young cycle in {} cycles",
            n("cycles")
        );
        assert!(
            n("young_pause_max_ns") > 0 && n("young_gc_cpu_ns") > 0,
            "{name}"
        );
        assert!(
            n("young_pause_total_ns") >= n("young_pause_max_ns"),
            "{name}"
        );
        if full > 0 {
            assert!(
                n("full_pause_max_ns") > 0 && n("full_gc_cpu_ns") > 0,
                "{name}"
            );
        }
        let causes = v["kind_causes"].as_array().expect("kind_causes");
        let counted: u64 = causes.iter().filter_map(|c| c[1].as_u64()).sum();
        assert_eq!(counted, young + full, "{name}: {causes:?}");
        assert!(
            causes
                .iter()
                .any(|c| c[0].as_str().is_some_and(|s| s.starts_with("young("))),
            "{name}: {causes:?}"
        );
        let events = v["timeline"]["pause_events"]
            .as_array()
            .expect("pause events");
        let tagged = |kind: &str| {
            events
                .iter()
                .filter(|e| e["cycle"].as_str() == Some(kind))
                .count() as u64
        };
        assert!(tagged("young") > 0, "{name}: no pause of a young cycle");
        assert_eq!(
            tagged("young") + tagged("full"),
            events.len() as u64,
            "{name}: every stw pause belongs to a young or full cycle"
        );
        if i == 1 {
            // gc-stress counts its explicit young collections.
            let young = n("young_collections");
            assert!(young > 0 && young <= n("collections"), "{name}: {young}");
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn pausebench_json_reports_pacing_sleeps_and_assists_apart() {
    let dir = std::env::temp_dir().join(format!("pacing-json-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let json = dir.join("run.json");
    let json_arg = json.to_str().expect("utf-8 path");
    // uffd where the kernel has it, stw (no pacing at all) where not.
    let out = Command::new(BINARIES[0])
        .args([
            "--mode",
            "uffd",
            "--live",
            "4M",
            "--seconds",
            "0.5",
            "--no-progress",
            "--json",
            json_arg,
        ])
        .env_remove("GC_MODE")
        .env_remove("GC_LOG")
        .output()
        .expect("the binary runs");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("pacing sleeps:"),
        "{}",
        text(&out.stdout)
    );
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).expect("the JSON")).expect("JSON");
    let n = |k: &str| {
        v[k].as_u64()
            .unwrap_or_else(|| panic!("no number {k} in the JSON"))
    };
    assert!(n("pacing_compacting_ns") <= n("pacing_ns"));
    assert_eq!(
        n("assists") == 0,
        n("assist_ns") == 0,
        "assists and their time"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
