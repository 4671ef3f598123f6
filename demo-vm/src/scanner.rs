//! The scanner: Lox source bytes to tokens, on demand, exactly as clox scans.
//!
//! Source is treated as bytes (invalid UTF-8 is just more bytes), and, as in
//! clox, a NUL byte ends the source. Tokens borrow their lexeme from the
//! source; error tokens carry their message as the lexeme.

/// The kind of a token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum TokenKind {
    LeftParen,
    RightParen,
    LeftBrace,
    RightBrace,
    Comma,
    Dot,
    Minus,
    Plus,
    Semicolon,
    Slash,
    Star,
    Bang,
    BangEqual,
    Equal,
    EqualEqual,
    Greater,
    GreaterEqual,
    Less,
    LessEqual,
    Identifier,
    String,
    Number,
    And,
    Class,
    Else,
    False,
    For,
    Fun,
    If,
    Nil,
    Or,
    Print,
    Return,
    Super,
    This,
    True,
    Var,
    While,
    /// A scanner error; the lexeme is the message.
    Error,
    /// End of the source.
    Eof,
}

/// A token: its kind, its bytes in the source (or the message of an error
/// token) and the line it ends on.
#[derive(Clone, Copy, Debug)]
pub struct Token<'src> {
    /// What the token is.
    pub kind: TokenKind,
    /// The token's bytes, quotes included for strings.
    pub lexeme: &'src [u8],
    /// The 1-based line the scanner was on when the token ended.
    pub line: u32,
}

impl<'src> Token<'src> {
    /// A token that does not come from the source (`this`, `super`).
    pub fn synthetic(text: &'static str) -> Token<'src> {
        Token {
            kind: TokenKind::Identifier,
            lexeme: text.as_bytes(),
            line: 0,
        }
    }
}

/// Produces tokens from a source, one at a time.
pub struct Scanner<'src> {
    source: &'src [u8],
    start: usize,
    current: usize,
    line: u32,
}

impl<'src> Scanner<'src> {
    /// A scanner over `source`, which ends at its first NUL byte (as clox's
    /// C string does).
    pub fn new(source: &'src [u8]) -> Scanner<'src> {
        let end = source.iter().position(|&b| b == 0).unwrap_or(source.len());
        Scanner {
            source: &source[..end],
            start: 0,
            current: 0,
            line: 1,
        }
    }

    /// Scans the next token; after the end, returns `Eof` forever.
    pub fn scan_token(&mut self) -> Token<'src> {
        self.skip_whitespace();
        self.start = self.current;
        let Some(c) = self.advance() else {
            return self.make(TokenKind::Eof);
        };
        if is_alpha(c) {
            return self.identifier();
        }
        if c.is_ascii_digit() {
            return self.number();
        }
        use TokenKind as T;
        match c {
            b'(' => self.make(T::LeftParen),
            b')' => self.make(T::RightParen),
            b'{' => self.make(T::LeftBrace),
            b'}' => self.make(T::RightBrace),
            b';' => self.make(T::Semicolon),
            b',' => self.make(T::Comma),
            b'.' => self.make(T::Dot),
            b'-' => self.make(T::Minus),
            b'+' => self.make(T::Plus),
            b'/' => self.make(T::Slash),
            b'*' => self.make(T::Star),
            b'!' => self.make_if_equal(T::BangEqual, T::Bang),
            b'=' => self.make_if_equal(T::EqualEqual, T::Equal),
            b'<' => self.make_if_equal(T::LessEqual, T::Less),
            b'>' => self.make_if_equal(T::GreaterEqual, T::Greater),
            b'"' => self.string(),
            _ => self.error("Unexpected character."),
        }
    }

    fn peek(&self) -> Option<u8> {
        self.source.get(self.current).copied()
    }

    fn peek_next(&self) -> Option<u8> {
        self.source.get(self.current + 1).copied()
    }

    fn advance(&mut self) -> Option<u8> {
        let c = self.peek()?;
        self.current += 1;
        Some(c)
    }

    fn make(&self, kind: TokenKind) -> Token<'src> {
        Token {
            kind,
            lexeme: &self.source[self.start..self.current],
            line: self.line,
        }
    }

    fn make_if_equal(&mut self, with_equal: TokenKind, alone: TokenKind) -> Token<'src> {
        if self.peek() == Some(b'=') {
            self.current += 1;
            self.make(with_equal)
        } else {
            self.make(alone)
        }
    }

    fn error(&self, message: &'static str) -> Token<'src> {
        Token {
            kind: TokenKind::Error,
            lexeme: message.as_bytes(),
            line: self.line,
        }
    }

    fn skip_whitespace(&mut self) {
        while let Some(c) = self.peek() {
            match c {
                b' ' | b'\r' | b'\t' => self.current += 1,
                b'\n' => {
                    self.line = self.line.saturating_add(1);
                    self.current += 1;
                }
                b'/' if self.peek_next() == Some(b'/') => {
                    while self.peek().is_some_and(|c| c != b'\n') {
                        self.current += 1;
                    }
                }
                _ => return,
            }
        }
    }

    fn string(&mut self) -> Token<'src> {
        while let Some(c) = self.peek() {
            if c == b'"' {
                break;
            }
            if c == b'\n' {
                self.line = self.line.saturating_add(1);
            }
            self.current += 1;
        }
        if self.peek().is_none() {
            return self.error("Unterminated string.");
        }
        self.current += 1;
        self.make(TokenKind::String)
    }

    fn number(&mut self) -> Token<'src> {
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.current += 1;
        }
        if self.peek() == Some(b'.') && self.peek_next().is_some_and(|c| c.is_ascii_digit()) {
            self.current += 1;
            while self.peek().is_some_and(|c| c.is_ascii_digit()) {
                self.current += 1;
            }
        }
        self.make(TokenKind::Number)
    }

    fn identifier(&mut self) -> Token<'src> {
        while self
            .peek()
            .is_some_and(|c| is_alpha(c) || c.is_ascii_digit())
        {
            self.current += 1;
        }
        self.make(keyword(&self.source[self.start..self.current]))
    }
}

fn is_alpha(c: u8) -> bool {
    c.is_ascii_alphabetic() || c == b'_'
}

fn keyword(word: &[u8]) -> TokenKind {
    use TokenKind as T;
    match word {
        b"and" => T::And,
        b"class" => T::Class,
        b"else" => T::Else,
        b"false" => T::False,
        b"for" => T::For,
        b"fun" => T::Fun,
        b"if" => T::If,
        b"nil" => T::Nil,
        b"or" => T::Or,
        b"print" => T::Print,
        b"return" => T::Return,
        b"super" => T::Super,
        b"this" => T::This,
        b"true" => T::True,
        b"var" => T::Var,
        b"while" => T::While,
        _ => T::Identifier,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use TokenKind as T;

    fn kinds(src: &str) -> Vec<TokenKind> {
        let mut s = Scanner::new(src.as_bytes());
        let mut v = Vec::new();
        loop {
            let t = s.scan_token();
            v.push(t.kind);
            if t.kind == T::Eof {
                return v;
            }
        }
    }

    #[test]
    fn scans_two_character_operators_greedily() {
        assert_eq!(
            kinds("!= == <= >= ! = < >"),
            [
                T::BangEqual,
                T::EqualEqual,
                T::LessEqual,
                T::GreaterEqual,
                T::Bang,
                T::Equal,
                T::Less,
                T::Greater,
                T::Eof
            ]
        );
    }

    #[test]
    fn keywords_are_exact_words() {
        assert_eq!(
            kinds("class classy _if if9 fun"),
            [
                T::Class,
                T::Identifier,
                T::Identifier,
                T::Identifier,
                T::Fun,
                T::Eof
            ]
        );
    }

    #[test]
    fn numbers_need_digits_after_the_point() {
        let mut s = Scanner::new(b"12.5 7. .5");
        assert_eq!(s.scan_token().lexeme, b"12.5");
        assert_eq!(s.scan_token().lexeme, b"7");
        assert_eq!(s.scan_token().kind, T::Dot);
        assert_eq!(s.scan_token().kind, T::Dot);
        assert_eq!(s.scan_token().lexeme, b"5");
    }

    #[test]
    fn multi_line_strings_report_their_last_line() {
        let mut s = Scanner::new(b"\"a\nb\nc\" x");
        let t = s.scan_token();
        assert_eq!(
            (t.kind, t.line, t.lexeme),
            (T::String, 3, &b"\"a\nb\nc\""[..])
        );
    }

    #[test]
    fn unterminated_string_is_an_error_token_at_the_end() {
        let mut s = Scanner::new(b"\"abc\n\n");
        let t = s.scan_token();
        assert_eq!(
            (t.kind, t.line, t.lexeme),
            (T::Error, 3, &b"Unterminated string."[..])
        );
    }

    #[test]
    fn comments_run_to_the_end_of_the_line() {
        assert_eq!(kinds("a // b c\nd"), [T::Identifier, T::Identifier, T::Eof]);
    }

    #[test]
    fn nul_byte_ends_the_source_like_a_c_string() {
        assert_eq!(kinds("a\0 b c"), [T::Identifier, T::Eof]);
    }

    #[test]
    fn invalid_utf8_is_an_unexpected_character_per_byte() {
        let mut s = Scanner::new(&[0xff, 0xfe, b'a']);
        assert_eq!(s.scan_token().kind, T::Error);
        assert_eq!(s.scan_token().kind, T::Error);
        assert_eq!(s.scan_token().kind, T::Identifier);
    }
}
