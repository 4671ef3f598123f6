//! What happened over a run, for the JSON (`--json`) of `pausebench` and
//! `gc-stress` and for `gc-plot`: every pause (start, duration, kind, cycle
//! and the cycle's kind)
//! and the heap in use sampled at a fixed interval, in nanoseconds from the
//! run's origin.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use runtime::{PauseEvent, Runtime};
use serde::{Deserialize, Serialize};

/// At most this many pauses are kept (a GC_STRESS run pauses at every
/// allocation); the count of those dropped is kept.
pub const MAX_EVENTS: usize = 1_000_000;

/// One pause.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PauseRecord {
    /// When it began, ns from the run's origin.
    pub start_ns: u64,
    /// How long the mutators were stopped, ns.
    pub duration_ns: u64,
    /// `mark-start`, `remark`, `flip`, `full` or `stall`
    /// ([`runtime::PauseKind`]).
    pub kind: String,
    /// The cycle's number, as the GC log's `GC(n)`.
    pub gc: Option<u64>,
    /// What the cycle collected: `young` or `full` (none for a stall, or in
    /// a JSON written before cycles had kinds).
    #[serde(default)]
    pub cycle: Option<String>,
}

/// The heap in use at one moment.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HeapSample {
    /// ns from the run's origin.
    pub t_ns: u64,
    /// Heap bytes in use.
    pub used_bytes: usize,
}

/// A run's pauses and heap use over time.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Timeline {
    /// Length of the run, ns.
    pub run_ns: u64,
    /// The heap limit.
    pub heap_limit_bytes: usize,
    /// Every pause from the origin on, in order of their end.
    pub pause_events: Vec<PauseRecord>,
    /// Pauses past [`MAX_EVENTS`], not kept.
    pub pause_events_dropped: u64,
    /// Heap in use, sampled every `heap_sample_interval_ns`.
    pub heap_samples: Vec<HeapSample>,
    /// The sampling interval, ns.
    pub heap_sample_interval_ns: u64,
}

/// Collects pause events (from a runtime's pause-event hook) and samples
/// the heap on a thread of its own.
pub struct Recorder {
    events: Mutex<(Vec<PauseEvent>, u64)>,
    samples: Mutex<Vec<(Instant, usize)>>,
    stop: AtomicBool,
    sampler: Mutex<Option<JoinHandle<()>>>,
    interval: Duration,
}

fn ns_between(origin: Instant, t: Instant) -> u64 {
    u64::try_from(t.saturating_duration_since(origin).as_nanos()).unwrap_or(u64::MAX)
}

impl Recorder {
    /// A recorder sampling the heap every `interval` once started.
    pub fn new(interval: Duration) -> Arc<Recorder> {
        Arc::new(Recorder {
            events: Mutex::new((Vec::new(), 0)),
            samples: Mutex::new(Vec::new()),
            stop: AtomicBool::new(false),
            sampler: Mutex::new(None),
            interval: interval.max(Duration::from_micros(100)),
        })
    }

    /// Records one pause (call from the pause-event hook).
    pub fn pause(&self, e: &PauseEvent) {
        if let Ok(mut ev) = self.events.lock() {
            if ev.0.len() < MAX_EVENTS {
                ev.0.push(*e);
            } else {
                ev.1 += 1;
            }
        }
    }

    /// Starts sampling `rt`'s heap until [`Recorder::finish`].
    pub fn start_sampling(self: &Arc<Recorder>, rt: &Runtime) {
        let (me, rt) = (self.clone(), rt.clone());
        let handle = std::thread::Builder::new()
            .name("heap-sampler".into())
            .spawn(move || {
                while !me.stop.load(Ordering::Relaxed) {
                    let used = rt.heap().used_bytes();
                    if let Ok(mut s) = me.samples.lock() {
                        s.push((Instant::now(), used));
                    }
                    std::thread::sleep(me.interval);
                }
            })
            .ok();
        if let Ok(mut s) = self.sampler.lock() {
            *s = handle;
        }
    }

    /// Stops sampling and returns what happened from `origin` for `run`
    /// (pauses that began before `origin` are left out).
    pub fn finish(&self, origin: Instant, run: Duration, heap_limit: usize) -> Timeline {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.sampler.lock().ok().and_then(|mut s| s.take()) {
            let _ = h.join();
        }
        let (events, dropped) = self
            .events
            .lock()
            .map(|e| (e.0.clone(), e.1))
            .unwrap_or_default();
        let pause_events = events
            .iter()
            .filter(|e| e.start() >= origin)
            .map(|e| PauseRecord {
                start_ns: ns_between(origin, e.start()),
                duration_ns: u64::try_from(e.duration.as_nanos()).unwrap_or(u64::MAX),
                kind: e.kind.name().to_string(),
                gc: e.gc,
                cycle: e.cycle.map(|k| k.key().to_string()),
            })
            .collect();
        let heap_samples = self
            .samples
            .lock()
            .map(|s| s.clone())
            .unwrap_or_default()
            .into_iter()
            .filter(|&(t, _)| t >= origin)
            .map(|(t, used)| HeapSample {
                t_ns: ns_between(origin, t),
                used_bytes: used,
            })
            .collect();
        Timeline {
            run_ns: u64::try_from(run.as_nanos()).unwrap_or(u64::MAX),
            heap_limit_bytes: heap_limit,
            pause_events,
            pause_events_dropped: dropped,
            heap_samples,
            heap_sample_interval_ns: u64::try_from(self.interval.as_nanos()).unwrap_or(u64::MAX),
        }
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use runtime::{CycleKind, Mode, PauseKind};

    #[test]
    fn pauses_before_the_origin_are_left_out_and_times_are_relative() {
        let r = Recorder::new(Duration::from_millis(1));
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let ev = |end: Instant, kind| PauseEvent {
            gc: Some(1),
            kind,
            cycle: Some(CycleKind::Young),
            end,
            duration: Duration::from_millis(2),
        };
        r.pause(&ev(at(3), PauseKind::Full));
        r.pause(&ev(at(13), PauseKind::Flip));
        let t = r.finish(at(5), Duration::from_millis(20), 1 << 20);
        assert_eq!(
            t.pause_events,
            vec![PauseRecord {
                start_ns: 6_000_000,
                duration_ns: 2_000_000,
                kind: "flip".into(),
                gc: Some(1),
                cycle: Some("young".into()),
            }]
        );
        assert_eq!(t.run_ns, 20_000_000);
    }

    #[test]
    fn the_sampler_sees_the_heap() {
        let rt = Runtime::builder().mode(Mode::Stw).build().expect("runtime");
        let r = Recorder::new(Duration::from_millis(1));
        let origin = Instant::now();
        r.start_sampling(&rt);
        std::thread::sleep(Duration::from_millis(20));
        let t = r.finish(origin, origin.elapsed(), 1 << 20);
        assert!(!t.heap_samples.is_empty());
        assert!(t.heap_samples.windows(2).all(|w| w[0].t_ns <= w[1].t_ns));
    }
}
