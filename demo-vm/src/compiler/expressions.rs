//! Expressions: clox's Pratt parser (prefix and infix rules by token kind,
//! precedence climbing in [`Compiler::parse_precedence`]).

use crate::rt::Value;

use super::Compiler;
use crate::bytecode::Op;
use crate::intern::intern;
use crate::scanner::{Token, TokenKind as T};

/// Binding power, lowest first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Prec {
    None,
    Assignment,
    Or,
    And,
    Equality,
    Comparison,
    Term,
    Factor,
    Unary,
    Call,
    Primary,
}

impl Prec {
    fn next(self) -> Prec {
        use Prec::*;
        match self {
            None => Assignment,
            Assignment => Or,
            Or => And,
            And => Equality,
            Equality => Comparison,
            Comparison => Term,
            Term => Factor,
            Factor => Unary,
            Unary => Call,
            Call | Primary => Primary,
        }
    }
}

/// The precedence of `kind` as an infix operator.
fn infix_precedence(kind: T) -> Prec {
    match kind {
        T::LeftParen | T::Dot => Prec::Call,
        T::Minus | T::Plus => Prec::Term,
        T::Slash | T::Star => Prec::Factor,
        T::BangEqual | T::EqualEqual => Prec::Equality,
        T::Greater | T::GreaterEqual | T::Less | T::LessEqual => Prec::Comparison,
        T::And => Prec::And,
        T::Or => Prec::Or,
        _ => Prec::None,
    }
}

impl<'src> Compiler<'src, '_> {
    pub(super) fn expression(&mut self) {
        self.parse_precedence(Prec::Assignment);
    }

    pub(super) fn parse_precedence(&mut self, prec: Prec) {
        if !self.enter() {
            return;
        }
        self.advance();
        let can_assign = prec <= Prec::Assignment;
        if self.prefix(self.previous.kind, can_assign) {
            while prec <= infix_precedence(self.current.kind) {
                self.advance();
                self.infix(self.previous.kind, can_assign);
            }
            if can_assign && self.matches(T::Equal) {
                self.error("Invalid assignment target.");
            }
        } else {
            self.error("Expect expression.");
        }
        self.leave();
    }

    /// Runs the prefix rule of `kind`; false if it has none.
    fn prefix(&mut self, kind: T, can_assign: bool) -> bool {
        match kind {
            T::LeftParen => self.grouping(),
            T::Minus | T::Bang => self.unary(kind),
            T::Identifier => self.variable(can_assign),
            T::String => self.string(),
            T::Number => self.number(),
            T::False => self.emit_op(Op::False),
            T::True => self.emit_op(Op::True),
            T::Nil => self.emit_op(Op::Nil),
            T::Super => self.super_(),
            T::This => self.this(),
            _ => return false,
        }
        true
    }

    fn infix(&mut self, kind: T, can_assign: bool) {
        match kind {
            T::LeftParen => self.call(),
            T::Dot => self.dot(can_assign),
            T::And => self.and(),
            T::Or => self.or(),
            _ => self.binary(kind),
        }
    }

    fn grouping(&mut self) {
        self.expression();
        self.consume(T::RightParen, "Expect ')' after expression.");
    }

    fn unary(&mut self, kind: T) {
        self.parse_precedence(Prec::Unary);
        self.emit_op(if kind == T::Bang { Op::Not } else { Op::Negate });
    }

    fn binary(&mut self, kind: T) {
        self.parse_precedence(infix_precedence(kind).next());
        match kind {
            T::BangEqual => {
                self.emit_op(Op::Equal);
                self.emit_op(Op::Not);
            }
            T::EqualEqual => self.emit_op(Op::Equal),
            T::Greater => self.emit_op(Op::Greater),
            T::GreaterEqual => {
                self.emit_op(Op::Less);
                self.emit_op(Op::Not);
            }
            T::Less => self.emit_op(Op::Less),
            T::LessEqual => {
                self.emit_op(Op::Greater);
                self.emit_op(Op::Not);
            }
            T::Plus => self.emit_op(Op::Add),
            T::Minus => self.emit_op(Op::Subtract),
            T::Star => self.emit_op(Op::Multiply),
            T::Slash => self.emit_op(Op::Divide),
            _ => unreachable!("binary() is only the infix rule of binary operators"),
        }
    }

    fn and(&mut self) {
        let end = self.emit_jump(Op::JumpIfFalse);
        self.emit_op(Op::Pop);
        self.parse_precedence(Prec::And);
        self.patch_jump(end);
    }

    fn or(&mut self) {
        let else_jump = self.emit_jump(Op::JumpIfFalse);
        let end = self.emit_jump(Op::Jump);
        self.patch_jump(else_jump);
        self.emit_op(Op::Pop);
        self.parse_precedence(Prec::Or);
        self.patch_jump(end);
    }

    fn number(&mut self) {
        // The lexeme is digits with an optional fraction: always valid for
        // Rust's correctly rounded parser, like strtod (huge ones give inf).
        let text = std::str::from_utf8(self.previous.lexeme).unwrap_or("0");
        let n: f64 = text.parse().unwrap_or(0.0);
        self.emit_constant(Value::number(n));
    }

    fn string(&mut self) {
        let lexeme = self.previous.lexeme;
        let body = &lexeme[1..lexeme.len() - 1];
        match intern(self.heap, body) {
            Ok(()) => {
                let c = self.register_pushed_constant();
                self.emit_op_arg(Op::Constant, c);
            }
            Err(_) => self.out_of_memory(),
        }
    }

    fn variable(&mut self, can_assign: bool) {
        self.named_variable(self.previous, can_assign);
    }

    pub(super) fn named_variable(&mut self, name: Token<'src>, can_assign: bool) {
        let level = self.fns.len() - 1;
        let (get, set, arg) = if let Some(i) = self.resolve_local(level, name.lexeme) {
            (Op::GetLocal, Op::SetLocal, i)
        } else if let Some(i) = self.resolve_upvalue(level, name.lexeme) {
            (Op::GetUpvalue, Op::SetUpvalue, i)
        } else {
            let c = self.identifier_constant(name.lexeme);
            (Op::GetGlobal, Op::SetGlobal, c)
        };
        if can_assign && self.matches(T::Equal) {
            self.expression();
            self.emit_op_arg(set, arg);
        } else {
            self.emit_op_arg(get, arg);
        }
    }

    fn this(&mut self) {
        if self.classes.is_empty() {
            self.error("Can't use 'this' outside of a class.");
            return;
        }
        self.variable(false);
    }

    fn super_(&mut self) {
        match self.classes.last() {
            None => self.error("Can't use 'super' outside of a class."),
            Some(c) if !c.has_superclass => {
                self.error("Can't use 'super' in a class with no superclass.")
            }
            Some(_) => {}
        }
        self.consume(T::Dot, "Expect '.' after 'super'.");
        self.consume(T::Identifier, "Expect superclass method name.");
        let name = self.identifier_constant(self.previous.lexeme);
        self.named_variable(Self::synthetic("this"), false);
        if self.matches(T::LeftParen) {
            let argc = self.argument_list();
            self.named_variable(Self::synthetic("super"), false);
            self.emit_op_arg(Op::SuperInvoke, name);
            self.emit_byte(argc);
            self.adjust_height(-(i32::from(argc) + 1));
        } else {
            self.named_variable(Self::synthetic("super"), false);
            self.emit_op_arg(Op::GetSuper, name);
        }
    }

    fn call(&mut self) {
        let argc = self.argument_list();
        self.emit_op_arg(Op::Call, argc);
        self.adjust_height(-i32::from(argc));
    }

    fn dot(&mut self, can_assign: bool) {
        self.consume(T::Identifier, "Expect property name after '.'.");
        let name = self.identifier_constant(self.previous.lexeme);
        if can_assign && self.matches(T::Equal) {
            self.expression();
            self.emit_op_arg(Op::SetProperty, name);
        } else if self.matches(T::LeftParen) {
            let argc = self.argument_list();
            self.emit_op_arg(Op::Invoke, name);
            self.emit_byte(argc);
            self.adjust_height(-i32::from(argc));
        } else {
            self.emit_op_arg(Op::GetProperty, name);
        }
    }

    fn argument_list(&mut self) -> u8 {
        let mut argc: usize = 0;
        if !self.check(T::RightParen) {
            loop {
                self.expression();
                if argc == 255 {
                    self.error("Can't have more than 255 arguments.");
                }
                argc += 1;
                if !self.matches(T::Comma) {
                    break;
                }
            }
        }
        self.consume(T::RightParen, "Expect ')' after arguments.");
        argc as u8
    }
}
