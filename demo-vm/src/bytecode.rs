//! The bytecode: opcodes, their operands and stack effects, and the line
//! table.
//!
//! The instruction set is clox's, so that the same programs compile to the
//! same error behaviour (e.g. `a >= b` is `!(a < b)`, which matters for NaN).
//! Operands are single bytes (constant, slot and upvalue indices, argument
//! counts) except jump offsets, which are 16-bit big-endian.

/// One instruction's opcode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
#[allow(missing_docs)]
pub enum Op {
    Constant,
    Nil,
    True,
    False,
    Pop,
    GetLocal,
    SetLocal,
    GetGlobal,
    DefineGlobal,
    SetGlobal,
    GetUpvalue,
    SetUpvalue,
    GetProperty,
    SetProperty,
    GetSuper,
    Equal,
    Greater,
    Less,
    Add,
    Subtract,
    Multiply,
    Divide,
    Not,
    Negate,
    Print,
    Jump,
    JumpIfFalse,
    Loop,
    Call,
    Invoke,
    SuperInvoke,
    Closure,
    CloseUpvalue,
    Return,
    Class,
    Inherit,
    Method,
}

impl Op {
    /// Every opcode, indexed by its byte.
    pub const ALL: [Op; 37] = [
        Op::Constant,
        Op::Nil,
        Op::True,
        Op::False,
        Op::Pop,
        Op::GetLocal,
        Op::SetLocal,
        Op::GetGlobal,
        Op::DefineGlobal,
        Op::SetGlobal,
        Op::GetUpvalue,
        Op::SetUpvalue,
        Op::GetProperty,
        Op::SetProperty,
        Op::GetSuper,
        Op::Equal,
        Op::Greater,
        Op::Less,
        Op::Add,
        Op::Subtract,
        Op::Multiply,
        Op::Divide,
        Op::Not,
        Op::Negate,
        Op::Print,
        Op::Jump,
        Op::JumpIfFalse,
        Op::Loop,
        Op::Call,
        Op::Invoke,
        Op::SuperInvoke,
        Op::Closure,
        Op::CloseUpvalue,
        Op::Return,
        Op::Class,
        Op::Inherit,
        Op::Method,
    ];

    /// The opcode a byte encodes (bytes come only from the compiler).
    #[inline(always)]
    pub fn from_byte(b: u8) -> Op {
        Op::ALL[b as usize]
    }

    /// Net change of the stack height, for opcodes with a fixed effect
    /// (calls and invokes depend on their argument count and are accounted
    /// by the compiler).
    pub fn stack_effect(self) -> i32 {
        use Op::*;
        match self {
            Constant | Nil | True | False | GetLocal | GetGlobal | GetUpvalue | Closure | Class => {
                1
            }
            SetLocal | SetGlobal | SetUpvalue | GetProperty | Not | Negate | Jump | JumpIfFalse
            | Loop => 0,
            Pop | DefineGlobal | SetProperty | GetSuper | Equal | Greater | Less | Add
            | Subtract | Multiply | Divide | Print | CloseUpvalue | Return | Inherit | Method => -1,
            Call | Invoke | SuperInvoke => 0,
        }
    }
}

/// Maps code offsets to source lines: `(first offset, line)` runs.
#[derive(Clone, Debug, Default)]
pub struct LineTable {
    runs: Vec<(u32, u32)>,
}

impl LineTable {
    /// Records that the byte at `offset` came from `line`.
    pub fn add(&mut self, offset: usize, line: u32) {
        if self.runs.last().is_none_or(|&(_, l)| l != line) {
            self.runs.push((offset as u32, line));
        }
    }

    /// Serialises as little-endian u32 pairs.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(self.runs.len() * 8);
        for &(o, l) in &self.runs {
            v.extend_from_slice(&o.to_le_bytes());
            v.extend_from_slice(&l.to_le_bytes());
        }
        v
    }

    /// The line of the byte at `offset` in a serialised table.
    pub fn line_at(bytes: &[u8], offset: usize) -> u32 {
        let mut line = 0;
        for pair in bytes.chunks_exact(8) {
            let o = u32::from_le_bytes([pair[0], pair[1], pair[2], pair[3]]) as usize;
            if o > offset {
                break;
            }
            line = u32::from_le_bytes([pair[4], pair[5], pair[6], pair[7]]);
        }
        line
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_opcode_round_trips_through_its_byte() {
        for (i, op) in Op::ALL.iter().enumerate() {
            assert_eq!(*op as u8 as usize, i);
            assert_eq!(Op::from_byte(i as u8), *op);
        }
    }

    #[test]
    fn line_table_finds_the_run_containing_an_offset() {
        let mut t = LineTable::default();
        for (off, line) in [(0, 1), (1, 1), (2, 3), (3, 3), (4, 7)] {
            t.add(off, line);
        }
        let b = t.to_bytes();
        assert_eq!(b.len(), 3 * 8, "runs of equal lines are merged");
        assert_eq!(LineTable::line_at(&b, 0), 1);
        assert_eq!(LineTable::line_at(&b, 3), 3);
        assert_eq!(LineTable::line_at(&b, 99), 7);
    }
}
