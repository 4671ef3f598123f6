//! The pauses of a concurrent cycle, run on a mutator's thread with every
//! mutator stopped:
//!
//! - [`ConcurrentCollector::start`]: a whole cycle's stopped part at once (mark
//!   and plan in the pause, then flip), for explicit collections;
//! - [`ConcurrentCollector::begin_marking`]: the initial pause of a concurrently
//!   marked cycle (copy the roots; new objects are born marked from here);
//! - [`ConcurrentCollector::remark`]: drain the SATB buffers, hand planning to the
//!   collector;
//! - [`ConcurrentCollector::flip`]: extend the plan over objects allocated since,
//!   then the flip shared with `start`.
//!
//! The flip shared by `start` and `flip` never fails: each failed step is
//! worked around (the cycle, or the non-moving space, is then compacted in
//! the pause) or the cycle is abandoned before anything moved; its report,
//! with the reason in its notes, arrives through the same channel as a
//! concurrent cycle's (`ConcurrentCollector::flip_with` lists the steps).

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use super::{ConcurrentCollector, State, MAX_FLIP_FAILURES};
use crate::compact::concurrent::fault_log::FaultLog;
use crate::compact::concurrent::from_space::FromSpace;
use crate::compact::concurrent::in_flight::{CycleInFlight, NonMovingPart};
use crate::compact::concurrent::pages::PageStates;
use crate::compact::concurrent::plan::PlanJob;
use crate::compact::concurrent::threads::Job;
use crate::compact::forwarding::ForwardingPlan;
use crate::compact::non_moving::{sweep, update_references};
use crate::compact::page::PageComputer;
use crate::compact::recycle::{self, finish_from_space, Flip};
use crate::compact::stw::{self, fill_in_place, PhaseTimer};
use crate::error::HeapError;
use crate::generations::Promotion;
use crate::mark::cards::{mark_old_non_moving, CardRoots};
use crate::mark::concurrent::MarkJob;
use crate::mark::tracer::{mark, MarkStats};
use crate::report::{thread_cpu, CycleReport, PauseEntry, Phase};
use crate::roots::RootSet;
use crate::units::PAGE_SIZE;
use crate::value::Value;
use uffd::{RegisterMode, UffdError};

/// Dirty cards of the moving old generation above which a young cycle runs
/// full instead: the flip pause rescans every dirty old card (about
/// 0.3-1.2 us each, docs/generational.md section 1), so this bounds that
/// work near a few hundred microseconds. (Step 5 of the plan replaces the
/// fallback with returned pages.)
const MAX_YOUNG_DIRTY_CARDS: usize = 512;

/// When a pause began, how long the mutators had already been stopped
/// (waiting, reaching the safepoint), and the pausing thread's CPU time at
/// its start.
struct PauseEnd {
    pause_start: Instant,
    waited: Duration,
    cpu: Duration,
}

impl PauseEnd {
    /// A pause beginning now, after the mutators stood stopped for
    /// `waited`.
    fn starting(waited: Duration) -> PauseEnd {
        PauseEnd {
            pause_start: Instant::now(),
            waited,
            cpu: thread_cpu(),
        }
    }
}

/// Sleeps in small steps until `done` is set (a stall: the caller counts it
/// as pause time).
pub(super) fn wait_for(done: &AtomicBool) {
    while !done.load(Ordering::Acquire) {
        std::thread::sleep(Duration::from_micros(50));
    }
}

impl ConcurrentCollector {
    /// A whole cycle's pause: marks and plans with the mutators stopped,
    /// then flips. Every mutator must be stopped with its TLAB retired, no
    /// cycle may be in flight and `roots` must be all the roots. `entry` is
    /// how long the mutators already stood stopped (accounted in this
    /// pause). On return the mutators may resume; the report arrives through
    /// [`ConcurrentCollector::wait`] or [`ConcurrentCollector::try_finished`]. Returns
    /// the live bytes.
    ///
    /// # Safety
    /// Every mutator of the heap is stopped (none allocates or writes until
    /// this returns) with its allocation buffer retired, and `roots` are
    /// all the roots there are, holding only this heap's references.
    pub unsafe fn start(
        &mut self,
        roots: &mut dyn RootSet,
        entry: PauseEntry,
        young: bool,
    ) -> Result<usize, HeapError> {
        let (pause, mut report, young) = self.begin_cycle(entry, young);
        let heap_arc = self.heap.clone();
        let heap = &*heap_arc;
        let mut timer = PhaseTimer::new();
        let threads = heap.config().mark_threads;
        report.marked = if young {
            mark_old_non_moving(heap);
            // SAFETY: the world is stopped with every buffer retired (the
            // caller's promise): the old generation is walkable.
            let mut card_roots = unsafe { CardRoots::new(heap, roots, true) };
            // SAFETY: the world is stopped; the roots and the dirty cards'
            // slots reach every young object the heap can reach.
            let mut stats = unsafe { mark(heap, &mut card_roots, threads) };
            card_roots.add_to(&mut stats);
            stats
        } else {
            // SAFETY: the world is stopped and `roots` are all the roots (the
            // caller's promise).
            unsafe { mark(heap, roots, threads) }
        };
        timer.lap(&mut report, Phase::Mark);
        let top = heap.moving().top();
        let plan = match self.young_start() {
            Some(start) => ForwardingPlan::build_young(heap, start, top, &self.plan_tables),
            None => ForwardingPlan::build(heap, top, &self.plan_tables),
        };
        timer.lap(&mut report, Phase::Forward);
        Ok(self.flip_with(plan, roots, report, timer, pause))
    }

    /// The initial pause of a concurrently marked cycle: copies `roots` for
    /// the marker and makes new objects born marked. Mutators must record
    /// overwritten references (and weak slots they read) in SATB buffers
    /// from now until [`ConcurrentCollector::remark`].
    ///
    /// # Safety
    /// Every mutator of the heap is stopped (none allocates or writes until
    /// this returns), `roots` are all the roots there are, holding only
    /// this heap's references, and from the return on every mutator's store
    /// records the value it overwrites.
    pub unsafe fn begin_marking(&mut self, roots: &[Value], entry: PauseEntry, young: bool) {
        let (pause, mut report, young) = self.begin_cycle(entry, young);
        let heap_arc = self.heap.clone();
        let heap = &*heap_arc;
        heap.set_allocating_black(true);
        heap.set_satb_active(true);
        let job = Arc::new(MarkJob {
            heap: self.heap.clone(),
            snapshot: Mutex::new(roots.to_vec()),
            satb: self.satb.clone(),
            stats: Mutex::new(MarkStats::default()),
            done: AtomicBool::new(false),
            attention: self.attention.clone(),
            cpu_ns: AtomicU64::new(0),
            wall_ns: AtomicU64::new(0),
            delay: self.options.mark_delay,
            young,
        });
        report.add_phase(Phase::Snapshot, pause.pause_start.elapsed());
        self.end_pause(report, pause, Job::Mark(job.clone()), State::Marking(job));
    }

    /// Whether a young cycle's flip pause would have few enough old cards
    /// to fix: at most `MAX_YOUNG_DIRTY_CARDS` (512) dirty cards in the moving
    /// old generation (counted with an early exit). A read of the card
    /// table (2 MiB per GiB of old generation when it is clean), so the
    /// caller asks before the cycle's first pause, not in it.
    pub fn young_fits_pause(&self) -> bool {
        let gens = self.heap.generations();
        let base = self.heap.moving().base();
        self.heap
            .cards()
            .count_dirty_up_to(base, gens.old_end(), MAX_YOUNG_DIRTY_CARDS)
            <= MAX_YOUNG_DIRTY_CARDS
    }

    /// The first pause of a cycle (entered as `entry` says) opens its
    /// report and decides its kind: young if `young` was asked for,
    /// generational collection is on and the collector does not compact in
    /// the pause (that fallback runs full cycles); then moving objects
    /// below the old end count as marked. Notes the top, for the
    /// promotion. Returns the pause's clock, the report and whether the
    /// cycle is young.
    fn begin_cycle(&mut self, entry: PauseEntry, young: bool) -> (PauseEnd, CycleReport, bool) {
        assert!(matches!(self.state, State::Idle), "a cycle is in flight");
        let pause = PauseEnd::starting(entry.total());
        let mut report = CycleReport::new(self.mode_name(), self.heap.used_bytes());
        report.add_entry(entry);
        let gens = self.heap.generations();
        let young = young && gens.is_enabled() && self.stw_fallback.is_none();
        gens.set_young_floor(if young { gens.old_end() } else { 0 });
        self.young = young;
        self.top_at_start = self.heap.moving().top();
        report.young = young;
        (pause, report, young)
    }

    /// Where the cycle in flight's plan starts: the old end in a young
    /// cycle, `None` (the base) in a full one.
    fn young_start(&self) -> Option<usize> {
        self.young.then(|| self.heap.generations().old_end())
    }

    /// The beginning of a pause that resumes a cycle (remark, flip): waits
    /// for `done`, the concurrent work the previous pause handed over, if it
    /// is not set yet (a stall, counted in this pause), and takes the
    /// cycle's report (a new one if none is pending). `waited` is how long
    /// the mutators already stood stopped.
    fn resume_cycle(&mut self, done: &AtomicBool, waited: Duration) -> (CycleReport, PauseEnd) {
        let pause = PauseEnd::starting(waited);
        wait_for(done);
        let report = self
            .pending
            .take()
            .unwrap_or_else(|| CycleReport::new(self.mode_name(), self.heap.used_bytes()));
        (report, pause)
    }

    /// Closes a pause that hands concurrent work to the coordinating
    /// collector thread: accounts the pause, then wakes the thread (its last
    /// act: a preemption by the woken thread is the scheduler's, not the
    /// pause's) and keeps the report until the cycle's next pause.
    fn end_pause(&mut self, mut report: CycleReport, pause: PauseEnd, job: Job, state: State) {
        report.add_pause(pause.waited + pause.pause_start.elapsed());
        report.gc_cpu += thread_cpu().saturating_sub(pause.cpu);
        self.collectors[0]
            .send(job)
            .expect("collector threads live as long as the collector");
        self.pending = Some(report);
        self.state = state;
    }

    /// The remark pause: waits for the marker if it is not done (a stall),
    /// marks from `satb` (the stopped mutators' partial buffers) and the
    /// queue, stops the write barrier and starts planning. TLABs must be
    /// retired.
    ///
    /// # Safety
    /// Every mutator is stopped with its allocation buffer retired, and
    /// `satb` holds what their buffers recorded (references of this heap).
    pub unsafe fn remark(&mut self, satb: &mut Vec<Value>, entry: PauseEntry) {
        let State::Marking(job) = &self.state else {
            panic!("remark without a concurrent marking");
        };
        let job = job.clone();
        let (mut report, pause) = self.resume_cycle(&job.done, entry.total());
        let heap = &*self.heap;
        let mut timer = PhaseTimer::new();
        report.add_phase(Phase::Wait, pause.waited + pause.pause_start.elapsed());
        let mut stats = std::mem::take(&mut *job.stats.lock());
        // SAFETY: the world is stopped (the caller's promise) and the
        // buffers hold references the mutators overwrote during the marking.
        stats.add(unsafe { mark(heap, satb, 1) });
        satb.clear();
        for mut b in self.satb.take_all() {
            // SAFETY: as above.
            stats.add(unsafe { mark(heap, &mut b, 1) });
        }
        heap.set_satb_active(false);
        report.marked = stats;
        timer.lap(&mut report, Phase::Remark);
        report.add_concurrent(
            Phase::Mark,
            Duration::from_nanos(job.wall_ns.load(Ordering::Relaxed)),
        );
        report.gc_cpu += Duration::from_nanos(job.cpu_ns.load(Ordering::Relaxed));
        let plan = Arc::new(PlanJob {
            heap: self.heap.clone(),
            top: heap.moving().top(),
            young_start: self.young_start(),
            tables: self.plan_tables.clone(),
            plan: Mutex::new(None),
            done: AtomicBool::new(false),
            attention: self.attention.clone(),
            cpu_ns: AtomicU64::new(0),
            wall: Mutex::new(Duration::ZERO),
        });
        self.end_pause(
            report,
            pause,
            Job::Plan(plan.clone()),
            State::Planning(plan),
        );
    }

    /// The flip pause of a concurrently marked cycle: waits for the plan if
    /// it is not ready (a stall), extends it over the objects allocated
    /// since, and flips. TLABs must be retired; `roots` are all the roots.
    /// Returns the live bytes (the bytes in use, for a cycle abandoned).
    ///
    /// Never fails: a step that fails is worked around or the cycle is
    /// abandoned (see `ConcurrentCollector::flip_with`); either way the cycle's
    /// report, with the reason in its notes, arrives like any other. The
    /// `Result` stays for callers written against the fallible flip.
    ///
    /// # Safety
    /// Every mutator of the heap is stopped (none allocates or writes until
    /// this returns) with its allocation buffer retired, and `roots` are
    /// all the roots there are, holding only this heap's references.
    pub unsafe fn flip(
        &mut self,
        roots: &mut dyn RootSet,
        entry: PauseEntry,
    ) -> Result<usize, HeapError> {
        let State::Planning(job) = &self.state else {
            panic!("flip without a planned cycle");
        };
        let job = job.clone();
        let (mut report, pause) = self.resume_cycle(&job.done, entry.total());
        let heap = &*self.heap;
        report.add_entry(entry);
        report.add_phase(Phase::Wait, pause.pause_start.elapsed());
        report.add_concurrent(Phase::Forward, *job.wall.lock());
        report.gc_cpu += Duration::from_nanos(job.cpu_ns.load(Ordering::Relaxed));
        let mut timer = PhaseTimer::new();
        let plan = job
            .plan
            .lock()
            .take()
            .unwrap_or_else(|| Err(HeapError::Config("the plan job left no plan".to_string())))
            .map(|mut plan| {
                plan.extend(heap, heap.moving().top());
                plan
            });
        heap.set_allocating_black(false);
        timer.lap(&mut report, Phase::Forward);
        Ok(self.flip_with(plan, roots, report, timer, pause))
    }

    /// The flip shared by [`ConcurrentCollector::start`] and
    /// [`ConcurrentCollector::flip`]: moves the page tables, registers, fixes the
    /// roots and hands the cycle to the threads. Returns the live bytes.
    ///
    /// Transactional, step by step, each failure undone or worked around:
    /// - no plan (its table could not be mapped), or ranges of an earlier
    ///   cycle still registered: the cycle is abandoned before anything
    ///   moves (marks cleared; heap and roots as before);
    /// - the moving space's flip fails: nothing moved; the cycle is
    ///   compacted in the pause ([`stw::compact_in_pause`], which copies
    ///   where `mremap` keeps failing) or, if that cannot start either,
    ///   abandoned;
    /// - the non-moving space's flip or registration fails: the space
    ///   keeps showing its memfd (a DONTUNMAP of a shared mapping leaves
    ///   it mapped), so it is updated and swept in the pause instead;
    /// - registering the moving space fails: its pages are filled in the
    ///   pause from from-space.
    ///
    /// The roots are fixed only after every step that can fail. A failure
    /// that repeats ([`MAX_FLIP_FAILURES`] flip pauses in a row) makes the
    /// collector compact in the pause from then on.
    fn flip_with(
        &mut self,
        plan: Result<ForwardingPlan, HeapError>,
        roots: &mut dyn RootSet,
        mut report: CycleReport,
        mut timer: PhaseTimer,
        pause: PauseEnd,
    ) -> usize {
        let heap_arc = self.heap.clone();
        let heap = &*heap_arc;
        let plan = match plan {
            Ok(plan) => plan,
            Err(e) => return self.abandon(heap.moving().top(), report, &e, pause),
        };
        if let Err(e) = self.unregister_stale(&mut report) {
            let why = format!("a range of an earlier cycle is still registered ({e})");
            return self.abandon(plan.old_top(), report, &why, pause);
        }
        let old_pages = plan.old_pages();
        let skip = old_pages * PAGE_SIZE;
        if old_pages > 0 && self.stw_fallback.is_some() {
            let why = "a young cycle cannot be compacted in the pause";
            return self.abandon(plan.old_top(), report, &why, pause);
        }
        if self.stw_fallback.is_some() {
            report.notes.push(
                "compacted in the pause: the compactor fell back to stw after repeated flip \
                 failures"
                    .to_string(),
            );
            return self.complete_in_pause(plan, roots, report, timer, pause);
        }
        let flip_start = Instant::now();
        let (base, space) = (heap.moving().base(), heap.space_bytes());
        let engine = heap.engine();
        let flip = Flip::of(heap, skip, plan.old_top());
        match engine.flip(base + skip, heap.from_base() + skip, flip.len()) {
            Ok(flip) => report.flip_cost = Some(flip.cost),
            Err(e) if old_pages > 0 => {
                // Nothing moved; a young cycle has no in-pause fallback.
                let why = format!("flipping the moving space's young range failed ({e})");
                return self.abandon(plan.old_top(), report, &why, pause);
            }
            Err(e) => {
                let why = format!("flipping the moving space failed ({e})");
                report.notes.push(format!("{why}: compacted in the pause"));
                self.moving_failed(&why, &mut report);
                return self.complete_in_pause(plan, roots, report, timer, pause);
            }
        }
        let nm = heap.non_moving();
        let nm_top = nm.high_water();
        let nm_len = (nm_top - nm.base()).next_multiple_of(PAGE_SIZE);
        let mut nm_continue = self.options.non_moving_continue && nm_len > 0;
        if nm_continue {
            if let Err(e) = engine.flip(nm.base(), heap.non_moving_view_base(), space) {
                // Nothing moved; the space is updated in the pause.
                let why = format!("flipping the non-moving space failed ({e})");
                report.notes.push(format!("{why}: updated in the pause"));
                self.non_moving_failed(&why, &mut report);
                nm_continue = false;
            }
        }
        timer.lap(&mut report, Phase::Flip);

        // A young cycle registers only the young live pages: the old ones
        // stay mapped and never fault.
        let live_len = plan.live_pages() * PAGE_SIZE - skip;
        let mut moving_pages = plan.live_pages();
        if live_len > 0 {
            // SAFETY: the world is stopped and the flip emptied the moving
            // space above `skip`; the live range ends at `live_len`.
            unsafe { recycle::anchor_anon_vma(heap, flip, base + skip + live_len) };
            match self
                .fd
                .register((base + skip) as *mut u8, live_len, RegisterMode::Missing)
            {
                Ok(_) => engine.note_uffd(base + skip, live_len, true),
                Err(e) => {
                    self.forget_registration(base + skip, live_len, &mut report);
                    let why = format!("registering the moving space failed ({e})");
                    report.notes.push(format!("{why}: compacted in the pause"));
                    self.moving_failed(&why, &mut report);
                    moving_pages = 0;
                }
            }
        }
        if moving_pages > 0 || live_len == 0 {
            self.flip_failures = 0;
        }
        if nm_continue {
            match self
                .fd
                .register(nm.base() as *mut u8, nm_len, RegisterMode::Minor)
            {
                Ok(_) => {
                    engine.note_uffd(nm.base(), nm_len, true);
                    self.nm_failures = 0;
                }
                Err(e) => {
                    self.forget_registration(nm.base(), nm_len, &mut report);
                    let why = format!("registering the non-moving space failed ({e})");
                    report.notes.push(format!("{why}: updated in the pause"));
                    self.non_moving_failed(&why, &mut report);
                    // The space itself still shows the memfd: only the view
                    // goes (a failure here only leaves it until the next
                    // flip replaces it).
                    if let Err(e) =
                        engine.release(heap.reservation(), heap.non_moving_view_base(), space)
                    {
                        report.notes.push(format!(
                            "releasing the second view failed ({e}): the next flip replaces it"
                        ));
                    }
                    nm_continue = false;
                }
            }
        }
        timer.lap(&mut report, Phase::Register);

        // Nothing below can fail: from here the cycle is committed.
        if moving_pages == 0 && live_len > 0 {
            fill_in_place(heap, &plan, 0, &mut report, &mut timer);
        }
        let pc = PageComputer::new(heap, &plan);
        if !nm_continue {
            update_references(&pc, heap, nm.base(), nm_top, 0);
        }
        if old_pages > 0 {
            // The old slots on dirty cards, fixed before any mutator can
            // read them (the old pages stay mapped and never fault); the
            // cards stay dirty until the end of the cycle cleans them.
            // SAFETY: the world is stopped with every buffer retired; the
            // old generation did not move.
            let mut card_roots = unsafe { CardRoots::new(heap, roots, false) };
            card_roots.for_each_root(&mut |v| *v = pc.fix_value(*v));
            report.cards_fixed = card_roots.cards();
        } else {
            roots.for_each_root(&mut |v| *v = pc.fix_value(*v));
        }
        timer.lap(&mut report, Phase::UpdateRefs);
        let gens = heap.generations();
        gens.set_young_floor(0);
        // Young non-moving objects are promoted at the end of the cycle
        // (`end_cycle`), with the moving survivors: nothing reads their
        // age before then, and clearing the young bitmap's extent took up
        // to 1.2 ms of this pause with 1 GiB of non-moving space.
        let promotion = gens
            .is_enabled()
            .then(|| Promotion::of(heap, &plan, base + skip, self.top_at_start, self.young));
        if !nm_continue {
            report.non_moving_freed_bytes = sweep(heap, 0).1;
            timer.lap(&mut report, Phase::Sweep);
        } else {
            nm.set_allocating_black(true, 0);
        }
        // SAFETY: the world is stopped (the caller's promise) and the plan's
        // live data ends at its new top.
        unsafe {
            heap.moving()
                .reset_top(promotion.map_or(plan.new_top(), |p| p.top(plan.new_top())))
        };
        report.pages_compacted = plan.live_pages() - old_pages;
        if moving_pages > 0 {
            report.pages_dense = plan.dense_pages();
            heap.note_dense_pages(plan.dense_pages());
        }

        let non_moving = nm_continue.then(|| NonMovingPart {
            pages: PageStates::new(nm_len / PAGE_SIZE),
            base: nm.base(),
            view_delta: heap.non_moving_view_base() - nm.base(),
        });
        report.flip_pause = flip_start.elapsed();
        report.add_pause(pause.waited + pause.pause_start.elapsed());
        report.gc_cpu += thread_cpu().saturating_sub(pause.cpu);
        // What marking traced: objects born marked during the cycle are not
        // counted (they are floating garbage or young; counting them would
        // push each next trigger up by a cycle's allocation). A young cycle
        // traced only the young: the old generation and the old non-moving
        // objects (dead ones included, until a full cycle) count whole.
        let mut live = report.live_bytes();
        if old_pages > 0 {
            let nm_young_marked = report.marked.non_moving_words * crate::object::WORD;
            live += skip + nm.used().saturating_sub(nm_young_marked);
        }
        let first_page = if moving_pages > 0 { old_pages } else { 0 };
        let cycle = Arc::new(CycleInFlight {
            heap: self.heap.clone(),
            plan,
            fd: self.fd.clone(),
            moving: PageStates::with_mapped_prefix(moving_pages, first_page),
            first_page,
            flip,
            promotion,
            non_moving,
            nm_top,
            page_delay: self.options.page_delay,
            moved_pages: AtomicUsize::new(0),
            collectors_busy: AtomicUsize::new(0),
            from_space: FromSpace::new(
                heap.from_base() + first_page * PAGE_SIZE,
                first_page,
                self.options.moves,
                self.collectors.len(),
            ),
            moving_cursor: AtomicUsize::new(first_page),
            nm_cursor: AtomicUsize::new(0),
            done: AtomicBool::new(false),
            worker_cpu_ns: self.worker_cpu_ns.clone(),
            faults: FaultLog::new(),
            gc_cpu_ns: AtomicU64::new(0),
            attention: self.attention.clone(),
            sigbus_slot: self.sigbus_slot,
            started: pause.pause_start,
            stale: self.stale.clone(),
            report: Mutex::new(report),
        });
        if let Some(slot) = self.sigbus_slot {
            // Before the mutators resume: their first fault needs it.
            crate::compact::concurrent::sigbus::publish(slot, &cycle);
        }
        for tx in &self.workers {
            tx.send(cycle.clone())
                .expect("collector threads live as long as the collector");
        }
        for tx in &self.collectors {
            tx.send(Job::Compact(cycle.clone()))
                .expect("collector threads live as long as the collector");
        }
        self.state = State::Compacting;
        self.in_flight = Some(cycle);
        live
    }

    /// Accounts a flip pause whose moving space could not be compacted
    /// concurrently; the second in a row makes the collector compact in the
    /// pause from then on.
    fn moving_failed(&mut self, why: &str, report: &mut CycleReport) {
        self.flip_failures += 1;
        if self.flip_failures >= MAX_FLIP_FAILURES && self.stw_fallback.is_none() {
            let reason = format!(
                "the flip pause failed {} times in a row (last: {why}): compacting in the pause \
                 (stw) from now on",
                self.flip_failures
            );
            report.notes.push(reason.clone());
            self.description.push_str("; fell back to stw: ");
            self.description.push_str(&reason);
            self.stw_fallback = Some(reason);
        }
    }

    /// Accounts a flip pause whose non-moving space could not be flipped or
    /// registered; the second in a row makes the collector update it in the
    /// pause (as `uffd-copy` does) from then on.
    fn non_moving_failed(&mut self, why: &str, report: &mut CycleReport) {
        self.nm_failures += 1;
        if self.nm_failures >= MAX_FLIP_FAILURES && self.options.non_moving_continue {
            self.options.non_moving_continue = false;
            let reason = format!(
                "the non-moving space's flip failed {} times in a row (last: {why}): it is \
                 updated in the pause (uffd-copy) from now on",
                self.nm_failures
            );
            report.notes.push(reason.clone());
            self.description.push_str("; ");
            self.description.push_str(&reason);
            self.degraded = Some(reason);
        }
    }

    /// After a failed registration: unregisters the range in case the
    /// kernel registered part of it before failing (a range of several
    /// VMAs), or keeps it for the next flip to retry if that fails too.
    fn forget_registration(&mut self, addr: usize, len: usize, report: &mut CycleReport) {
        if let Err(e) = self.fd.unregister(addr as *mut u8, len) {
            report.notes.push(format!(
                "unregistering after a failed registration failed too ({e}): retried at the next flip"
            ));
            self.stale.lock().push((addr, len));
        }
    }

    /// Unregisters what an earlier cycle failed to; `Err` with the first
    /// failure if a range stays registered (a flip must not run then: a
    /// registered page above the live pages would fault with nobody to
    /// serve it).
    fn unregister_stale(&mut self, report: &mut CycleReport) -> Result<(), UffdError> {
        let mut stale = self.stale.lock();
        let mut first = None;
        stale.retain(|&(addr, len)| match self.fd.unregister(addr as *mut u8, len) {
            Ok(()) => {
                self.heap.engine().note_uffd(addr, len, false);
                report.notes.push(format!(
                    "[{addr:#x}, +{len:#x}), left registered by an earlier cycle, is unregistered now"
                ));
                false
            }
            Err(e) => {
                first.get_or_insert(e);
                true
            }
        });
        first.map_or(Ok(()), Err)
    }

    /// Completes the cycle in this pause, as the stop-the-world mode does
    /// (or abandons it if that cannot start); its report arrives like a
    /// concurrent cycle's.
    fn complete_in_pause(
        &mut self,
        plan: ForwardingPlan,
        roots: &mut dyn RootSet,
        mut report: CycleReport,
        mut timer: PhaseTimer,
        pause: PauseEnd,
    ) -> usize {
        let heap_arc = self.heap.clone();
        let heap = &*heap_arc;
        let flip_start = Instant::now();
        let promotion = Promotion::of(heap, &plan, heap.moving().base(), plan.old_top(), false);
        let flipped = match stw::compact_in_pause(heap, &plan, roots, &mut report, &mut timer) {
            Ok(flipped) => flipped,
            Err(e) => {
                let old_top = plan.old_top();
                drop(plan);
                let why = format!("compacting in the pause could not start either ({e})");
                return self.abandon(old_top, report, &why, pause);
            }
        };
        drop(plan);
        // SAFETY: the world is stopped and the moving space compacted,
        // walkable from its base (a full cycle: see `flip_with`).
        unsafe { crate::generations::promote_in_pause(heap, promotion) };
        finish_from_space(heap, flipped, false, &mut report);
        timer.lap(&mut report, Phase::Release);
        report.flip_pause = flip_start.elapsed();
        let live = report.live_bytes();
        self.finish_in_pause(report, pause);
        live
    }

    /// Abandons the cycle before anything moved: the marks are cleared and
    /// the heap and the roots stay as they were. Returns the bytes in use
    /// (nothing was freed) for the next trigger.
    fn abandon(
        &mut self,
        old_top: usize,
        mut report: CycleReport,
        why: &dyn std::fmt::Display,
        pause: PauseEnd,
    ) -> usize {
        let heap_arc = self.heap.clone();
        let heap = &*heap_arc;
        heap.set_allocating_black(false);
        heap.generations().set_young_floor(0);
        stw::abandon(heap, old_top, &mut report, why);
        self.moving_failed(&why.to_string(), &mut report);
        self.finish_in_pause(report, pause);
        heap.used_bytes()
    }

    /// Closes the report of a cycle that ended in its flip pause and sends
    /// it where collector threads send theirs; the mutators find it at
    /// their next poll ([`ConcurrentCollector::try_finished`]).
    fn finish_in_pause(&mut self, mut report: CycleReport, pause: PauseEnd) {
        let heap_arc = self.heap.clone();
        let heap = &*heap_arc;
        report.add_pause(pause.waited + pause.pause_start.elapsed());
        report.gc_cpu += thread_cpu().saturating_sub(pause.cpu);
        report.used_after = heap.used_bytes();
        report.duration = pause.pause_start.elapsed();
        // The receiver lives in `self`: sending cannot fail.
        let _ = self.report_tx.send(report);
        self.state = State::Compacting;
        self.in_flight = None;
        self.attention.store(true, Ordering::Release);
    }
}
