//! The dispatch loop.
//!
//! The loop keeps the current frame's code pointer, instruction pointer,
//! constant pool, slot base and stack top in locals (registers). Every
//! instruction that can allocate first stores them back (`save!`: ip as an
//! offset into the code, the top as a root index) and reloads them
//! afterwards from the frame's root (`load!`), because a collection may
//! have moved the code, the constants and the root stack itself. The cached
//! closure and constants are [`Gc`]s borrowing the heap: the compiler
//! rejects any path that would use one after a call that may collect
//! without `load!` first. The raw stack and code pointers are the unsafe
//! fast path, under the rules in [`crate::heap`].
//!
//! Calls and returns do not go through `load!`: a call of a closure (also
//! through a method cache, a bound method or a class's `init`) takes the
//! callee's registers from the closure in hand, and `save!` keeps the
//! caller's in its frame ([`Saved`]), which the return restores as long as
//! the heap's epoch shows that nothing could have moved since.
//!
//! Instructions that name an identifier keep an inline cache beside their
//! name constant (see `object::cache_slot`): the table entry of the last
//! global or field they found, or the classes they last called a method of
//! and those methods.
//!
//! The loop polls for a safepoint at every back-edge (`Loop`) and call
//! (`Call`, `Invoke`, `SuperInvoke`): one load of the mutator's poll word
//! and a branch, so that a pause another thread or the collector requests
//! reaches a Lox loop that never allocates. Only when the word is set are
//! the registers saved and reloaded around the stop.

use crate::rt::{Gc, RawValue, Value};

use super::calls;
use super::{RuntimeError, Vm};
use crate::bytecode::Op;
use crate::heap::{ROOT_FRAMES, ROOT_GLOBALS, ROOT_INIT_STRING, ROOT_OPEN_UPVALUES};
use crate::intern::intern;
use crate::object::{
    self, always_object, is_obj, mark_field_name, may_name_a_field, obj, payload, raw_word, tag,
    ClosureView, InstanceView, UPVALUE_IS_CLOSED,
};
use crate::table::{self, Holder};

/// The dispatch loop's registers of a suspended frame (its closure, code
/// and constants), so that a return need not derive them again from the
/// frame's root. Private to the loop, which writes them when it suspends a
/// frame (`save!`) and trusts them on return only while the heap's epoch
/// ([`crate::heap::Heap::epoch`]) is the one recorded: no call that may
/// collect ran since, so every object is where it was. Otherwise the
/// return reloads them from the frame's root.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Saved {
    closure: RawValue,
    code: *const u8,
    consts: RawValue,
    epoch: u64,
}

impl Saved {
    /// Marks the registers stale (a new frame's).
    #[inline(always)]
    pub(crate) fn invalidate(&mut self) {
        self.epoch = u64::MAX;
    }

    /// Never valid: the heap's epoch never reaches `u64::MAX`.
    pub(crate) const STALE: Saved = Saved {
        closure: RawValue::NIL,
        code: std::ptr::null(),
        consts: RawValue::NIL,
        epoch: u64::MAX,
    };
}

#[inline(always)]
fn is_falsey(v: Value<'_>) -> bool {
    v == Value::NIL || v == Value::FALSE
}

#[inline(always)]
fn values_equal(a: Value<'_>, b: Value<'_>) -> bool {
    match (a.as_number(), b.as_number()) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

impl Vm {
    /// Runs until the script's frame returns or a runtime error occurs.
    pub(super) fn run(&mut self) -> Result<(), RuntimeError> {
        let mut fi: usize;
        let mut closure: Gc<'_>;
        let mut code: *const u8;
        let mut consts: Gc<'_>;
        let mut ip: *const u8;
        let mut base: *mut RawValue;
        let mut slots: *mut RawValue;
        let mut top: *mut RawValue;

        macro_rules! enter {
            ($c:expr, $ip:expr) => {{
                let c: ClosureView<'_> = $c;
                let function = c.function();
                closure = c.gc();
                code = function.code();
                consts = function.constants();
                // SAFETY: the offset lies inside the code (a frame's ip is
                // an instruction boundary the loop saved, or 0).
                ip = unsafe { code.add($ip) };
            }};
        }
        macro_rules! load {
            () => {{
                fi = self.frames.len() - 1;
                let frame = self.frames[fi];
                // SAFETY: frame fi's root holds its closure while the frame
                // exists.
                let c = unsafe {
                    ClosureView::new_unchecked(always_object(self.heap.get(ROOT_FRAMES + fi)))
                };
                enter!(c, frame.ip);
                base = self.heap.base();
                // SAFETY: frame.base and sp are below the root capacity.
                slots = unsafe { base.add(frame.base) };
                // SAFETY: as above.
                top = unsafe { base.add(self.heap.sp()) };
            }};
        }
        macro_rules! save_sp {
            () => {{
                // SAFETY: top and base point into the same root buffer;
                // every slot below top was written by this loop with a value
                // read since the last call that may collect (the heap
                // module's rules), or was below the top at `load!`.
                self.heap.set_sp(unsafe { top.offset_from(base) } as usize);
            }};
        }
        // Suspends the current frame (its ip and the registers a return
        // restores while the heap's epoch stays the same) and stores the
        // stack top.
        macro_rules! save {
            () => {{
                let epoch = self.heap.epoch();
                let f = &mut self.frames[fi];
                // SAFETY: ip and code point into the same code object.
                f.ip = unsafe { ip.offset_from(code) } as usize;
                f.saved = Saved {
                    closure: Value::from(closure).raw(),
                    code,
                    consts: Value::from(consts).raw(),
                    epoch,
                };
                save_sp!();
            }};
        }
        // A safepoint poll (back-edges and calls): one load and a branch;
        // only when a pause or the collector waits are the registers saved
        // and reloaded around the stop (objects may move).
        macro_rules! poll {
            () => {{
                if self.heap.safepoint_requested() {
                    save!();
                    self.heap.safepoint();
                    // A call sets up the callee's slots next.
                    #[allow(unused_assignments)]
                    {
                        load!();
                    }
                }
            }};
        }
        macro_rules! read_byte {
            () => {{
                // SAFETY: the compiler ends every function with a return and
                // emits every operand, so ip never runs past the code.
                let b = unsafe { *ip };
                // SAFETY: as above.
                ip = unsafe { ip.add(1) };
                b
            }};
        }
        macro_rules! read_short {
            () => {{
                let hi = read_byte!() as usize;
                let lo = read_byte!() as usize;
                hi << 8 | lo
            }};
        }
        // The constant operand: (its index, its value).
        macro_rules! read_constant_at {
            () => {{
                let i = read_byte!() as usize;
                debug_assert!(
                    object::constant_slot(i) < consts.slot_count(),
                    "constant {i} out of range"
                );
                // SAFETY: the compiler only emits indices of existing
                // constants, and a constant array is not weak.
                (i, unsafe {
                    consts.slot_unchecked(object::constant_slot(i))
                })
            }};
        }
        macro_rules! read_constant {
            () => {{
                read_constant_at!().1
            }};
        }
        // Inline-cache slot `$j` (0 or 1) of constant `$k`.
        macro_rules! cache_get {
            ($k:expr, $j:expr) => {{
                // SAFETY: constant k exists (read_constant_at), so its cache
                // slots (j < CACHE_SLOTS) are in the (not weak) constant
                // array.
                unsafe {
                    const { assert!($j < object::CACHE_SLOTS) };
                    consts.slot_unchecked(object::cache_slot($k) + $j)
                }
            }};
        }
        macro_rules! cache_set {
            ($k:expr, $j:expr, $v:expr) => {{
                self.heap.write(consts, object::cache_slot($k) + $j, $v);
            }};
        }
        // Method `$name` of class `$class`, through constant `$k`'s cache
        // (two entries of a class and its method: a site may see two
        // classes, e.g. `this.m()` in a method a subclass inherits; a third
        // replaces the second).
        macro_rules! cached_method {
            ($k:expr, $class:expr, $name:expr) => {{
                let (k, class): (usize, Value<'_>) = ($k, $class);
                if cache_get!(k, 0) == class {
                    cache_get!(k, 1)
                } else if cache_get!(k, 2) == class {
                    cache_get!(k, 3)
                } else {
                    match calls::find_method(class, $name) {
                        Ok(m) => {
                            let entry = if cache_get!(k, 0).is_nil() { 0 } else { 2 };
                            cache_set!(k, entry, class);
                            cache_set!(k, entry + 1, m);
                            m
                        }
                        Err(e) => fail_with!(e),
                    }
                }
            }};
        }
        // Remembers entry `$e` of a `find_hinted` at constant `$k`'s cache.
        macro_rules! remember_entry {
            ($k:expr, $e:expr) => {{
                if !$e.hinted {
                    cache_set!($k, 0, table::hint($e.index));
                }
            }};
        }
        macro_rules! push {
            ($v:expr) => {{
                let v = $v;
                debug_assert!(
                    // SAFETY: top and base point into the same root buffer.
                    (unsafe { top.offset_from(base) } as usize)
                        < self.heap.sp() + self.heap.headroom(),
                    "value stack overflow: the compiler's height accounting is wrong"
                );
                let v: Value<'_> = v;
                // SAFETY: calls reserve the callee's maximum stack height, which
                // the compiler computed, so top stays inside the root buffer;
                // `v` is current (it borrows the heap).
                unsafe {
                    top.write(v.raw());
                    top = top.add(1);
                }
            }};
        }
        macro_rules! pop {
            () => {{
                // SAFETY: the compiler never pops below the frame's slots, and
                // the slot holds a current value (the heap module's rules).
                unsafe {
                    top = top.sub(1);
                    self.heap.value(*top)
                }
            }};
        }
        macro_rules! drop_top {
            () => {{
                // SAFETY: as for pop.
                top = unsafe { top.sub(1) };
            }};
        }
        macro_rules! peek {
            ($d:expr) => {{
                // SAFETY: as for pop.
                unsafe { self.heap.value(*top.sub(1 + $d)) }
            }};
        }
        macro_rules! set_top {
            ($v:expr) => {{
                let v: Value<'_> = $v;
                // SAFETY: as for pop; `v` is current.
                unsafe { *top.sub(1) = v.raw() }
            }};
        }
        macro_rules! fail {
            ($msg:expr) => {{
                save!();
                return Err(RuntimeError::new($msg));
            }};
        }
        // Fixed root `$i` (below STACK_BASE).
        macro_rules! root {
            ($i:expr) => {{
                const { assert!($i < crate::heap::STACK_BASE) };
                // SAFETY: a fixed root is below STACK_BASE <= sp, inside the
                // buffer, and holds a current value.
                unsafe { self.heap.value(*base.add($i)) }
            }};
        }
        macro_rules! sp {
            () => {
                // SAFETY: top and base point into the same root buffer.
                unsafe { top.offset_from(base) } as usize
            };
        }
        macro_rules! binary_number {
            ($a:ident, $b:ident, $result:expr) => {{
                let (Some($a), Some($b)) = (peek!(1).as_number(), peek!(0).as_number()) else {
                    fail!("Operands must be numbers.");
                };
                drop_top!();
                set_top!($result);
            }};
        }

        macro_rules! fail_with {
            ($e:expr) => {{
                save!();
                return Err($e);
            }};
        }
        // Calls closure `$c` with `$argc` arguments above its slot: the
        // frame set-up of `calls::push_frame`, inline, with the callee's
        // registers taken from the closure in hand.
        macro_rules! call_closure {
            ($c:expr, $argc:expr) => {{
                let c: ClosureView<'_> = $c;
                let argc: usize = $argc;
                let info = c.function().info();
                if argc != usize::from(info.arity) {
                    fail_with!(calls::arity_error(info.arity, argc));
                }
                if self.frames.is_full() {
                    fail_with!(calls::stack_overflow());
                }
                save!();
                let new_base = sp!() - 1 - argc;
                // Room for everything the callee can push, so the loop's
                // pushes need no bounds check.
                let depth = new_base + info.max_stack as usize;
                if depth > self.heap.capacity() {
                    self.heap.reserve(depth - self.heap.sp());
                    // The buffer may have moved (objects did not).
                    base = self.heap.base();
                    // SAFETY: sp is below the capacity.
                    top = unsafe { base.add(self.heap.sp()) };
                }
                // SAFETY: ROOT_FRAMES + len < STACK_BASE <= sp: a root slot
                // inside the buffer; the closure is current.
                unsafe { *base.add(ROOT_FRAMES + self.frames.len()) = Value::from(c.gc()).raw() };
                self.frames.push_new(new_base);
                fi += 1;
                enter!(c, 0);
                // SAFETY: new_base is below the top, inside the buffer.
                slots = unsafe { base.add(new_base) };
            }};
        }
        // Calls method `$m` (a value read from a method table, a class's
        // `init` or an `Invoke` cache: a closure) with `$argc` arguments.
        macro_rules! call_method {
            ($m:expr, $argc:expr) => {{
                let m: Value<'_> = $m;
                // SAFETY: method tables, `init` slots and the method slots
                // of `Invoke` caches hold closures (the layouts in
                // `object`).
                let c = unsafe { ClosureView::new_unchecked(always_object(m)) };
                call_closure!(c, $argc)
            }};
        }
        // Calls whatever is `$argc` slots below the top.
        macro_rules! call_value {
            ($argc:expr) => {{
                let argc: usize = $argc;
                let callee = peek!(argc);
                if let Some(c) = callee.as_object().and_then(ClosureView::of) {
                    call_closure!(c, argc);
                } else if is_obj(callee, tag::BOUND_METHOD) {
                    let bound = obj(callee);
                    // SAFETY: the callee's slot is below the top; the
                    // receiver is current.
                    unsafe { *top.sub(1 + argc) = bound.slot(object::BOUND_RECEIVER).raw() };
                    call_method!(bound.slot(object::BOUND_METHOD), argc);
                } else if is_obj(callee, tag::CLASS) {
                    // The instance replaces the class in the callee's slot;
                    // without a safepoint nothing moved and the registers
                    // stay.
                    if let Some(instance) = calls::instance_without_safepoint(&self.heap, callee) {
                        // SAFETY: the callee's slot is below the top; the
                        // instance is current.
                        unsafe { *top.sub(1 + argc) = Value::from(instance).raw() };
                    } else {
                        save!();
                        self.instantiate(sp!() - 1 - argc)?;
                        load!();
                    }
                    let Some(instance) = InstanceView::of(peek!(argc)) else {
                        unreachable!("instantiate put an instance there")
                    };
                    let init = obj(instance.class()).slot(object::CLASS_INIT);
                    if !init.is_nil() {
                        call_method!(init, argc);
                    } else if argc != 0 {
                        fail_with!(calls::arity_error(0, argc));
                    }
                } else {
                    save!();
                    self.call_value(argc)?;
                    load!();
                }
            }};
        }

        load!();
        loop {
            let byte = read_byte!();
            debug_assert!((byte as usize) < Op::ALL.len(), "bad opcode {byte}");
            // SAFETY: `Op` is repr(u8) and instruction bytes come only from
            // `emit_op`, so the byte is a valid discriminant.
            let op: Op = unsafe { std::mem::transmute::<u8, Op>(byte) };
            match op {
                Op::Constant => push!(read_constant!()),
                Op::Nil => push!(Value::NIL),
                Op::True => push!(Value::TRUE),
                Op::False => push!(Value::FALSE),
                Op::Pop => {
                    drop_top!();
                }
                Op::GetLocal => {
                    let slot = read_byte!() as usize;
                    // SAFETY: local slots lie inside the frame's reserved stack
                    // and hold current values.
                    push!(unsafe { self.heap.value(*slots.add(slot)) });
                }
                Op::SetLocal => {
                    let slot = read_byte!() as usize;
                    let v = peek!(0);
                    // SAFETY: as for GetLocal; `v` is current.
                    unsafe { *slots.add(slot) = v.raw() };
                }
                Op::GetGlobal => {
                    let (k, name) = read_constant_at!();
                    let globals = root!(ROOT_GLOBALS);
                    match table::find_hinted(globals, name, cache_get!(k, 0)) {
                        Some(e) => {
                            remember_entry!(k, e);
                            push!(e.value);
                        }
                        None => fail!(format!("Undefined variable '{}'.", text(name))),
                    }
                }
                Op::DefineGlobal => {
                    let name = read_constant!();
                    let value = peek!(0);
                    let globals = self.heap.get(ROOT_GLOBALS);
                    if table::put(&self.heap, globals, name, value).is_ok() {
                        drop_top!();
                    } else {
                        let value = pop!();
                        push!(name);
                        push!(value);
                        save!();
                        // Pops name and value.
                        table::set(&mut self.heap, Holder::Root(ROOT_GLOBALS))?;
                        load!();
                    }
                }
                Op::SetGlobal => {
                    let (k, name) = read_constant_at!();
                    let globals = root!(ROOT_GLOBALS);
                    match table::find_hinted(globals, name, cache_get!(k, 0)) {
                        Some(e) => {
                            remember_entry!(k, e);
                            self.heap.write(e.table, 2 * e.index + 1, peek!(0));
                        }
                        None => fail!(format!("Undefined variable '{}'.", text(name))),
                    }
                }
                Op::GetUpvalue => {
                    let i = read_byte!() as usize;
                    // SAFETY: the compiler only emits indices of the closure's
                    // upvalues, a closure is not weak, and its upvalue slots
                    // hold upvalue objects (the layout in `object`).
                    let up = unsafe { always_object(closure.slot_unchecked(1 + i)) };
                    let at = raw_word(up, 0);
                    let v = if at == UPVALUE_IS_CLOSED {
                        up.slot(object::UPVALUE_CLOSED)
                    } else {
                        // SAFETY: an open upvalue's slot is below the stack
                        // top and holds a current value.
                        unsafe { self.heap.value(*base.add(at as usize)) }
                    };
                    push!(v);
                }
                Op::SetUpvalue => {
                    let i = read_byte!() as usize;
                    // SAFETY: as for GetUpvalue.
                    let up = unsafe { always_object(closure.slot_unchecked(1 + i)) };
                    let at = raw_word(up, 0);
                    if at == UPVALUE_IS_CLOSED {
                        self.heap.write(up, object::UPVALUE_CLOSED, peek!(0));
                    } else {
                        let v = peek!(0);
                        // SAFETY: as for GetUpvalue; `v` is current.
                        unsafe { *base.add(at as usize) = v.raw() };
                    }
                }
                Op::GetProperty => {
                    let Some(instance) = InstanceView::of(peek!(0)) else {
                        fail!("Only instances have properties.");
                    };
                    let (k, name) = read_constant_at!();
                    if let Some(e) = table::find_hinted(instance.fields(), name, cache_get!(k, 0)) {
                        remember_entry!(k, e);
                        set_top!(e.value);
                    } else {
                        save!();
                        let method = calls::find_method(instance.class(), name)?;
                        self.heap.push(method);
                        self.bind_pushed_method()?;
                        load!();
                    }
                }
                Op::SetProperty => {
                    let Some(instance) = InstanceView::of(peek!(1)) else {
                        fail!("Only instances have fields.");
                    };
                    let (k, name) = read_constant_at!();
                    let value = peek!(0);
                    let fields = instance.fields();
                    if let Some(e) = table::find_hinted(fields, name, cache_get!(k, 0)) {
                        remember_entry!(k, e);
                        self.heap.write(e.table, 2 * e.index + 1, value);
                    } else {
                        // A new field.
                        mark_field_name(obj(name));
                        if table::put(&self.heap, fields, name, value).is_err() {
                            save!();
                            let holder = Holder::Slot {
                                root: sp!() - 2,
                                slot: object::INSTANCE_FIELDS,
                            };
                            self.heap.push(name);
                            self.heap.push(value);
                            // Pops the two just pushed.
                            table::set(&mut self.heap, holder)?;
                            load!();
                        }
                    }
                    let value = pop!();
                    set_top!(value);
                }
                Op::GetSuper => {
                    let name = read_constant!();
                    let superclass = pop!();
                    save!();
                    let method = calls::find_method(superclass, name)?;
                    self.heap.push(method);
                    self.bind_pushed_method()?;
                    load!();
                }
                Op::Equal => {
                    let b = pop!();
                    let a = peek!(0);
                    set_top!(Value::bool(values_equal(a, b)));
                }
                Op::Greater => binary_number!(a, b, Value::bool(a > b)),
                Op::Less => binary_number!(a, b, Value::bool(a < b)),
                Op::Add => {
                    let (b, a) = (peek!(0), peek!(1));
                    if let (Some(x), Some(y)) = (a.as_number(), b.as_number()) {
                        drop_top!();
                        set_top!(Value::number(x + y));
                    } else if is_obj(a, tag::STRING) && is_obj(b, tag::STRING) {
                        save!();
                        self.concatenate()?;
                        load!();
                    } else {
                        fail!("Operands must be two numbers or two strings.");
                    }
                }
                Op::Subtract => binary_number!(a, b, Value::number(a - b)),
                Op::Multiply => binary_number!(a, b, Value::number(a * b)),
                Op::Divide => binary_number!(a, b, Value::number(a / b)),
                Op::Not => {
                    let v = peek!(0);
                    set_top!(Value::bool(is_falsey(v)));
                }
                Op::Negate => {
                    let Some(n) = peek!(0).as_number() else {
                        fail!("Operand must be a number.");
                    };
                    set_top!(Value::number(-n));
                }
                Op::Print => {
                    let v = pop!();
                    self.scratch.clear();
                    super::write_value(&mut self.scratch, v);
                    self.scratch.push(b'\n');
                    let _ = self.out.write_all(&self.scratch);
                }
                Op::Jump => {
                    let offset = read_short!();
                    // SAFETY: jump targets were patched inside the function.
                    ip = unsafe { ip.add(offset) };
                }
                Op::JumpIfFalse => {
                    let offset = read_short!();
                    if is_falsey(peek!(0)) {
                        // SAFETY: as for Jump.
                        ip = unsafe { ip.add(offset) };
                    }
                }
                Op::Loop => {
                    let offset = read_short!();
                    // SAFETY: loop targets lie earlier in the same function.
                    ip = unsafe { ip.sub(offset) };
                    poll!();
                }
                Op::Call => {
                    poll!();
                    let argc = read_byte!() as usize;
                    call_value!(argc);
                }
                Op::Invoke => {
                    poll!();
                    let (k, name) = read_constant_at!();
                    let argc = read_byte!() as usize;
                    let Some(instance) = InstanceView::of(peek!(argc)) else {
                        fail!("Only instances have methods.");
                    };
                    let field = if may_name_a_field(obj(name)) {
                        table::find_hinted(instance.fields(), name, Value::NIL)
                    } else {
                        None
                    };
                    if let Some(e) = field {
                        // SAFETY: the receiver's slot is below the top;
                        // the value is current.
                        unsafe { *top.sub(1 + argc) = e.value.raw() };
                        call_value!(argc);
                    } else {
                        let class = instance.class();
                        let method = cached_method!(k, class, name);
                        call_method!(method, argc);
                    }
                }
                Op::SuperInvoke => {
                    poll!();
                    let (k, name) = read_constant_at!();
                    let argc = read_byte!() as usize;
                    let superclass = pop!();
                    let method = cached_method!(k, superclass, name);
                    call_method!(method, argc);
                }
                Op::Closure => {
                    let constant = read_byte!() as usize;
                    save!();
                    self.make_closure(constant)?;
                    load!();
                }
                Op::CloseUpvalue => {
                    save!();
                    calls::close_upvalues(&self.heap, sp!() - 1);
                    drop_top!();
                }
                Op::Return => {
                    let result = pop!();
                    let frame_base = self.frames[fi].base;
                    if !root!(ROOT_OPEN_UPVALUES).is_nil() {
                        save_sp!();
                        calls::close_upvalues(&self.heap, frame_base);
                    }
                    // SAFETY: ROOT_FRAMES + fi < STACK_BASE: a root slot
                    // inside the buffer.
                    unsafe { *base.add(ROOT_FRAMES + fi) = RawValue::NIL };
                    self.frames.pop();
                    if fi == 0 {
                        save_sp!();
                        self.heap.truncate(frame_base);
                        return Ok(());
                    }
                    // SAFETY: the frame's slot 0 is inside the buffer.
                    top = unsafe { base.add(frame_base) };
                    push!(result);
                    fi -= 1;
                    let caller = &self.frames[fi];
                    if caller.saved.epoch == self.heap.epoch() {
                        // SAFETY: the epoch is the one `save!` recorded with
                        // these registers, so no call that may collect ran
                        // since: the raw closure and constants still name
                        // their objects, and the code has not moved.
                        unsafe {
                            closure = always_object(self.heap.value(caller.saved.closure));
                            consts = always_object(self.heap.value(caller.saved.consts));
                            code = caller.saved.code;
                            ip = code.add(caller.ip);
                            slots = base.add(caller.base);
                        }
                    } else {
                        save_sp!();
                        load!();
                    }
                }
                Op::Class => {
                    let name = read_constant!();
                    save!();
                    self.heap.push(name);
                    let (heap, class) = self.heap.alloc(crate::rt::AllocSpec {
                        tag: tag::CLASS,
                        slots: 3,
                        bytes: 0,
                        pinned: false,
                        weak: false,
                    })?;
                    let name = heap.pop();
                    heap.write(class, object::CLASS_NAME, name);
                    heap.push(class.into());
                    load!();
                }
                Op::Inherit => {
                    let superclass = peek!(1);
                    if !is_obj(superclass, tag::CLASS) {
                        fail!("Superclass must be a class.");
                    }
                    save!();
                    let sp = sp!();
                    let from = Holder::Slot {
                        root: sp - 2,
                        slot: object::CLASS_METHODS,
                    };
                    let to = Holder::Slot {
                        root: sp - 1,
                        slot: object::CLASS_METHODS,
                    };
                    table::copy_into(&mut self.heap, from, to)?;
                    let init = obj(self.heap.get(sp - 2)).slot(object::CLASS_INIT);
                    self.heap
                        .write(obj(self.heap.get(sp - 1)), object::CLASS_INIT, init);
                    load!();
                    drop_top!();
                }
                Op::Method => {
                    let name = read_constant!();
                    let is_init = name == self.heap.get(ROOT_INIT_STRING);
                    save!();
                    let sp = sp!();
                    let methods = obj(peek!(1)).slot(object::CLASS_METHODS);
                    if table::put(&self.heap, methods, name, peek!(0)).is_err() {
                        let holder = Holder::Slot {
                            root: sp - 2,
                            slot: object::CLASS_METHODS,
                        };
                        self.heap.push(name);
                        self.heap.push(self.heap.get(sp - 1));
                        // Pops the two just pushed.
                        table::set(&mut self.heap, holder)?;
                    }
                    if is_init {
                        let class = obj(self.heap.get(sp - 2));
                        self.heap
                            .write(class, object::CLASS_INIT, self.heap.get(sp - 1));
                    }
                    load!();
                    drop_top!();
                }
            }
        }
    }

    /// Replaces the two strings on the stack top with their concatenation.
    fn concatenate(&mut self) -> Result<(), RuntimeError> {
        let sp = self.heap.sp();
        let (a, b) = (obj(self.heap.get(sp - 2)), obj(self.heap.get(sp - 1)));
        self.scratch.clear();
        // SAFETY: strings are never written after they are interned.
        self.scratch.extend_from_slice(unsafe { payload(a) });
        // SAFETY: as above.
        self.scratch.extend_from_slice(unsafe { payload(b) });
        intern(&mut self.heap, &self.scratch)?;
        let s = self.heap.pop();
        self.heap.truncate(sp - 1);
        self.heap.set(sp - 2, s);
        Ok(())
    }
}

/// A string's text, for error messages.
fn text(s: Value<'_>) -> String {
    // SAFETY: strings are never written after they are interned.
    String::from_utf8_lossy(unsafe { payload(obj(s)) }).into_owned()
}
