//! A parser for the subset of the [AIP-160](https://google.aip.dev/160) filter language the
//! register accepts, producing an untyped syntax tree ([`Expr`]).
//!
//! The parser knows nothing about which fields exist or what types they have; callers walk the
//! tree and reject what they do not support.
//!
//! # Grammar
//!
//! ```text
//! filter      = [ expression ]
//! expression  = factor { [ "AND" ] factor }      (whitespace between factors is an implicit AND)
//! factor      = term { "OR" term }
//! term        = "NOT" term | "-" term | "(" expression ")" | restriction
//! restriction = field operator value | value     (a bare value is a "global restriction")
//! field       = ident { "." ident }              ident = [A-Za-z_][A-Za-z0-9_]*
//! operator    = "=" | "!=" | "<" | "<=" | ">" | ">=" | ":"
//! value       = quoted string | bare token
//! ```
//!
//! - **Precedence.** As AIP-160 specifies, `OR` binds *tighter* than `AND` (explicit or
//!   implicit): `a = 1 AND b = 2 OR c = 3` means `a = 1 AND (b = 2 OR c = 3)`. `NOT` and `-`
//!   bind tighter than both. Chains of `AND` and of `OR` are left-associative, and an implicit
//!   `AND` (terms separated by whitespace) is the same node as an explicit one.
//! - **Keywords.** `AND`, `OR` and `NOT` are keywords only when written in upper case; `and` is an
//!   ordinary bare token. A keyword cannot be used as a bare value (`a = AND` is an error), but
//!   it can be quoted (`a = "AND"`).
//! - **Negation.** `NOT term` and `-term` both negate. The minus must be written directly before
//!   the term (`-kind = OTHER`, `-(a = 1)`). After an operator a leading minus is part of the
//!   value: `a = -5` compares with the text `-5`.
//! - **Strings.** Quoted with `"` or `'`; the escapes `\"`, `\'`, `\\`, `\n` and `\t` are
//!   recognised, and any other backslash sequence is an error.
//! - **Bare tokens.** On the left of an operator a bare token stops at whitespace, parentheses,
//!   quotes and the operator characters `= ! < > :`. On the right it may additionally contain
//!   `:`, so timestamps such as `2026-01-01T10:00:00Z` need no quotes.
//! - **Separation.** A comparison or global restriction must be followed by whitespace, `)` or
//!   the end of the filter; `a=1"x"` is an error rather than two terms.
//! - **Limits.** Inputs longer than [`MAX_FILTER_LEN`] bytes, nesting (parentheses and
//!   negations together) deeper than [`MAX_DEPTH`], and control characters other than tab,
//!   newline and carriage return are refused. The parser never panics, whatever the input.
//!
//! Errors carry a byte offset into the input ([`FilterError::position`]).

use std::fmt;

/// Maximum accepted filter length, in bytes.
pub const MAX_FILTER_LEN: usize = 2048;

/// Maximum nesting depth: parentheses, `NOT` and `-` negations together.
pub const MAX_DEPTH: usize = 32;

/// A parsed filter expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expr {
    /// Both sides must hold (explicit `AND` or terms separated by whitespace).
    And(Box<Expr>, Box<Expr>),
    /// Either side must hold.
    Or(Box<Expr>, Box<Expr>),
    /// The inner expression must not hold (`NOT x` or `-x`).
    Not(Box<Expr>),
    /// `field op value`; `field` is a dotted path such as `kind` or `contacts.email`.
    Compare {
        /// The dotted field path on the left of the operator.
        field: String,
        /// The comparison operator.
        op: CompareOp,
        /// The value on the right of the operator.
        value: Value,
    },
    /// A bare value with no field and operator (AIP-160 "global restriction"), e.g. `"tax"`.
    Global(Value),
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompareOp {
    /// `=`
    Eq,
    /// `!=`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `:` ("has")
    Has,
}

impl CompareOp {
    fn symbol(self) -> &'static str {
        match self {
            CompareOp::Eq => "=",
            CompareOp::Ne => "!=",
            CompareOp::Lt => "<",
            CompareOp::Le => "<=",
            CompareOp::Gt => ">",
            CompareOp::Ge => ">=",
            CompareOp::Has => ":",
        }
    }
}

/// A value: the right-hand side of a comparison, or a global restriction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// A quoted string literal, unescaped ("a\"b" -> a"b). Both "..." and '...' quotes.
    String(String),
    /// A bare token: identifiers, enum names, numbers, true/false, timestamps like 2026-01-01T00:00:00Z, `*`.
    Text(String),
}

/// Why a filter could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilterError {
    /// A human-readable English description of the problem.
    pub message: String,
    /// byte offset in the input where the problem is
    pub position: usize,
}

impl FilterError {
    fn new(position: usize, message: impl Into<String>) -> Self {
        FilterError {
            message: message.into(),
            position,
        }
    }
}

impl fmt::Display for FilterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "at character {}: {}", self.position, self.message)
    }
}

impl std::error::Error for FilterError {}

/// Parses a filter. Empty or whitespace-only input is Ok(None).
///
/// # Errors
///
/// Returns a [`FilterError`] with the byte position of the problem when the input is too long,
/// contains control characters, nests too deeply, or is not a well-formed filter.
pub fn parse(input: &str) -> Result<Option<Expr>, FilterError> {
    if input.len() > MAX_FILTER_LEN {
        return Err(FilterError::new(
            MAX_FILTER_LEN,
            format!(
                "the filter is {} bytes long; at most {MAX_FILTER_LEN} bytes are allowed",
                input.len()
            ),
        ));
    }
    if let Some((at, c)) = input
        .char_indices()
        .find(|&(_, c)| c.is_control() && !matches!(c, '\t' | '\n' | '\r'))
    {
        return Err(FilterError::new(
            at,
            format!(
                "control character U+{:04X} is not allowed in a filter",
                u32::from(c)
            ),
        ));
    }

    let mut parser = Parser {
        src: input,
        pos: 0,
        depth: 0,
    };
    parser.skip_ws();
    if parser.peek().is_none() {
        return Ok(None);
    }
    let expr = parser.parse_expression()?;
    parser.skip_ws();
    match parser.peek() {
        None => Ok(Some(expr)),
        Some(')') => Err(FilterError::new(
            parser.pos,
            "unmatched ')': there is no '(' for it to close",
        )),
        Some(c) => Err(FilterError::new(parser.pos, format!("unexpected '{c}'"))),
    }
}

/// The three upper-case keywords.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Keyword {
    And,
    Or,
    Not,
}

impl Keyword {
    fn text(self) -> &'static str {
        match self {
            Keyword::And => "AND",
            Keyword::Or => "OR",
            Keyword::Not => "NOT",
        }
    }

    fn from_token(token: &str) -> Option<Keyword> {
        match token {
            "AND" => Some(Keyword::And),
            "OR" => Some(Keyword::Or),
            "NOT" => Some(Keyword::Not),
            _ => None,
        }
    }
}

/// Characters that begin a comparison operator.
fn is_operator_start(c: char) -> bool {
    matches!(c, '=' | '!' | '<' | '>' | ':')
}

fn is_quote(c: char) -> bool {
    matches!(c, '"' | '\'')
}

/// Characters allowed in a bare token on the left of an operator (or a global restriction).
fn is_left_token_char(c: char) -> bool {
    !c.is_whitespace() && !matches!(c, '(' | ')') && !is_quote(c) && !is_operator_start(c)
}

/// Characters allowed in a bare value token on the right of an operator (may contain `:`).
fn is_value_token_char(c: char) -> bool {
    c == ':' || is_left_token_char(c)
}

/// Whether `s` is a dotted path of identifiers `[A-Za-z_][A-Za-z0-9_]*`.
fn is_valid_field(s: &str) -> bool {
    s.split('.').all(|segment| {
        let mut chars = segment.chars();
        match chars.next() {
            Some(first) if first.is_ascii_alphabetic() || first == '_' => {
                chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
            }
            _ => false,
        }
    })
}

/// Length in bytes of the longest prefix of `s` whose characters satisfy `pred`.
fn prefix_len(s: &str, pred: fn(char) -> bool) -> usize {
    s.find(|c: char| !pred(c)).unwrap_or(s.len())
}

/// A recursive-descent parser over the input text; `pos` is always a char boundary.
struct Parser<'a> {
    src: &'a str,
    pos: usize,
    depth: usize,
}

impl<'a> Parser<'a> {
    fn rest(&self) -> &'a str {
        self.src.get(self.pos..).unwrap_or("")
    }

    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        Some(c)
    }

    fn skip_ws(&mut self) {
        while let Some(c) = self.peek() {
            if !c.is_whitespace() {
                break;
            }
            self.pos += c.len_utf8();
        }
    }

    /// The left-side bare token starting at the current position, not consumed.
    fn peek_word(&self) -> &'a str {
        let rest = self.rest();
        rest.get(..prefix_len(rest, is_left_token_char))
            .unwrap_or("")
    }

    fn peek_keyword(&self) -> Option<Keyword> {
        Keyword::from_token(self.peek_word())
    }

    /// Enters one level of nesting (parenthesis or negation) that starts at `at`.
    fn enter(&mut self, at: usize) -> Result<(), FilterError> {
        if self.depth >= MAX_DEPTH {
            return Err(FilterError::new(
                at,
                format!(
                    "the filter nests parentheses and negations more than {MAX_DEPTH} levels deep"
                ),
            ));
        }
        self.depth += 1;
        Ok(())
    }

    fn leave(&mut self) {
        self.depth = self.depth.saturating_sub(1);
    }

    /// After a keyword at `at`, checks that a term follows (skipping whitespace).
    fn expect_operand_after(&mut self, keyword: Keyword, at: usize) -> Result<(), FilterError> {
        self.skip_ws();
        let kw = keyword.text();
        match self.peek() {
            None => Err(FilterError::new(
                at,
                format!("'{kw}' at the end of the filter has no term after it"),
            )),
            Some(')') => Err(FilterError::new(
                self.pos,
                format!("expected a term after '{kw}' but found ')'"),
            )),
            Some(_) => match self.peek_keyword() {
                Some(next @ (Keyword::And | Keyword::Or)) => Err(FilterError::new(
                    self.pos,
                    format!(
                        "expected a term after '{kw}' but found the keyword '{}'",
                        next.text()
                    ),
                )),
                _ => Ok(()),
            },
        }
    }

    /// `expression = factor { [ "AND" ] factor }`; stops at the end of input or at `)`.
    fn parse_expression(&mut self) -> Result<Expr, FilterError> {
        let mut left = self.parse_factor()?;
        loop {
            self.skip_ws();
            if matches!(self.peek(), None | Some(')')) {
                return Ok(left);
            }
            if self.peek_keyword() == Some(Keyword::And) {
                let at = self.pos;
                self.pos += Keyword::And.text().len();
                self.expect_operand_after(Keyword::And, at)?;
            }
            let right = self.parse_factor()?;
            left = Expr::And(Box::new(left), Box::new(right));
        }
    }

    /// `factor = term { "OR" term }`.
    fn parse_factor(&mut self) -> Result<Expr, FilterError> {
        let mut left = self.parse_term()?;
        loop {
            self.skip_ws();
            if self.peek_keyword() != Some(Keyword::Or) {
                return Ok(left);
            }
            let at = self.pos;
            self.pos += Keyword::Or.text().len();
            self.expect_operand_after(Keyword::Or, at)?;
            let right = self.parse_term()?;
            left = Expr::Or(Box::new(left), Box::new(right));
        }
    }

    /// `term = "NOT" term | "-" term | "(" expression ")" | restriction`.
    fn parse_term(&mut self) -> Result<Expr, FilterError> {
        self.skip_ws();
        let start = self.pos;
        match self.peek() {
            None => Err(FilterError::new(
                start,
                "expected a term but the filter ended",
            )),
            Some(')') => Err(FilterError::new(
                start,
                "unexpected ')' where a term was expected",
            )),
            Some('(') => self.parse_group(),
            Some('-') => {
                self.pos += 1;
                match self.peek() {
                    None => {
                        return Err(FilterError::new(
                            start,
                            "'-' at the end of the filter has no term after it",
                        ));
                    }
                    Some(c) if c.is_whitespace() => {
                        return Err(FilterError::new(
                            start,
                            "'-' must be written directly before the term it negates",
                        ));
                    }
                    Some(_) => {}
                }
                self.enter(start)?;
                let inner = self.parse_term()?;
                self.leave();
                Ok(Expr::Not(Box::new(inner)))
            }
            Some(_) => match self.peek_keyword() {
                Some(Keyword::Not) => {
                    self.pos += Keyword::Not.text().len();
                    self.expect_operand_after(Keyword::Not, start)?;
                    self.enter(start)?;
                    let inner = self.parse_term()?;
                    self.leave();
                    Ok(Expr::Not(Box::new(inner)))
                }
                Some(keyword) => Err(FilterError::new(
                    start,
                    format!("'{}' must come between two terms", keyword.text()),
                )),
                None => self.parse_restriction(),
            },
        }
    }

    /// `"(" expression ")"`; the current character is `(`.
    fn parse_group(&mut self) -> Result<Expr, FilterError> {
        let open = self.pos;
        self.pos += 1;
        self.enter(open)?;
        self.skip_ws();
        match self.peek() {
            None => {
                return Err(FilterError::new(
                    open,
                    "unclosed '(': expected a matching ')'",
                ));
            }
            Some(')') => {
                return Err(FilterError::new(
                    open,
                    "empty parentheses '()' are not allowed",
                ));
            }
            Some(_) => {}
        }
        let inner = self.parse_expression()?;
        self.skip_ws();
        if self.peek() != Some(')') {
            return Err(FilterError::new(
                open,
                "unclosed '(': expected a matching ')'",
            ));
        }
        self.pos += 1;
        self.leave();
        Ok(inner)
    }

    /// `field operator value` or a bare value (global restriction).
    fn parse_restriction(&mut self) -> Result<Expr, FilterError> {
        let start = self.pos;
        let Some(first) = self.peek() else {
            return Err(FilterError::new(
                start,
                "expected a term but the filter ended",
            ));
        };

        if is_quote(first) {
            let text = self.parse_string()?;
            let after = self.pos;
            self.skip_ws();
            if self.peek().is_some_and(is_operator_start) {
                return Err(FilterError::new(
                    start,
                    "a comparison needs a field name on the left of the operator, not a quoted string",
                ));
            }
            self.pos = after;
            self.expect_term_boundary()?;
            return Ok(Expr::Global(Value::String(text)));
        }

        if is_operator_start(first) {
            let op = self.parse_operator()?;
            return Err(FilterError::new(
                start,
                format!("operator '{}' has no field on its left", op.symbol()),
            ));
        }

        let word = self.peek_word();
        if word.is_empty() {
            return Err(FilterError::new(start, format!("unexpected '{first}'")));
        }
        self.pos += word.len();
        let after_word = self.pos;
        self.skip_ws();
        if self.peek().is_some_and(is_operator_start) {
            if !is_valid_field(word) {
                return Err(FilterError::new(
                    start,
                    format!(
                        "'{word}' is not a valid field name (expected names like `kind` or `contacts.email`)"
                    ),
                ));
            }
            let op = self.parse_operator()?;
            let value = self.parse_value(op)?;
            self.expect_term_boundary()?;
            return Ok(Expr::Compare {
                field: word.to_owned(),
                op,
                value,
            });
        }
        self.pos = after_word;
        self.expect_term_boundary()?;
        Ok(Expr::Global(Value::Text(word.to_owned())))
    }

    /// Parses one of `= != < <= > >= :` at the current position.
    fn parse_operator(&mut self) -> Result<CompareOp, FilterError> {
        let at = self.pos;
        let op = match self.bump() {
            Some('=') => CompareOp::Eq,
            Some(':') => CompareOp::Has,
            Some('!') => {
                if self.peek() == Some('=') {
                    self.pos += 1;
                    CompareOp::Ne
                } else {
                    return Err(FilterError::new(
                        at,
                        "expected '=' after '!' (the not-equal operator is '!=')",
                    ));
                }
            }
            Some('<') => {
                if self.peek() == Some('=') {
                    self.pos += 1;
                    CompareOp::Le
                } else {
                    CompareOp::Lt
                }
            }
            Some('>') => {
                if self.peek() == Some('=') {
                    self.pos += 1;
                    CompareOp::Ge
                } else {
                    CompareOp::Gt
                }
            }
            _ => {
                return Err(FilterError::new(at, "expected a comparison operator"));
            }
        };
        Ok(op)
    }

    /// The value after `op`, skipping whitespace first.
    fn parse_value(&mut self, op: CompareOp) -> Result<Value, FilterError> {
        self.skip_ws();
        let start = self.pos;
        let sym = op.symbol();
        match self.peek() {
            None => Err(FilterError::new(
                start,
                format!("expected a value after '{sym}' but the filter ended"),
            )),
            Some(c) if is_quote(c) => Ok(Value::String(self.parse_string()?)),
            Some(c) if !is_value_token_char(c) => Err(FilterError::new(
                start,
                format!("expected a value after '{sym}' but found '{c}'"),
            )),
            Some(_) => {
                let rest = self.rest();
                let token = rest
                    .get(..prefix_len(rest, is_value_token_char))
                    .unwrap_or("");
                if let Some(keyword) = Keyword::from_token(token) {
                    let kw = keyword.text();
                    return Err(FilterError::new(
                        start,
                        format!(
                            "expected a value after '{sym}' but found the keyword '{kw}'; quote it (\"{kw}\") to use it as text"
                        ),
                    ));
                }
                self.pos += token.len();
                Ok(Value::Text(token.to_owned()))
            }
        }
    }

    /// A quoted string; the current character is the opening quote.
    fn parse_string(&mut self) -> Result<String, FilterError> {
        let open = self.pos;
        let Some(quote) = self.bump() else {
            return Err(FilterError::new(open, "expected a quoted string"));
        };
        let unterminated = || {
            FilterError::new(
                open,
                format!("unterminated string: the {quote} quote opened here is never closed"),
            )
        };
        let mut out = String::new();
        loop {
            let here = self.pos;
            match self.bump() {
                None => return Err(unterminated()),
                Some(c) if c == quote => return Ok(out),
                Some('\\') => match self.bump() {
                    None => return Err(unterminated()),
                    Some('"') => out.push('"'),
                    Some('\'') => out.push('\''),
                    Some('\\') => out.push('\\'),
                    Some('n') => out.push('\n'),
                    Some('t') => out.push('\t'),
                    Some(other) => {
                        return Err(FilterError::new(
                            here,
                            format!(
                                "unsupported escape sequence '\\{other}' (allowed: \\\" \\' \\\\ \\n \\t)"
                            ),
                        ));
                    }
                },
                Some(c) => out.push(c),
            }
        }
    }

    /// After a comparison or global restriction: whitespace, `)` or the end must follow.
    fn expect_term_boundary(&self) -> Result<(), FilterError> {
        match self.peek() {
            None | Some(')') => Ok(()),
            Some(c) if c.is_whitespace() => Ok(()),
            Some(c) if is_operator_start(c) => Err(FilterError::new(
                self.pos,
                format!("unexpected '{c}' after a complete comparison or value"),
            )),
            Some(c) => Err(FilterError::new(
                self.pos,
                format!("unexpected '{c}' directly after a term; separate terms with whitespace"),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(input: &str) -> Expr {
        match parse(input) {
            Ok(Some(expr)) => expr,
            other => panic!("expected {input:?} to parse, got {other:?}"),
        }
    }

    fn err(input: &str) -> FilterError {
        match parse(input) {
            Err(e) => e,
            Ok(v) => panic!("expected {input:?} to fail, got {v:?}"),
        }
    }

    fn cmp(field: &str, op: CompareOp, value: Value) -> Expr {
        Expr::Compare {
            field: field.to_owned(),
            op,
            value,
        }
    }

    fn eq(field: &str, text: &str) -> Expr {
        cmp(field, CompareOp::Eq, t(text))
    }

    fn t(s: &str) -> Value {
        Value::Text(s.to_owned())
    }

    fn s(s: &str) -> Value {
        Value::String(s.to_owned())
    }

    fn and(a: Expr, b: Expr) -> Expr {
        Expr::And(Box::new(a), Box::new(b))
    }

    fn or(a: Expr, b: Expr) -> Expr {
        Expr::Or(Box::new(a), Box::new(b))
    }

    fn not(a: Expr) -> Expr {
        Expr::Not(Box::new(a))
    }

    fn global(s: &str) -> Expr {
        Expr::Global(t(s))
    }

    #[test]
    fn empty_and_whitespace_only_input_is_none() {
        assert_eq!(parse(""), Ok(None));
        assert_eq!(parse("   "), Ok(None));
        assert_eq!(parse(" \t\r\n "), Ok(None));
    }

    #[test]
    fn simple_comparison_with_and_without_spaces() {
        let want = eq("kind", "STATE_BODY");
        assert_eq!(ok("kind=STATE_BODY"), want);
        assert_eq!(ok("kind = STATE_BODY"), want);
        assert_eq!(ok("  kind =STATE_BODY  "), want);
        assert_eq!(ok("kind= STATE_BODY"), want);
    }

    #[test]
    fn every_comparison_operator() {
        let cases = [
            ("a = 1", CompareOp::Eq),
            ("a != 1", CompareOp::Ne),
            ("a < 1", CompareOp::Lt),
            ("a <= 1", CompareOp::Le),
            ("a > 1", CompareOp::Gt),
            ("a >= 1", CompareOp::Ge),
            ("a : 1", CompareOp::Has),
            ("a!=1", CompareOp::Ne),
            ("a<=1", CompareOp::Le),
            ("a>=1", CompareOp::Ge),
            ("a<1", CompareOp::Lt),
            ("a>1", CompareOp::Gt),
            ("a:1", CompareOp::Has),
        ];
        for (input, op) in cases {
            assert_eq!(ok(input), cmp("a", op, t("1")), "{input}");
        }
    }

    #[test]
    fn dotted_field_paths() {
        assert_eq!(
            ok("contacts.email = \"x@example.org\""),
            cmp("contacts.email", CompareOp::Eq, s("x@example.org"))
        );
        assert_eq!(ok("a.b_2._c:*"), cmp("a.b_2._c", CompareOp::Has, t("*")));
    }

    #[test]
    fn implicit_and_between_terms() {
        assert_eq!(ok("a = 1 b = 2"), ok("a = 1 AND b = 2"));
        assert_eq!(ok("a = 1 b = 2"), and(eq("a", "1"), eq("b", "2")));
        assert_eq!(ok("a=1\tb=2\nc=3"), ok("a = 1 AND b = 2 AND c = 3"));
    }

    #[test]
    fn and_chains_are_left_associative() {
        assert_eq!(
            ok("a = 1 AND b = 2 AND c = 3"),
            and(and(eq("a", "1"), eq("b", "2")), eq("c", "3"))
        );
        assert_eq!(
            ok("a = 1 b = 2 AND c = 3 d = 4"),
            and(
                and(and(eq("a", "1"), eq("b", "2")), eq("c", "3")),
                eq("d", "4")
            )
        );
    }

    #[test]
    fn or_binds_tighter_than_and() {
        assert_eq!(
            ok("a = 1 AND b = 2 OR c = 3"),
            and(eq("a", "1"), or(eq("b", "2"), eq("c", "3")))
        );
        assert_eq!(
            ok("a = 1 OR b = 2 AND c = 3"),
            and(or(eq("a", "1"), eq("b", "2")), eq("c", "3"))
        );
    }

    #[test]
    fn or_binds_tighter_than_implicit_and() {
        assert_eq!(
            ok("a = 1 b = 2 OR c = 3"),
            and(eq("a", "1"), or(eq("b", "2"), eq("c", "3")))
        );
    }

    #[test]
    fn or_chains_are_left_associative() {
        assert_eq!(
            ok("a = 1 OR b = 2 OR c = 3"),
            or(or(eq("a", "1"), eq("b", "2")), eq("c", "3"))
        );
    }

    #[test]
    fn parentheses_group_and_override_precedence() {
        assert_eq!(
            ok("(a = 1 AND b = 2) OR c = 3"),
            or(and(eq("a", "1"), eq("b", "2")), eq("c", "3"))
        );
        assert_eq!(ok("((a = 1))"), eq("a", "1"));
        assert_eq!(ok("( a = 1 )"), eq("a", "1"));
        assert_eq!(
            ok("(a=1)(b=2)"),
            and(eq("a", "1"), eq("b", "2")),
            "a closing parenthesis separates terms"
        );
        assert_eq!(
            ok("a=1 AND(b=2 OR c=3)"),
            and(eq("a", "1"), or(eq("b", "2"), eq("c", "3")))
        );
    }

    #[test]
    fn not_keyword_negates_a_term() {
        assert_eq!(ok("NOT a = 1"), not(eq("a", "1")));
        assert_eq!(ok("NOT(a = 1)"), not(eq("a", "1")));
        assert_eq!(ok("NOT NOT a = 1"), not(not(eq("a", "1"))));
        assert_eq!(
            ok("NOT (a = 1 OR b = 2)"),
            not(or(eq("a", "1"), eq("b", "2")))
        );
    }

    #[test]
    fn not_binds_tighter_than_or_and_and() {
        assert_eq!(
            ok("NOT a = 1 OR b = 2"),
            or(not(eq("a", "1")), eq("b", "2"))
        );
        assert_eq!(
            ok("a = 1 AND NOT b = 2"),
            and(eq("a", "1"), not(eq("b", "2")))
        );
    }

    #[test]
    fn minus_negates_a_term_but_not_a_number_value() {
        assert_eq!(ok("-kind = OTHER"), not(eq("kind", "OTHER")));
        assert_eq!(ok("-(a = 1)"), not(eq("a", "1")));
        assert_eq!(ok("a = -5"), eq("a", "-5"));
        assert_eq!(ok("a=-5"), eq("a", "-5"));
        assert_eq!(ok("a >= -1.5e3"), cmp("a", CompareOp::Ge, t("-1.5e3")));
        assert_eq!(ok("-tax"), not(global("tax")));
        assert_eq!(
            ok("-5"),
            not(global("5")),
            "a leading minus on a term negates"
        );
        assert_eq!(ok("a = 1 -b = 2"), and(eq("a", "1"), not(eq("b", "2"))));
        assert_eq!(ok("--a = 1"), not(not(eq("a", "1"))));
        assert_eq!(ok("foo-bar"), global("foo-bar"));
    }

    #[test]
    fn minus_must_touch_its_term() {
        let e = err("a = 1 - b = 2");
        assert_eq!(e.position, 6);
        assert!(e.message.contains("'-'"), "{e}");
        assert_eq!(err("a = 1 -").position, 6);
        assert_eq!(err("-)").position, 1);
    }

    #[test]
    fn keywords_are_case_sensitive() {
        assert_eq!(
            ok("a = 1 and b = 2"),
            and(and(eq("a", "1"), global("and")), eq("b", "2"))
        );
        assert_eq!(
            ok("a = 1 or b = 2"),
            and(and(eq("a", "1"), global("or")), eq("b", "2"))
        );
        assert_eq!(ok("not"), global("not"));
        assert_eq!(ok("a = and"), eq("a", "and"));
        assert_eq!(ok("ANDROID"), global("ANDROID"));
        assert_eq!(ok("NOTE = 1"), eq("NOTE", "1"));
    }

    #[test]
    fn quoted_strings_with_both_quote_styles() {
        assert_eq!(ok("a = \"x y\""), cmp("a", CompareOp::Eq, s("x y")));
        assert_eq!(ok("a = 'x y'"), cmp("a", CompareOp::Eq, s("x y")));
        assert_eq!(
            ok("a = 'say \"hi\"'"),
            cmp("a", CompareOp::Eq, s("say \"hi\""))
        );
        assert_eq!(ok("a = \"it's\""), cmp("a", CompareOp::Eq, s("it's")));
        assert_eq!(ok("a = \"\""), cmp("a", CompareOp::Eq, s("")));
        assert_eq!(
            ok("a = \"(x) = :y\""),
            cmp("a", CompareOp::Eq, s("(x) = :y"))
        );
    }

    #[test]
    fn escape_sequences_are_unescaped() {
        assert_eq!(ok(r#"a = "a\"b""#), cmp("a", CompareOp::Eq, s("a\"b")));
        assert_eq!(
            ok(r#"a = 'a\'b\\c\nd\te'"#),
            cmp("a", CompareOp::Eq, s("a'b\\c\nd\te"))
        );
        assert_eq!(ok(r#"a = "\'\"""#), cmp("a", CompareOp::Eq, s("'\"")));
    }

    #[test]
    fn bad_escape_is_an_error() {
        let e = err(r#"a = "x\qy""#);
        assert_eq!(e.position, 6);
        assert!(e.message.contains("escape"), "{e}");
        assert_eq!(err(r#"a = "\u0041""#).position, 5);
    }

    #[test]
    fn unterminated_string_is_an_error_with_position() {
        let e = err("name = \"abc");
        assert_eq!(e.position, 7);
        assert!(e.message.contains("unterminated"), "{e}");
        assert_eq!(err("name = 'abc\"").position, 7);
        assert_eq!(err("a = 1 \"").position, 6);
        assert_eq!(err(r#"a = "abc\"#).position, 4, "a trailing backslash");
        assert_eq!(err(r#"a = "abc\""#).position, 4, "an escaped closing quote");
    }

    #[test]
    fn cyrillic_string_values() {
        assert_eq!(
            ok("display_name:\"Статистика\""),
            cmp("display_name", CompareOp::Has, s("Статистика"))
        );
        assert_eq!(
            ok("display_name = 'Министерство «финансов»'"),
            cmp("display_name", CompareOp::Eq, s("Министерство «финансов»"))
        );
        assert_eq!(ok("\"налог\""), Expr::Global(s("налог")));
        assert_eq!(ok("налог"), global("налог"));
    }

    #[test]
    fn error_positions_are_byte_offsets() {
        let input = "x:\"Статистика\" a =";
        let e = err(input);
        assert_eq!(e.position, input.len());
        let e = err("\"Ж\" = 1 \"ё");
        assert_eq!(e.position, 0, "quoted string used as a field");
        let e = err("a:\"Ж\" \"ё");
        assert_eq!(e.position, 7);
    }

    #[test]
    fn timestamp_values_may_contain_colons_and_dashes() {
        assert_eq!(
            ok("update_time >= 2026-01-01T10:00:00Z"),
            cmp("update_time", CompareOp::Ge, t("2026-01-01T10:00:00Z"))
        );
        assert_eq!(
            ok("t<2026-01-01T10:00:00.123+03:00 kind=X"),
            and(
                cmp("t", CompareOp::Lt, t("2026-01-01T10:00:00.123+03:00")),
                eq("kind", "X")
            )
        );
    }

    #[test]
    fn wildcards_booleans_and_the_has_operator() {
        assert_eq!(ok("contacts:*"), cmp("contacts", CompareOp::Has, t("*")));
        assert_eq!(ok("name = foo*"), eq("name", "foo*"));
        assert_eq!(ok("active = true"), eq("active", "true"));
        assert_eq!(
            ok("labels.env:prod"),
            cmp("labels.env", CompareOp::Has, t("prod"))
        );
    }

    #[test]
    fn global_restrictions() {
        assert_eq!(ok("\"tax\""), Expr::Global(s("tax")));
        assert_eq!(ok("tax"), global("tax"));
        assert_eq!(ok("*"), global("*"));
        assert_eq!(ok("42"), global("42"));
        assert_eq!(ok("tax kind = X"), and(global("tax"), eq("kind", "X")));
        assert_eq!(
            ok("'tax' OR \"vat\""),
            or(Expr::Global(s("tax")), Expr::Global(s("vat")))
        );
        assert_eq!(ok("(tax)"), global("tax"));
    }

    #[test]
    fn keyword_as_value_is_an_error_but_quoted_keyword_is_fine() {
        for kw in ["AND", "OR", "NOT"] {
            let e = err(&format!("a = {kw}"));
            assert_eq!(e.position, 4, "{kw}");
            assert!(e.message.contains("keyword"), "{e}");
            assert_eq!(ok(&format!("a = \"{kw}\"")), cmp("a", CompareOp::Eq, s(kw)));
        }
        assert_eq!(err("a = AND b = 1").position, 4);
        assert_eq!(ok("a = ANDY"), eq("a", "ANDY"));
    }

    #[test]
    fn missing_value_after_operator_is_an_error() {
        let e = err("kind =");
        assert_eq!(e.position, 6);
        assert!(e.message.contains("expected a value after '='"), "{e}");
        assert_eq!(err("kind = ").position, 7);
        assert_eq!(err("(kind = )").position, 8);
        assert_eq!(err("kind == 1").position, 6);
        assert_eq!(err("kind <= <3").position, 8);
        assert_eq!(err("kind != (x)").position, 8);
        assert!(err("a >=").message.contains("'>='"));
    }

    #[test]
    fn operator_without_field_is_an_error() {
        let e = err("= 1");
        assert_eq!(e.position, 0);
        assert!(e.message.contains("no field"), "{e}");
        assert_eq!(err("a = 1 != 2").position, 6);
        assert_eq!(err("a = 1 : 2").position, 6);
        assert_eq!(err("(>= 3)").position, 1);
    }

    #[test]
    fn invalid_field_names_are_errors() {
        for input in [
            "5 = 1", "a..b = 1", ".a = 1", "a. = 1", "a-b = 1", "a* = 1", "ж = 1",
        ] {
            let e = err(input);
            assert_eq!(e.position, 0, "{input}");
            assert!(e.message.contains("not a valid field name"), "{input}: {e}");
        }
        assert_eq!(err("x = 1 1a.b:2").position, 6);
    }

    #[test]
    fn quoted_string_as_field_is_an_error() {
        let e = err("\"kind\" = X");
        assert_eq!(e.position, 0);
        assert!(e.message.contains("field name"), "{e}");
    }

    #[test]
    fn lone_bang_is_an_error() {
        let e = err("a ! 1");
        assert_eq!(e.position, 2);
        assert!(e.message.contains("'!='"), "{e}");
        assert_eq!(err("!x").position, 0);
    }

    #[test]
    fn dangling_keywords_at_the_end_are_errors() {
        let e = err("a = 1 AND");
        assert_eq!(e.position, 6);
        assert!(e.message.contains("'AND'"), "{e}");
        assert_eq!(err("a = 1 OR").position, 6);
        assert_eq!(err("a = 1 OR   ").position, 6);
        assert_eq!(err("NOT").position, 0);
        assert_eq!(err("a = 1 NOT ").position, 6);
        assert_eq!(err("(a = 1 AND)").position, 10);
        assert_eq!(err("NOT )").position, 4);
    }

    #[test]
    fn doubled_keywords_are_errors() {
        let e = err("a = 1 AND AND b = 2");
        assert_eq!(e.position, 10);
        assert!(e.message.contains("'AND'"), "{e}");
        assert_eq!(err("a = 1 OR OR b = 2").position, 9);
        assert_eq!(err("a = 1 AND OR b = 2").position, 10);
        assert_eq!(err("a = 1 OR AND b = 2").position, 9);
        assert_eq!(err("NOT AND a").position, 4);
        assert_eq!(
            ok("a = 1 AND NOT b = 2"),
            and(eq("a", "1"), not(eq("b", "2")))
        );
    }

    #[test]
    fn leading_and_or_are_errors() {
        let e = err("AND a = 1");
        assert_eq!(e.position, 0);
        assert!(e.message.contains("between two terms"), "{e}");
        assert_eq!(err("  OR a = 1").position, 2);
        assert_eq!(err("(OR a)").position, 1);
    }

    #[test]
    fn empty_parentheses_are_an_error() {
        let e = err("()");
        assert_eq!(e.position, 0);
        assert!(e.message.contains("empty parentheses"), "{e}");
        assert_eq!(err("a = 1 (  )").position, 6);
        assert_eq!(err("NOT ()").position, 4);
    }

    #[test]
    fn unbalanced_parentheses_are_errors() {
        let e = err("(a = 1");
        assert_eq!(e.position, 0);
        assert!(e.message.contains("unclosed"), "{e}");
        assert_eq!(err("((a = 1)").position, 0);
        assert_eq!(err("(a = 1 OR (b = 2)").position, 0);
        assert_eq!(err("(").position, 0);
        let e = err("a = 1)");
        assert_eq!(e.position, 5);
        assert!(e.message.contains("unmatched"), "{e}");
        assert_eq!(err("(a = 1))").position, 7);
        assert_eq!(err(")").position, 0);
    }

    #[test]
    fn too_long_input_is_refused() {
        let long = "a".repeat(MAX_FILTER_LEN + 1);
        let e = err(&long);
        assert_eq!(e.position, MAX_FILTER_LEN);
        assert!(e.message.contains("2048"), "{e}");
        // Multi-byte characters count in bytes.
        let cyr = format!("\"{}\"", "ж".repeat(MAX_FILTER_LEN / 2));
        assert!(err(&cyr).message.contains("bytes"));
    }

    #[test]
    fn input_of_exactly_the_maximum_length_is_accepted() {
        let value = "x".repeat(MAX_FILTER_LEN - "a = ".len());
        let input = format!("a = {value}");
        assert_eq!(input.len(), MAX_FILTER_LEN);
        assert_eq!(ok(&input), eq("a", &value));
    }

    #[test]
    fn deep_nesting_is_refused_without_overflow() {
        for input in [
            "(".repeat(10_000),
            "NOT ".repeat(10_000),
            "-".repeat(10_000),
            "(".repeat(2_000),
            format!("{}a{}", "(".repeat(1_000), ")".repeat(1_000)),
            "NOT ".repeat(500) + "a",
            "-".repeat(2_000) + "a",
            "NOT (-".repeat(300) + "a",
        ] {
            let e = err(&input);
            assert!(
                e.message.contains("levels deep") || e.message.contains("bytes"),
                "{e}"
            );
        }
        let e = err(&format!("{}a{}", "(".repeat(40), ")".repeat(40)));
        assert_eq!(e.position, MAX_DEPTH);
        assert!(e.message.contains("levels deep"), "{e}");
    }

    #[test]
    fn nesting_up_to_the_maximum_depth_is_accepted() {
        let parens = format!("{}a = 1{}", "(".repeat(MAX_DEPTH), ")".repeat(MAX_DEPTH));
        assert_eq!(ok(&parens), eq("a", "1"));
        let too_deep = format!(
            "{}a = 1{}",
            "(".repeat(MAX_DEPTH + 1),
            ")".repeat(MAX_DEPTH + 1)
        );
        assert_eq!(err(&too_deep).position, MAX_DEPTH);

        let mut nots = eq("a", "1");
        for _ in 0..MAX_DEPTH {
            nots = not(nots);
        }
        assert_eq!(ok(&("NOT ".repeat(MAX_DEPTH) + "a = 1")), nots);
        assert!(
            err(&("NOT ".repeat(MAX_DEPTH + 1) + "a = 1"))
                .message
                .contains("levels deep")
        );
        let mixed = "-(".repeat(MAX_DEPTH / 2) + "a" + &")".repeat(MAX_DEPTH / 2);
        assert!(parse(&mixed).is_ok());
        let mixed = "-(".repeat(MAX_DEPTH / 2 + 1) + "a" + &")".repeat(MAX_DEPTH / 2 + 1);
        assert!(parse(&mixed).is_err());
    }

    #[test]
    fn depth_is_released_after_each_group() {
        // Many sibling groups, each shallow, must not accumulate depth.
        let input = ["(NOT (a = 1))"; 100].join(" ");
        assert!(parse(&input).is_ok());
    }

    #[test]
    fn control_characters_are_refused() {
        let e = err("a = 1\u{0}");
        assert_eq!(e.position, 5);
        assert!(e.message.contains("U+0000"), "{e}");
        assert_eq!(err("a = \"x\u{7}y\"").position, 6);
        assert_eq!(err("\u{1b}[31m").position, 0);
        assert_eq!(err("a = 'ж\u{7f}'").position, 7);
        assert_eq!(err("a\u{85}= 1").position, 1);
    }

    #[test]
    fn tabs_and_newlines_are_whitespace() {
        assert_eq!(ok("a\t=\t1\r\nOR\nb = 2"), or(eq("a", "1"), eq("b", "2")));
        assert_eq!(ok("a = \"x\ty\""), cmp("a", CompareOp::Eq, s("x\ty")));
    }

    #[test]
    fn terms_must_be_separated() {
        let e = err("a = \"x\"b = 1");
        assert_eq!(e.position, 7);
        assert!(e.message.contains("whitespace"), "{e}");
        assert_eq!(err("\"x\"\"y\"").position, 3);
        assert_eq!(err("a=b\"c\"").position, 3);
        assert_eq!(err("a=b=c").position, 3);
        assert_eq!(err("foo(bar)").position, 3);
        assert_eq!(err("a = 1(b = 2)").position, 5);
        assert_eq!(ok("(a = 1)b = 2"), and(eq("a", "1"), eq("b", "2")));
    }

    #[test]
    fn error_display_includes_position_and_message() {
        let e = err("kind = STATE_BODY a =");
        assert_eq!(e.position, 21);
        assert_eq!(
            e.to_string(),
            "at character 21: expected a value after '=' but the filter ended"
        );
        let boxed: Box<dyn std::error::Error> = Box::new(e);
        assert!(boxed.to_string().starts_with("at character 21"));
    }

    /// Prints an expression back as filter text that parses to the same tree.
    fn show(expr: &Expr) -> String {
        let wrapped = |e: &Expr, wrap: bool| {
            if wrap {
                format!("({})", show(e))
            } else {
                show(e)
            }
        };
        match expr {
            Expr::And(l, r) => format!(
                "{} AND {}",
                show(l),
                wrapped(r, matches!(**r, Expr::And(..)))
            ),
            Expr::Or(l, r) => format!(
                "{} OR {}",
                wrapped(l, matches!(**l, Expr::And(..))),
                wrapped(r, matches!(**r, Expr::And(..) | Expr::Or(..)))
            ),
            Expr::Not(e) => format!(
                "NOT {}",
                wrapped(e, matches!(**e, Expr::And(..) | Expr::Or(..)))
            ),
            Expr::Compare { field, op, value } => {
                format!("{field} {} {}", op.symbol(), show_value(value))
            }
            Expr::Global(value) => show_value(value),
        }
    }

    fn show_value(value: &Value) -> String {
        match value {
            Value::Text(text) => text.clone(),
            Value::String(text) => {
                let mut out = String::from("\"");
                for c in text.chars() {
                    match c {
                        '"' => out.push_str("\\\""),
                        '\\' => out.push_str("\\\\"),
                        '\n' => out.push_str("\\n"),
                        '\t' => out.push_str("\\t"),
                        c => out.push(c),
                    }
                }
                out.push('"');
                out
            }
        }
    }

    #[test]
    fn printed_trees_parse_back_to_themselves() {
        for input in [
            "a = 1 AND b = 2 OR c = 3",
            "(a = 1 AND b = 2) OR c = 3",
            "a OR (b OR c)",
            "NOT (a b) -c (d e) f",
            "x:\"Ст\\\"ат\\n\" 'y' t>=2026-01-01T00:00:00Z",
        ] {
            let expr = ok(input);
            assert_eq!(ok(&show(&expr)), expr, "{input} -> {}", show(&expr));
        }
    }

    /// A tiny deterministic xorshift64 generator for the fuzz test.
    struct XorShift(u64);

    impl XorShift {
        fn next_u64(&mut self) -> u64 {
            let mut x = self.0;
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            self.0 = x;
            x
        }

        fn below(&mut self, n: usize) -> usize {
            // n is small; the modulo bias does not matter here.
            (self.next_u64() % n as u64) as usize
        }
    }

    #[test]
    fn random_token_soup_never_panics_and_round_trips() {
        const ALPHABET: &[&str] = &[
            "a",
            "b.c",
            "kind",
            "x_1",
            "=",
            "!=",
            "<",
            "<=",
            ">",
            ">=",
            ":",
            "!",
            "(",
            ")",
            "(",
            ")",
            "AND",
            "OR",
            "NOT",
            "and",
            "-",
            "--",
            "\"",
            "'",
            "\\",
            "\"x\"",
            "'y z'",
            "\"\\\"\"",
            "\"\\q\"",
            "5",
            "-5",
            "1.5",
            "*",
            " ",
            " ",
            "  ",
            "\t",
            "\n",
            "Статистика",
            "\"Ж\"",
            "2026-01-01T00:00:00Z",
            ".",
            "..",
            "\u{1}",
            "é",
            "ANDX",
            ")(",
            "= =",
            ":*",
        ];
        let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
        let mut parsed = 0usize;
        let mut failed = 0usize;
        for _ in 0..5_000 {
            let tokens = rng.below(25);
            let spaced = rng.below(3) != 0;
            let mut input = String::new();
            for i in 0..tokens {
                if spaced && i > 0 {
                    input.push(' ');
                }
                input.push_str(ALPHABET[rng.below(ALPHABET.len())]);
            }
            match parse(&input) {
                Ok(Some(expr)) => {
                    parsed += 1;
                    let printed = show(&expr);
                    assert_eq!(
                        parse(&printed),
                        Ok(Some(expr)),
                        "input {input:?} printed as {printed:?}"
                    );
                }
                Ok(None) => assert!(input.trim().is_empty(), "{input:?}"),
                Err(e) => {
                    failed += 1;
                    assert!(e.position <= input.len(), "{input:?}: {e}");
                    assert!(input.is_char_boundary(e.position), "{input:?}: {e}");
                    assert!(!e.message.is_empty());
                }
            }
        }
        assert!(parsed > 100, "only {parsed} inputs parsed");
        assert!(failed > 100, "only {failed} inputs failed");
    }
}
