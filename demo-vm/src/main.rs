//! `demo-vm [script]`: runs a Lox script, or a REPL without one.

use std::io::{BufReader, BufWriter, Write};
use std::process::ExitCode;

use clap::Parser;
use demo_vm::cli::{build_runtime, Cli};
use demo_vm::vm::{Outcome, Vm};

/// Exit code for bad usage (sysexits `EX_USAGE`).
const EXIT_USAGE: u8 = 64;
/// Exit code after compile errors (`EX_DATAERR`).
const EXIT_COMPILE: u8 = 65;
/// Exit code after a runtime error (`EX_SOFTWARE`).
const EXIT_RUNTIME: u8 = 70;
/// Exit code for an unreadable script (`EX_IOERR`).
const EXIT_IO: u8 = 74;

/// Stack for the interpreter thread: parsing recursion is bounded by
/// `compiler::MAX_NESTING`, which needs far less than this.
const INTERPRETER_STACK: usize = 256 << 20;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { EXIT_USAGE } else { 0 });
        }
    };
    let source = match &cli.script {
        Some(path) => match std::fs::read(path) {
            Ok(s) => Some(s),
            Err(_) => {
                eprintln!("Could not open file \"{}\".", path.display());
                return ExitCode::from(EXIT_IO);
            }
        },
        None => None,
    };
    match interpret_on_own_stack(cli, source) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("demo-vm: {e}");
            ExitCode::from(EXIT_RUNTIME)
        }
    }
}

/// Why the interpreter did not run to an exit code.
#[derive(Debug, thiserror::Error)]
enum ThreadError {
    /// Its thread could not be created (e.g. no address space left for the
    /// stack under `RLIMIT_AS`, or the thread limit reached).
    #[error("cannot start the interpreter thread (a {} MiB stack): {source}", INTERPRETER_STACK >> 20)]
    Spawn {
        /// What thread creation reported.
        source: std::io::Error,
    },
    /// It panicked (the panic message was printed above).
    #[error("internal error: the interpreter thread panicked")]
    Panicked,
}

/// Runs the interpreter on a thread with [`INTERPRETER_STACK`] of stack.
fn interpret_on_own_stack(cli: Cli, source: Option<Vec<u8>>) -> Result<u8, ThreadError> {
    std::thread::Builder::new()
        .name("lox".into())
        .stack_size(INTERPRETER_STACK)
        .spawn(move || run(&cli, source))
        .map_err(|source| ThreadError::Spawn { source })?
        .join()
        .map_err(|_| ThreadError::Panicked)
}

fn run(cli: &Cli, source: Option<Vec<u8>>) -> u8 {
    let rt = match build_runtime(cli) {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("demo-vm: {e}");
            return EXIT_USAGE;
        }
    };
    let mutator = match rt.mutator() {
        Ok(m) => m,
        Err(e) => {
            eprintln!("demo-vm: {e}");
            return EXIT_RUNTIME;
        }
    };
    let out = Box::new(BufWriter::with_capacity(64 << 10, std::io::stdout()));
    let err = Box::new(std::io::stderr());
    let mut vm = match Vm::new(mutator, out, err) {
        Ok(vm) => vm,
        Err(e) => {
            eprintln!("demo-vm: {e}");
            return EXIT_RUNTIME;
        }
    };
    let code = match source {
        Some(src) => match vm.interpret(&src) {
            Outcome::Ok => 0,
            Outcome::CompileError => EXIT_COMPILE,
            Outcome::RuntimeError => EXIT_RUNTIME,
        },
        None => {
            let stdin = std::io::stdin();
            demo_vm::repl::run(&mut vm, &mut BufReader::new(stdin.lock()));
            0
        }
    };
    vm.flush();
    if cli.gc_stats {
        let _ = writeln!(std::io::stderr(), "{}", vm.gc_stats());
    }
    code
}
