//! A collection another thread requests is honoured while the VM runs a
//! Lox loop that never allocates: the dispatch loop polls at back-edges and
//! calls, not only when it allocates.
//!
//! The VM threads run loops that never end (their threads are left running
//! when the test binary exits); the collecting thread must get its pause
//! within a generous bound, else the test fails (a hang, not a speed check).

use std::sync::mpsc;
use std::time::Duration;

use demo_vm::rt::{Mode, Runtime};
use demo_vm::vm::Vm;

/// Far beyond any pause on a loaded machine: reaching it means the pause
/// request was never honoured.
const HANG: Duration = Duration::from_secs(120);

/// Runs `source` on a VM thread of a runtime in `mode`, then collects from a
/// second mutator thread twice and asserts both collections finish.
fn collect_while_running(mode: Mode, source: &'static str) {
    let rt = match Runtime::builder().mode(mode).heap_limit(64 << 20).build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("skipped {mode}: this kernel cannot run it ({e})");
            return;
        }
    };
    let (started_tx, started_rx) = mpsc::channel();
    let vm_rt = rt.clone();
    std::thread::spawn(move || {
        let mutator = vm_rt.mutator().expect("a mutator for the VM");
        let mut vm = Vm::new(
            mutator,
            Box::new(std::io::sink()),
            Box::new(std::io::sink()),
        )
        .expect("the VM sets up");
        started_tx.send(()).expect("the test waits");
        vm.interpret(source.as_bytes());
    });
    started_rx.recv().expect("the VM thread starts");
    let (done_tx, done_rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut m = rt.mutator().expect("a second mutator");
        for _ in 0..2 {
            m.collect().expect("the collection succeeds");
        }
        done_tx.send(()).expect("the test waits");
    });
    assert!(
        done_rx.recv_timeout(HANG).is_ok(),
        "{mode}: the collection never got its pause while the VM ran {source:?}"
    );
}

#[test]
fn a_pause_reaches_a_loop_that_never_allocates() {
    for mode in [Mode::Stw, Mode::Uffd] {
        collect_while_running(mode, "var i = 0; while (true) { i = i + 1; }");
    }
}
