//! The GC log through a runtime: the mode line names the mode that was
//! asked for, every cycle is one line with its cause, the levels add
//! phases and pauses, and the pause-event hook sees each cycle's pauses by
//! kind.

mod common;

use std::sync::{Arc, Mutex};

use runtime::{AllocSpec, LogLevel, Mode, PauseEvent, PauseKind, Runtime, Value};

type Lines = Arc<Mutex<Vec<String>>>;
type Events = Arc<Mutex<Vec<PauseEvent>>>;

/// A runtime in `mode` whose log lines at `level` land in the returned
/// vector, and whose pause events land in the second.
fn logged(mode: Mode, level: LogLevel, limit: usize) -> Option<(Runtime, Lines, Events)> {
    let lines: Lines = Arc::default();
    let events: Events = Arc::default();
    let (sink, ev) = (lines.clone(), events.clone());
    let builder = Runtime::builder()
        .heap_limit(limit)
        .log_level(level)
        .log_to(move |l| sink.lock().unwrap().push(l.to_string()))
        .on_pause_event(move |e| ev.lock().unwrap().push(*e));
    let rt = common::in_mode(builder, mode)?;
    Some((rt, lines, events))
}

fn text(lines: &Lines) -> String {
    lines.lock().unwrap().join("\n")
}

/// Allocates about `bytes` of garbage while keeping a little live data.
fn churn(m: &mut runtime::Mutator, bytes: usize) {
    m.push(Value::NIL);
    let keep = m.stack_len() - 1;
    for i in 0..bytes / 1024 {
        let (m, o) = m
            .alloc(AllocSpec {
                tag: 1,
                slots: 2,
                bytes: 1000,
                ..Default::default()
            })
            .expect("alloc");
        if i % 64 == 0 {
            m.write(o, 0, m.stack_get(keep));
            m.stack_set(keep, o.into());
        }
    }
}

#[test]
fn the_mode_line_names_the_requested_mode_and_an_explicit_collection_says_so() {
    for mode in [Mode::Stw, Mode::Uffd] {
        let Some((rt, lines, events)) = logged(mode, LogLevel::Info, 64 << 20) else {
            continue;
        };
        let mut m = rt.mutator().expect("mutator");
        churn(&mut m, 1 << 20);
        m.collect().expect("collect");
        rt.quiesce();
        let log = text(&lines);
        let first = log.lines().next().unwrap_or_default();
        // The default mode used to log itself as `sigbus`.
        assert!(first.contains(&format!("][gc] Using {mode}: ")), "{log}");
        let cycle = log
            .lines()
            .find(|l| l.contains("GC(0) Full (explicit) "))
            .unwrap_or_else(|| panic!("no explicit cycle line:\n{log}"));
        assert!(
            cycle.contains("M->") && cycle.contains("(64.0M) pause"),
            "{cycle}"
        );
        assert!(cycle.ends_with("ms"), "{cycle}");
        assert!(!log.contains("[gc,phases]"), "info shows no phases:\n{log}");
        let ev = events.lock().unwrap();
        assert_eq!(ev.len(), 1, "{ev:?}");
        assert_eq!((ev[0].gc, ev[0].kind), (Some(0), PauseKind::Full));
    }
}

#[test]
fn every_cycle_line_has_a_cause_and_debug_and_trace_add_detail() {
    for (mode, level) in [(Mode::Stw, LogLevel::Debug), (Mode::Uffd, LogLevel::Trace)] {
        let Some((rt, lines, events)) = logged(mode, level, 32 << 20) else {
            continue;
        };
        let mut m = rt.mutator().expect("mutator");
        churn(&mut m, 96 << 20);
        drop(m);
        rt.quiesce();
        let log = text(&lines);
        let cycles: Vec<&str> = log.lines().filter(|l| l.contains("][gc] GC(")).collect();
        assert!(cycles.len() >= 2, "{mode}: too few cycles:\n{log}");
        for l in &cycles {
            let known = [
                "(warmup)",
                "(allocation rate)",
                "(heap growth)",
                "(heap limit)",
            ];
            assert!(
                known.iter().any(|c| l.contains(c)) || l.contains("Allocation stall"),
                "{mode}: no cause in {l}"
            );
        }
        assert!(log.contains("[gc,phases] GC(0) paused: "), "{log}");
        assert!(log.contains("[gc,ergo] GC(0) next cycle at "), "{log}");
        let traced = log.contains("[gc,pause] GC(0) ");
        assert_eq!(traced, level == LogLevel::Trace, "{log}");
        // Each cycle's pauses: one full pause, or the three of a
        // concurrently marked cycle, in order.
        let ev = events.lock().unwrap();
        let mut by_cycle: std::collections::BTreeMap<u64, Vec<PauseKind>> = Default::default();
        for e in ev.iter().filter(|e| e.kind != PauseKind::Stall) {
            by_cycle
                .entry(e.gc.expect("numbered"))
                .or_default()
                .push(e.kind);
        }
        for kinds in by_cycle.values() {
            assert!(
                kinds == &[PauseKind::Full]
                    || kinds == &[PauseKind::MarkStart, PauseKind::Remark, PauseKind::Flip],
                "{kinds:?}"
            );
        }
    }
}

#[test]
fn stress_collections_are_logged_as_stress() {
    for generational in [false, true] {
        let lines: Lines = Arc::default();
        let sink = lines.clone();
        let rt = Runtime::builder()
            .mode(Mode::Stw)
            .generational(generational)
            .stress(true)
            .log(true)
            .log_to(move |l| sink.lock().unwrap().push(l.to_string()))
            .build()
            .expect("runtime");
        let mut m = rt.mutator().expect("mutator");
        for _ in 0..3 {
            m.alloc(AllocSpec::default()).expect("alloc");
        }
        let log = text(&lines);
        if generational {
            // The policy's kind and reason, then the cause.
            assert!(log.contains("GC(0) Full (first) (stress) "), "{log}");
            assert!(log.contains("GC(1) Young (after-full) (stress) "), "{log}");
        } else {
            assert!(log.contains("GC(2) Full (stress) "), "{log}");
        }
    }
}
