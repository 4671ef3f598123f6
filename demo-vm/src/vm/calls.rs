//! Calls, closures, upvalues and method binding.
//!
//! Every function here runs with the VM's stack top stored in the heap
//! (`heap.sp()`). The ones that may allocate take the VM (or the heap)
//! `&mut` and read their inputs from root slots, never from values passed
//! in (those would not survive the allocation, and the compiler says so);
//! callers reload their cached pointers afterwards. The ones that do not
//! allocate take the heap shared and may be given values.

use crate::rt::{AllocSpec, Gc, Value};

use super::{Frame, Frames, RuntimeError, Vm};
use crate::heap::{Heap, ROOT_FRAMES, ROOT_OPEN_UPVALUES};
use crate::object::{self, obj, raw_word, set_raw_word, tag, FunctionInfo};
use crate::table;

/// An instance: its class and its fields table (nil until the first field).
pub(super) const INSTANCE: AllocSpec = spec(tag::INSTANCE, 2, 0);

const fn spec(tag: u16, slots: u32, bytes: usize) -> AllocSpec {
    AllocSpec {
        tag,
        slots,
        bytes,
        pinned: false,
        weak: false,
    }
}

/// Replaces the function on the stack top with a closure of it (no
/// upvalues: the script).
pub(super) fn new_closure_of_top(heap: &mut Heap) -> Result<(), RuntimeError> {
    let (heap, c) = heap.alloc(spec(tag::CLOSURE, 1, 0))?;
    let top = heap.sp() - 1;
    heap.write(c, object::CLOSURE_FUNCTION, heap.get(top));
    heap.set(top, c.into());
    Ok(())
}

/// The name of an interned string constant, for error messages.
fn name_text(name: Value<'_>) -> String {
    // SAFETY: strings are never written after they are interned.
    String::from_utf8_lossy(unsafe { object::payload(obj(name)) }).into_owned()
}

/// Pushes a frame running `closure`, whose slot 0 is `sp - 1 - argc`. Does
/// not allocate (it may grow the stack's buffer).
pub(super) fn push_frame(
    heap: &Heap,
    frames: &mut Frames,
    closure: Value<'_>,
    argc: usize,
) -> Result<(), RuntimeError> {
    // SAFETY: callers pass closures (`call_value` checked the tag; method
    // tables, class initializers and frames hold closures).
    let function = object::closure_function(unsafe { object::always_object(closure) });
    let info = FunctionInfo::of(function);
    if argc != usize::from(info.arity) {
        return Err(arity_error(info.arity, argc));
    }
    if frames.is_full() {
        return Err(stack_overflow());
    }
    let base = heap.sp() - 1 - argc;
    // Room for everything the callee can push, so the loop's pushes need
    // no bounds check.
    let needed = (base + info.max_stack as usize).saturating_sub(heap.sp());
    heap.reserve(needed);
    heap.set(ROOT_FRAMES + frames.len(), closure);
    frames.push(Frame::new(base));
    Ok(())
}

/// A call with the wrong number of arguments.
#[cold]
pub(super) fn arity_error(arity: u8, argc: usize) -> RuntimeError {
    RuntimeError::new(format!("Expected {arity} arguments but got {argc}."))
}

/// A call past the deepest frame.
#[cold]
pub(super) fn stack_overflow() -> RuntimeError {
    RuntimeError::new("Stack overflow.")
}

/// Method `name` of `class`.
#[inline(always)]
pub(super) fn find_method<'h>(
    class: Value<'h>,
    name: Value<'_>,
) -> Result<Value<'h>, RuntimeError> {
    table::get(obj(class).slot(object::CLASS_METHODS), name)
        .ok_or_else(|| RuntimeError::new(format!("Undefined property '{}'.", name_text(name))))
}

/// A new instance of `class`, if allocating it needs no safepoint (see
/// [`Heap::alloc_without_safepoint`]: nothing moved, so the loop's
/// registers stay valid); `None`: [`Vm::instantiate`] through a safepoint.
/// Out of line: kept out of the dispatch loop's register allocation.
#[inline(never)]
pub(super) fn instance_without_safepoint<'h>(heap: &'h Heap, class: Value<'_>) -> Option<Gc<'h>> {
    let instance = heap.alloc_without_safepoint(INSTANCE)?;
    heap.write(instance, object::INSTANCE_CLASS, class);
    Some(instance)
}

impl Vm {
    /// Calls the closure at `sp - 1 - argc` with `argc` arguments above it.
    pub(super) fn call_closure(&mut self, argc: usize) -> Result<(), RuntimeError> {
        let callee = self.heap.get(self.heap.sp() - 1 - argc);
        push_frame(&self.heap, &mut self.frames, callee, argc)
    }

    /// Calls the native at `sp - 1 - argc` (the loop calls closures, bound
    /// methods and classes itself), or fails: not callable.
    pub(super) fn call_value(&mut self, argc: usize) -> Result<(), RuntimeError> {
        let callee_slot = self.heap.sp() - 1 - argc;
        let callee = self.heap.get(callee_slot);
        match callee.as_object() {
            Some(o) if o.tag() == tag::NATIVE => {
                let id = raw_word(o, 0);
                self.call_native(id, callee_slot, argc)
            }
            _ => Err(RuntimeError::new("Can only call functions and classes.")),
        }
    }

    /// Replaces the class at `callee_slot` with a new instance of it (the
    /// loop then runs the class's initializer).
    pub(super) fn instantiate(&mut self, callee_slot: usize) -> Result<(), RuntimeError> {
        let (heap, instance) = self.heap.alloc(INSTANCE)?;
        let class = heap.get(callee_slot);
        heap.write(instance, object::INSTANCE_CLASS, class);
        heap.set(callee_slot, instance.into());
        Ok(())
    }

    fn call_native(
        &mut self,
        id: u64,
        callee_slot: usize,
        argc: usize,
    ) -> Result<(), RuntimeError> {
        super::natives::call(self, id, argc)?;
        let result = self.heap.pop();
        self.heap.truncate(callee_slot);
        self.heap.push(result);
        Ok(())
    }

    /// Replaces the receiver on the stack top with the method on top of it,
    /// bound (the method is popped).
    pub(super) fn bind_pushed_method(&mut self) -> Result<(), RuntimeError> {
        let (heap, bound) = self.heap.alloc(spec(tag::BOUND_METHOD, 2, 0))?;
        let method = heap.pop();
        let top = heap.sp() - 1;
        heap.write(bound, object::BOUND_RECEIVER, heap.get(top));
        heap.write(bound, object::BOUND_METHOD, method);
        heap.set(top, bound.into());
        Ok(())
    }

    /// Builds a closure of the function constant at index `constant` of the
    /// current frame and pushes it, capturing upvalues as described by the
    /// operand pairs at the frame's ip (which it advances past them).
    pub(super) fn make_closure(&mut self, constant: usize) -> Result<(), RuntimeError> {
        let frame_index = self.frames.len() - 1;
        let function = self.frame_constant(frame_index, constant);
        let count = FunctionInfo::of(obj(function)).upvalue_count as usize;
        let (heap, c) = self.heap.alloc(spec(tag::CLOSURE, 1 + count as u32, 0))?;
        let function = frame_constant(heap, frame_index, constant);
        heap.write(c, object::CLOSURE_FUNCTION, function);
        heap.push(c.into());
        let closure_slot = heap.sp() - 1;
        for i in 0..count {
            let (is_local, index) = {
                let code = frame_code(&self.heap, frame_index);
                let ip = self.frames[frame_index].ip;
                // SAFETY: code is never written after the compiler filled
                // it; the compiler emits two operand bytes per upvalue right
                // after the instruction.
                let bytes = unsafe { object::payload(code) };
                (bytes[ip], bytes[ip + 1])
            };
            self.frames[frame_index].ip += 2;
            if is_local != 0 {
                let stack_index = self.frames[frame_index].base + usize::from(index);
                self.capture_upvalue(stack_index)?;
            } else {
                let enclosing = obj(self.heap.get(ROOT_FRAMES + frame_index));
                self.heap.push(enclosing.slot(1 + usize::from(index)));
            }
            let upvalue = self.heap.pop();
            let c = obj(self.heap.get(closure_slot));
            self.heap.write(c, 1 + i, upvalue);
        }
        Ok(())
    }

    fn frame_constant(&self, frame_index: usize, constant: usize) -> Value<'_> {
        frame_constant(&self.heap, frame_index, constant)
    }

    /// Pushes the open upvalue for stack slot `stack_index`, created if
    /// needed.
    fn capture_upvalue(&mut self, stack_index: usize) -> Result<(), RuntimeError> {
        if let Some(existing) = find_open_upvalue(&self.heap, stack_index).1 {
            self.heap.push(existing);
            return Ok(());
        }
        let (heap, up) = self.heap.alloc(spec(tag::UPVALUE, 2, 8))?;
        set_raw_word(up, 0, stack_index as u64);
        // The list may have changed under the collection: walk it again.
        let (prev, _) = find_open_upvalue(heap, stack_index);
        let next = match prev {
            None => heap.get(ROOT_OPEN_UPVALUES),
            Some(p) => obj(p).slot(object::UPVALUE_NEXT),
        };
        heap.write(up, object::UPVALUE_NEXT, next);
        match prev {
            None => heap.set(ROOT_OPEN_UPVALUES, up.into()),
            Some(p) => heap.write(obj(p), object::UPVALUE_NEXT, up.into()),
        }
        heap.push(up.into());
        Ok(())
    }
}

/// Constant `constant` of frame `frame_index`'s function.
fn frame_constant(heap: &Heap, frame_index: usize, constant: usize) -> Value<'_> {
    let closure = obj(heap.get(ROOT_FRAMES + frame_index));
    let function = object::closure_function(closure);
    obj(function.slot(object::FN_CONSTANTS)).slot(object::constant_slot(constant))
}

fn frame_code(heap: &Heap, frame_index: usize) -> crate::rt::Gc<'_> {
    let closure = obj(heap.get(ROOT_FRAMES + frame_index));
    obj(object::closure_function(closure).slot(object::FN_CODE))
}

/// Walks the open list (sorted by stack index, highest first): the last
/// upvalue above `stack_index`, and the one at it if any.
fn find_open_upvalue(heap: &Heap, stack_index: usize) -> (Option<Value<'_>>, Option<Value<'_>>) {
    let mut prev = None;
    let mut cur = heap.get(ROOT_OPEN_UPVALUES);
    while let Some(up) = cur.as_object() {
        let idx = raw_word(up, 0) as usize;
        if idx == stack_index {
            return (prev, Some(cur));
        }
        if idx < stack_index {
            break;
        }
        prev = Some(cur);
        cur = up.slot(object::UPVALUE_NEXT);
    }
    (prev, None)
}

/// Closes every open upvalue at or above stack index `from`.
pub(super) fn close_upvalues(heap: &Heap, from: usize) {
    let mut cur = heap.get(ROOT_OPEN_UPVALUES);
    while let Some(up) = cur.as_object() {
        let idx = raw_word(up, 0) as usize;
        if idx < from {
            break;
        }
        heap.write(up, object::UPVALUE_CLOSED, heap.get(idx));
        set_raw_word(up, 0, object::UPVALUE_IS_CLOSED);
        cur = up.slot(object::UPVALUE_NEXT);
        heap.write(up, object::UPVALUE_NEXT, Value::NIL);
    }
    heap.set(ROOT_OPEN_UPVALUES, cur);
}
