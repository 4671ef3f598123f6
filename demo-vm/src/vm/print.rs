//! How values print (`print` and the REPL), exactly as clox prints them.

use crate::rt::Value;

use crate::number_format::write_number;
use crate::object::{self, payload, tag};

/// Appends the printed form of `v` to `out`. Allocates nothing in the heap.
pub fn write_value(out: &mut Vec<u8>, v: Value) {
    if v.is_number() {
        write_number(out, v.as_number());
    } else if v.is_nil() {
        out.extend_from_slice(b"nil");
    } else if v.is_bool() {
        out.extend_from_slice(if v.as_bool() { b"true" } else { b"false" });
    } else {
        let o = v.as_object();
        match o.tag() {
            // SAFETY: a live string; nothing allocates while the slice is used.
            tag::STRING => out.extend_from_slice(unsafe { payload(o) }),
            tag::FUNCTION => write_function(out, v),
            tag::CLOSURE => write_function(out, o.slot(object::CLOSURE_FUNCTION)),
            tag::BOUND_METHOD => {
                let method = o.slot(object::BOUND_METHOD).as_object();
                write_function(out, method.slot(object::CLOSURE_FUNCTION));
            }
            tag::NATIVE => out.extend_from_slice(b"<native fn>"),
            tag::CLASS => {
                out.extend_from_slice(unsafe { payload(o.slot(object::CLASS_NAME).as_object()) })
            }
            tag::INSTANCE => {
                let class = o.slot(object::INSTANCE_CLASS).as_object();
                out.extend_from_slice(unsafe {
                    payload(class.slot(object::CLASS_NAME).as_object())
                });
                out.extend_from_slice(b" instance");
            }
            tag::UPVALUE => out.extend_from_slice(b"upvalue"),
            _ => out.extend_from_slice(b"<internal>"),
        }
    }
}

fn write_function(out: &mut Vec<u8>, function: Value) {
    let name = function.as_object().slot(object::FN_NAME);
    if name.is_nil() {
        out.extend_from_slice(b"<script>");
    } else {
        out.extend_from_slice(b"<fn ");
        // SAFETY: a live string; nothing allocates meanwhile.
        out.extend_from_slice(unsafe { payload(name.as_object()) });
        out.push(b'>');
    }
}
