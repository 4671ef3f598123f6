//! The single-pass compiler: a Pratt parser that emits bytecode directly, as
//! clox does, with clox's error messages, panic-mode recovery and limits.
//!
//! - `function`: per-function state (code, locals, upvalues, stack
//!   accounting) and turning it into heap objects.
//! - `expressions`: the Pratt rules.
//! - `statements`: declarations and statements.
//!
//! Constants of every function under construction live on the root stack
//! (one region per function, nested functions above their enclosing one), so
//! a collection during compilation keeps and updates them. Parsing recursion
//! is bounded by [`MAX_NESTING`]: deeper input is a compile error instead of
//! a Rust stack overflow.

mod expressions;
mod function;
mod statements;

use std::io::Write;

use crate::rt::AllocError;

use crate::heap::Heap;
use crate::scanner::{Scanner, Token, TokenKind};
use function::{FnKind, FnState};

/// Deepest nesting of declarations, statements and expressions accepted.
/// clox has no such limit (it overflows its C stack instead); this one is far
/// beyond anything a real program nests.
pub const MAX_NESTING: usize = 10_000;

/// Why compilation produced no function.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CompileError {
    /// Syntax or resolution errors; the messages were written to the
    /// diagnostics buffer in clox's format.
    #[error("compile errors")]
    Syntax,
    /// The heap ran out while building constants or functions.
    #[error("out of memory while compiling")]
    OutOfMemory,
}

impl From<AllocError> for CompileError {
    fn from(_: AllocError) -> Self {
        CompileError::OutOfMemory
    }
}

/// Compiles `source` into the script function, which is left pushed on the
/// root stack (at the stack top) on success. Error messages go to
/// `diagnostics`, one line each.
pub fn compile(
    heap: &mut Heap,
    source: &[u8],
    diagnostics: &mut Vec<u8>,
) -> Result<(), CompileError> {
    let base = heap.sp();
    let mut c = Compiler {
        heap,
        scanner: Scanner::new(source),
        current: Token::synthetic(""),
        previous: Token::synthetic(""),
        had_error: false,
        panic_mode: false,
        aborted: None,
        fns: Vec::new(),
        classes: Vec::new(),
        nesting: 0,
        diagnostics,
    };
    let result = c.compile_script();
    if result.is_err() {
        c.heap.truncate(base);
    }
    result
}

/// What stopped compilation early.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Abort {
    OutOfMemory,
    TooDeep,
}

/// The class being compiled (for `this` and `super`).
struct ClassState {
    has_superclass: bool,
}

/// Parser state plus the stack of functions under construction.
struct Compiler<'src, 'h> {
    heap: &'h mut Heap,
    scanner: Scanner<'src>,
    current: Token<'src>,
    previous: Token<'src>,
    had_error: bool,
    panic_mode: bool,
    aborted: Option<Abort>,
    fns: Vec<FnState<'src>>,
    classes: Vec<ClassState>,
    nesting: usize,
    diagnostics: &'h mut Vec<u8>,
}

impl<'src> Compiler<'src, '_> {
    fn compile_script(&mut self) -> Result<(), CompileError> {
        self.begin_function(FnKind::Script);
        self.advance();
        while !self.matches(TokenKind::Eof) {
            self.declaration();
        }
        match self.aborted {
            Some(Abort::OutOfMemory) => return Err(CompileError::OutOfMemory),
            Some(Abort::TooDeep) => return Err(CompileError::Syntax),
            None => {}
        }
        if self.had_error {
            return Err(CompileError::Syntax);
        }
        self.end_function()?;
        Ok(())
    }

    // ---- tokens ----

    fn advance(&mut self) {
        self.previous = self.current;
        if self.aborted.is_some() {
            self.current = Token {
                kind: TokenKind::Eof,
                lexeme: b"",
                line: self.previous.line,
            };
            return;
        }
        loop {
            self.current = self.scanner.scan_token();
            if self.current.kind != TokenKind::Error {
                break;
            }
            let msg = self.current.lexeme;
            self.error_at(self.current, msg);
        }
    }

    fn consume(&mut self, kind: TokenKind, message: &str) {
        if self.current.kind == kind {
            self.advance();
        } else {
            self.error_at_current(message);
        }
    }

    fn check(&self, kind: TokenKind) -> bool {
        self.current.kind == kind
    }

    fn matches(&mut self, kind: TokenKind) -> bool {
        if !self.check(kind) {
            return false;
        }
        self.advance();
        true
    }

    // ---- errors ----

    fn error_at(&mut self, token: Token<'_>, message: impl AsRef<[u8]>) {
        if self.panic_mode {
            return;
        }
        self.panic_mode = true;
        self.had_error = true;
        let d = &mut *self.diagnostics;
        let _ = write!(d, "[line {}] Error", token.line);
        match token.kind {
            TokenKind::Eof => d.extend_from_slice(b" at end"),
            TokenKind::Error => {}
            _ => {
                d.extend_from_slice(b" at '");
                d.extend_from_slice(token.lexeme);
                d.push(b'\'');
            }
        }
        d.extend_from_slice(b": ");
        d.extend_from_slice(message.as_ref());
        d.push(b'\n');
    }

    fn error(&mut self, message: &str) {
        self.error_at(self.previous, message);
    }

    fn error_at_current(&mut self, message: &str) {
        self.error_at(self.current, message);
    }

    /// Records an allocation failure and stops compiling.
    fn out_of_memory(&mut self) {
        self.aborted = Some(Abort::OutOfMemory);
        self.current = Token {
            kind: TokenKind::Eof,
            lexeme: b"",
            line: self.current.line,
        };
    }

    /// Enters one level of parsing recursion; false (after reporting and
    /// stopping compilation) when the input nests too deeply.
    fn enter(&mut self) -> bool {
        if self.nesting >= MAX_NESTING {
            if self.aborted.is_none() {
                self.panic_mode = false;
                self.error_at_current("Too much nesting.");
                self.aborted = Some(Abort::TooDeep);
                self.current = Token {
                    kind: TokenKind::Eof,
                    lexeme: b"",
                    line: self.current.line,
                };
            }
            return false;
        }
        self.nesting += 1;
        true
    }

    fn leave(&mut self) {
        self.nesting -= 1;
    }

    fn synchronize(&mut self) {
        self.panic_mode = false;
        while self.current.kind != TokenKind::Eof {
            if self.previous.kind == TokenKind::Semicolon {
                return;
            }
            use TokenKind as T;
            match self.current.kind {
                T::Class | T::Fun | T::Var | T::For | T::If | T::While | T::Print | T::Return => {
                    return
                }
                _ => self.advance(),
            }
        }
    }
}
