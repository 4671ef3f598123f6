//! A handle used after its scope dropped its root.
use runtime::{Runtime, Value};

fn main() {
    let rt = Runtime::builder().build().unwrap();
    let mut m = rt.mutator().unwrap();
    let h = m.scope(|s| s.root(Value::number(1.0)));
    let _ = m.get(h);
}
