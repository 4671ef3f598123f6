//! How values print (`print` and the REPL), exactly as clox prints them.

use crate::rt::{Gc, Value};

use crate::number_format::write_number;
use crate::object::{self, obj, payload, tag};

/// Appends the printed form of `v` to `out`. Allocates nothing in the heap.
pub fn write_value(out: &mut Vec<u8>, v: Value<'_>) {
    if let Some(n) = v.as_number() {
        write_number(out, n);
    } else if v.is_nil() {
        out.extend_from_slice(b"nil");
    } else if let Some(b) = v.as_bool() {
        out.extend_from_slice(if b { b"true" } else { b"false" });
    } else {
        let o = obj(v);
        match o.tag() {
            tag::STRING => out.extend_from_slice(text(o)),
            tag::FUNCTION => write_function(out, v),
            tag::CLOSURE => write_function(out, o.slot(object::CLOSURE_FUNCTION)),
            tag::BOUND_METHOD => {
                let method = obj(o.slot(object::BOUND_METHOD));
                write_function(out, method.slot(object::CLOSURE_FUNCTION));
            }
            tag::NATIVE => out.extend_from_slice(b"<native fn>"),
            tag::CLASS => out.extend_from_slice(text(obj(o.slot(object::CLASS_NAME)))),
            tag::INSTANCE => {
                let class = obj(o.slot(object::INSTANCE_CLASS));
                out.extend_from_slice(text(obj(class.slot(object::CLASS_NAME))));
                out.extend_from_slice(b" instance");
            }
            tag::UPVALUE => out.extend_from_slice(b"upvalue"),
            _ => out.extend_from_slice(b"<internal>"),
        }
    }
}

/// A string's bytes.
fn text(s: Gc<'_>) -> &[u8] {
    // SAFETY: strings are never written after they are interned.
    unsafe { payload(s) }
}

fn write_function(out: &mut Vec<u8>, function: Value<'_>) {
    let name = obj(function).slot(object::FN_NAME);
    match name.as_object() {
        None => out.extend_from_slice(b"<script>"),
        Some(name) => {
            out.extend_from_slice(b"<fn ");
            out.extend_from_slice(text(name));
            out.push(b'>');
        }
    }
}
