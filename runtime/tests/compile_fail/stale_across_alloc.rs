//! A reference kept across an allocation, which may collect.
use runtime::{AllocSpec, Runtime};

fn main() {
    let rt = Runtime::builder().build().unwrap();
    let mut m = rt.mutator().unwrap();
    let spec = AllocSpec { slots: 1, ..Default::default() };
    let (_, first) = m.alloc(spec).unwrap();
    let (m2, second) = m.alloc(spec).unwrap();
    m2.write(second, 0, first.into());
}
