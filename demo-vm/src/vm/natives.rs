//! Native functions: clox's `clock()` plus the heap's showcase natives
//! `gc()` and `gcStats()`. Natives ignore extra arguments, as clox's do.

use crate::rt::{AllocError, AllocSpec, Value};

use super::{RuntimeError, Vm};
use crate::heap::ROOT_GLOBALS;
use crate::intern::intern;
use crate::object::{set_raw_word, tag};
use crate::table::{self, Holder};

/// The natives, by id (the id is the native object's raw word).
const NATIVES: [&str; 3] = ["clock", "gc", "gcStats"];

/// Defines every native as a global.
pub(super) fn define_all(vm: &mut Vm) -> Result<(), AllocError> {
    for (id, name) in NATIVES.iter().enumerate() {
        intern(&mut vm.heap, name.as_bytes())?;
        let (heap, native) = vm.heap.alloc(AllocSpec {
            tag: tag::NATIVE,
            slots: 0,
            bytes: 8,
            pinned: false,
            weak: false,
        })?;
        set_raw_word(native, 0, id as u64);
        heap.push(native.into());
        table::set(&mut vm.heap, Holder::Root(ROOT_GLOBALS))?;
    }
    Ok(())
}

/// Runs native `id` and pushes its result; its arguments are the top
/// `argc` stack slots.
pub(super) fn call(vm: &mut Vm, id: u64, _argc: usize) -> Result<(), RuntimeError> {
    match id {
        0 => vm
            .heap
            .push(Value::number(vm.started.elapsed().as_secs_f64())),
        1 => match vm.heap.collect() {
            Ok(()) => vm.heap.push(Value::NIL),
            Err(e) => return Err(RuntimeError::new(format!("Garbage collection failed: {e}"))),
        },
        _ => {
            let text = vm.heap.mutator().stats().to_string();
            intern(&mut vm.heap, text.as_bytes())?;
        }
    }
    Ok(())
}
