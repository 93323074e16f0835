//! The rule language: a small expression language over one record's values.
//!
//! ```text
//! rule     := iff
//! iff      := implies ("iff" implies)*
//! implies  := or ("implies" implies)?          (right-associative)
//! or       := and ("or" and)*
//! and      := not ("and" not)*
//! not      := "not" not | test
//! test     := "(" rule ")" | "true" | "false"
//!           | operand ("==" | "=" | "!=" | "<>" | "<" | "<=" | ">" | ">=") operand
//!           | operand ["not"] "in" "[" literal ("," literal)* "]"
//!           | operand "is" ["not"] "missing"
//! operand  := column | literal
//! column   := identifier | `backquoted name`
//! literal  := number | 'string'              (a date is a string: 'YYYY-MM-DD')
//! ```
//!
//! Keywords are case-insensitive; a column named like a keyword needs backquotes.

use std::fmt;

/// A comparison operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl CmpOp {
    /// `a op b` as `b op' a`.
    pub fn flipped(self) -> CmpOp {
        match self {
            CmpOp::Lt => CmpOp::Gt,
            CmpOp::Le => CmpOp::Ge,
            CmpOp::Gt => CmpOp::Lt,
            CmpOp::Ge => CmpOp::Le,
            o => o,
        }
    }

    /// `not (a op b)` as `a op' b`.
    pub fn negated(self) -> CmpOp {
        match self {
            CmpOp::Eq => CmpOp::Ne,
            CmpOp::Ne => CmpOp::Eq,
            CmpOp::Lt => CmpOp::Ge,
            CmpOp::Le => CmpOp::Gt,
            CmpOp::Gt => CmpOp::Le,
            CmpOp::Ge => CmpOp::Lt,
        }
    }

    pub fn is_order(self) -> bool {
        !matches!(self, CmpOp::Eq | CmpOp::Ne)
    }

    /// Applies the operator to two ordered values.
    pub fn holds<T: PartialOrd>(self, a: &T, b: &T) -> bool {
        match self {
            CmpOp::Eq => a == b,
            CmpOp::Ne => a != b,
            CmpOp::Lt => a < b,
            CmpOp::Le => a <= b,
            CmpOp::Gt => a > b,
            CmpOp::Ge => a >= b,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            CmpOp::Eq => "==",
            CmpOp::Ne => "!=",
            CmpOp::Lt => "<",
            CmpOp::Le => "<=",
            CmpOp::Gt => ">",
            CmpOp::Ge => ">=",
        }
    }
}

/// A literal as written.
#[derive(Clone, Debug, PartialEq)]
pub enum Lit {
    Num(f64),
    Str(String),
}

impl fmt::Display for Lit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Lit::Num(x) => write!(f, "{x}"),
            Lit::Str(s) => write!(f, "'{s}'"),
        }
    }
}

/// One side of a comparison.
#[derive(Clone, Debug, PartialEq)]
pub enum Operand {
    Column(String),
    Lit(Lit),
}

/// A parsed rule, before column names are checked against the schema.
#[derive(Clone, Debug, PartialEq)]
pub enum Ast {
    Bool(bool),
    Not(Box<Ast>),
    And(Vec<Ast>),
    Or(Vec<Ast>),
    Implies(Box<Ast>, Box<Ast>),
    Iff(Box<Ast>, Box<Ast>),
    Cmp(Operand, CmpOp, Operand),
    In {
        operand: Operand,
        list: Vec<Lit>,
        negated: bool,
    },
    IsMissing {
        operand: Operand,
        negated: bool,
    },
}

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    Ident(String),
    Quoted(String),
    Num(f64),
    Str(String),
    Op(CmpOp),
    LParen,
    RParen,
    LBracket,
    RBracket,
    Comma,
    Minus,
}

impl fmt::Display for Tok {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Tok::Ident(s) => write!(f, "{s}"),
            Tok::Quoted(s) => write!(f, "`{s}`"),
            Tok::Num(x) => write!(f, "{x}"),
            Tok::Str(s) => write!(f, "'{s}'"),
            Tok::Op(o) => write!(f, "{}", o.as_str()),
            Tok::LParen => f.write_str("("),
            Tok::RParen => f.write_str(")"),
            Tok::LBracket => f.write_str("["),
            Tok::RBracket => f.write_str("]"),
            Tok::Comma => f.write_str(","),
            Tok::Minus => f.write_str("-"),
        }
    }
}

/// A syntax error: where (character position, 1-based) and what.
#[derive(Clone, Debug, PartialEq)]
pub struct SyntaxError {
    pub at: usize,
    pub message: String,
}

fn lex(text: &str) -> Result<Vec<(usize, Tok)>, SyntaxError> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    let err = |at: usize, m: String| SyntaxError {
        at: at + 1,
        message: m,
    };
    while i < chars.len() {
        let c = chars[i];
        let start = i;
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        let tok = match c {
            '(' => {
                i += 1;
                Tok::LParen
            }
            ')' => {
                i += 1;
                Tok::RParen
            }
            '[' => {
                i += 1;
                Tok::LBracket
            }
            ']' => {
                i += 1;
                Tok::RBracket
            }
            ',' => {
                i += 1;
                Tok::Comma
            }
            '-' => {
                i += 1;
                Tok::Minus
            }
            '=' => {
                i += if chars.get(i + 1) == Some(&'=') { 2 } else { 1 };
                Tok::Op(CmpOp::Eq)
            }
            '!' => {
                if chars.get(i + 1) != Some(&'=') {
                    return Err(err(
                        i,
                        "'!' must be followed by '=' (write `not` for negation)".into(),
                    ));
                }
                i += 2;
                Tok::Op(CmpOp::Ne)
            }
            '<' => match chars.get(i + 1) {
                Some('=') => {
                    i += 2;
                    Tok::Op(CmpOp::Le)
                }
                Some('>') => {
                    i += 2;
                    Tok::Op(CmpOp::Ne)
                }
                _ => {
                    i += 1;
                    Tok::Op(CmpOp::Lt)
                }
            },
            '>' => {
                if chars.get(i + 1) == Some(&'=') {
                    i += 2;
                    Tok::Op(CmpOp::Ge)
                } else {
                    i += 1;
                    Tok::Op(CmpOp::Gt)
                }
            }
            '\'' | '"' => {
                // A string; the quote is doubled to include it ('O''Brien').
                let q = c;
                let mut s = String::new();
                i += 1;
                loop {
                    match chars.get(i) {
                        None => return Err(err(start, "unterminated string".into())),
                        Some(&ch) if ch == q => {
                            if chars.get(i + 1) == Some(&q) {
                                s.push(q);
                                i += 2;
                            } else {
                                i += 1;
                                break;
                            }
                        }
                        Some(&ch) => {
                            s.push(ch);
                            i += 1;
                        }
                    }
                }
                Tok::Str(s)
            }
            '`' => {
                let mut s = String::new();
                i += 1;
                loop {
                    match chars.get(i) {
                        None => {
                            return Err(err(start, "unterminated backquoted column name".into()))
                        }
                        Some('`') => {
                            i += 1;
                            break;
                        }
                        Some(&ch) => {
                            s.push(ch);
                            i += 1;
                        }
                    }
                }
                if s.is_empty() {
                    return Err(err(start, "empty column name".into()));
                }
                Tok::Quoted(s)
            }
            c if c.is_ascii_digit() || c == '.' => {
                while i < chars.len()
                    && (chars[i].is_ascii_alphanumeric()
                        || chars[i] == '.'
                        || ((chars[i] == '+' || chars[i] == '-')
                            && matches!(chars[i - 1], 'e' | 'E')))
                {
                    i += 1;
                }
                let t: String = chars[start..i].iter().collect();
                match t.parse::<f64>() {
                    Ok(x) if x.is_finite() => Tok::Num(x),
                    _ => return Err(err(start, format!("{t:?} is not a number"))),
                }
            }
            c if c.is_alphabetic() || c == '_' => {
                while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                    i += 1;
                }
                Tok::Ident(chars[start..i].iter().collect())
            }
            c => return Err(err(i, format!("unexpected character {c:?}"))),
        };
        out.push((start + 1, tok));
    }
    Ok(out)
}

struct Parser {
    toks: Vec<(usize, Tok)>,
    pos: usize,
    len: usize,
}

fn keyword(t: &Tok, kw: &str) -> bool {
    matches!(t, Tok::Ident(s) if s.eq_ignore_ascii_case(kw))
}

const KEYWORDS: &[&str] = &[
    "and", "or", "not", "implies", "iff", "in", "is", "missing", "true", "false",
];

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos).map(|(_, t)| t)
    }

    fn at(&self) -> usize {
        self.toks.get(self.pos).map_or(self.len + 1, |(p, _)| *p)
    }

    fn err<T>(&self, message: String) -> Result<T, SyntaxError> {
        Err(SyntaxError {
            at: self.at(),
            message,
        })
    }

    fn found(&self) -> String {
        match self.peek() {
            Some(t) => format!("found {t}"),
            None => "the rule ends".to_string(),
        }
    }

    fn eat_kw(&mut self, kw: &str) -> bool {
        if self.peek().is_some_and(|t| keyword(t, kw)) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn rule(&mut self) -> Result<Ast, SyntaxError> {
        let mut a = self.implies()?;
        while self.eat_kw("iff") {
            let b = self.implies()?;
            a = Ast::Iff(Box::new(a), Box::new(b));
        }
        Ok(a)
    }

    fn implies(&mut self) -> Result<Ast, SyntaxError> {
        let a = self.or()?;
        if self.eat_kw("implies") {
            let b = self.implies()?;
            return Ok(Ast::Implies(Box::new(a), Box::new(b)));
        }
        Ok(a)
    }

    fn or(&mut self) -> Result<Ast, SyntaxError> {
        let mut v = vec![self.and()?];
        while self.eat_kw("or") {
            v.push(self.and()?);
        }
        Ok(if v.len() == 1 {
            v.remove(0)
        } else {
            Ast::Or(v)
        })
    }

    fn and(&mut self) -> Result<Ast, SyntaxError> {
        let mut v = vec![self.not()?];
        while self.eat_kw("and") {
            v.push(self.not()?);
        }
        Ok(if v.len() == 1 {
            v.remove(0)
        } else {
            Ast::And(v)
        })
    }

    fn not(&mut self) -> Result<Ast, SyntaxError> {
        if self.eat_kw("not") {
            return Ok(Ast::Not(Box::new(self.not()?)));
        }
        self.test()
    }

    fn literal(&mut self) -> Result<Lit, SyntaxError> {
        match self.peek().cloned() {
            Some(Tok::Num(x)) => {
                self.pos += 1;
                Ok(Lit::Num(x))
            }
            Some(Tok::Minus) => {
                self.pos += 1;
                match self.peek().cloned() {
                    Some(Tok::Num(x)) => {
                        self.pos += 1;
                        Ok(Lit::Num(-x))
                    }
                    _ => self.err(format!("expected a number after '-', {}", self.found())),
                }
            }
            Some(Tok::Str(s)) => {
                self.pos += 1;
                Ok(Lit::Str(s))
            }
            _ => self.err(format!("expected a number or a 'string', {}", self.found())),
        }
    }

    fn operand(&mut self) -> Result<Operand, SyntaxError> {
        match self.peek().cloned() {
            Some(Tok::Ident(s)) => {
                if KEYWORDS.iter().any(|k| s.eq_ignore_ascii_case(k)) {
                    return self.err(format!(
                        "expected a column or a value, found the keyword {s:?} (backquote a column of that name: `{s}`)"
                    ));
                }
                self.pos += 1;
                Ok(Operand::Column(s))
            }
            Some(Tok::Quoted(s)) => {
                self.pos += 1;
                Ok(Operand::Column(s))
            }
            _ => Ok(Operand::Lit(self.literal()?)),
        }
    }

    fn test(&mut self) -> Result<Ast, SyntaxError> {
        match self.peek() {
            Some(Tok::LParen) => {
                self.pos += 1;
                let e = self.rule()?;
                if self.peek() != Some(&Tok::RParen) {
                    return self.err(format!("expected ')', {}", self.found()));
                }
                self.pos += 1;
                return Ok(e);
            }
            Some(t) if keyword(t, "true") => {
                self.pos += 1;
                return Ok(Ast::Bool(true));
            }
            Some(t) if keyword(t, "false") => {
                self.pos += 1;
                return Ok(Ast::Bool(false));
            }
            None => return self.err("expected a condition, but the rule ends".into()),
            _ => {}
        }
        let left = self.operand()?;
        match self.peek().cloned() {
            Some(Tok::Op(op)) => {
                self.pos += 1;
                let right = self.operand()?;
                Ok(Ast::Cmp(left, op, right))
            }
            Some(t) if keyword(&t, "is") => {
                self.pos += 1;
                let negated = self.eat_kw("not");
                if !self.eat_kw("missing") {
                    return self.err(format!("expected `missing` after `is`, {}", self.found()));
                }
                Ok(Ast::IsMissing {
                    operand: left,
                    negated,
                })
            }
            Some(t) if keyword(&t, "in") || keyword(&t, "not") => {
                self.pos += 1;
                let negated = keyword(&t, "not");
                if negated && !self.eat_kw("in") {
                    return self.err(format!("expected `in` after `not`, {}", self.found()));
                }
                if self.peek() != Some(&Tok::LBracket) {
                    return self.err(format!("expected '[' to start the list, {}", self.found()));
                }
                self.pos += 1;
                let mut list = Vec::new();
                loop {
                    if self.peek() == Some(&Tok::RBracket) && list.is_empty() {
                        return self.err("the list is empty".into());
                    }
                    list.push(self.literal()?);
                    match self.peek() {
                        Some(Tok::Comma) => self.pos += 1,
                        Some(Tok::RBracket) => {
                            self.pos += 1;
                            break;
                        }
                        _ => return self.err(format!("expected ',' or ']', {}", self.found())),
                    }
                }
                Ok(Ast::In {
                    operand: left,
                    list,
                    negated,
                })
            }
            _ => match left {
                Operand::Column(c) => self.err(format!(
                    "column {c:?} alone is not a condition; compare it, e.g. {c} == 'yes', or write {c} is missing"
                )),
                Operand::Lit(l) => self.err(format!("the value {l} alone is not a condition")),
            },
        }
    }
}

/// Parses a rule's text.
pub fn parse(text: &str) -> Result<Ast, SyntaxError> {
    let toks = lex(text)?;
    if toks.is_empty() {
        return Err(SyntaxError {
            at: 1,
            message: "the rule is empty".into(),
        });
    }
    let mut p = Parser {
        toks,
        pos: 0,
        len: text.chars().count(),
    };
    let e = p.rule()?;
    if p.pos < p.toks.len() {
        return p.err(format!(
            "unexpected {} after a complete condition (join conditions with and, or, implies, iff)",
            p.toks[p.pos].1
        ));
    }
    Ok(e)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn col(s: &str) -> Operand {
        Operand::Column(s.into())
    }

    #[test]
    fn precedence_and_associativity() {
        let e = parse("recur == 0 and death == 0 implies dtime == rtime").unwrap();
        let Ast::Implies(a, b) = e else {
            panic!("{e:?}")
        };
        assert!(matches!(*a, Ast::And(ref v) if v.len() == 2));
        assert_eq!(*b, Ast::Cmp(col("dtime"), CmpOp::Eq, col("rtime")));
        let e = parse("a == 1 implies b == 1 implies c == 1").unwrap();
        assert!(matches!(e, Ast::Implies(_, ref r) if matches!(**r, Ast::Implies(..))));
        let e = parse("not (sex == 'M' and ward == 'maternity')").unwrap();
        assert!(matches!(e, Ast::Not(ref x) if matches!(**x, Ast::And(_))));
        let e = parse("treat == 1 iff arms != 0").unwrap();
        assert!(matches!(e, Ast::Iff(..)));
        let e = parse("a == 1 or b == 2 and c == 3").unwrap();
        assert!(matches!(e, Ast::Or(ref v) if matches!(v[1], Ast::And(_))));
    }

    #[test]
    fn operands_literals_and_tests() {
        assert_eq!(
            parse("`sample.yr` >= -1.5e3").unwrap(),
            Ast::Cmp(col("sample.yr"), CmpOp::Ge, Operand::Lit(Lit::Num(-1500.0)))
        );
        assert_eq!(
            parse("creatinine IS NOT missing").unwrap(),
            Ast::IsMissing {
                operand: col("creatinine"),
                negated: true
            }
        );
        assert_eq!(
            parse("ward not in ['a', 'O''Brien']").unwrap(),
            Ast::In {
                operand: col("ward"),
                list: vec![Lit::Str("a".into()), Lit::Str("O'Brien".into())],
                negated: true
            }
        );
        assert_eq!(
            parse("x = 1").unwrap(),
            Ast::Cmp(col("x"), CmpOp::Eq, Operand::Lit(Lit::Num(1.0)))
        );
        assert_eq!(
            parse("x <> 1").unwrap(),
            Ast::Cmp(col("x"), CmpOp::Ne, Operand::Lit(Lit::Num(1.0)))
        );
    }

    #[test]
    fn syntax_errors_say_where_and_what() {
        for (text, needle) in [
            ("", "empty"),
            ("x ==", "expected a number"),
            ("x == 1 y == 2", "after a complete condition"),
            ("died", "alone is not a condition"),
            ("(x == 1", "expected ')'"),
            ("x in []", "list is empty"),
            ("x is absent", "expected `missing`"),
            ("x == 'open", "unterminated string"),
            ("x ! 1", "must be followed by '='"),
            ("x == 1 and and y == 2", "keyword"),
            ("x == 1.2.3", "is not a number"),
        ] {
            let e = parse(text).unwrap_err();
            assert!(e.message.contains(needle), "{text:?}: {e:?}");
        }
        assert_eq!(parse("x == 1 y == 2").unwrap_err().at, 8);
    }
}
