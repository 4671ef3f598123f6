//! # demo-vm: a Lox bytecode VM whose heap is the runtime
//!
//! A scanner, a single-pass compiler and a stack VM for Lox, behaving like
//! clox (the reference interpreter of *Crafting Interpreters*: same output,
//! errors and exit codes), in which every object lives in the collector's moving heap:
//! strings, functions and their code and constants, closures, upvalues,
//! classes, instances, bound methods and the hash tables behind globals,
//! fields and methods. The VM's value stack, frames, globals and open
//! upvalues are roots of the runtime; the intern table is weak.
//!
//! Modules:
//! - [`scanner`]: source bytes to tokens.
//! - [`compiler`]: tokens to bytecode, directly into heap objects.
//! - [`bytecode`]: the instruction set and line tables.
//! - [`vm`]: the dispatch loop, calls, natives, printing.
//! - `heap`: the root-stack layout, the allocation and write path, and the
//!   rules of the raw stack fast path (crate-private).
//! - `object`: object layouts and tags (crate-private).
//! - `table`, `intern`: hash tables and the weak string intern table
//!   (crate-private).
//!
//! The VM is written against the runtime's safe API (`Gc`, `Value`: object
//! references that borrow the heap, so the compiler checks that none is
//! used after a call that may collect); its `unsafe` is the dispatch loop's
//! raw stack and code pointers and the layout-typed conversions, each with
//! its argument.
//! - [`number_format`]: `%g` number printing.
//! - [`cli`], [`repl`]: the command line and the interactive loop.

#![warn(missing_docs)]

pub mod bytecode;
pub mod cli;
pub mod compiler;
pub(crate) mod heap;
pub(crate) mod intern;
pub mod number_format;
pub(crate) mod object;
pub mod repl;
pub mod rt;
pub mod scanner;
pub(crate) mod table;
pub mod vm;
