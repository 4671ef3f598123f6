//! Declarations and statements.

use crate::rt::Value;

use super::function::FnKind;
use super::{ClassState, Compiler};
use crate::bytecode::Op;
use crate::scanner::TokenKind as T;

/// Most parameters a function may declare.
const MAX_PARAMETERS: usize = 255;

impl<'src> Compiler<'src, '_> {
    pub(super) fn declaration(&mut self) {
        if !self.enter() {
            return;
        }
        if self.matches(T::Class) {
            self.class_declaration();
        } else if self.matches(T::Fun) {
            self.fun_declaration();
        } else if self.matches(T::Var) {
            self.var_declaration();
        } else {
            self.statement();
        }
        if self.panic_mode {
            self.synchronize();
        }
        self.leave();
    }

    fn statement(&mut self) {
        if !self.enter() {
            return;
        }
        if self.matches(T::Print) {
            self.print_statement();
        } else if self.matches(T::For) {
            self.for_statement();
        } else if self.matches(T::If) {
            self.if_statement();
        } else if self.matches(T::Return) {
            self.return_statement();
        } else if self.matches(T::While) {
            self.while_statement();
        } else if self.matches(T::LeftBrace) {
            self.begin_scope();
            self.block();
            self.end_scope();
        } else {
            self.expression_statement();
        }
        self.leave();
    }

    fn block(&mut self) {
        while !self.check(T::RightBrace) && !self.check(T::Eof) {
            self.declaration();
        }
        self.consume(T::RightBrace, "Expect '}' after block.");
    }

    fn class_declaration(&mut self) {
        self.consume(T::Identifier, "Expect class name.");
        let class_name = self.previous;
        let name_constant = self.identifier_constant(class_name.lexeme);
        self.declare_variable();
        self.emit_op_arg(Op::Class, name_constant);
        self.define_variable(name_constant);

        self.classes.push(ClassState {
            has_superclass: false,
        });
        if self.matches(T::Less) {
            self.consume(T::Identifier, "Expect superclass name.");
            self.named_variable(self.previous, false);
            if class_name.lexeme == self.previous.lexeme {
                self.error("A class can't inherit from itself.");
            }
            self.begin_scope();
            self.add_local(b"super");
            self.define_variable(0);
            self.named_variable(class_name, false);
            self.emit_op(Op::Inherit);
            if let Some(c) = self.classes.last_mut() {
                c.has_superclass = true;
            }
        }
        self.named_variable(class_name, false);
        self.consume(T::LeftBrace, "Expect '{' before class body.");
        while !self.check(T::RightBrace) && !self.check(T::Eof) {
            self.method();
        }
        self.consume(T::RightBrace, "Expect '}' after class body.");
        self.emit_op(Op::Pop);
        if self.classes.last().is_some_and(|c| c.has_superclass) {
            self.end_scope();
        }
        self.classes.pop();
    }

    fn method(&mut self) {
        self.consume(T::Identifier, "Expect method name.");
        let constant = self.identifier_constant(self.previous.lexeme);
        let kind = if self.previous.lexeme == b"init" {
            FnKind::Initializer
        } else {
            FnKind::Method
        };
        self.function(kind);
        self.emit_op_arg(Op::Method, constant);
    }

    fn fun_declaration(&mut self) {
        let global = self.parse_variable("Expect function name.");
        self.mark_initialized();
        self.function(FnKind::Function);
        self.define_variable(global);
    }

    fn function(&mut self, kind: FnKind) {
        self.begin_function(kind);
        self.begin_scope();
        self.consume(T::LeftParen, "Expect '(' after function name.");
        if !self.check(T::RightParen) {
            loop {
                self.f().arity += 1;
                if self.f().arity > MAX_PARAMETERS {
                    self.error_at_current("Can't have more than 255 parameters.");
                }
                let constant = self.parse_variable("Expect parameter name.");
                self.define_variable(constant);
                if !self.matches(T::Comma) {
                    break;
                }
            }
        }
        let params = self.f().locals.len() as i32;
        self.set_height(params);
        self.consume(T::RightParen, "Expect ')' after parameters.");
        self.consume(T::LeftBrace, "Expect '{' before function body.");
        self.block();
        match self.end_function() {
            Ok(upvalues) => {
                // The function is now the next constant of the enclosing one.
                let constant = self.register_pushed_constant();
                self.emit_op_arg(Op::Closure, constant);
                for u in upvalues {
                    self.emit_byte(u8::from(u.is_local));
                    self.emit_byte(u.index);
                }
            }
            Err(_) => {
                // Keep the constant region in step for the enclosing function.
                self.heap.push(Value::NIL);
                self.register_pushed_constant();
                self.out_of_memory();
            }
        }
    }

    fn var_declaration(&mut self) {
        let global = self.parse_variable("Expect variable name.");
        if self.matches(T::Equal) {
            self.expression();
        } else {
            self.emit_op(Op::Nil);
        }
        self.consume(T::Semicolon, "Expect ';' after variable declaration.");
        self.define_variable(global);
    }

    fn expression_statement(&mut self) {
        self.expression();
        self.consume(T::Semicolon, "Expect ';' after expression.");
        self.emit_op(Op::Pop);
    }

    fn print_statement(&mut self) {
        self.expression();
        self.consume(T::Semicolon, "Expect ';' after value.");
        self.emit_op(Op::Print);
    }

    fn return_statement(&mut self) {
        if self.f().kind == FnKind::Script {
            self.error("Can't return from top-level code.");
        }
        if self.matches(T::Semicolon) {
            self.emit_return();
        } else {
            if self.f().kind == FnKind::Initializer {
                self.error("Can't return a value from an initializer.");
            }
            self.expression();
            self.consume(T::Semicolon, "Expect ';' after return value.");
            self.emit_op(Op::Return);
        }
    }

    fn if_statement(&mut self) {
        self.consume(T::LeftParen, "Expect '(' after 'if'.");
        self.expression();
        self.consume(T::RightParen, "Expect ')' after condition.");
        let with_condition = self.height();
        let then_jump = self.emit_jump(Op::JumpIfFalse);
        self.emit_op(Op::Pop);
        self.statement();
        let else_jump = self.emit_jump(Op::Jump);
        self.patch_jump(then_jump);
        self.set_height(with_condition);
        self.emit_op(Op::Pop);
        if self.matches(T::Else) {
            self.statement();
        }
        self.patch_jump(else_jump);
    }

    fn while_statement(&mut self) {
        let loop_start = self.f().code.len();
        self.consume(T::LeftParen, "Expect '(' after 'while'.");
        self.expression();
        self.consume(T::RightParen, "Expect ')' after condition.");
        let with_condition = self.height();
        let exit_jump = self.emit_jump(Op::JumpIfFalse);
        self.emit_op(Op::Pop);
        self.statement();
        self.emit_loop(loop_start);
        self.patch_jump(exit_jump);
        self.set_height(with_condition);
        self.emit_op(Op::Pop);
    }

    fn for_statement(&mut self) {
        self.begin_scope();
        self.consume(T::LeftParen, "Expect '(' after 'for'.");
        if self.matches(T::Semicolon) {
            // No initializer.
        } else if self.matches(T::Var) {
            self.var_declaration();
        } else {
            self.expression_statement();
        }
        let mut loop_start = self.f().code.len();
        let mut exit_jump = None;
        if !self.matches(T::Semicolon) {
            self.expression();
            self.consume(T::Semicolon, "Expect ';' after loop condition.");
            let with_condition = self.height();
            exit_jump = Some((self.emit_jump(Op::JumpIfFalse), with_condition));
            self.emit_op(Op::Pop);
        }
        if !self.matches(T::RightParen) {
            let body_jump = self.emit_jump(Op::Jump);
            let increment_start = self.f().code.len();
            self.expression();
            self.emit_op(Op::Pop);
            self.consume(T::RightParen, "Expect ')' after for clauses.");
            self.emit_loop(loop_start);
            loop_start = increment_start;
            self.patch_jump(body_jump);
        }
        self.statement();
        self.emit_loop(loop_start);
        if let Some((jump, with_condition)) = exit_jump {
            self.patch_jump(jump);
            self.set_height(with_condition);
            self.emit_op(Op::Pop);
        }
        self.end_scope();
    }
}
