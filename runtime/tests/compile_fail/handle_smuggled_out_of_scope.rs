//! A handle stored outside its scope through a captured variable.
use runtime::{Handle, Runtime, Value};

fn main() {
    let rt = Runtime::builder().build().unwrap();
    let mut m = rt.mutator().unwrap();
    let mut kept: Option<Handle<'_>> = None;
    m.scope(|s| kept = Some(s.root(Value::NIL)));
    let _ = kept;
}
