//! The GC's flip (`mremap(MAYMOVE|FIXED|DONTUNMAP)` of a populated heap):
//! `Engine::flip` against the raw syscall, for 64 MiB, 1 GiB and 4 GiB,
//! with the destination PUD-aligned, one page off and 1 MiB off.
//!
//! Each region is populated once (MADV_POPULATE_WRITE) and then flipped
//! back and forth between two addresses, so every measured flip moves
//! populated page tables; `iter_custom` times only the flips. The model's
//! predicted PTE/PMD/PUD counts are printed beside each configuration.
//!
//! Run: `cargo bench -p mremap-shim --bench flip` (about a minute, 4 GiB
//! of RAM for the largest case).

// `criterion_group!` defines a public function it does not document.
#![allow(missing_docs)]

use std::cell::Cell;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use mremap_shim::engine::{Engine, Reservation};
use mremap_shim::sys::{self, Advice, MREMAP_DONTUNMAP, MREMAP_FIXED, MREMAP_MAYMOVE};

const PAGE: usize = 4096;
const MIB: usize = 1 << 20;
const GIB: usize = 1 << 30;

/// One populated region and the two addresses it flips between.
struct Region {
    _res: Reservation,
    a: usize,
    /// Destination base (PUD-aligned); the configuration adds its offset.
    b: usize,
    len: usize,
    /// Whether the pages currently sit at `a`.
    at_a: Cell<bool>,
}

impl Region {
    fn new(engine: &Engine, len: usize) -> Region {
        let span = len.next_multiple_of(GIB);
        // [a: span][1 GiB gap][b: span + 1 GiB slack for the offsets]
        let res = engine.reserve(2 * span + 2 * GIB, GIB).expect("reserve");
        let a = res.addr();
        let b = a + span + GIB;
        engine.map_anon(&res, a, len).expect("map heap");
        sys::madvise(a, len, Advice::MADV_POPULATE_WRITE).expect("populate");
        Region {
            _res: res,
            a,
            b,
            len,
            at_a: Cell::new(true),
        }
    }

    /// The (from, to) of the next flip with destination offset `off`.
    fn next(&self, off: usize) -> (usize, usize) {
        let at_a = self.at_a.get();
        self.at_a.set(!at_a);
        if at_a {
            (self.a, self.b + off)
        } else {
            (self.b + off, self.a)
        }
    }

    /// Bring the pages home to `a` (from `b + off`) so that a new offset
    /// starts from a known place.
    fn home(&self, engine: &Engine, off: usize) {
        if !self.at_a.get() {
            engine
                .flip(self.b + off, self.a, self.len)
                .expect("flip home");
            self.at_a.set(true);
        }
    }
}

fn raw_flip(from: usize, to: usize, len: usize) {
    let flags = MREMAP_MAYMOVE | MREMAP_FIXED | MREMAP_DONTUNMAP;
    sys::mremap(from, len, len, flags, to).expect("raw mremap");
}

/// Median of `samples` (sorted in place).
fn median(samples: &mut [Duration]) -> Duration {
    samples.sort_unstable();
    samples[samples.len() / 2]
}

/// Engine and raw flips interleaved one by one (so drift and neighbours'
/// load hit both alike), each doing half of its flips in each direction
/// (the two directions differ measurably): their medians.
fn interleaved(engine: &Engine, region: &Region, off: usize, pairs: usize) -> (Duration, Duration) {
    let (mut e, mut r) = (Vec::with_capacity(pairs), Vec::with_capacity(pairs));
    for i in 0..pairs {
        for engine_turn in [i % 2 == 0, i % 2 == 1] {
            let (from, to) = region.next(off);
            let t = Instant::now();
            if engine_turn {
                engine.flip(from, to, region.len).expect("flip");
                e.push(t.elapsed());
            } else {
                raw_flip(from, to, region.len);
                r.push(t.elapsed());
            }
        }
    }
    (median(&mut e), median(&mut r))
}

fn bench_flip(c: &mut Criterion) {
    let engine = Engine::new().expect("engine");
    println!("{}", engine.features().summary());
    let sizes = [("64MiB", 64 * MIB), ("1GiB", GIB), ("4GiB", 4 * GIB)];
    let offsets = [("pud-aligned", 0), ("dst+4KiB", PAGE), ("dst+1MiB", MIB)];
    let mut table = Vec::new();
    let mut group = c.benchmark_group("flip");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(2));
    for (size_name, len) in sizes {
        let region = Region::new(&engine, len);
        for (off_name, off) in offsets {
            // The prediction for a flip from `a` (PUD-aligned) to `b + off`.
            let (from, to) = region.next(off);
            let report = engine.flip(from, to, len).expect("flip");
            let (from, to) = region.next(off);
            engine.flip(from, to, len).expect("flip back");
            println!(
                "predicted {size_name} {off_name}: ptes={} pmds={} puds={}",
                report.cost.ptes, report.cost.pmds, report.cost.puds
            );
            let id = format!("{size_name}/{off_name}");
            group.bench_function(BenchmarkId::new("engine", &id), |bch| {
                bch.iter_custom(|iters| {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        let (from, to) = region.next(off);
                        let t = Instant::now();
                        engine.flip(from, to, len).expect("flip");
                        total += t.elapsed();
                    }
                    total
                })
            });
            group.bench_function(BenchmarkId::new("raw", &id), |bch| {
                bch.iter_custom(|iters| {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        let (from, to) = region.next(off);
                        let t = Instant::now();
                        raw_flip(from, to, len);
                        total += t.elapsed();
                    }
                    total
                })
            });
            let pairs = if off == 0 {
                2000
            } else if len >= GIB {
                30
            } else {
                300
            };
            let (e, r) = interleaved(&engine, &region, off, pairs);
            table.push(format!(
                "| {size_name:>5} | {off_name:<11} | {:>10.1?} | {:>10.1?} | {:>6.3} | {:>7} | {:>4} | {:>4} |",
                e,
                r,
                e.as_secs_f64() / r.as_secs_f64(),
                report.cost.ptes,
                report.cost.pmds,
                report.cost.puds
            ));
            region.home(&engine, off);
        }
    }
    group.finish();
    println!("\ninterleaved medians (engine flip vs raw mremap, same region, alternating):");
    println!("|  size | dst         |     engine |        raw |  ratio |    PTEs | PMDs | PUDs |");
    println!("|------:|-------------|-----------:|-----------:|-------:|--------:|-----:|-----:|");
    for row in table {
        println!("{row}");
    }
}

criterion_group!(benches, bench_flip);
criterion_main!(benches);
