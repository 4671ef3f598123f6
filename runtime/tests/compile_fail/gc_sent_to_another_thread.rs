//! A reference sent to a thread that is not its mutator's.
use runtime::{AllocSpec, Runtime};

fn main() {
    let rt = Runtime::builder().build().unwrap();
    let mut m = rt.mutator().unwrap();
    let (_, obj) = m.alloc(AllocSpec { slots: 1, ..Default::default() }).unwrap();
    std::thread::scope(|s| {
        s.spawn(move || obj.slot(0));
    });
}
