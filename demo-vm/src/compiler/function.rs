//! Per-function compiler state: bytecode emission with stack-height
//! accounting, constants, locals, upvalues and scopes; and turning a
//! finished function into heap objects.

use crate::rt::{AllocError, AllocSpec, Value};

use super::Compiler;
use crate::bytecode::{LineTable, Op};
use crate::intern::intern;
use crate::object::{self, fill_payload, obj, payload_bytes, set_raw_word, tag, FunctionInfo};
use crate::scanner::Token;

/// Most locals in one function, slot 0 included (clox's `UINT8_COUNT`).
const MAX_LOCALS: usize = 256;
/// Most upvalues in one function.
const MAX_UPVALUES: usize = 256;
/// Most constants in one function.
const MAX_CONSTANTS: usize = 256;
/// Stack slots a call may use beyond what the compiler counts (room for
/// the runtime's own temporaries).
const STACK_SLACK: i32 = 4;

/// What kind of function is being compiled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FnKind {
    /// The top-level script.
    Script,
    /// A `fun` declaration.
    Function,
    /// A method other than `init`.
    Method,
    /// A class's `init` method.
    Initializer,
}

/// A local variable slot.
pub struct Local<'src> {
    pub name: &'src [u8],
    /// Scope depth, or -1 while its initializer is being compiled.
    pub depth: i32,
    pub captured: bool,
}

/// How a closure captures one upvalue.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct UpvalueRef {
    pub index: u8,
    pub is_local: bool,
}

/// The function being compiled.
pub struct FnState<'src> {
    pub kind: FnKind,
    pub code: Vec<u8>,
    pub lines: LineTable,
    /// Root slot of the function's name; its constants follow.
    pub root_base: usize,
    pub constant_count: usize,
    pub locals: Vec<Local<'src>>,
    pub upvalues: Vec<UpvalueRef>,
    pub scope_depth: i32,
    pub arity: usize,
    /// Stack height at the current point of the code, slot 0 included.
    pub height: i32,
    pub max_height: i32,
}

impl<'src> Compiler<'src, '_> {
    pub(super) fn f(&mut self) -> &mut FnState<'src> {
        self.fns
            .last_mut()
            .expect("a function is always being compiled")
    }

    /// Starts compiling a function; its name is the previous token.
    pub(super) fn begin_function(&mut self, kind: FnKind) {
        let root_base = self.heap.sp();
        if kind == FnKind::Script {
            self.heap.push(Value::NIL);
        } else {
            let lexeme = self.previous.lexeme;
            if intern(self.heap, lexeme).is_err() {
                self.out_of_memory();
                self.heap.push(Value::NIL);
            }
        }
        let slot0: &'static [u8] = if kind == FnKind::Function || kind == FnKind::Script {
            b""
        } else {
            b"this"
        };
        self.fns.push(FnState {
            kind,
            code: Vec::new(),
            lines: LineTable::default(),
            root_base,
            constant_count: 0,
            locals: vec![Local {
                name: slot0,
                depth: 0,
                captured: false,
            }],
            upvalues: Vec::new(),
            scope_depth: 0,
            arity: 0,
            height: 1,
            max_height: 1,
        });
    }

    /// Finishes the current function: emits its implicit return, builds its
    /// heap objects and leaves the function pushed on the root stack where
    /// its constant region began (which is the next constant slot of the
    /// enclosing function). Returns the upvalue descriptors.
    pub(super) fn end_function(&mut self) -> Result<Vec<UpvalueRef>, AllocError> {
        self.emit_return();
        let fs = self.fns.pop().expect("end_function without a function");
        let heap = &mut *self.heap;
        let info = FunctionInfo {
            arity: fs.arity.min(255) as u8,
            upvalue_count: fs.upvalues.len() as u16,
            max_stack: (fs.max_height + STACK_SLACK) as u32,
        };
        let (h, func) = heap.alloc(AllocSpec {
            tag: tag::FUNCTION,
            slots: object::FN_SLOTS,
            bytes: 8,
            pinned: false,
            weak: false,
        })?;
        set_raw_word(func, 0, info.encode());
        h.push(func.into());
        let top = heap.sp() - 1;

        let (h, code) = heap.alloc(bytes_spec(fs.code.len()))?;
        // SAFETY: allocated just now, not published yet.
        unsafe { fill_payload(code, &fs.code) };
        h.write(obj(h.get(top)), object::FN_CODE, code.into());

        let line_bytes = fs.lines.to_bytes();
        let (h, lines) = heap.alloc(bytes_spec(line_bytes.len()))?;
        // SAFETY: as above.
        unsafe { fill_payload(lines, &line_bytes) };
        h.write(obj(h.get(top)), object::FN_LINES, lines.into());

        let n = fs.constant_count;
        let (h, consts) = heap.alloc(AllocSpec {
            tag: tag::ARRAY,
            slots: object::constants_slots(n),
            bytes: 0,
            pinned: false,
            weak: false,
        })?;
        for i in 0..n {
            h.write(
                consts,
                object::constant_slot(i),
                h.get(fs.root_base + 1 + i),
            );
        }
        let func = obj(h.get(top));
        h.write(func, object::FN_CONSTANTS, consts.into());
        h.write(func, object::FN_NAME, h.get(fs.root_base));

        h.truncate(fs.root_base);
        h.push(func.into());
        Ok(fs.upvalues)
    }

    // ---- emission ----

    pub(super) fn emit_byte(&mut self, b: u8) {
        let line = self.previous.line;
        let f = self.f();
        f.lines.add(f.code.len(), line);
        f.code.push(b);
    }

    /// Emits an opcode and applies its stack effect.
    pub(super) fn emit_op(&mut self, op: Op) {
        self.emit_byte(op as u8);
        self.adjust_height(op.stack_effect());
    }

    pub(super) fn emit_op_arg(&mut self, op: Op, arg: u8) {
        self.emit_op(op);
        self.emit_byte(arg);
    }

    /// Changes the tracked stack height by `delta`.
    pub(super) fn adjust_height(&mut self, delta: i32) {
        let f = self.f();
        f.height += delta;
        f.max_height = f.max_height.max(f.height);
    }

    /// Sets the tracked stack height (at a join point of two paths).
    pub(super) fn set_height(&mut self, h: i32) {
        let f = self.f();
        f.height = h;
        f.max_height = f.max_height.max(h);
    }

    pub(super) fn height(&mut self) -> i32 {
        self.f().height
    }

    pub(super) fn emit_return(&mut self) {
        if self.f().kind == FnKind::Initializer {
            self.emit_op_arg(Op::GetLocal, 0);
        } else {
            self.emit_op(Op::Nil);
        }
        self.emit_op(Op::Return);
    }

    pub(super) fn emit_jump(&mut self, op: Op) -> usize {
        self.emit_op(op);
        self.emit_byte(0xff);
        self.emit_byte(0xff);
        self.f().code.len() - 2
    }

    pub(super) fn patch_jump(&mut self, at: usize) {
        let jump = self.f().code.len() - at - 2;
        if jump > u16::MAX as usize {
            self.error("Too much code to jump over.");
        }
        let code = &mut self.f().code;
        code[at] = (jump >> 8) as u8;
        code[at + 1] = jump as u8;
    }

    pub(super) fn emit_loop(&mut self, loop_start: usize) {
        self.emit_op(Op::Loop);
        let offset = self.f().code.len() - loop_start + 2;
        if offset > u16::MAX as usize {
            self.error("Loop body too large.");
        }
        self.emit_byte((offset >> 8) as u8);
        self.emit_byte(offset as u8);
    }

    // ---- constants ----

    /// Adds `v` to the constant pool (rooting it) and returns its index.
    pub(super) fn make_constant(&mut self, v: Value<'_>) -> u8 {
        self.heap.push(v);
        self.register_pushed_constant()
    }

    /// Counts the value just pushed on the root stack as the next constant.
    pub(super) fn register_pushed_constant(&mut self) -> u8 {
        let f = self.f();
        let index = f.constant_count;
        f.constant_count += 1;
        debug_assert_eq!(
            f.root_base + 1 + index + 1,
            self.heap.sp(),
            "constant region out of step"
        );
        if index >= MAX_CONSTANTS {
            self.error("Too many constants in one chunk.");
            return 0;
        }
        index as u8
    }

    pub(super) fn emit_constant(&mut self, v: Value<'_>) {
        let c = self.make_constant(v);
        self.emit_op_arg(Op::Constant, c);
    }

    /// The constant index of an identifier's name string.
    pub(super) fn identifier_constant(&mut self, name: &[u8]) -> u8 {
        match intern(self.heap, name) {
            Ok(()) => self.register_pushed_constant(),
            Err(_) => {
                self.out_of_memory();
                0
            }
        }
    }

    // ---- variables ----

    pub(super) fn begin_scope(&mut self) {
        self.f().scope_depth += 1;
    }

    pub(super) fn end_scope(&mut self) {
        self.f().scope_depth -= 1;
        loop {
            let f = self.f();
            let Some(local) = f.locals.last() else { break };
            if local.depth <= f.scope_depth {
                break;
            }
            let op = if local.captured {
                Op::CloseUpvalue
            } else {
                Op::Pop
            };
            f.locals.pop();
            self.emit_op(op);
        }
    }

    pub(super) fn add_local(&mut self, name: &'src [u8]) {
        if self.f().locals.len() == MAX_LOCALS {
            self.error("Too many local variables in function.");
            return;
        }
        self.f().locals.push(Local {
            name,
            depth: -1,
            captured: false,
        });
    }

    pub(super) fn declare_variable(&mut self) {
        if self.f().scope_depth == 0 {
            return;
        }
        let name = self.previous.lexeme;
        let f = self.f();
        let depth = f.scope_depth;
        let duplicate = f
            .locals
            .iter()
            .rev()
            .take_while(|l| l.depth == -1 || l.depth >= depth)
            .any(|l| l.name == name);
        if duplicate {
            self.error("Already a variable with this name in this scope.");
        }
        self.add_local(name);
    }

    pub(super) fn parse_variable(&mut self, message: &str) -> u8 {
        self.consume(crate::scanner::TokenKind::Identifier, message);
        self.declare_variable();
        if self.f().scope_depth > 0 {
            return 0;
        }
        let name = self.previous.lexeme;
        self.identifier_constant(name)
    }

    pub(super) fn mark_initialized(&mut self) {
        let f = self.f();
        if f.scope_depth == 0 {
            return;
        }
        let depth = f.scope_depth;
        if let Some(l) = f.locals.last_mut() {
            l.depth = depth;
        }
    }

    pub(super) fn define_variable(&mut self, global: u8) {
        if self.f().scope_depth > 0 {
            self.mark_initialized();
            return;
        }
        self.emit_op_arg(Op::DefineGlobal, global);
    }

    /// Resolves `name` among the locals of function `level`.
    pub(super) fn resolve_local(&mut self, level: usize, name: &[u8]) -> Option<u8> {
        let found = self.fns[level]
            .locals
            .iter()
            .enumerate()
            .rev()
            .find(|(_, l)| l.name == name)
            .map(|(i, l)| (i, l.depth));
        let (i, depth) = found?;
        if depth == -1 {
            self.error("Can't read local variable in its own initializer.");
        }
        Some(i as u8)
    }

    /// Resolves `name` as an upvalue of function `level`, capturing it
    /// through every enclosing function. Iterative: no recursion per level.
    pub(super) fn resolve_upvalue(&mut self, level: usize, name: &[u8]) -> Option<u8> {
        // Find the nearest enclosing function that has `name` as a local.
        let mut owner = None;
        for l in (0..level).rev() {
            if let Some(i) = self.resolve_local(l, name) {
                owner = Some((l, i));
                break;
            }
        }
        let (owner_level, local_index) = owner?;
        self.fns[owner_level].locals[local_index as usize].captured = true;
        let mut index = self.add_upvalue(owner_level + 1, local_index, true);
        for l in owner_level + 2..=level {
            index = self.add_upvalue(l, index, false);
        }
        Some(index)
    }

    fn add_upvalue(&mut self, level: usize, index: u8, is_local: bool) -> u8 {
        let want = UpvalueRef { index, is_local };
        let ups = &self.fns[level].upvalues;
        if let Some(i) = ups.iter().position(|u| *u == want) {
            return i as u8;
        }
        if ups.len() == MAX_UPVALUES {
            self.error("Too many closure variables in function.");
            return 0;
        }
        self.fns[level].upvalues.push(want);
        (self.fns[level].upvalues.len() - 1) as u8
    }

    /// The synthetic token for `this`/`super`.
    pub(super) fn synthetic(text: &'static str) -> Token<'src> {
        Token::synthetic(text)
    }
}

fn bytes_spec(len: usize) -> AllocSpec {
    AllocSpec {
        tag: tag::BYTES,
        slots: 0,
        bytes: payload_bytes(len),
        pinned: false,
        weak: false,
    }
}
