//! A reference kept across a collection, which may move its object.
use runtime::{AllocSpec, Runtime};

fn main() {
    let rt = Runtime::builder().build().unwrap();
    let mut m = rt.mutator().unwrap();
    let (m2, obj) = m.alloc(AllocSpec { slots: 1, ..Default::default() }).unwrap();
    m2.push(obj.into());
    let rooted = m.stack_get(0).as_object().unwrap();
    m.collect().unwrap();
    let _ = rooted.slot(0);
}
