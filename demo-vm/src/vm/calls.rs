//! Calls, closures, upvalues and method binding.
//!
//! Every function here runs with the VM's stack top stored in the heap
//! (`heap.sp()`), and may allocate: callers reload their cached pointers
//! afterwards. Values needed after an allocation are re-read from root
//! slots, never kept in Rust locals across it.

use crate::rt::{AllocSpec, ObjRef, OutOfMemory, Value};

use super::{Frame, RuntimeError, Vm};
use crate::heap::{Heap, FRAMES_MAX, ROOT_FRAMES, ROOT_OPEN_UPVALUES};
use crate::object::{self, is_obj, raw_word, set_raw_word, tag, FunctionInfo};
use crate::table;

fn spec(tag: u16, slots: u32, bytes: usize) -> AllocSpec {
    AllocSpec {
        tag,
        slots,
        bytes,
        pinned: false,
        weak: false,
    }
}

/// Replaces the function on the stack top with a closure of it (no
/// upvalues: the script). Returns the closure.
pub(super) fn new_closure_of_top(heap: &mut Heap) -> Result<Value, OutOfMemory> {
    let c = heap.alloc(spec(tag::CLOSURE, 1, 0))?;
    let f = heap.get(heap.sp() - 1);
    heap.write(c, object::CLOSURE_FUNCTION, f);
    Ok(Value::object(c))
}

/// The name of an interned string constant, for error messages.
fn name_text(name: Value) -> String {
    // SAFETY: names are live strings; nothing allocates during the copy.
    String::from_utf8_lossy(unsafe { object::payload(name.as_object()) }).into_owned()
}

impl Vm {
    /// Calls the closure at `sp - 1 - argc` with `argc` arguments above it.
    pub(super) fn call_closure(&mut self, argc: usize) -> Result<(), RuntimeError> {
        let callee_slot = self.heap.sp() - 1 - argc;
        self.call_closure_value(self.heap.get(callee_slot), argc)
    }

    /// Pushes a frame running `closure`, whose slot 0 is `sp - 1 - argc`.
    fn call_closure_value(&mut self, closure: Value, argc: usize) -> Result<(), RuntimeError> {
        let function = object::closure_function(closure.as_object());
        let info = FunctionInfo::of(function);
        if argc != usize::from(info.arity) {
            return Err(RuntimeError::new(format!(
                "Expected {} arguments but got {}.",
                info.arity, argc
            )));
        }
        if self.frames.len() == FRAMES_MAX {
            return Err(RuntimeError::new("Stack overflow."));
        }
        let base = self.heap.sp() - 1 - argc;
        // Room for everything the callee can push, so the loop's pushes need
        // no bounds check.
        let needed = (base + info.max_stack as usize).saturating_sub(self.heap.sp());
        self.heap.reserve(needed);
        self.heap.set(ROOT_FRAMES + self.frames.len(), closure);
        self.frames.push(Frame { ip: 0, base });
        Ok(())
    }

    /// Calls whatever is at `sp - 1 - argc`.
    pub(super) fn call_value(&mut self, argc: usize) -> Result<(), RuntimeError> {
        let callee_slot = self.heap.sp() - 1 - argc;
        let callee = self.heap.get(callee_slot);
        if callee.is_object() {
            let obj = callee.as_object();
            match obj.tag() {
                tag::CLOSURE => return self.call_closure_value(callee, argc),
                tag::BOUND_METHOD => {
                    self.heap.set(callee_slot, obj.slot(object::BOUND_RECEIVER));
                    return self.call_closure_value(obj.slot(object::BOUND_METHOD), argc);
                }
                tag::CLASS => return self.call_class(callee_slot, argc),
                tag::NATIVE => return self.call_native(raw_word(obj, 0), callee_slot, argc),
                _ => {}
            }
        }
        Err(RuntimeError::new("Can only call functions and classes."))
    }

    /// Instantiates the class at `callee_slot` and runs its initializer.
    fn call_class(&mut self, callee_slot: usize, argc: usize) -> Result<(), RuntimeError> {
        let instance = self.heap.alloc(spec(tag::INSTANCE, 2, 0))?;
        let class = self.heap.get(callee_slot);
        self.heap.write(instance, object::INSTANCE_CLASS, class);
        self.heap.set(callee_slot, Value::object(instance));
        let init = class.as_object().slot(object::CLASS_INIT);
        if !init.is_nil() {
            return self.call_closure_value(init, argc);
        }
        if argc != 0 {
            return Err(RuntimeError::new(format!(
                "Expected 0 arguments but got {argc}."
            )));
        }
        Ok(())
    }

    fn call_native(
        &mut self,
        id: u64,
        callee_slot: usize,
        argc: usize,
    ) -> Result<(), RuntimeError> {
        let result = super::natives::call(self, id, argc)?;
        self.heap.truncate(callee_slot);
        self.heap.push(result);
        Ok(())
    }

    /// `receiver.name(args)`: a field holding a callable, or a method.
    pub(super) fn invoke(&mut self, name: Value, argc: usize) -> Result<(), RuntimeError> {
        let receiver_slot = self.heap.sp() - 1 - argc;
        let receiver = self.heap.get(receiver_slot);
        if !is_obj(receiver, tag::INSTANCE) {
            return Err(RuntimeError::new("Only instances have methods."));
        }
        let instance = receiver.as_object();
        if let Some(field) = table::get(instance.slot(object::INSTANCE_FIELDS), name) {
            self.heap.set(receiver_slot, field);
            return self.call_value(argc);
        }
        self.invoke_from_class(instance.slot(object::INSTANCE_CLASS), name, argc)
    }

    /// Calls method `name` of `class` on the receiver at `sp - 1 - argc`.
    pub(super) fn invoke_from_class(
        &mut self,
        class: Value,
        name: Value,
        argc: usize,
    ) -> Result<(), RuntimeError> {
        match table::get(class.as_object().slot(object::CLASS_METHODS), name) {
            Some(method) => self.call_closure_value(method, argc),
            None => Err(RuntimeError::new(format!(
                "Undefined property '{}'.",
                name_text(name)
            ))),
        }
    }

    /// Replaces the receiver on the stack top with its method `name` of
    /// `class`, bound.
    pub(super) fn bind_method(&mut self, class: Value, name: Value) -> Result<(), RuntimeError> {
        let Some(method) = table::get(class.as_object().slot(object::CLASS_METHODS), name) else {
            return Err(RuntimeError::new(format!(
                "Undefined property '{}'.",
                name_text(name)
            )));
        };
        self.heap.push(method);
        let bound = self.heap.alloc(spec(tag::BOUND_METHOD, 2, 0));
        let method = self.heap.pop();
        let bound = bound?;
        let top = self.heap.sp() - 1;
        self.heap
            .write(bound, object::BOUND_RECEIVER, self.heap.get(top));
        self.heap.write(bound, object::BOUND_METHOD, method);
        self.heap.set(top, Value::object(bound));
        Ok(())
    }

    /// Builds a closure of the function constant at index `constant` of the
    /// current frame and pushes it, capturing upvalues as described by the
    /// operand pairs at the frame's ip (which it advances past them).
    pub(super) fn make_closure(&mut self, constant: usize) -> Result<(), RuntimeError> {
        let frame_index = self.frames.len() - 1;
        let function = self.frame_constant(frame_index, constant);
        let count = FunctionInfo::of(function.as_object()).upvalue_count as usize;
        let c = self.heap.alloc(spec(tag::CLOSURE, 1 + count as u32, 0))?;
        let function = self.frame_constant(frame_index, constant);
        self.heap.write(c, object::CLOSURE_FUNCTION, function);
        self.heap.push(Value::object(c));
        let closure_slot = self.heap.sp() - 1;
        for i in 0..count {
            let (is_local, index) = {
                let code = self.frame_code(frame_index);
                let ip = self.frames[frame_index].ip;
                // SAFETY: the compiler emits two operand bytes per upvalue
                // right after the instruction; nothing allocates meanwhile.
                let bytes = unsafe { object::payload(code) };
                (bytes[ip], bytes[ip + 1])
            };
            self.frames[frame_index].ip += 2;
            let upvalue = if is_local != 0 {
                let stack_index = self.frames[frame_index].base + usize::from(index);
                self.capture_upvalue(stack_index)?
            } else {
                let enclosing = self.heap.get(ROOT_FRAMES + frame_index).as_object();
                enclosing.slot(1 + usize::from(index))
            };
            let c = self.heap.get(closure_slot).as_object();
            self.heap.write(c, 1 + i, upvalue);
        }
        Ok(())
    }

    fn frame_constant(&self, frame_index: usize, constant: usize) -> Value {
        let closure = self.heap.get(ROOT_FRAMES + frame_index).as_object();
        let function = object::closure_function(closure);
        function
            .slot(object::FN_CONSTANTS)
            .as_object()
            .slot(constant)
    }

    fn frame_code(&self, frame_index: usize) -> ObjRef {
        let closure = self.heap.get(ROOT_FRAMES + frame_index).as_object();
        object::closure_function(closure)
            .slot(object::FN_CODE)
            .as_object()
    }

    /// The open upvalue for stack slot `stack_index`, created if needed.
    fn capture_upvalue(&mut self, stack_index: usize) -> Result<Value, RuntimeError> {
        if let Some(existing) = self.find_open_upvalue(stack_index).1 {
            return Ok(existing);
        }
        let up = self.heap.alloc(spec(tag::UPVALUE, 2, 8))?;
        set_raw_word(up, 0, stack_index as u64);
        // The list may have changed under the collection: walk it again.
        let (prev, _) = self.find_open_upvalue(stack_index);
        let next = match prev {
            None => self.heap.get(ROOT_OPEN_UPVALUES),
            Some(p) => p.as_object().slot(object::UPVALUE_NEXT),
        };
        self.heap.write(up, object::UPVALUE_NEXT, next);
        let upv = Value::object(up);
        match prev {
            None => self.heap.set(ROOT_OPEN_UPVALUES, upv),
            Some(p) => self.heap.write(p.as_object(), object::UPVALUE_NEXT, upv),
        }
        Ok(upv)
    }

    /// Walks the open list (sorted by stack index, highest first): the last
    /// upvalue above `stack_index`, and the one at it if any.
    fn find_open_upvalue(&self, stack_index: usize) -> (Option<Value>, Option<Value>) {
        let mut prev = None;
        let mut cur = self.heap.get(ROOT_OPEN_UPVALUES);
        while !cur.is_nil() {
            let idx = raw_word(cur.as_object(), 0) as usize;
            if idx == stack_index {
                return (prev, Some(cur));
            }
            if idx < stack_index {
                break;
            }
            prev = Some(cur);
            cur = cur.as_object().slot(object::UPVALUE_NEXT);
        }
        (prev, None)
    }

    /// Closes every open upvalue at or above stack index `from`.
    pub(super) fn close_upvalues(&mut self, from: usize) {
        let mut cur = self.heap.get(ROOT_OPEN_UPVALUES);
        while !cur.is_nil() {
            let up = cur.as_object();
            let idx = raw_word(up, 0) as usize;
            if idx < from {
                break;
            }
            self.heap
                .write(up, object::UPVALUE_CLOSED, self.heap.get(idx));
            set_raw_word(up, 0, object::UPVALUE_IS_CLOSED);
            cur = up.slot(object::UPVALUE_NEXT);
            self.heap.write(up, object::UPVALUE_NEXT, Value::NIL);
        }
        self.heap.set(ROOT_OPEN_UPVALUES, cur);
    }
}
