//! The live-heap churn workload: keeps a given live heap (small linked
//! nodes in bucket arrays, plus large objects in the non-moving space) while
//! replacing nodes and allocating short-lived garbage.
//!
//! Layout from the value stack: slot 0 is a directory object whose slots
//! are buckets; each bucket has [`BUCKET_SLOTS`] node slots; a node has two
//! slots (a link to its bucket neighbour, and a payload number) and 16 raw
//! bytes holding its serial number. Slot 1 holds the large objects.

use runtime::{AllocError, AllocSpec, Gc, Mutator, Value};

/// Node slots per bucket.
pub const BUCKET_SLOTS: usize = 512;
/// Raw bytes of one large object.
pub const LARGE_BYTES: usize = 64 << 10;
/// Bytes of one node (header 16 + 2 slots + 16 raw bytes).
pub const NODE_BYTES: usize = 48;

const TAG_NODE: u16 = 1;
const TAG_BUCKET: u16 = 2;
const TAG_DIR: u16 = 3;
const TAG_LARGE: u16 = 4;

/// A small deterministic PRNG (xorshift64*).
pub struct Rng(u64);

impl Rng {
    /// Seeded generator (a zero seed is replaced).
    pub fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }

    /// Next value.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform in `0..n`.
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
}

/// The churn workload's state.
pub struct Churn {
    buckets: usize,
    larges: usize,
    serial: u64,
    rng: Rng,
    /// Operations done.
    pub ops: u64,
    /// Objects allocated.
    pub allocations: u64,
}

/// The container in value-stack slot `i`.
fn root(m: &Mutator, i: usize) -> Gc<'_> {
    m.stack_get(i)
        .as_object()
        .expect("the workload's roots are objects")
}

fn dir(m: &Mutator) -> Gc<'_> {
    root(m, 0)
}

fn node(m: &mut Mutator, serial: u64) -> Result<(&Mutator, Gc<'_>), AllocError> {
    let (m, o) = m.alloc(AllocSpec {
        tag: TAG_NODE,
        slots: 2,
        bytes: 16,
        ..Default::default()
    })?;
    m.write(o, 1, Value::number(serial as f64));
    o.set_raw_word(0, serial);
    Ok((m, o))
}

fn bucket(m: &Mutator, b: usize) -> Gc<'_> {
    dir(m).slot(b).as_object().expect("buckets are objects")
}

impl Churn {
    /// Builds a live heap of about `live_bytes` (10% of it in large objects).
    pub fn build(m: &mut Mutator, live_bytes: usize, seed: u64) -> Result<Churn, AllocError> {
        let large_budget = live_bytes / 10;
        let larges = (large_budget / LARGE_BYTES).max(1);
        let bucket_bytes = BUCKET_SLOTS * (NODE_BYTES + 8) + 16;
        let buckets = ((live_bytes - large_budget) / bucket_bytes).max(1);
        let mut c = Churn {
            buckets,
            larges,
            serial: 0,
            rng: Rng::new(seed),
            ops: 0,
            allocations: 0,
        };
        m.stack_truncate(0);
        let (m2, d) = m.alloc(AllocSpec {
            tag: TAG_DIR,
            slots: buckets as u32,
            pinned: true,
            ..Default::default()
        })?;
        m2.push(d.into());
        let (m2, l) = m.alloc(AllocSpec {
            tag: TAG_DIR,
            slots: larges as u32,
            pinned: true,
            ..Default::default()
        })?;
        m2.push(l.into());
        for b in 0..buckets {
            let (m2, new) = m.alloc(AllocSpec {
                tag: TAG_BUCKET,
                slots: BUCKET_SLOTS as u32,
                ..Default::default()
            })?;
            m2.write(dir(m2), b, new.into());
            for i in 0..BUCKET_SLOTS {
                c.serial += 1;
                let (m, n) = node(m, c.serial)?;
                let bucket = bucket(m, b);
                m.write(n, 0, bucket.into());
                m.write(bucket, i, n.into());
            }
        }
        for i in 0..larges {
            let (m, o) = m.alloc(AllocSpec {
                tag: TAG_LARGE,
                bytes: LARGE_BYTES,
                ..Default::default()
            })?;
            m.write(root(m, 1), i, o.into());
        }
        c.allocations = (1 + buckets * (1 + BUCKET_SLOTS) + larges) as u64;
        Ok(c)
    }

    /// One operation: replace a random node (its old self becomes garbage;
    /// nodes point back at their bucket, so nothing else keeps it and the
    /// live heap stays the size it was built at), allocate three
    /// short-lived nodes, and every 256 operations replace a large object.
    pub fn step(&mut self, m: &mut Mutator) -> Result<(), AllocError> {
        let (b, i) = (self.rng.below(self.buckets), self.rng.below(BUCKET_SLOTS));
        self.serial += 1;
        let (m2, n) = node(m, self.serial)?;
        let bucket = bucket(m2, b);
        m2.write(n, 0, bucket.into());
        m2.write(bucket, i, n.into());
        for _ in 0..3 {
            self.serial += 1;
            node(m, self.serial)?;
        }
        self.allocations += 4;
        if self.ops.is_multiple_of(256) {
            let (m, o) = m.alloc(AllocSpec {
                tag: TAG_LARGE,
                bytes: LARGE_BYTES,
                ..Default::default()
            })?;
            let k = self.rng.below(self.larges);
            m.write(root(m, 1), k, o.into());
            self.allocations += 1;
        }
        self.ops += 1;
        Ok(())
    }

    /// One operation that allocates what [`Churn::step`] does (four nodes)
    /// but replaces nothing: all four are garbage, the live heap is left
    /// as built (a dense lower heap with garbage above it).
    pub fn garbage_step(&mut self, m: &mut Mutator) -> Result<(), AllocError> {
        for _ in 0..4 {
            self.serial += 1;
            node(m, self.serial)?;
        }
        self.allocations += 4;
        self.ops += 1;
        Ok(())
    }

    /// Checks the structure: every bucket slot holds a node whose payload
    /// number matches its raw serial. Returns the number of nodes checked.
    pub fn check(&self, m: &Mutator) -> Result<usize, String> {
        let d = dir(m);
        let mut n = 0;
        for b in 0..self.buckets {
            let v = d.slot(b);
            let Some(bucket) = v.as_object().filter(|o| o.slot_count() == BUCKET_SLOTS) else {
                return Err(format!("bucket {b} is not a bucket: {v:?}"));
            };
            for i in 0..BUCKET_SLOTS {
                let v = bucket.slot(i);
                let Some(o) = v.as_object() else {
                    return Err(format!("bucket {b} slot {i} lost its node: {v:?}"));
                };
                if o.byte_len() < 8 {
                    return Err(format!("bucket {b} slot {i}: a short node"));
                }
                let serial = o.raw_word(0);
                if o.slot(1) != Value::number(serial as f64) {
                    return Err(format!(
                        "node {b}/{i}: payload {:?} != serial {serial}",
                        o.slot(1)
                    ));
                }
                n += 1;
            }
        }
        Ok(n)
    }
}
