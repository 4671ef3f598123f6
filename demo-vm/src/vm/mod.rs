//! The virtual machine: a stack machine over the runtime heap.
//!
//! - `run`: the dispatch loop.
//! - `calls`: calling closures, classes, bound methods and natives;
//!   closures and upvalues; method binding.
//! - `natives`: `clock()`, `gc()`, `gcStats()`.
//! - [`print`]: how values print.
//!
//! Call frames live in a fixed array (`Frames`) and hold the code offset
//! and the stack index of slot 0; frame `i`'s closure is root slot
//! `ROOT_FRAMES + i`, so a collection can move code, constants and closures
//! while a frame is suspended. The loop caches raw pointers to the current
//! code and stack and reloads them after every operation that can allocate;
//! a suspended frame also keeps the loop's registers (closure, code,
//! constants), which the loop trusts on return only if no call that may
//! collect ran since (`Heap::epoch`).

mod calls;
mod natives;
mod print;
mod run;

use std::io::Write;

use crate::rt::{Mutator, Value};

use crate::bytecode::LineTable;
use crate::compiler::{compile, CompileError};
use crate::heap::{
    Heap, FRAMES_MAX, ROOT_FRAMES, ROOT_INIT_STRING, ROOT_OPEN_UPVALUES, STACK_BASE,
};
use crate::intern::intern;
use crate::object::{self, obj, payload};

pub use print::write_value;

/// How an `interpret` call ended (clox's `InterpretResult`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The program ran to completion.
    Ok,
    /// Compilation failed; the errors were printed.
    CompileError,
    /// A runtime error stopped the program; message and trace were printed.
    RuntimeError,
}

/// A runtime error's message (the trace is printed from the frames).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct RuntimeError {
    /// The first stderr line.
    pub message: String,
}

impl RuntimeError {
    pub(crate) fn new(message: impl Into<String>) -> RuntimeError {
        RuntimeError {
            message: message.into(),
        }
    }

    pub(crate) fn out_of_memory() -> RuntimeError {
        RuntimeError::new("Out of memory.")
    }
}

impl From<crate::rt::AllocError> for RuntimeError {
    fn from(_: crate::rt::AllocError) -> Self {
        RuntimeError::out_of_memory()
    }
}

/// A suspended or running call.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Frame {
    /// Offset of the next instruction in the function's code.
    pub ip: usize,
    /// Root index of the frame's slot 0.
    pub base: usize,
    /// The dispatch loop's registers while the frame is suspended (private
    /// to the loop).
    pub(super) saved: run::Saved,
}

impl Frame {
    /// A new frame starting at the first instruction, slot 0 at root
    /// index `base`.
    pub(super) fn new(base: usize) -> Frame {
        Frame {
            ip: 0,
            base,
            saved: run::Saved::STALE,
        }
    }
}

/// The call stack: at most [`FRAMES_MAX`] frames in a fixed array.
pub(crate) struct Frames {
    slots: Box<[Frame; FRAMES_MAX]>,
    len: usize,
}

impl Frames {
    fn new() -> Frames {
        Frames {
            slots: Box::new([Frame::new(0); FRAMES_MAX]),
            len: 0,
        }
    }

    /// Number of frames.
    #[inline(always)]
    pub(super) fn len(&self) -> usize {
        self.len
    }

    /// Whether the stack is full (the next call overflows).
    #[inline(always)]
    pub(super) fn is_full(&self) -> bool {
        self.len == FRAMES_MAX
    }

    /// Pushes a frame.
    ///
    /// # Panics
    /// If the stack is full (callers check [`Frames::is_full`] first, to
    /// report "Stack overflow.").
    #[inline(always)]
    pub(super) fn push(&mut self, f: Frame) {
        self.slots[self.len] = f;
        self.len += 1;
    }

    /// Pushes a new frame (as [`Frame::new`]), writing only what a new
    /// frame needs: its ip, its base and its registers marked stale.
    ///
    /// # Panics
    /// As [`Frames::push`].
    #[inline(always)]
    pub(super) fn push_new(&mut self, base: usize) {
        let f = &mut self.slots[self.len];
        f.ip = 0;
        f.base = base;
        f.saved.invalidate();
        self.len += 1;
    }

    /// Drops the top frame.
    #[inline(always)]
    pub(super) fn pop(&mut self) {
        assert!(self.len > 0, "frame stack underflow");
        self.len -= 1;
    }

    /// Drops every frame.
    fn clear(&mut self) {
        self.len = 0;
    }

    /// The live frames, outermost first.
    fn live(&self) -> &[Frame] {
        &self.slots[..self.len]
    }
}

// Indexing checks against the array, not the live count: a frame above
// the top is a dead but initialised `Frame` (debug builds check liveness).
impl std::ops::Index<usize> for Frames {
    type Output = Frame;
    #[inline(always)]
    fn index(&self, i: usize) -> &Frame {
        debug_assert!(i < self.len, "frame {i} above the top");
        &self.slots[i]
    }
}

impl std::ops::IndexMut<usize> for Frames {
    #[inline(always)]
    fn index_mut(&mut self, i: usize) -> &mut Frame {
        debug_assert!(i < self.len, "frame {i} above the top");
        &mut self.slots[i]
    }
}

/// The Lox virtual machine.
pub struct Vm {
    pub(crate) heap: Heap,
    pub(crate) frames: Frames,
    out: Box<dyn Write>,
    err: Box<dyn Write>,
    /// Reused buffer for string concatenation and printing.
    pub(crate) scratch: Vec<u8>,
    pub(crate) started: std::time::Instant,
}

/// Error creating a VM.
#[derive(Debug, thiserror::Error)]
#[error("cannot set up the VM: out of memory")]
pub struct SetupError;

impl Vm {
    /// A VM over `mutator`'s heap, printing to `out` and reporting errors to
    /// `err`.
    pub fn new(
        mutator: Mutator,
        out: Box<dyn Write>,
        err: Box<dyn Write>,
    ) -> Result<Vm, SetupError> {
        let mut vm = Vm {
            heap: Heap::new(mutator),
            frames: Frames::new(),
            out,
            err,
            scratch: Vec::new(),
            started: std::time::Instant::now(),
        };
        intern(&mut vm.heap, b"init").map_err(|_| SetupError)?;
        let init = vm.heap.pop();
        vm.heap.set(ROOT_INIT_STRING, init);
        natives::define_all(&mut vm).map_err(|_| SetupError)?;
        Ok(vm)
    }

    /// The runtime's statistics.
    pub fn gc_stats(&mut self) -> crate::rt::GcStats {
        self.heap.mutator_mut().quiesce();
        self.heap.mutator().stats()
    }

    /// Compiles and runs `source`; globals persist across calls (the REPL).
    pub fn interpret(&mut self, source: &[u8]) -> Outcome {
        let mut diagnostics = Vec::new();
        match compile(&mut self.heap, source, &mut diagnostics) {
            Ok(()) => {}
            Err(CompileError::Syntax) => {
                let _ = self.out.flush();
                let _ = self.err.write_all(&diagnostics);
                let _ = self.err.flush();
                return Outcome::CompileError;
            }
            Err(CompileError::OutOfMemory) => {
                let _ = self.out.flush();
                let _ = self.err.write_all(&diagnostics);
                let _ = writeln!(self.err, "Out of memory.");
                let _ = self.err.flush();
                self.reset_stack();
                return Outcome::RuntimeError;
            }
        }
        let result = self.start_script().and_then(|()| self.run());
        let _ = self.out.flush();
        match result {
            Ok(()) => Outcome::Ok,
            Err(e) => {
                self.report(&e);
                self.reset_stack();
                Outcome::RuntimeError
            }
        }
    }

    /// Wraps the compiled script function (on the stack top) in a closure
    /// and calls it.
    fn start_script(&mut self) -> Result<(), RuntimeError> {
        calls::new_closure_of_top(&mut self.heap)?;
        self.call_closure(0)
    }

    /// Prints a runtime error and the stack trace, innermost frame first.
    fn report(&mut self, e: &RuntimeError) {
        let mut msg = Vec::with_capacity(256);
        msg.extend_from_slice(e.message.as_bytes());
        msg.push(b'\n');
        for (i, frame) in self.frames.live().iter().enumerate().rev() {
            let closure = obj(self.heap.get(ROOT_FRAMES + i));
            let function = object::closure_function(closure);
            let lines = obj(function.slot(object::FN_LINES));
            // SAFETY: line tables and strings are never written after the
            // compiler and the interner filled them.
            let line = LineTable::line_at(unsafe { payload(lines) }, frame.ip.saturating_sub(1));
            let _ = write!(msg, "[line {line}] in ");
            match function.slot(object::FN_NAME).as_object() {
                None => msg.extend_from_slice(b"script\n"),
                Some(name) => {
                    // SAFETY: as above.
                    msg.extend_from_slice(unsafe { payload(name) });
                    msg.extend_from_slice(b"()\n");
                }
            }
        }
        let _ = self.err.write_all(&msg);
        let _ = self.err.flush();
    }

    fn reset_stack(&mut self) {
        self.heap.truncate(STACK_BASE);
        for i in 0..self.frames.len() {
            self.heap.set(ROOT_FRAMES + i, Value::NIL);
        }
        self.frames.clear();
        self.heap.set(ROOT_OPEN_UPVALUES, Value::NIL);
    }

    /// Flushes program output.
    pub fn flush(&mut self) {
        let _ = self.out.flush();
        let _ = self.err.flush();
    }

    /// The output sink (the REPL prints its prompt here).
    pub fn out(&mut self) -> &mut dyn Write {
        &mut *self.out
    }
}
