//! A value read from a root, kept across a safepoint.
use runtime::{Runtime, Value};

fn main() {
    let rt = Runtime::builder().build().unwrap();
    let mut m = rt.mutator().unwrap();
    m.push(Value::NIL);
    let v = m.stack_get(0);
    m.safepoint();
    m.push(v);
}
