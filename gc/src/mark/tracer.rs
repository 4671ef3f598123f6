//! The tracer: marks everything reachable from the roots.
//!
//! One thread drains a local stack; with more threads, workers share the
//! grey objects through crossbeam-deque work stealing. The tracer only reads
//! objects and sets bitmap bits atomically, so the same code runs while the
//! mutators run, fed by the write barrier's SATB buffers
//! ([`crate::mark::concurrent`]); nothing here assumes the world is stopped
//! beyond its entry points.

use std::sync::atomic::{AtomicUsize, Ordering};

use crossbeam_deque::{Injector, Steal, Stealer, Worker};

use crate::heap::Heap;
use crate::object::ObjRef;
use crate::roots::RootSet;
use crate::value::Value;

/// What one marking found.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MarkStats {
    /// Objects marked.
    pub objects: usize,
    /// Words of marked moving-space objects.
    pub moving_words: usize,
    /// Words of marked non-moving objects.
    pub non_moving_words: usize,
    /// Dirty cards whose old slots a young marking took as roots.
    pub cards: usize,
    /// Time spent walking those cards (finding the old objects on them and
    /// handing their slots to the marker).
    pub card_time: std::time::Duration,
}

impl MarkStats {
    /// Adds another marking's counts.
    pub fn add(&mut self, o: MarkStats) {
        self.objects += o.objects;
        self.moving_words += o.moving_words;
        self.non_moving_words += o.non_moving_words;
        self.cards += o.cards;
        self.card_time += o.card_time;
    }
}

struct Tracer<'h> {
    heap: &'h Heap,
    /// Moving objects below this address count as marked without being
    /// traced: the old generation in a young cycle, 0 in a full one.
    old_end: usize,
    stats: MarkStats,
}

impl<'h> Tracer<'h> {
    /// Marks the target of `v` if it is an unmarked heap object; returns its
    /// address when this call marked it (it must then be scanned).
    #[inline(always)]
    fn try_mark(&mut self, v: Value) -> Option<usize> {
        if !v.is_object() {
            return None;
        }
        let addr = v.object_addr();
        let marks = self.heap.marks();
        if self.heap.moving().contains(addr) {
            if addr >= self.old_end && marks.moving.set(addr) {
                // SAFETY: a reference the stopped heap holds (see `mark`)
                // names a live object.
                let words = unsafe { ObjRef::from_addr(addr) }.size_words();
                marks.live.set_range(addr, words);
                self.stats.objects += 1;
                self.stats.moving_words += words;
                return Some(addr);
            }
        } else if self.heap.non_moving().contains(addr) && marks.non_moving.set(addr) {
            self.stats.objects += 1;
            // SAFETY: as above.
            self.stats.non_moving_words += unsafe { ObjRef::from_addr(addr) }.size_words();
            return Some(addr);
        }
        None
    }

    /// Marks the strong referents of the object at `addr`.
    #[inline(always)]
    fn scan(&mut self, addr: usize, mut push: impl FnMut(usize)) {
        // SAFETY: `addr` was marked from a reference of the stopped heap (see
        // `mark`), so it names a live object.
        let obj = unsafe { ObjRef::from_addr(addr) };
        let header = obj.header();
        if header.is_weak() {
            return;
        }
        for i in 0..header.slots as usize {
            // SAFETY: i < slots of a marked (hence live) object.
            let v = unsafe { obj.slot_unchecked(i) };
            if let Some(a) = self.try_mark(v) {
                push(a);
            }
        }
    }
}

/// Marks everything reachable from `roots` with `threads` threads (in a
/// young cycle, only what lies above the old generation:
/// [`crate::generations::Generations::young_floor`]).
///
/// # Safety
/// `roots` hold only references to live objects of `heap`, and no object
/// reachable from them moves or dies during the call: either the world is
/// stopped (no thread allocates or writes; allocation buffers retired), or
/// this is a concurrent marking whose mutators record overwritten
/// references (the SATB barrier is on) and allocate black.
pub unsafe fn mark(heap: &Heap, roots: &mut dyn RootSet, threads: usize) -> MarkStats {
    // SAFETY: the caller's promise; outside a young cycle the floor is 0
    // and everything is traced.
    unsafe { mark_above(heap, roots, threads, heap.generations().young_floor()) }
}

/// [`mark`] for a young cycle: moving objects below `old_end` count as
/// marked and are not traced (the roots must then include every old slot
/// that may refer to a young object: the dirty cards').
///
/// # Safety
/// As for [`mark`].
pub unsafe fn mark_above(
    heap: &Heap,
    roots: &mut dyn RootSet,
    threads: usize,
    old_end: usize,
) -> MarkStats {
    let mut tracer = Tracer {
        heap,
        old_end,
        stats: MarkStats::default(),
    };
    let mut grey = Vec::new();
    roots.for_each_root(&mut |v| {
        if let Some(a) = tracer.try_mark(*v) {
            grey.push(a);
        }
    });
    if threads <= 1 {
        while let Some(a) = grey.pop() {
            tracer.scan(a, |g| grey.push(g));
        }
        return tracer.stats;
    }
    let mut stats = tracer.stats;
    stats.add(drain_parallel(heap, grey, threads, old_end));
    stats
}

fn drain_parallel(heap: &Heap, grey: Vec<usize>, threads: usize, old_end: usize) -> MarkStats {
    let injector = Injector::new();
    grey.into_iter().for_each(|a| injector.push(a));
    let workers: Vec<Worker<usize>> = (0..threads).map(|_| Worker::new_lifo()).collect();
    let stealers: Vec<Stealer<usize>> = workers.iter().map(Worker::stealer).collect();
    let active = AtomicUsize::new(threads);
    std::thread::scope(|s| {
        let mut workers = workers.into_iter().enumerate();
        // Worker 0 runs on this thread once the others are started.
        let (_, first) = workers.next().expect("at least two mark threads");
        let mut handles = Vec::new();
        for (me, local) in workers {
            let (injector, stealers, active) = (&injector, &stealers, &active);
            let spawned = match crate::inject::check(crate::inject::Site::ThreadSpawn) {
                Some(errno) => Err(std::io::Error::from_raw_os_error(errno as i32)),
                None => std::thread::Builder::new()
                    .name(format!("gc-mark-{me}"))
                    .spawn_scoped(s, move || {
                        drain_worker(heap, old_end, local, injector, stealers, active, me)
                    }),
            };
            match spawned {
                Ok(h) => handles.push(h),
                // One thread fewer: its deque was empty (all grey objects
                // start in the injector), so it only leaves the active set.
                Err(_) => {
                    active.fetch_sub(1, Ordering::AcqRel);
                }
            }
        }
        let mut total = drain_worker(heap, old_end, first, &injector, &stealers, &active, 0);
        for h in handles {
            match h.join() {
                Ok(st) => total.add(st),
                Err(p) => std::panic::resume_unwind(p),
            }
        }
        total
    })
}

/// One marking thread of [`drain_parallel`]: drains its deque, steals, and
/// returns when no thread has work left.
fn drain_worker(
    heap: &Heap,
    old_end: usize,
    local: Worker<usize>,
    injector: &Injector<usize>,
    stealers: &[Stealer<usize>],
    active: &AtomicUsize,
    me: usize,
) -> MarkStats {
    let mut tracer = Tracer {
        heap,
        old_end,
        stats: MarkStats::default(),
    };
    loop {
        while let Some(a) = find_work(&local, injector, stealers, me) {
            tracer.scan(a, |g| local.push(g));
        }
        // Idle: leave the active set and wait for work or the end.
        active.fetch_sub(1, Ordering::AcqRel);
        loop {
            if !injector.is_empty() || stealers.iter().any(|s| !s.is_empty()) {
                active.fetch_add(1, Ordering::AcqRel);
                break;
            }
            if active.load(Ordering::Acquire) == 0 {
                return tracer.stats;
            }
            std::thread::yield_now();
        }
    }
}

fn find_work(
    local: &Worker<usize>,
    injector: &Injector<usize>,
    stealers: &[Stealer<usize>],
    me: usize,
) -> Option<usize> {
    if let Some(a) = local.pop() {
        return Some(a);
    }
    loop {
        let mut retry = false;
        match injector.steal_batch_and_pop(local) {
            Steal::Success(a) => return Some(a),
            Steal::Retry => retry = true,
            Steal::Empty => {}
        }
        for (i, s) in stealers.iter().enumerate() {
            if i == me {
                continue;
            }
            match s.steal() {
                Steal::Success(a) => return Some(a),
                Steal::Retry => retry = true,
                Steal::Empty => {}
            }
        }
        if !retry {
            return None;
        }
    }
}
