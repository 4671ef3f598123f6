//! A reference returned past its mutator's drop.
use runtime::{AllocSpec, Gc, Runtime};

fn leak(rt: &Runtime) -> Gc<'static> {
    let mut m = rt.mutator().unwrap();
    let (_, obj) = m.alloc(AllocSpec { slots: 1, ..Default::default() }).unwrap();
    obj
}

fn main() {
    let rt = Runtime::builder().build().unwrap();
    let _ = leak(&rt).slot(0);
}
