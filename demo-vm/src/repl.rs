//! The REPL: clox's loop (prompt `> `, one line at a time, a newline at end
//! of input). Globals persist between lines; errors are reported and the
//! loop goes on.

use std::io::BufRead;

use crate::vm::Vm;

/// Reads lines from `input` until its end, interpreting each one.
pub fn run(vm: &mut Vm, input: &mut dyn BufRead) {
    let mut line = Vec::new();
    loop {
        let _ = vm.out().write_all(b"> ");
        vm.flush();
        line.clear();
        match input.read_until(b'\n', &mut line) {
            Ok(0) | Err(_) => {
                let _ = vm.out().write_all(b"\n");
                vm.flush();
                return;
            }
            Ok(_) => {
                vm.interpret(&line);
            }
        }
    }
}
