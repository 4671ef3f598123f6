//! Mutator threads and safepoints.
//!
//! Every [`Mutator`](crate::Mutator) owns a [`ThreadSlot`] in the runtime's
//! [`Registry`]: its allocation buffer, root stack and SATB buffer, and its
//! state, *running* or *stopped*. A running thread touches the heap and its
//! slot freely; a stopped one touches neither (it is parked at a safepoint,
//! blocked in a system call through [`Mutator::blocking`](crate::Mutator::blocking),
//! waiting for the collector, or not started yet).
//!
//! A pause ([`Registry::stop_world`]) raises the stop flag and the poll word,
//! then waits until every other registered thread is stopped: running
//! threads park at their next poll (allocation or `safepoint()`), stopped
//! ones are not waited for. Only then does it touch the threads' slots. A
//! stopped thread that wants to run again announces itself running and then
//! looks at the stop flag, while the pause raises the flag and then looks
//! at the states: with both sides sequentially consistent, at least one
//! sees the other, so a thread never runs during a pause that counted it
//! as stopped.
//!
//! A handshake ([`Registry::handshake`]) runs an operation on every slot
//! without a global stop: running threads run it on their own slot at
//! their next safepoint, while the caller runs it on each stopped thread's
//! slot, holding that slot in a third state the owner waits out.
//!
//! This is the only module that reaches into another thread's slot; its
//! `unsafe` rests on these protocols.

use std::cell::UnsafeCell;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering::SeqCst};
use std::sync::Arc;
use std::time::{Duration, Instant};

use gc::{RootSet, Tlab, Value};

use crate::log::LogSink;
use parking_lot::{Condvar, Mutex, MutexGuard};

/// What the collector may read and rewrite of a mutator thread while it is
/// stopped.
pub(crate) struct Local {
    /// The thread's allocation buffer.
    pub(crate) tlab: Tlab,
    /// The roots of the thread's handle scopes ([`crate::Handle`]).
    pub(crate) handles: Vec<Value>,
    /// The thread's value stack (an interpreter's operand stack).
    pub(crate) stack: Vec<Value>,
    /// Old values of overwritten slots while a concurrent marking runs.
    pub(crate) satb: Vec<Value>,
}

impl Local {
    /// Every root of the thread, for reading and rewriting.
    fn roots_mut(&mut self) -> impl Iterator<Item = &mut Value> {
        self.handles.iter_mut().chain(self.stack.iter_mut())
    }

    /// Every root of the thread.
    pub(crate) fn roots(&self) -> impl Iterator<Item = &Value> {
        self.handles.iter().chain(self.stack.iter())
    }
}

/// How long a pause waits for running threads before it warns of a
/// probable deadlock.
const STUCK: Duration = Duration::from_secs(10);

const RUNNING: u8 = 0;
const STOPPED: u8 = 1;
/// Stopped, and a handshake is working on the slot: the owner may not
/// leave until it is STOPPED again.
const HANDSHAKE: u8 = 2;

/// One registered mutator thread.
pub(crate) struct ThreadSlot {
    /// Stores take the write barrier's slow path (its fast path is one
    /// load of this flag). Raised by the pause that starts a concurrent
    /// marking (in every slot, while the owners are stopped) and for good
    /// once the thread holds mutators of two runtimes (see `foreign`);
    /// lowered only by the owner, running, in the slow path, once neither
    /// holds. A running owner cannot be inside a pause, so its lowering
    /// never undoes a raise it has not seen.
    pub(crate) barrier: AtomicBool,
    /// The thread has (or had) a mutator of another runtime too: values it
    /// stores could belong to that runtime, so stores and roots check that
    /// references lie in this runtime's heap.
    pub(crate) foreign: AtomicBool,
    state: AtomicU8,
    /// A handshake waits for this thread to run its operation.
    pending: AtomicBool,
    local: UnsafeCell<Local>,
}

// SAFETY: `local` is touched by the owning thread only while its state is
// RUNNING, by a pause only while the owner is STOPPED and cannot leave that
// state (the stop flag is up), and by a handshake only while it holds the
// slot in the HANDSHAKE state, which the owner waits out; the SeqCst
// handshake on `state` and the stop flag orders these (see the module
// docs).
unsafe impl Sync for ThreadSlot {}

impl ThreadSlot {
    /// The owner's view of its slot.
    ///
    /// # Safety
    /// Only the owning thread may call this, only while running; it must
    /// not keep the reference across a call that stops the thread, nor
    /// while another reference from this function is alive (the mutator's
    /// methods take it, use it and drop it without calling out).
    #[allow(clippy::mut_from_ref)]
    #[inline(always)]
    pub(crate) unsafe fn local(&self) -> &mut Local {
        // SAFETY: the caller is the running owner (see above).
        unsafe { &mut *self.local.get() }
    }
}

/// The registered mutator threads and the stop protocol.
pub(crate) struct Registry {
    threads: Mutex<Vec<Arc<ThreadSlot>>>,
    /// Roots shared by all threads (see [`crate::Global`]); locked only
    /// briefly by running threads, never across a safepoint.
    pub(crate) globals: Mutex<Vec<Value>>,
    /// A pause wants every thread stopped.
    stop: AtomicBool,
    /// The word every mutator polls: raised for a stop and by the collector
    /// when it finished concurrent work.
    poll: Arc<AtomicBool>,
    park: Mutex<()>,
    /// Signalled when a thread stops while a pause waits.
    arrived: Condvar,
    /// Signalled when a pause ends.
    resumed: Condvar,
    /// The operation of the handshake in progress.
    op: Mutex<Option<HandshakeOp>>,
    /// Where the stuck-pause warning goes (stderr without a sink): the
    /// GC log's sink, written directly, since the log lives beside the
    /// registry.
    sink: Option<LogSink>,
}

/// What a handshake does to each thread's slot.
pub(crate) type HandshakeOp = Arc<dyn Fn(&mut Local) + Send + Sync>;

impl Registry {
    /// A registry whose stops raise `poll` (the word mutators poll).
    pub(crate) fn new(poll: Arc<AtomicBool>, sink: Option<LogSink>) -> Registry {
        Registry {
            threads: Mutex::new(Vec::new()),
            globals: Mutex::new(Vec::new()),
            stop: AtomicBool::new(false),
            poll,
            park: Mutex::new(()),
            arrived: Condvar::new(),
            resumed: Condvar::new(),
            op: Mutex::new(None),
            sink,
        }
    }

    /// The poll word.
    #[inline(always)]
    pub(crate) fn poll_word(&self) -> &AtomicBool {
        &self.poll
    }

    /// The poll word, shared (a mutator keeps it to poll in one load).
    pub(crate) fn poll_arc(&self) -> Arc<AtomicBool> {
        self.poll.clone()
    }

    /// Registers the calling thread; returns once it may run (after a pause
    /// in progress).
    pub(crate) fn register(&self) -> Arc<ThreadSlot> {
        let slot = Arc::new(ThreadSlot {
            // Raised: the first store's slow path looks at the heap's flag
            // and lowers it if no marking runs.
            barrier: AtomicBool::new(true),
            foreign: AtomicBool::new(false),
            state: AtomicU8::new(STOPPED),
            pending: AtomicBool::new(false),
            local: UnsafeCell::new(Local {
                tlab: Tlab::empty(),
                handles: Vec::new(),
                stack: Vec::new(),
                satb: Vec::with_capacity(gc::mark::satb::SATB_BUFFER),
            }),
        });
        self.threads.lock().push(slot.clone());
        self.leave_stopped(&slot);
        slot
    }

    /// Removes a thread that has given its buffers back; it stops first, so
    /// a pause in progress does not wait for it.
    pub(crate) fn deregister(&self, slot: &Arc<ThreadSlot>) {
        self.enter_stopped(slot);
        self.threads.lock().retain(|t| !Arc::ptr_eq(t, slot));
    }

    /// Registered threads.
    pub(crate) fn thread_count(&self) -> usize {
        self.threads.lock().len()
    }

    /// The thread stops touching the heap and its slot (a blocking call,
    /// a wait for the collector, a safepoint).
    pub(crate) fn enter_stopped(&self, slot: &ThreadSlot) {
        slot.state.store(STOPPED, SeqCst);
        if self.stop.load(SeqCst) {
            let _g = self.park.lock();
            self.arrived.notify_all();
        }
    }

    /// The thread runs again, after waiting out any pause in progress (and
    /// a handshake working on its slot).
    pub(crate) fn leave_stopped(&self, slot: &ThreadSlot) {
        loop {
            while slot
                .state
                .compare_exchange(STOPPED, RUNNING, SeqCst, SeqCst)
                .is_err()
            {
                // A handshake holds the slot for a moment.
                std::thread::yield_now();
            }
            if !self.stop.load(SeqCst) {
                return;
            }
            // A pause began: stand back and wait for it to end.
            self.enter_stopped(slot);
            let mut g = self.park.lock();
            while self.stop.load(SeqCst) {
                self.resumed.wait(&mut g);
            }
        }
    }

    /// Runs `op` on every registered thread's slot without stopping them
    /// all at once: the caller's (`me`, running, holding the collector's
    /// lock) at once, each running thread's by that thread at its next
    /// safepoint, and each stopped thread's by the caller while it holds
    /// that slot. Returns once every thread registered at the call has had
    /// it (threads registering meanwhile have nothing to act on).
    pub(crate) fn handshake(&self, me: &ThreadSlot, op: HandshakeOp) {
        let threads: Vec<Arc<ThreadSlot>> = self.threads.lock().clone();
        *self.op.lock() = Some(op.clone());
        for t in &threads {
            if std::ptr::eq(&**t, me) {
                // SAFETY: `me` is the running caller, which holds no
                // reference into its own slot during this call.
                op(unsafe { &mut *t.local.get() });
            } else {
                t.pending.store(true, SeqCst);
            }
        }
        self.poll.store(true, SeqCst);
        let mut g = self.park.lock();
        loop {
            let mut waiting = false;
            for t in threads.iter().filter(|t| t.pending.load(SeqCst)) {
                if t.state
                    .compare_exchange(STOPPED, HANDSHAKE, SeqCst, SeqCst)
                    .is_ok()
                {
                    // SAFETY: the owner is stopped and cannot leave while the
                    // slot is HANDSHAKE (leave_stopped waits for STOPPED).
                    op(unsafe { &mut *t.local.get() });
                    t.pending.store(false, SeqCst);
                    t.state.store(STOPPED, SeqCst);
                } else if t.pending.load(SeqCst) {
                    waiting = true;
                }
            }
            if !waiting {
                break;
            }
            // Woken when a running thread ran its part; the timeout covers
            // a thread that stopped meanwhile.
            self.arrived.wait_for(&mut g, Duration::from_millis(1));
        }
        drop(g);
        *self.op.lock() = None;
    }

    /// At a safepoint: runs this thread's part of a handshake that waits
    /// for it.
    fn run_pending_handshake(&self, slot: &ThreadSlot) {
        if slot.pending.load(SeqCst) {
            if let Some(op) = self.op.lock().clone() {
                // SAFETY: the owner runs its own part, running; no
                // reference into the slot is held across this call.
                op(unsafe { &mut *slot.local.get() });
            }
            slot.pending.store(false, SeqCst);
            let _g = self.park.lock();
            self.arrived.notify_all();
        }
    }

    /// A safepoint: if a pause waits, stop until it ends; if a handshake
    /// waits, run this thread's part.
    #[inline]
    pub(crate) fn park_if_requested(&self, slot: &ThreadSlot) {
        self.run_pending_handshake(slot);
        if self.stop.load(SeqCst) {
            self.enter_stopped(slot);
            self.leave_stopped(slot);
        }
    }

    /// Lowers the poll word; only the thread driving the collector (holding
    /// its lock, so no stop is pending) may, before it looks at the cycle.
    pub(crate) fn clear_poll(&self) {
        debug_assert!(!self.stop.load(SeqCst));
        self.poll.store(false, SeqCst);
    }

    /// Stops every registered thread but `me` (the running caller, which
    /// must hold the collector's lock so that pauses never overlap), runs
    /// `f` on all the threads' slots (`me`'s included), and resumes them.
    /// Time to safepoint is in [`World::safepoint`].
    pub(crate) fn stop_world<R>(&self, me: &ThreadSlot, f: impl FnOnce(&mut World<'_>) -> R) -> R {
        let requested = Instant::now();
        self.stop.store(true, SeqCst);
        self.poll.store(true, SeqCst);
        // Declared before the registry lock is taken, so dropped after it.
        let _resume = Resume(self);
        let threads = self.threads.lock();
        {
            let mut g = self.park.lock();
            let mut warned = false;
            loop {
                let running = threads
                    .iter()
                    .filter(|t| !std::ptr::eq(&***t, me) && t.state.load(SeqCst) == RUNNING)
                    .count();
                if running == 0 {
                    break;
                }
                if !warned && requested.elapsed() > STUCK {
                    warned = true;
                    let line = format!(
                        "[gc] a pause has waited {STUCK:?} for {running} running mutator thread(s) to reach a safepoint: \
                         is a registered thread waiting (a join, a lock, a system call) outside Mutator::blocking?"
                    );
                    match &self.sink {
                        Some(sink) => sink(&line),
                        None => eprintln!("{line}"),
                    }
                }
                // The timeout only guards against a missed wake-up.
                self.arrived.wait_for(&mut g, Duration::from_millis(5));
            }
        }
        let safepoint = requested.elapsed();
        let globals = self.globals.lock();
        let locals = threads
            .iter()
            // SAFETY: every registered thread but `me` is stopped and stays so
            // while `stop` is up (leave_stopped waits it out); `me` is the
            // caller, which holds no reference into its own slot during this
            // call; the registry lock keeps the list fixed.
            .map(|t| unsafe { &mut *t.local.get() })
            .collect();
        let r = f(&mut World {
            locals,
            threads: &threads,
            globals,
            safepoint,
        });
        drop(threads);
        r
    }

    /// Ends a stop: the threads may run again.
    fn resume(&self) {
        self.stop.store(false, SeqCst);
        let _g = self.park.lock();
        self.resumed.notify_all();
    }
}

/// Resumes the stopped threads when a pause ends, even by unwinding (a
/// panic in a pause must not leave every other thread parked for ever).
struct Resume<'a>(&'a Registry);

impl Drop for Resume<'_> {
    fn drop(&mut self) {
        self.0.resume();
    }
}

/// Every mutator thread's slot, during a pause.
pub(crate) struct World<'a> {
    locals: Vec<&'a mut Local>,
    threads: &'a [Arc<ThreadSlot>],
    globals: MutexGuard<'a, Vec<Value>>,
    /// Time to safepoint: from the stop request until every running thread
    /// had stopped.
    pub(crate) safepoint: Duration,
}

impl World<'_> {
    /// Retires every thread's allocation buffer (the heap must be parseable
    /// for marking and compaction).
    pub(crate) fn retire_tlabs(&mut self) {
        // SAFETY: each buffer is its thread's, installed by this runtime's
        // heap since the last collection (collections discard them).
        self.locals
            .iter_mut()
            .for_each(|l| unsafe { l.tlab.retire() });
    }

    /// Raises every thread's write-barrier flag (a concurrent marking
    /// begins: every store must record the value it overwrites).
    pub(crate) fn arm_write_barriers(&self) {
        for t in self.threads {
            t.barrier.store(true, SeqCst);
        }
    }

    /// A copy of the roots of the thread whose slot is `me`.
    pub(crate) fn roots_of(&self, me: &ThreadSlot) -> Vec<Value> {
        self.threads
            .iter()
            .zip(&self.locals)
            .find(|(t, _)| std::ptr::eq(&***t, me))
            .map(|(_, l)| l.roots().copied().collect())
            .unwrap_or_default()
    }

    /// A copy of every root (a concurrent marking's snapshot).
    pub(crate) fn root_snapshot(&self) -> Vec<Value> {
        self.locals
            .iter()
            .flat_map(|l| l.roots())
            .chain(self.globals.iter())
            .copied()
            .collect()
    }

    /// Every thread's partly filled SATB buffer, emptied into one.
    pub(crate) fn take_satb(&mut self) -> Vec<Value> {
        let mut all = Vec::new();
        for l in &mut self.locals {
            all.append(&mut l.satb);
        }
        all
    }
}

impl RootSet for World<'_> {
    fn for_each_root(&mut self, f: &mut dyn FnMut(&mut Value)) {
        for l in &mut self.locals {
            l.roots_mut().for_each(&mut *f);
        }
        self.globals.iter_mut().for_each(f);
    }
}
