//! The `gc-stress` workload: mutator threads that build, share and mutate
//! random object graphs and check them against their own models while the
//! collector moves everything underneath.
//!
//! Every object the workload allocates is a *node* that can check itself:
//! its raw bytes start with its id and a checksum of its payload, and the id
//! alone determines the rest (kind, slot count, payload words, the header's
//! aux word), so a node read from anywhere (another thread's structures, a
//! global, a weak slot) is either nil or provably the object it claims to
//! be. Kinds: small nodes, arrays (many slots), large nodes (above the
//! large-object threshold, so in the non-moving space) and pinned nodes.
//!
//! Each worker thread owns, in its root stack, a *table* (a directory of
//! chunk arrays, [`CHUNK_SLOTS`] node slots each) and a weak object, and
//! keeps a model of both: which id each table slot holds, the links of the
//! nodes it created and may still mutate, and what each weak slot may read
//! as. Workers also publish nodes to and adopt nodes from structures every
//! thread reads and writes (an exchange array and a pinned one, reachable
//! from globals, and a few globals holding nodes directly), so references
//! cross threads in both directions. Workers end after a seeded number of
//! operations and a new thread takes their slot; they spend time in
//! [`Mutator::blocking`](runtime::Mutator::blocking) (sleeps and a real `recv` with a timeout) holding
//! their roots and check everything when they come back. One worker calls
//! [`Mutator::verify`](runtime::Mutator::verify) periodically and another [`Mutator::collect`](runtime::Mutator::collect) (with
//! the runtime's verification after every collection it runs), or at
//! random [`Mutator::collect_young`](runtime::Mutator::collect_young)
//! ([`StressConfig::young_every`]), so young and full cycles mix in random
//! sequences beside the policy's.
//!
//! [`run`] returns a [`StressReport`]; any failed check, verify error,
//! allocation failure or panic lands in [`StressReport::failures`]. A
//! watchdog ends the process with exit code 3 if no worker made progress
//! for [`StressConfig::watchdog`].
//!
//! Modules: [`node`] (what an id determines and the self-check),
//! `run` (the coordinator and the watchdog), `worker` (one worker thread
//! and its model), [`report`] (what the run found and how it prints).

use std::time::Duration;

use runtime::Mode;

pub mod node;
pub mod report;
mod run;
mod worker;

pub use node::{check_node, mix, shape, Kind, Shape};
pub use report::{vma_count, PhaseSummary, StressReport};
pub use run::run;

/// Embedder tag of every node.
pub const TAG_NODE: u16 = 0x5e;
/// Embedder tag of the workload's containers (directories, chunks, the
/// exchanges, the weak object).
pub const TAG_CONTAINER: u16 = 0x5f;
/// Node slots per table chunk.
pub const CHUNK_SLOTS: usize = 256;
/// Slots of each worker's weak object.
pub const WEAK_SLOTS: usize = 64;
/// Slots of the shared exchange array (moving).
pub const EXCHANGE_SLOTS: usize = 1024;
/// Slots of the shared pinned exchange array.
pub const PINNED_EXCHANGE_SLOTS: usize = 256;

/// What a stress run does.
#[derive(Clone, Debug)]
pub struct StressConfig {
    /// Worker threads running at any time.
    pub threads: usize,
    /// Length of the run.
    pub duration: Duration,
    /// Compaction mode requested.
    pub mode: Mode,
    /// Seed of every worker's generator (with its slot and generation).
    pub seed: u64,
    /// Live bytes to aim for, spread over the workers.
    pub live: usize,
    /// Heap limit (default 4x `live`).
    pub heap_limit: Option<usize>,
    /// Soft limit, the goal the trigger aims below (default: none).
    pub soft_limit: Option<usize>,
    /// Objects of at least this many bytes go to the non-moving space.
    pub large_object_threshold: usize,
    /// Have the runtime verify the heap after every full collection it
    /// runs (`RuntimeBuilder::verify`).
    pub verify_collections: bool,
    /// Abort (exit code 3) when no worker made progress for this long.
    pub watchdog: Duration,
    /// How often worker slot 0 verifies the whole heap.
    pub verify_interval: Duration,
    /// How often worker slot 1 (or 0 alone) runs an explicit collection.
    pub collect_interval: Duration,
    /// One explicit collection in this many, at random from the seed, is
    /// young rather than full (`Mutator::collect_young`), and generational
    /// collection is turned on (0: every explicit collection full, and
    /// generational collection as the runtime's default or
    /// `GC_GENERATIONAL` says).
    pub young_every: u32,
    /// Mean operations a worker thread does before it exits and a new
    /// thread takes its slot.
    pub lifetime_ops: u64,
    /// A full check of a worker's structures every this many operations.
    pub full_check_ops: u64,
    /// Progress on stderr: a line this often when stderr is not a
    /// terminal, rewritten every second on one (`None`: quiet).
    pub progress: Option<Duration>,
    /// How often the heap in use is sampled for the report's timeline.
    pub sample_interval: Duration,
    /// For tests of the checker: worker 0's first thread corrupts one
    /// payload byte of a node it holds at this operation.
    pub corrupt_at_op: Option<u64>,
}

impl Default for StressConfig {
    fn default() -> Self {
        StressConfig {
            threads: 4,
            duration: Duration::from_secs(10),
            mode: Mode::Uffd,
            seed: 1,
            live: 32 << 20,
            heap_limit: None,
            soft_limit: None,
            large_object_threshold: 32 << 10,
            verify_collections: true,
            watchdog: Duration::from_secs(60),
            verify_interval: Duration::from_secs(1),
            collect_interval: Duration::from_secs(3),
            young_every: 0,
            lifetime_ops: 200_000,
            full_check_ops: 20_000,
            progress: Some(Duration::from_secs(5)),
            sample_interval: Duration::from_millis(10),
            corrupt_at_op: None,
        }
    }
}

impl StressConfig {
    /// The heap limit in effect.
    pub fn heap_limit(&self) -> usize {
        self.heap_limit.unwrap_or(self.live.saturating_mul(4))
    }
}

/// A run that could not start.
#[derive(Debug, thiserror::Error)]
pub enum StressError {
    /// The runtime refused the configuration.
    #[error("runtime configuration: {0}")]
    Config(#[source] runtime::ConfigError),
    /// Registering the setup thread or allocating the shared structures
    /// failed.
    #[error("setting up the shared structures: {0}")]
    Setup(String),
    /// A worker thread could not be spawned.
    #[error("spawning a worker thread: {0}")]
    Spawn(#[source] std::io::Error),
}
