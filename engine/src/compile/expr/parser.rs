//! Precedence climbing over the tokens, nesting capped at [`MAX_NESTING`] while parsing
//! and the tree's depth at [`MAX_DEPTH`] after, calls checked against [`FUNCTIONS`] for
//! name and arity.

use serde_json::Value;

use super::lexer::{Tok, lex};
use super::template::find_close;
use super::{
    BinOp, Expr, ExprError, FUNCTIONS, MAX_DEPTH, MAX_NESTING, Part, Special, Template, depth, err,
};

pub(super) struct Parser {
    tokens: Vec<(Tok, usize)>,
    pos: usize,
    end: usize,
    depth: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.tokens.get(self.pos).map(|(t, _)| t)
    }
    fn at(&self) -> usize {
        self.tokens.get(self.pos).map_or(self.end, |(_, a)| *a)
    }
    fn eat(&mut self, punct: &str) -> bool {
        if self.peek()
            == Some(&Tok::Punct(match punct {
                "(" => "(",
                ")" => ")",
                "[" => "[",
                "]" => "]",
                "." => ".",
                "," => ",",
                "!" => "!",
                _ => return self.eat_op(punct),
            }))
        {
            self.pos += 1;
            true
        } else {
            false
        }
    }
    fn eat_op(&mut self, op: &str) -> bool {
        if matches!(self.peek(), Some(Tok::Punct(p)) if *p == op) {
            self.pos += 1;
            true
        } else {
            false
        }
    }
    fn expect(&mut self, punct: &str) -> Result<(), ExprError> {
        if self.eat(punct) {
            Ok(())
        } else {
            err(self.at(), format!("expected `{punct}`"))
        }
    }
    fn deeper(&mut self) -> Result<(), ExprError> {
        self.depth += 1;
        if self.depth > MAX_NESTING {
            return err(
                self.at(),
                format!(
                    "expression nested deeper than {MAX_NESTING} levels (each operator of a chain counts)"
                ),
            );
        }
        Ok(())
    }

    fn binary(&mut self, level: usize) -> Result<Expr, ExprError> {
        const LEVELS: &[&[BinOp]] = &[
            &[BinOp::Or],
            &[BinOp::And],
            &[BinOp::Eq, BinOp::Ne],
            &[BinOp::Lt, BinOp::Le, BinOp::Gt, BinOp::Ge],
        ];
        if level == LEVELS.len() {
            return self.unary();
        }
        let mut left = self.binary(level + 1)?;
        // Each operator of a chain nests the tree one level deeper (`a || b || c` is
        // `(a || b) || c`): counted like any nesting, so evaluating, printing and dropping
        // the tree stay within the stack.
        let outer = self.depth;
        let result = 'outer: loop {
            for op in LEVELS[level] {
                if self.eat_op(op.text()) {
                    if let Err(e) = self.deeper() {
                        break 'outer Err(e);
                    }
                    let right = match self.binary(level + 1) {
                        Ok(right) => right,
                        Err(e) => break 'outer Err(e),
                    };
                    left = Expr::Binary {
                        op: *op,
                        left: Box::new(left),
                        right: Box::new(right),
                    };
                    continue 'outer;
                }
            }
            break Ok(left);
        };
        self.depth = outer;
        result
    }

    fn unary(&mut self) -> Result<Expr, ExprError> {
        if self.eat("!") {
            self.deeper()?;
            let inner = self.unary()?;
            self.depth -= 1;
            return Ok(Expr::Not(Box::new(inner)));
        }
        self.postfix()
    }

    fn postfix(&mut self) -> Result<Expr, ExprError> {
        let mut expr = self.primary()?;
        // Each access nests the tree one level deeper: counted, so a long chain is bounded
        // like any other nesting.
        let outer = self.depth;
        let result = loop {
            if self.eat(".") {
                let at = self.at();
                match self.peek().cloned() {
                    Some(Tok::Ident(name)) => {
                        self.pos += 1;
                        expr = Expr::Property {
                            target: Box::new(expr),
                            name,
                            at,
                        };
                    }
                    Some(Tok::Punct("*")) => {
                        self.pos += 1;
                        expr = Expr::Filter {
                            target: Box::new(expr),
                        };
                    }
                    _ => break err(at, "expected a property name after `.`"),
                }
            } else if self.eat("[") {
                if self.eat_op("*") {
                    if let Err(e) = self.expect("]") {
                        break Err(e);
                    }
                    expr = Expr::Filter {
                        target: Box::new(expr),
                    };
                } else {
                    if let Err(e) = self.deeper() {
                        break Err(e);
                    }
                    let index = match self.binary(0) {
                        Ok(index) => index,
                        Err(e) => break Err(e),
                    };
                    self.depth -= 1;
                    if let Err(e) = self.expect("]") {
                        break Err(e);
                    }
                    expr = Expr::Index {
                        target: Box::new(expr),
                        index: Box::new(index),
                    };
                }
            } else {
                break Ok(expr);
            };
            if let Err(e) = self.deeper() {
                break Err(e);
            }
        };
        self.depth = outer;
        result
    }

    fn primary(&mut self) -> Result<Expr, ExprError> {
        let at = self.at();
        let Some(token) = self.peek().cloned() else {
            return err(at, "expected a value");
        };
        self.pos += 1;
        match token {
            Tok::Str(s) => Ok(Expr::Literal(Value::String(s))),
            Tok::Num(n) => Ok(match Special::of(n) {
                Some(special) => Expr::Special(special),
                None => Expr::Literal(number(n)),
            }),
            Tok::Punct("(") => {
                self.deeper()?;
                let inner = self.binary(0)?;
                self.depth -= 1;
                self.expect(")")?;
                Ok(inner)
            }
            Tok::Ident(word) => match word.as_str() {
                "true" => Ok(Expr::Literal(Value::Bool(true))),
                "false" => Ok(Expr::Literal(Value::Bool(false))),
                "null" => Ok(Expr::Literal(Value::Null)),
                "NaN" => Ok(Expr::Special(Special::NaN)),
                "Infinity" => Ok(Expr::Special(Special::Infinity)),
                _ if self.eat("(") => {
                    let Some(&(_, min, max)) = FUNCTIONS
                        .iter()
                        .find(|(f, _, _)| f.eq_ignore_ascii_case(&word))
                    else {
                        let names = FUNCTIONS.iter().map(|(f, _, _)| *f);
                        let hint = crate::load::diag::did_you_mean(&word, names)
                            .map(|h| format!("; {h}"))
                            .unwrap_or_default();
                        return err(at, format!("unknown function `{word}`{hint}"));
                    };
                    let mut args = Vec::new();
                    if !self.eat(")") {
                        loop {
                            self.deeper()?;
                            args.push(self.binary(0)?);
                            self.depth -= 1;
                            if self.eat(")") {
                                break;
                            }
                            self.expect(",")?;
                        }
                    }
                    if args.len() < min || args.len() > max {
                        return err(at, format!("`{word}` takes {}", arity(min, max)));
                    }
                    if word.eq_ignore_ascii_case("case") && args.len() % 2 == 0 {
                        return err(
                            at,
                            "`case` takes an odd number of arguments: pairs of a condition and a value, then a default",
                        );
                    }
                    let name = FUNCTIONS
                        .iter()
                        .find(|(f, _, _)| f.eq_ignore_ascii_case(&word))
                        .map_or(word, |(f, _, _)| (*f).to_owned());
                    Ok(Expr::Call { name, args, at })
                }
                // Context names are case-insensitive (`VARS.x` is `vars.x`); every context
                // is named in lower case.
                _ => Ok(Expr::Context {
                    name: word.to_ascii_lowercase(),
                    at,
                }),
            },
            Tok::Punct(p) => err(at, format!("unexpected `{p}`")),
        }
    }
}

pub(super) fn arity(min: usize, max: usize) -> String {
    match (min, max) {
        (0, 0) => "no arguments".into(),
        (a, b) if a == b => format!("{a} argument{}", if a == 1 { "" } else { "s" }),
        (a, usize::MAX) => format!("at least {a} argument{}", if a == 1 { "" } else { "s" }),
        (a, b) => format!("{a} to {b} arguments"),
    }
}

pub(super) fn number(n: f64) -> Value {
    if n.fract() == 0.0 && n.abs() < 9e15 {
        Value::from(n as i64)
    } else {
        serde_json::Number::from_f64(n).map_or(Value::Null, Value::Number)
    }
}

/// Parses one expression (the text between `${{` and `}}`, or an `if`).
pub fn parse(text: &str) -> Result<Expr, ExprError> {
    let mut parser = Parser {
        tokens: lex(text)?,
        pos: 0,
        end: text.len(),
        depth: 0,
    };
    let expr = parser.binary(0)?;
    if parser.pos < parser.tokens.len() {
        return err(parser.at(), "unexpected text after the expression");
    }
    if depth(&expr) > MAX_DEPTH {
        return err(
            0,
            format!("expression nested deeper than {MAX_DEPTH} levels"),
        );
    }
    Ok(expr)
}

/// An `if`: with or without `${{ }}` around it.
pub fn parse_condition(text: &str) -> Result<Expr, ExprError> {
    let trimmed = text.trim();
    if let Some(inner) = trimmed
        .strip_prefix("${{")
        .and_then(|t| t.strip_suffix("}}"))
        && find_close(inner).is_none()
    {
        let offset = text.find("${{").unwrap_or(0) + 3;
        return parse(inner).map_err(|e| ExprError {
            message: e.message,
            at: offset + e.at,
        });
    }
    if text.contains("${{") {
        // `if: ${{ a }} == b` and the like: GitHub renders the template, then tests it.
        let template = Template::parse(text)?;
        return Ok(Expr::Call {
            name: "__template".into(),
            args: template
                .parts
                .into_iter()
                .map(|p| match p {
                    Part::Text(t) => Expr::Literal(Value::String(t)),
                    Part::Expr(e, _) => e,
                })
                .collect(),
            at: 0,
        });
    }
    parse(text)
}
