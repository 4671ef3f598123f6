//! Fault injection across the collector: for each system call the
//! collector makes (`gc::inject::Site`), in every mode, the call fails at
//! several points of the workload's cycles, and each run must end with the
//! graph's checksum unchanged and the verifier passing (the cycle completed
//! another way, or was abandoned), or with a clean error value: never a
//! panic, an abort, a hang or a wrong value.
//!
//! Each case runs in a child process (this test binary again, running
//! `fault_case_child` with the case in `FAULT_MATRIX_CASE`), so that an
//! abort or a hang fails only its case, which the parent reports with the
//! child's output. The parent writes the table (site x mode -> outcome) to
//! `FAULT_MATRIX_TABLE` (default `target/fault-matrix.md`) and prints it.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use gc::inject::{self, Errno, Site};
use runtime::Mode;

#[path = "../../uffd/tests/child/mod.rs"]
mod child;
#[path = "common/graph_workload.rs"]
mod graph_workload;
use graph_workload::{End, Workload};

const CASE_ENV: &str = "FAULT_MATRIX_CASE";
const TABLE_ENV: &str = "FAULT_MATRIX_TABLE";
/// A child taking longer than this has hung (a run takes about a second).
const TIMEOUT: Duration = Duration::from_secs(60);
/// Children run at once (CI has two cores).
const PARALLEL: usize = 2;

/// When the injection is armed: before the runtime is built (calls made
/// while it starts) or after (calls made by the workload's cycles).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Build,
    Run,
}

/// One point of a row: the `nth` call at `site` from the phase's start, and
/// the `times - 1` after it, fail.
#[derive(Clone, Copy, Debug)]
struct Point {
    phase: Phase,
    nth: u64,
    times: u64,
}

const fn run(nth: u64) -> Point {
    Point {
        phase: Phase::Run,
        nth,
        times: 1,
    }
}

const fn build(nth: u64) -> Point {
    Point {
        phase: Phase::Build,
        nth,
        times: 1,
    }
}

/// `times` calls in a row from the `nth` of the run.
const fn times(nth: u64, times: u64) -> Point {
    Point {
        phase: Phase::Run,
        nth,
        times,
    }
}

/// Every call from the first of the run on.
const ALWAYS: Point = Point {
    phase: Phase::Run,
    nth: 1,
    times: u64::MAX,
};

struct Row {
    site: Site,
    errno: Errno,
    points: &'static [Point],
}

/// The rows of the table: the errnos are ones the kernel returns for the
/// call (COPY: ENOMEM and EAGAIN; MOVE: EBUSY).
const ROWS: &[Row] = &[
    Row {
        site: Site::Mremap,
        errno: Errno::ENOMEM,
        points: &[run(1), run(2), run(5), times(1, 3)],
    },
    Row {
        site: Site::Mremap,
        errno: Errno::EPERM,
        points: &[ALWAYS],
    },
    Row {
        site: Site::Release,
        errno: Errno::ENOMEM,
        points: &[run(1), run(2), run(5), times(1, 2)],
    },
    Row {
        site: Site::Mmap,
        errno: Errno::ENOMEM,
        points: &[build(1)],
    },
    Row {
        site: Site::Madvise,
        errno: Errno::ENOMEM,
        points: &[run(1), run(2), run(5)],
    },
    Row {
        site: Site::MemfdCreate,
        errno: Errno::EMFILE,
        points: &[build(1), build(2)],
    },
    Row {
        site: Site::SideTable,
        errno: Errno::ENOMEM,
        points: &[build(1), build(3), run(1)],
    },
    Row {
        site: Site::TlabRefill,
        errno: Errno::ENOMEM,
        points: &[run(1), run(100), run(400)],
    },
    Row {
        site: Site::ThreadSpawn,
        errno: Errno::EAGAIN,
        points: &[build(1), build(3), run(1)],
    },
    Row {
        site: Site::UffdRegister,
        errno: Errno::ENOMEM,
        points: &[run(1), run(2), run(5)],
    },
    Row {
        site: Site::UffdUnregister,
        errno: Errno::ENOMEM,
        points: &[run(1), run(2), run(5), times(1, 2)],
    },
    Row {
        site: Site::UffdCopy,
        errno: Errno::ENOMEM,
        points: &[run(1), run(50), run(300), times(100, 10)],
    },
    Row {
        site: Site::UffdCopy,
        errno: Errno::EAGAIN,
        points: &[run(1), run(50), run(300)],
    },
    Row {
        site: Site::UffdContinue,
        errno: Errno::ENOMEM,
        points: &[run(1), run(50), run(300), times(100, 10)],
    },
    Row {
        site: Site::UffdMove,
        errno: Errno::EBUSY,
        points: &[run(1), run(5), run(20)],
    },
];

/// A case as the child reads it from the environment:
/// `site name|errno|mode|phase|nth|times`.
fn encode(site: Site, errno: Errno, mode: Mode, p: Point) -> String {
    format!(
        "{}|{}|{}|{}|{}|{}",
        site.name(),
        errno as i32,
        mode.name(),
        if p.phase == Phase::Build {
            "build"
        } else {
            "run"
        },
        p.nth,
        p.times
    )
}

/// The child: runs one case and prints `FAULT key=value` lines on stdout.
/// Does nothing (and passes) when not started by the parent.
#[test]
fn fault_case_child() {
    let Ok(case) = std::env::var(CASE_ENV) else {
        return;
    };
    let f: Vec<&str> = case.split('|').collect();
    let site = Site::from_name(f[0]).expect("site");
    let errno = Errno::from_raw(f[1].parse().expect("errno"));
    let mode = Mode::from_name(f[2]).expect("mode");
    let phase = if f[3] == "build" {
        Phase::Build
    } else {
        Phase::Run
    };
    let (nth, times) = (f[4].parse().expect("nth"), f[5].parse().expect("times"));
    let arm = || inject::arm(site, nth, errno, times);
    if phase == Phase::Build {
        arm();
    }
    let rt = match graph_workload::builder(mode).log(true).build() {
        Ok(rt) => rt,
        Err(e) => {
            println!("FAULT fired={}", inject::fired(site));
            println!("FAULT end=error: building the runtime: {e}");
            return;
        }
    };
    println!("FAULT mode={}", rt.mode());
    if let Some(r) = rt.fallback_reason() {
        println!("FAULT fallback={r}");
    }
    if phase == Phase::Run {
        arm();
    }
    let calls_before: Vec<u64> = Site::ALL.iter().map(|&s| inject::calls(s)).collect();
    let end = graph_workload::run(&rt, Workload::default());
    inject::disarm_all();
    println!("FAULT fired={}", inject::fired(site));
    println!("FAULT describe={}", rt.describe());
    for (s, before) in Site::ALL.iter().zip(calls_before) {
        println!("FAULT calls {}={}", s.name(), inject::calls(*s) - before);
    }
    match end {
        End::Ok => println!("FAULT end=ok"),
        End::ErrorValue(e) => println!("FAULT end=error: {e}"),
        End::Wrong(e) => println!("FAULT end=wrong: {e}"),
    }
}

/// What one case came to.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Outcome {
    /// The injection never fired: the mode does not make that call there.
    NotReached,
    /// Fired, and the run passed every check with no fallback noted (a
    /// retry or an alternative worked inside the step).
    Completed,
    /// Fired; the cycle (or part of it) was completed in the pause.
    InPause,
    /// Fired; a cycle was abandoned with the heap as before.
    Abandoned,
    /// Fired; the runtime or compactor fell back to stw (at start-up or
    /// after repeated failures).
    StwFallback,
    /// Fired; a clean error value reached the embedder.
    ErrorValue,
    /// A failure of the test: panic, abort, hang or wrong value.
    Failed(String),
}

impl Outcome {
    fn code(&self) -> &'static str {
        match self {
            Outcome::NotReached => "n/r",
            Outcome::Completed => "ok",
            Outcome::InPause => "pause",
            Outcome::Abandoned => "aband",
            Outcome::StwFallback => "stw",
            Outcome::ErrorValue => "err",
            Outcome::Failed(_) => "FAIL",
        }
    }
}

/// Runs the child for one case and classifies its end.
fn run_case(case: &str) -> (Outcome, String) {
    let mut cmd = child::this_test("fault_case_child", false);
    cmd.env(CASE_ENV, case).env_remove("GC_LOG");
    let ended = child::run(cmd, TIMEOUT);
    let (out, err) = (&ended.stdout, &ended.stderr);
    let log = ended.describe();
    // The harness prints "test fault_case_child ... " before the first
    // line of output, on the same line.
    let field = |key: &str| {
        let tag = format!("FAULT {key}=");
        out.lines()
            .find_map(|l| l.split_once(&tag).map(|(_, v)| v.to_string()))
    };
    let outcome = match ended.status {
        _ if ended.hung => Outcome::Failed(format!("hung (killed after {TIMEOUT:?})")),
        s if !s.success() => Outcome::Failed(format!("the child ended with {s}")),
        _ => {
            let fired: u64 = field("fired").and_then(|f| f.parse().ok()).unwrap_or(0);
            let end = field("end").unwrap_or_default();
            if let Some(wrong) = end.strip_prefix("wrong: ") {
                Outcome::Failed(format!("wrong value: {wrong}"))
            } else if fired == 0 {
                if end == "ok" {
                    Outcome::NotReached
                } else {
                    Outcome::Failed(format!("not reached, yet the run ended with {end}"))
                }
            } else if end.starts_with("error") {
                Outcome::ErrorValue
            } else if end != "ok" {
                Outcome::Failed(format!("no end line ({end:?})"))
            } else if field("fallback").is_some() || err.contains("(stw) from now on") {
                Outcome::StwFallback
            } else if err.contains("cycle abandoned") {
                Outcome::Abandoned
            } else if [
                "compacted in the pause",
                "updated in the pause",
                "by copying",
                "(uffd-copy) from now on",
            ]
            .iter()
            .any(|note| err.contains(note))
            {
                Outcome::InPause
            } else {
                Outcome::Completed
            }
        }
    };
    (outcome, log)
}

/// "3" for the third call of the run, "b3" for the third counted from
/// before the runtime was built, "3-5" for three in a row, "all" for every
/// call.
fn point_label(p: &Point) -> String {
    let from = if p.phase == Phase::Build { "b" } else { "" };
    match p.times {
        u64::MAX => "all".to_string(),
        1 => format!("{from}{}", p.nth),
        n => format!("{from}{}-{}", p.nth, p.nth + n - 1),
    }
}

/// Runs every case (two children at a time), writes and prints the table,
/// and fails listing every case that panicked, aborted, hung or computed a
/// wrong value.
#[test]
fn every_injected_failure_ends_cleanly_in_every_mode() {
    if std::env::var(CASE_ENV).is_ok() {
        return;
    }
    // FAULT_MATRIX_ONLY=<site name>: that site's rows only (while fixing).
    let only = std::env::var("FAULT_MATRIX_ONLY").ok();
    let mut cases = Vec::new();
    for (r, row) in ROWS.iter().enumerate() {
        if only.as_deref().is_some_and(|o| o != row.site.name()) {
            continue;
        }
        for mode in Mode::ALL {
            for (p, point) in row.points.iter().enumerate() {
                cases.push((r, mode, p, encode(row.site, row.errno, mode, *point)));
            }
        }
    }
    let started = Instant::now();
    let next = AtomicUsize::new(0);
    let results = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..PARALLEL {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some((r, mode, p, case)) = cases.get(i) else {
                    return;
                };
                let (outcome, log) = run_case(case);
                results
                    .lock()
                    .expect("results")
                    .push((*r, *mode, *p, case.clone(), outcome, log));
            });
        }
    });
    let results = results.into_inner().expect("results");
    let elapsed = started.elapsed();

    let mut table = String::new();
    table.push_str(&format!(
        "| site (errno) | points | {} |\n|---|---|{}\n",
        Mode::ALL.map(|m| m.name()).join(" | "),
        "---|".repeat(Mode::ALL.len())
    ));
    for (r, row) in ROWS.iter().enumerate() {
        if !results.iter().any(|x| x.0 == r) {
            continue;
        }
        let points: Vec<String> = row.points.iter().map(point_label).collect();
        let mut cells = Vec::new();
        for mode in Mode::ALL {
            let codes: Vec<&str> = (0..row.points.len())
                .map(|p| {
                    results
                        .iter()
                        .find(|x| x.0 == r && x.1 == mode && x.2 == p)
                        .map_or("?", |x| x.4.code())
                })
                .collect();
            cells.push(codes.join(" · "));
        }
        table.push_str(&format!(
            "| {} ({}) | {} | {} |\n",
            row.site.name(),
            row.errno,
            points.join(" · "),
            cells.join(" | ")
        ));
    }
    let failures: Vec<_> = results
        .iter()
        .filter(|x| matches!(x.4, Outcome::Failed(_)))
        .collect();
    let doc = format!(
        "Fault-injection matrix: {} cases in {:.1} s, {} failed.\n\n\
         Points: the calls at the site that fail, counted from the start of the \
         workload (after the runtime is built), or with a b from before it is \
         built; 3-5 = three in a row; all = every call.\n\
         Codes per point (in the order of the points column): ok = completed \
         (a retry or an alternative worked within the step); pause = the cycle \
         or a space of it completed in the pause; aband = a cycle abandoned with \
         the heap as before; stw = fell back to stop-the-world compaction; err = \
         a clean error value reached the embedder; n/r = the mode never made \
         that call there; FAIL = panic, abort, hang or wrong value.\n\n{table}",
        results.len(),
        elapsed.as_secs_f64(),
        failures.len()
    );
    let path = std::env::var(TABLE_ENV).unwrap_or_else(|_| {
        concat!(env!("CARGO_MANIFEST_DIR"), "/../target/fault-matrix.md").to_string()
    });
    let _ = std::fs::write(&path, &doc);
    println!("{doc}\n(written to {path})");
    let mut report = String::new();
    for (_, _, _, case, outcome, log) in &failures {
        let tail: String = {
            let lines: Vec<&str> = log.lines().collect();
            lines[lines.len().saturating_sub(40)..].join("\n")
        };
        report.push_str(&format!("\n=== {case}: {outcome:?}\n{tail}\n"));
    }
    assert!(failures.is_empty(), "cases that failed:{report}");
}

/// `UFFDIO_COPY` failing with `ENOMEM` for good: a claimed page has no
/// other way in, so after the bounded retries the process ends, promptly
/// and saying which page and errno (on a fault worker, a collector thread
/// or in the SIGBUS handler, whichever met it first).
#[test]
fn copy_failing_for_good_ends_the_process_with_the_page_and_errno() {
    if std::env::var(CASE_ENV).is_ok() {
        return;
    }
    for mode in [Mode::UffdWorkers, Mode::Sigbus] {
        let case = encode(Site::UffdCopy, Errno::ENOMEM, mode, ALWAYS);
        // A child still running at the timeout is killed and reported
        // as hung, which fails the first assertion.
        let (outcome, log) = run_case(&case);
        assert!(
            matches!(&outcome, Outcome::Failed(why) if why.contains("SIGABRT")),
            "{mode}: aborted, not hung or passed: {outcome:?}\n{log}"
        );
        assert!(
            log.contains("[gc] fatal: UFFDIO_COPY failed on the heap page at 0x")
                && log.contains("ENOMEM"),
            "{mode}: the message names the page and the errno:\n{log}"
        );
    }
}
