//! A small interpreter's heap on the runtime, as an embedder writes it:
//! symbols interned in a weak table shared by every thread (a global),
//! association lists built on each thread's value stack, handle scopes for
//! the temporaries, a lock taken the way a mutator thread must take one
//! (inside `blocking`), and collections running while the threads work.
//!
//! `cargo run --release -p runtime --example interpreter_heap`
//! (`GC_LOG=1` shows the cycles; `GC_MODE=stw` the baseline.)

use std::sync::Mutex;

use runtime::{AllocError, AllocSpec, Gc, Global, Mutator, Runtime, Value};

/// A symbol: raw bytes hold its name's length, then the name.
const SYMBOL: u16 = 1;
/// A pair: slot 0 car, slot 1 cdr.
const PAIR: u16 = 2;
/// The intern table: weak slots, so symbols nobody uses go away.
const TABLE: u16 = 3;
const TABLE_SLOTS: usize = 1024;

const THREADS: usize = 4;
const ENTRIES: usize = 20_000;

fn name_of(sym: Gc<'_>) -> Vec<u8> {
    let len = sym.raw_word(0) as usize;
    let mut name = vec![0u8; len];
    sym.read_bytes(8, &mut name);
    name
}

fn hash(name: &[u8]) -> usize {
    name.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    }) as usize
}

/// Pushes the symbol named `name` on the value stack, interning it. The
/// table is shared: the lock is taken in `blocking`, so that a thread
/// waiting for it does not hold up a pause another thread (the lock's
/// holder, perhaps) needs.
fn intern(m: &mut Mutator, table: Global, lock: &Mutex<()>, name: &str) -> Result<(), AllocError> {
    let _guard = m.blocking(|| lock.lock().expect("the intern lock"));
    let name = name.as_bytes();
    let t = m.global(table).as_object().expect("the table");
    let mut slot = hash(name) % TABLE_SLOTS;
    loop {
        // The weak-read barrier: a symbol found here is kept. (A slot a
        // collection cleared can end a probe early here; a real table keeps
        // a tombstone marker for it, as the demo VM's does.)
        match m.load_weak(t, slot).as_object() {
            Some(sym) if name_of(sym) == name => {
                m.push(sym.into());
                return Ok(());
            }
            Some(_) => slot = (slot + 1) % TABLE_SLOTS,
            None => break,
        }
    }
    let (m, sym) = m.alloc(AllocSpec {
        tag: SYMBOL,
        bytes: 8 + name.len(),
        ..Default::default()
    })?;
    sym.set_raw_word(0, name.len() as u64);
    sym.write_bytes(8, name);
    // The allocation may have collected, which only clears slots: `slot`
    // is still free.
    let t = m.global(table).as_object().expect("the table");
    m.write(t, slot, sym.into());
    m.push(sym.into());
    Ok(())
}

/// One thread's work: an association list `((x<k> . k) ...)` built on the
/// value stack, looked up after collections.
fn work(rt: &Runtime, table: Global, lock: &Mutex<()>, t: usize) -> Result<f64, AllocError> {
    let mut m = rt.mutator().expect("a mutator for this thread");
    m.push(Value::NIL); // stack[0]: the list
    for k in 0..ENTRIES {
        intern(&mut m, table, lock, &format!("x{}", k % 100))?; // stack[1]
        m.scope(|s| -> Result<(), AllocError> {
            let (s2, entry) = s.alloc(AllocSpec {
                tag: PAIR,
                slots: 2,
                ..Default::default()
            })?;
            s2.write(entry, 0, s2.stack_get(1));
            s2.write(entry, 1, Value::number((t * ENTRIES + k) as f64));
            let entry = s2.root(entry);
            let (s2, cell) = s.alloc(AllocSpec {
                tag: PAIR,
                slots: 2,
                ..Default::default()
            })?;
            s2.write(cell, 0, s2.get(entry));
            s2.write(cell, 1, s2.stack_get(0));
            s2.stack_set(0, cell.into());
            Ok(())
        })?;
        m.pop();
        if k % 5_000 == 0 {
            m.collect().expect("a collection");
        }
    }
    // Sum the values of the entries whose key is the symbol x7: the
    // symbol found by interning again is the same object as the keys.
    intern(&mut m, table, lock, "x7")?;
    let x7 = m.stack_get(1);
    let mut sum = 0.0;
    let mut cur = m.stack_get(0);
    while let Some(cell) = cur.as_object() {
        let entry = cell.slot(0).as_object().expect("an entry");
        if entry.slot(0) == x7 {
            sum += entry.slot(1).as_number().expect("a number");
        }
        cur = cell.slot(1);
    }
    Ok(sum)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let rt = Runtime::builder().heap_limit(256 << 20).build()?;
    println!("{}", rt.describe());
    let lock = Mutex::new(());
    let table = {
        let mut m = rt.mutator()?;
        let (m, t) = m.alloc(AllocSpec {
            tag: TABLE,
            slots: TABLE_SLOTS as u32,
            weak: true,
            ..Default::default()
        })?;
        m.add_global(t.into())
    };
    let sums: Vec<f64> = std::thread::scope(|s| {
        let threads: Vec<_> = (0..THREADS)
            .map(|t| {
                let (rt, lock) = (&rt, &lock);
                s.spawn(move || work(rt, table, lock, t))
            })
            .collect();
        threads
            .into_iter()
            .map(|h| h.join().expect("a worker").expect("enough heap"))
            .collect()
    });
    for (t, sum) in sums.iter().enumerate() {
        // Entries k = 7, 107, 207, ... carry t * ENTRIES + k.
        let ks = (7..ENTRIES).step_by(100);
        let want: f64 = ks.map(|k| (t * ENTRIES + k) as f64).sum();
        assert_eq!(*sum, want, "thread {t}");
    }
    // The threads' lists are gone with their mutators: the next collection
    // frees every symbol, and the weak table forgets them.
    let mut m = rt.mutator()?;
    m.collect()?;
    m.finish_cycle()?;
    let t = m.global(table).as_object().expect("the table");
    let kept = (0..TABLE_SLOTS)
        .filter(|&i| !t.slot_raw(i).is_nil())
        .count();
    assert_eq!(kept, 0, "no symbol is used any more");
    let stats = m.stats();
    println!(
        "{THREADS} threads, {} cycles, max pause {:?}: sums {sums:?}",
        stats.cycles,
        stats.pause_quantile(1.0)
    );
    Ok(())
}
