//! One worker thread: its generator, its model of the table, links and
//! weak slots it owns, and the operations it runs against the heap.

use std::collections::HashMap;
use std::io::Read;
use std::os::unix::net::UnixStream;
use std::sync::atomic::Ordering;
use std::time::Duration;

use runtime::{AllocSpec, Gc, HeapView, Mutator, Value};

use super::node::{check_node, fill_node, mix, shape, Kind, NODE_PREFIX};
use super::run::{due, Run};
use super::{
    CHUNK_SLOTS, EXCHANGE_SLOTS, PINNED_EXCHANGE_SLOTS, TAG_CONTAINER, TAG_NODE, WEAK_SLOTS,
};
use crate::workload::Rng;

/// What a worker's weak slot may read as.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum WeakModel {
    /// Never set: nil.
    Nil,
    /// Node `id` or, once nothing holds it strongly, nil.
    Points(u64),
    /// Read as nil once: nil for ever (a dead object cannot come back).
    Cleared(u64),
}

/// Roots of a worker, by index in its root stack.
const ROOT_TABLE: usize = 0;
const ROOT_WEAK: usize = 1;

/// One worker thread's state: its generator and its model.
struct Worker<'r> {
    run: &'r Run,
    slot: usize,
    generation: u32,
    rng: Rng,
    serial: u64,
    ops: u64,
    /// Of `ops`, those already added to the run's count.
    flushed_ops: u64,
    /// Node id in each table slot.
    table: Vec<Option<u64>>,
    /// Table slots holding each id.
    held: HashMap<u64, u32>,
    /// Links (node ids, 0 for nil) of the nodes this worker created and
    /// still holds in its table: the only nodes it mutates.
    links: HashMap<u64, Vec<u64>>,
    weak: Vec<WeakModel>,
    /// Counters not yet added to the run's.
    allocated: u64,
    checks: u64,
    /// A socket nobody writes to: `recv` with a timeout is a real blocking
    /// system call.
    quiet: Option<(UnixStream, UnixStream)>,
}

/// A failed check, with the text for the report.
struct Failed(String);

type Step = Result<(), Failed>;

pub(super) fn worker_main(run: &Run, slot: usize, generation: u32) {
    let mut m = match run.rt.mutator() {
        Ok(m) => m,
        Err(e) => {
            run.fail(format!(
                "worker {slot}.{generation} could not register: {e}"
            ));
            return;
        }
    };
    let mut w = Worker::new(run, slot, generation);
    if let Err(Failed(what)) = w.run(&mut m) {
        run.fail(format!(
            "worker {slot}.{generation} (seed {}) at operation {}: {what}",
            run.config.seed, w.ops
        ));
    }
    w.flush_counters();
}

impl<'r> Worker<'r> {
    fn new(run: &'r Run, slot: usize, generation: u32) -> Worker<'r> {
        let seed = mix(run.config.seed ^ mix(slot as u64 + 1) ^ mix(u64::from(generation) << 32));
        let quiet = UnixStream::pair().ok().and_then(|(a, b)| {
            a.set_read_timeout(Some(Duration::from_millis(2)))
                .ok()
                .map(|_| (a, b))
        });
        Worker {
            run,
            slot,
            generation,
            rng: Rng::new(seed),
            serial: 0,
            ops: 0,
            flushed_ops: 0,
            table: vec![None; run.table_slots],
            held: HashMap::new(),
            links: HashMap::new(),
            weak: vec![WeakModel::Nil; WEAK_SLOTS],
            allocated: 0,
            checks: 0,
            quiet,
        }
    }

    fn large(&self) -> usize {
        self.run.config.large_object_threshold
    }

    fn heap(&self) -> HeapView<'r> {
        self.run.rt.heap()
    }

    fn next_id(&mut self) -> u64 {
        self.serial += 1;
        (self.slot as u64 + 1) << 56 | u64::from(self.generation) << 36 | self.serial
    }

    fn chance(&mut self, percent: usize) -> bool {
        self.rng.below(100) < percent
    }

    fn flush_counters(&mut self) {
        self.run
            .operations
            .fetch_add(self.ops - self.flushed_ops, Ordering::Relaxed);
        self.flushed_ops = self.ops;
        self.run
            .counters
            .add_allocations(std::mem::take(&mut self.allocated));
        self.run
            .checks
            .fetch_add(std::mem::take(&mut self.checks), Ordering::Relaxed);
    }

    /// Allocates node `id` and writes its bytes; its slots are nil.
    fn alloc_node<'m>(
        &mut self,
        m: &'m mut Mutator,
        id: u64,
    ) -> Result<(&'m Mutator, Gc<'m>), Failed> {
        let s = shape(id, self.large());
        let (m, obj) = m
            .alloc(AllocSpec {
                tag: TAG_NODE,
                slots: s.slots,
                bytes: NODE_PREFIX + s.payload,
                pinned: s.kind == Kind::Pinned,
                weak: false,
            })
            .map_err(|e| {
                Failed(format!(
                    "allocating node {id:#x} failed (a collection error or a full heap): {e}"
                ))
            })?;
        fill_node(obj, id, s);
        self.allocated += 1;
        Ok((m, obj))
    }

    fn alloc_container<'m>(
        &mut self,
        m: &'m mut Mutator,
        slots: usize,
        weak: bool,
    ) -> Result<(&'m Mutator, Gc<'m>), Failed> {
        self.allocated += 1;
        m.alloc(AllocSpec {
            tag: TAG_CONTAINER,
            slots: slots as u32,
            weak,
            ..Default::default()
        })
        .map_err(|e| Failed(format!("allocating a container failed: {e}")))
    }

    /// The chunk holding table slot `i` and the index in it.
    fn chunk(m: &Mutator, i: usize) -> (Gc<'_>, usize) {
        let dir = Self::root(m, ROOT_TABLE);
        let chunk = dir.slot(i / CHUNK_SLOTS).as_object();
        (chunk.expect("table chunks are objects"), i % CHUNK_SLOTS)
    }

    /// The container in value-stack slot `i`.
    fn root(m: &Mutator, i: usize) -> Gc<'_> {
        m.stack_get(i).as_object().expect("roots hold containers")
    }

    fn table_value(m: &Mutator, i: usize) -> Value<'_> {
        let (c, k) = Self::chunk(m, i);
        c.slot(k)
    }

    fn check(&mut self, v: Value<'_>, expected: Option<u64>) -> Result<u64, Failed> {
        self.checks += 1;
        check_node(&self.heap(), self.large(), v, expected).map_err(Failed)
    }

    /// Builds the table and the weak object in the value stack.
    fn build(&mut self, m: &mut Mutator) -> Step {
        m.stack_truncate(0);
        let chunks = self.table.len() / CHUNK_SLOTS;
        let (m2, dir) = self.alloc_container(m, chunks, false)?;
        m2.push(dir.into());
        let (m2, weak) = self.alloc_container(m, WEAK_SLOTS, true)?;
        m2.push(weak.into());
        for c in 0..chunks {
            let (m, chunk) = self.alloc_container(m, CHUNK_SLOTS, false)?;
            m.write(Self::root(m, ROOT_TABLE), c, chunk.into());
        }
        for i in 0..self.table.len() {
            self.replace(m, i)?;
        }
        Ok(())
    }

    fn run(&mut self, m: &mut Mutator) -> Step {
        self.build(m)?;
        self.full_check(m)?;
        let lifetime = self.run.config.lifetime_ops.max(2);
        let ops = lifetime / 2 + self.rng.below(lifetime as usize) as u64;
        let full_every = self.run.config.full_check_ops.max(1);
        while self.ops < ops && !self.run.stopping() {
            self.step(m)?;
            self.ops += 1;
            self.run.progress.fetch_add(1, Ordering::Relaxed);
            if self.slot == 0
                && self.generation == 0
                && Some(self.ops) == self.run.config.corrupt_at_op
            {
                self.corrupt_one(m);
            }
            if self.ops.is_multiple_of(full_every) {
                self.full_check(m)?;
                self.flush_counters();
            }
            self.periodic(m)?;
        }
        self.full_check(m)?;
        self.hand_over(m);
        Ok(())
    }

    /// One random operation.
    fn step(&mut self, m: &mut Mutator) -> Step {
        let n = self.table.len();
        match self.rng.below(100) {
            0..=39 => {
                let i = self.rng.below(n);
                self.replace(m, i)
            }
            40..=54 => self.relink(m),
            55..=59 => self.publish(m),
            60..=64 => self.adopt(m),
            65..=69 => self.set_weak(m),
            70..=79 => {
                let w = self.rng.below(WEAK_SLOTS);
                self.check_weak(m, w)
            }
            80..=89 => {
                let i = self.rng.below(n);
                self.check_slot(m, i)
            }
            90..=98 => self.garbage(m),
            _ => {
                if self.rng.below(200) == 0 {
                    self.block(m)
                } else {
                    m.safepoint();
                    Ok(())
                }
            }
        }
    }

    /// Puts a new node in table slot `i`, linked to random table nodes.
    fn replace(&mut self, m: &mut Mutator, i: usize) -> Step {
        let id = self.next_id();
        let (m, node) = self.alloc_node(m, id)?;
        let slots = node.slot_count();
        let mut links = vec![0u64; slots];
        // A node's links keep their targets alive after the targets leave
        // the table; few links per node keep that tail short.
        let fill = if slots > 8 { 4 } else { slots };
        for _ in 0..fill {
            if slots <= 8 && !self.chance(15) {
                continue;
            }
            let j = self.rng.below(slots);
            let k = self.rng.below(self.table.len());
            if let Some(target) = self.table[k] {
                let v = Self::table_value(m, k);
                m.write(node, j, v);
                links[j] = target;
            }
        }
        let (c, k) = Self::chunk(m, i);
        m.write(c, k, node.into());
        self.forget(i);
        self.table[i] = Some(id);
        *self.held.entry(id).or_insert(0) += 1;
        self.links.insert(id, links);
        Ok(())
    }

    /// Drops table slot `i` from the model (the slot is being overwritten).
    fn forget(&mut self, i: usize) {
        if let Some(old) = self.table[i].take() {
            if let Some(count) = self.held.get_mut(&old) {
                *count -= 1;
                if *count == 0 {
                    self.held.remove(&old);
                    self.links.remove(&old);
                }
            }
        }
    }

    /// Rewrites a link of one of this worker's own nodes.
    fn relink(&mut self, m: &mut Mutator) -> Step {
        let i = self.rng.below(self.table.len());
        let Some(id) = self.table[i] else {
            return Ok(());
        };
        let Some(slots) = self.links.get(&id).map(Vec::len) else {
            return Ok(());
        };
        if slots == 0 {
            return Ok(());
        }
        let j = self.rng.below(slots);
        let (target, v) = if self.chance(50) {
            (0, Value::NIL)
        } else {
            let k = self.rng.below(self.table.len());
            match self.table[k] {
                Some(t) => (t, Self::table_value(m, k)),
                None => (0, Value::NIL),
            }
        };
        let node = Self::table_value(m, i);
        self.check(node, Some(id))?;
        m.write(node.as_object().expect("checked"), j, v);
        if let Some(l) = self.links.get_mut(&id) {
            l[j] = target;
        }
        Ok(())
    }

    /// Writes a table node into a shared structure.
    fn publish(&mut self, m: &mut Mutator) -> Step {
        let i = self.rng.below(self.table.len());
        if self.table[i].is_none() {
            return Ok(());
        }
        let v = Self::table_value(m, i);
        self.check(v, self.table[i])?;
        let roots = &self.run.roots;
        match self.rng.below(3) {
            0 => {
                let x = m.global(roots.exchange).as_object().expect("exchange");
                let e = self.rng.below(EXCHANGE_SLOTS);
                m.write(x, e, v);
            }
            1 => {
                let x = m
                    .global(roots.pinned_exchange)
                    .as_object()
                    .expect("exchange");
                let e = self.rng.below(PINNED_EXCHANGE_SLOTS);
                m.write(x, e, v);
            }
            _ => {
                let g = roots.node_globals[self.rng.below(roots.node_globals.len())];
                m.set_global(g, v);
            }
        }
        Ok(())
    }

    /// Reads a node from a shared structure, checks it and keeps it in a
    /// table slot (read-only: only its creator mutates it).
    fn adopt(&mut self, m: &mut Mutator) -> Step {
        let roots = &self.run.roots;
        let v = match self.rng.below(3) {
            0 => {
                let e = self.rng.below(EXCHANGE_SLOTS);
                m.global(roots.exchange)
                    .as_object()
                    .expect("exchange")
                    .slot(e)
            }
            1 => {
                let e = self.rng.below(PINNED_EXCHANGE_SLOTS);
                m.global(roots.pinned_exchange)
                    .as_object()
                    .expect("exchange")
                    .slot(e)
            }
            _ => {
                let g = roots.node_globals[self.rng.below(roots.node_globals.len())];
                m.global(g)
            }
        };
        if v.is_nil() {
            return Ok(());
        }
        let id = self.check(v, None)?;
        self.check_links_shallow(v)?;
        let i = self.rng.below(self.table.len());
        let (c, k) = Self::chunk(m, i);
        m.write(c, k, v);
        self.forget(i);
        self.table[i] = Some(id);
        *self.held.entry(id).or_insert(0) += 1;
        Ok(())
    }

    /// Points a weak slot at a table node or at a fresh node nothing else
    /// holds.
    fn set_weak(&mut self, m: &mut Mutator) -> Step {
        let w = self.rng.below(WEAK_SLOTS);
        let (m, id, v) = if self.chance(50) {
            let i = self.rng.below(self.table.len());
            match self.table[i] {
                Some(id) => (&*m, id, Self::table_value(m, i)),
                None => return Ok(()),
            }
        } else {
            let id = self.next_id();
            let (m, node) = self.alloc_node(m, id)?;
            (m, id, node.into())
        };
        m.write(Self::root(m, ROOT_WEAK), w, v);
        self.weak[w] = WeakModel::Points(id);
        Ok(())
    }

    /// Reads weak slot `w` through the runtime: nil or the right node,
    /// never nil while the table holds the node, never back once nil.
    fn check_weak(&mut self, m: &mut Mutator, w: usize) -> Step {
        let v = m.load_weak(Self::root(m, ROOT_WEAK), w);
        match self.weak[w] {
            WeakModel::Nil if v.is_nil() => Ok(()),
            WeakModel::Nil => Err(Failed(format!(
                "weak slot {w} was never set but reads {v:?}"
            ))),
            WeakModel::Points(id) if v.is_nil() => {
                if self.held.contains_key(&id) {
                    return Err(Failed(format!(
                        "weak slot {w} reads nil while node {id:#x} is held in the table"
                    )));
                }
                self.weak[w] = WeakModel::Cleared(id);
                self.run.weak_cleared.fetch_add(1, Ordering::Relaxed);
                Ok(())
            }
            WeakModel::Points(id) => self.check(v, Some(id)).map(|_| ()).map_err(|Failed(e)| {
                Failed(format!("weak slot {w}: {e}"))
            }),
            WeakModel::Cleared(_) if v.is_nil() => Ok(()),
            WeakModel::Cleared(id) => Err(Failed(format!(
                "weak slot {w} read nil for node {id:#x} and now reads {v:?} (a dead object came back)"
            ))),
        }
    }

    /// Checks table slot `i`: the node, and its links against the model if
    /// this worker owns it, or that each link is a whole node if not.
    fn check_slot(&mut self, m: &mut Mutator, i: usize) -> Step {
        let v = Self::table_value(m, i);
        let Some(id) = self.table[i] else {
            return if v.is_nil() {
                Ok(())
            } else {
                Err(Failed(format!("table slot {i} should be nil, holds {v:?}")))
            };
        };
        self.check(v, Some(id))
            .map_err(|Failed(e)| Failed(format!("table slot {i}: {e}")))?;
        let obj = v.as_object().expect("checked");
        let Some(links) = self.links.get(&id) else {
            return self.check_links_shallow(v);
        };
        let links = links.clone();
        for (j, &target) in links.iter().enumerate() {
            let l = obj.slot(j);
            if target == 0 {
                if !l.is_nil() {
                    return Err(Failed(format!(
                        "node {id:#x} slot {j} should be nil, holds {l:?}"
                    )));
                }
            } else {
                self.check(l, Some(target))
                    .map_err(|Failed(e)| Failed(format!("node {id:#x} slot {j}: {e}")))?;
            }
        }
        Ok(())
    }

    /// Each link of node `v` (which another worker may be relinking) is nil
    /// or a whole node.
    fn check_links_shallow(&mut self, v: Value<'_>) -> Step {
        let obj = v.as_object().expect("checked");
        for j in 0..obj.slot_count() {
            let l = obj.slot(j);
            if !l.is_nil() {
                self.check(l, None).map_err(|Failed(e)| {
                    Failed(format!("a link of node at {:#x}: {e}", obj.addr()))
                })?;
            }
        }
        Ok(())
    }

    /// Every table slot and every weak slot, with safepoints between slots
    /// so that a long check does not hold up pauses.
    fn full_check(&mut self, m: &mut Mutator) -> Step {
        for i in 0..self.table.len() {
            self.check_slot(m, i)?;
            if i % 64 == 63 {
                m.safepoint();
            }
        }
        for w in 0..WEAK_SLOTS {
            self.check_weak(m, w)?;
        }
        Ok(())
    }

    /// Short-lived garbage.
    fn garbage(&mut self, m: &mut Mutator) -> Step {
        for _ in 0..1 + self.rng.below(4) {
            let id = self.next_id();
            self.alloc_node(m, id)?;
        }
        Ok(())
    }

    /// Sleeps or waits in a real system call as a blocked thread, holding
    /// the roots (pauses do not wait, and may move everything), then
    /// checks everything.
    fn block(&mut self, m: &mut Mutator) -> Step {
        self.run.blocking_calls.fetch_add(1, Ordering::Relaxed);
        let sleep = Duration::from_micros(500 + self.rng.below(10_000) as u64);
        match (self.rng.below(2), &mut self.quiet) {
            (0, Some((a, _))) => {
                let mut buf = [0u8; 1];
                // Nobody writes: recv blocks until the read timeout.
                let _ = m.blocking(|| a.read(&mut buf));
            }
            _ => m.blocking(|| std::thread::sleep(sleep)),
        }
        self.full_check(m)
    }

    /// Heap verification (slot 0) and explicit collections (slot 1, or 0
    /// when alone; young or full) at their intervals.
    fn periodic(&mut self, m: &mut Mutator) -> Step {
        let threads = self.run.config.threads;
        if self.slot == 0 && due(&self.run.next_verify, self.run.config.verify_interval) {
            m.verify()
                .map_err(|e| Failed(format!("heap verification: {e}")))?;
            self.run.verifies.fetch_add(1, Ordering::Relaxed);
        }
        if self.slot == 1.min(threads - 1)
            && due(&self.run.next_collect, self.run.config.collect_interval)
        {
            let every = self.run.config.young_every as usize;
            if every > 0 && self.rng.below(every) == 0 {
                m.collect_young()
                    .map_err(|e| Failed(format!("young collection: {e}")))?;
                self.run.young_collections.fetch_add(1, Ordering::Relaxed);
            } else {
                m.collect()
                    .map_err(|e| Failed(format!("full collection: {e}")))?;
            }
            self.run.collections.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    }

    /// Leaves a few nodes in the shared structures for the workers that
    /// outlive this one.
    fn hand_over(&mut self, m: &mut Mutator) {
        for _ in 0..8 {
            let i = self.rng.below(self.table.len());
            if self.table[i].is_some() {
                let v = Self::table_value(m, i);
                let x = m
                    .global(self.run.roots.exchange)
                    .as_object()
                    .expect("exchange");
                let e = self.rng.below(EXCHANGE_SLOTS);
                m.write(x, e, v);
            }
        }
    }

    /// Flips one payload byte of a small node this worker holds (for the
    /// checker's own test).
    fn corrupt_one(&mut self, m: &mut Mutator) {
        let large = self.large();
        let Some(i) = (0..self.table.len()).find(|&i| {
            self.table[i].is_some_and(|id| {
                let s = shape(id, large);
                s.kind == Kind::Small && s.payload > 0 && self.links.contains_key(&id)
            })
        }) else {
            return;
        };
        let obj = Self::table_value(m, i).as_object().expect("a node");
        // The write races only with checks, which is what it is there to be
        // caught by (word-atomic, so a race, not undefined behaviour).
        let mut byte = [0u8];
        obj.read_bytes(NODE_PREFIX + 3, &mut byte);
        obj.write_bytes(NODE_PREFIX + 3, &[byte[0] ^ 0x40]);
        if let Ok(mut c) = self.run.corrupted.lock() {
            *c = self.table[i];
        }
    }
}
