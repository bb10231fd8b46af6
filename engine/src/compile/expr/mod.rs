//! The `${{ }}` expression language: GitHub Actions' grammar, values and coercions.
//!
//! Values are JSON values. Parsing keeps spans (byte offsets inside the expression) so
//! load-time checks can point at the column inside `${{ }}`. Evaluation never executes code.

use serde_json::Value;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expr {
    Literal(Value),
    /// A context root such as `matrix`, `vars` or `needs`.
    Context {
        name: String,
        at: usize,
    },
    Property {
        target: Box<Expr>,
        name: String,
        at: usize,
    },
    Index {
        target: Box<Expr>,
        index: Box<Expr>,
    },
    Call {
        name: String,
        args: Vec<Expr>,
        at: usize,
    },
    Not(Box<Expr>),
    Binary {
        op: BinOp,
        left: Box<Expr>,
        right: Box<Expr>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinOp {
    And,
    Or,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl BinOp {
    fn text(self) -> &'static str {
        match self {
            BinOp::And => "&&",
            BinOp::Or => "||",
            BinOp::Eq => "==",
            BinOp::Ne => "!=",
            BinOp::Lt => "<",
            BinOp::Le => "<=",
            BinOp::Gt => ">",
            BinOp::Ge => ">=",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ExprError {
    pub message: String,
    /// Byte offset inside the expression text.
    pub at: usize,
}

fn err<T>(at: usize, message: impl Into<String>) -> Result<T, ExprError> {
    Err(ExprError {
        message: message.into(),
        at,
    })
}

/// Deepest nesting accepted: hostile input must not overflow the stack.
const MAX_DEPTH: usize = 100;

pub const STATUS_FUNCTIONS: &[&str] = &["success", "failure", "always", "cancelled"];
const FUNCTIONS: &[(&str, usize, usize)] = &[
    ("success", 0, 0),
    ("failure", 0, 0),
    ("always", 0, 0),
    ("cancelled", 0, 0),
    ("contains", 2, 2),
    ("startsWith", 2, 2),
    ("endsWith", 2, 2),
    ("format", 1, usize::MAX),
    ("join", 1, 2),
    ("toJSON", 1, 1),
    ("fromJSON", 1, 1),
    ("hashFiles", 1, usize::MAX),
];

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Str(String),
    Num(f64),
    Punct(&'static str),
}

fn lex(text: &str) -> Result<Vec<(Tok, usize)>, ExprError> {
    let bytes = text.as_bytes();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        let start = i;
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        if c == b'\'' {
            let mut s = String::new();
            i += 1;
            loop {
                match text[i..].find('\'') {
                    None => return err(start, "unterminated string"),
                    Some(j) => {
                        s.push_str(&text[i..i + j]);
                        i += j + 1;
                        if bytes.get(i) == Some(&b'\'') {
                            s.push('\'');
                            i += 1;
                        } else {
                            break;
                        }
                    }
                }
            }
            tokens.push((Tok::Str(s), start));
            continue;
        }
        if c.is_ascii_digit() || (c == b'-' && bytes.get(i + 1).is_some_and(u8::is_ascii_digit)) {
            i += 1;
            while i < bytes.len()
                && (bytes[i].is_ascii_alphanumeric()
                    || bytes[i] == b'.'
                    // An exponent's sign: `2.99e-2`, `1e+16`.
                    || (matches!(bytes[i], b'+' | b'-') && matches!(bytes[i - 1], b'e' | b'E') && !text[start..i].starts_with("0x")))
            {
                i += 1;
            }
            let word = &text[start..i];
            let number = if let Some(hex) = word.strip_prefix("0x") {
                i64::from_str_radix(hex, 16).ok().map(|n| n as f64)
            } else {
                word.parse::<f64>().ok()
            };
            match number {
                Some(n) => tokens.push((Tok::Num(n), start)),
                None => return err(start, format!("bad number `{word}`")),
            }
            continue;
        }
        if c.is_ascii_alphabetic() || c == b'_' {
            while i < bytes.len()
                && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_' || bytes[i] == b'-')
            {
                i += 1;
            }
            tokens.push((Tok::Ident(text[start..i].to_owned()), start));
            continue;
        }
        let two = text.get(i..i + 2).unwrap_or("");
        let punct = match two {
            "&&" | "||" | "==" | "!=" | "<=" | ">=" => {
                i += 2;
                ["&&", "||", "==", "!=", "<=", ">="]
                    .into_iter()
                    .find(|p| *p == two)
            }
            _ => {
                i += 1;
                ["(", ")", "[", "]", ".", ",", "!", "<", ">", "*"]
                    .into_iter()
                    .find(|p| p.as_bytes()[0] == c)
            }
        };
        match punct {
            Some(p) => tokens.push((Tok::Punct(p), start)),
            None => {
                let ch = text[start..].chars().next().unwrap_or('?');
                return err(start, format!("unexpected character `{ch}`"));
            }
        }
    }
    Ok(tokens)
}

struct Parser {
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
        if self.depth > MAX_DEPTH {
            return err(
                self.at(),
                format!("expression nested deeper than {MAX_DEPTH} levels"),
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
        'outer: loop {
            for op in LEVELS[level] {
                if self.eat_op(op.text()) {
                    self.deeper()?;
                    let right = self.binary(level + 1)?;
                    self.depth -= 1;
                    left = Expr::Binary {
                        op: *op,
                        left: Box::new(left),
                        right: Box::new(right),
                    };
                    continue 'outer;
                }
            }
            return Ok(left);
        }
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
        loop {
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
                    Some(Tok::Punct("*")) => return err(at, "`.*` filters are not supported"),
                    _ => return err(at, "expected a property name after `.`"),
                }
            } else if self.eat("[") {
                self.deeper()?;
                let index = self.binary(0)?;
                self.depth -= 1;
                self.expect("]")?;
                expr = Expr::Index {
                    target: Box::new(expr),
                    index: Box::new(index),
                };
            } else {
                return Ok(expr);
            }
        }
    }

    fn primary(&mut self) -> Result<Expr, ExprError> {
        let at = self.at();
        let Some(token) = self.peek().cloned() else {
            return err(at, "expected a value");
        };
        self.pos += 1;
        match token {
            Tok::Str(s) => Ok(Expr::Literal(Value::String(s))),
            Tok::Num(n) => Ok(Expr::Literal(number(n))),
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
                    let name = FUNCTIONS
                        .iter()
                        .find(|(f, _, _)| f.eq_ignore_ascii_case(&word))
                        .map_or(word, |(f, _, _)| (*f).to_owned());
                    Ok(Expr::Call { name, args, at })
                }
                _ => Ok(Expr::Context { name: word, at }),
            },
            Tok::Punct(p) => err(at, format!("unexpected `{p}`")),
        }
    }
}

fn arity(min: usize, max: usize) -> String {
    match (min, max) {
        (0, 0) => "no arguments".into(),
        (a, b) if a == b => format!("{a} argument{}", if a == 1 { "" } else { "s" }),
        (a, usize::MAX) => format!("at least {a} argument{}", if a == 1 { "" } else { "s" }),
        (a, b) => format!("{a} to {b} arguments"),
    }
}

fn number(n: f64) -> Value {
    if n.fract() == 0.0 && n.abs() < 9e15 {
        Value::from(n as i64)
    } else {
        serde_json::Number::from_f64(n).map_or(Value::Null, Value::Number)
    }
}

/// The canonical text of an expression: binary operations parenthesized, strings quoted
/// with `''` escapes. Parsing it gives back the same expression.
impl std::fmt::Display for Expr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Expr::Literal(Value::String(s)) => write!(f, "'{}'", s.replace('\'', "''")),
            Expr::Literal(v) => write!(f, "{v}"),
            Expr::Context { name, .. } => f.write_str(name),
            Expr::Property { target, name, .. } => write!(f, "{}.{name}", Postfix(target)),
            Expr::Index { target, index } => write!(f, "{}[{index}]", Postfix(target)),
            Expr::Call { name, args, .. } => {
                write!(f, "{name}(")?;
                for (i, a) in args.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{a}")?;
                }
                f.write_str(")")
            }
            Expr::Not(inner) => write!(f, "!({inner})"),
            Expr::Binary { op, left, right } => write!(f, "({left} {} {right})", op.text()),
        }
    }
}

/// The target of `.name` or `[index]`: parenthesized unless it is a path or a call, so
/// `(0).a` and `(!x).a` do not print as `0.a` (a bad number) or `!x.a` (another meaning).
struct Postfix<'e>(&'e Expr);

impl std::fmt::Display for Postfix<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Expr::Context { .. }
            | Expr::Property { .. }
            | Expr::Index { .. }
            | Expr::Call { .. } => write!(f, "{}", self.0),
            other => write!(f, "({other})"),
        }
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
    Ok(expr)
}

/// A string with `${{ }}` parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    pub parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part {
    Text(String),
    /// An expression and the byte offset of its text inside the template.
    Expr(Expr, usize),
}

impl Template {
    pub fn parse(text: &str) -> Result<Template, ExprError> {
        let mut parts = Vec::new();
        let mut rest = 0;
        while let Some(open) = text[rest..].find("${{") {
            let open = rest + open;
            if open > rest {
                parts.push(Part::Text(text[rest..open].to_owned()));
            }
            let inner_start = open + 3;
            let close = find_close(&text[inner_start..]).ok_or(ExprError {
                message: "`${{` without a closing `}}`".into(),
                at: open,
            })?;
            let inner = &text[inner_start..inner_start + close];
            let expr = parse(inner).map_err(|e| ExprError {
                message: e.message,
                at: inner_start + e.at,
            })?;
            parts.push(Part::Expr(expr, inner_start));
            rest = inner_start + close + 2;
        }
        if rest < text.len() {
            parts.push(Part::Text(text[rest..].to_owned()));
        }
        Ok(Template { parts })
    }

    /// The template as a glob, each expression standing for any text (`out/*.bin`).
    pub fn as_glob(&self) -> String {
        self.parts
            .iter()
            .map(|p| match p {
                Part::Text(t) => t.as_str(),
                Part::Expr(..) => "*",
            })
            .collect()
    }

    pub fn is_literal(&self) -> bool {
        self.parts.iter().all(|p| matches!(p, Part::Text(_)))
    }

    pub fn exprs(&self) -> impl Iterator<Item = (&Expr, usize)> {
        self.parts.iter().filter_map(|p| match p {
            Part::Expr(e, at) => Some((e, *at)),
            Part::Text(_) => None,
        })
    }

    pub fn render(&self, scope: &dyn Scope) -> Result<String, ExprError> {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Text(t) => out.push_str(t),
                Part::Expr(e, at) => {
                    out.push_str(&to_text(&eval(e, scope).map_err(|e| ExprError {
                        message: e.message,
                        at: at + e.at,
                    })?))
                }
            }
        }
        Ok(out)
    }
}

/// The `}}` that ends an expression, skipping over string literals.
fn find_close(text: &str) -> Option<usize> {
    let mut in_string = false;
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\'' => in_string = !in_string,
            b'}' if !in_string && bytes.get(i + 1) == Some(&b'}') => return Some(i),
            _ => {}
        }
        i += 1;
    }
    None
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

/// Does the expression call a status function (then it decides for itself)?
pub fn calls_status_function(expr: &Expr) -> bool {
    let mut found = false;
    visit(expr, &mut |e| {
        if let Expr::Call { name, .. } = e
            && STATUS_FUNCTIONS.contains(&name.as_str())
        {
            found = true;
        }
    });
    found
}

/// Calls `f` on every sub-expression.
pub fn visit(expr: &Expr, f: &mut dyn FnMut(&Expr)) {
    f(expr);
    match expr {
        Expr::Literal(_) | Expr::Context { .. } => {}
        Expr::Property { target, .. } => visit(target, f),
        Expr::Index { target, index } => {
            visit(target, f);
            visit(index, f);
        }
        Expr::Call { args, .. } => args.iter().for_each(|a| visit(a, f)),
        Expr::Not(inner) => visit(inner, f),
        Expr::Binary { left, right, .. } => {
            visit(left, f);
            visit(right, f);
        }
    }
}

/// A context path such as `matrix.os` or `needs.build.result`: its root and the
/// property names that follow (indexes with string literals included).
pub fn path_of(expr: &Expr) -> Option<(Vec<&str>, usize)> {
    match expr {
        Expr::Context { name, at } => Some((vec![name.as_str()], *at)),
        Expr::Property { target, name, .. } => {
            let (mut path, at) = path_of(target)?;
            path.push(name);
            Some((path, at))
        }
        Expr::Index { target, index } => match index.as_ref() {
            Expr::Literal(Value::String(s)) => {
                let (mut path, at) = path_of(target)?;
                path.push(s);
                Some((path, at))
            }
            _ => None,
        },
        _ => None,
    }
}

/// What an expression can see while it is evaluated.
pub trait Scope {
    /// The value of a context (`vars`, `matrix`, ...), or None when it does not exist.
    fn context(&self, name: &str) -> Option<Value>;
    /// `name.property` (`matrix.os`, `vars.profile`): most expressions read one value of
    /// a context, which a scope can answer without copying the whole context.
    fn context_property(&self, name: &str, property_name: &str) -> Option<Value> {
        self.context(name).map(|v| property(&v, property_name))
    }
    /// The answer of a status function (`success`, `failure`, `always`, `cancelled`).
    fn status(&self, function: &str) -> bool;
    /// `hashFiles(patterns)`: a digest of the workspace files matching the patterns.
    fn hash_files(&self, patterns: &[String]) -> Result<String, String> {
        let _ = patterns;
        Err("hashFiles is not available here".into())
    }
}

pub fn eval(expr: &Expr, scope: &dyn Scope) -> Result<Value, ExprError> {
    Ok(match expr {
        Expr::Literal(v) => v.clone(),
        Expr::Context { name, at } => match scope.context(name) {
            Some(v) => v,
            None => return err(*at, format!("unknown context `{name}`")),
        },
        Expr::Property { target, name, .. } => match &**target {
            Expr::Context { name: context, at } => match scope.context_property(context, name) {
                Some(v) => v,
                None => return err(*at, format!("unknown context `{context}`")),
            },
            target => property(&eval(target, scope)?, name),
        },
        Expr::Index { target, index } => {
            let target = eval(target, scope)?;
            match eval(index, scope)? {
                Value::String(key) => property(&target, &key),
                Value::Number(n) => n
                    .as_f64()
                    .filter(|f| *f >= 0.0)
                    .and_then(|f| target.as_array().and_then(|a| a.get(f as usize)).cloned())
                    .unwrap_or(Value::Null),
                _ => Value::Null,
            }
        }
        Expr::Not(inner) => Value::Bool(!truthy(&eval(inner, scope)?)),
        Expr::Binary { op, left, right } => {
            let l = eval(left, scope)?;
            match op {
                BinOp::And => {
                    if truthy(&l) {
                        eval(right, scope)?
                    } else {
                        l
                    }
                }
                BinOp::Or => {
                    if truthy(&l) {
                        l
                    } else {
                        eval(right, scope)?
                    }
                }
                _ => {
                    let r = eval(right, scope)?;
                    Value::Bool(compare(*op, &l, &r))
                }
            }
        }
        Expr::Call { name, args, at } => call(name, args, *at, scope)?,
    })
}

/// A property of a value: objects' keys match exactly, else ignoring ASCII case (as
/// GitHub's contexts do); anything else has none.
pub fn property(target: &Value, name: &str) -> Value {
    match target {
        Value::Object(map) => map_property(map, name),
        _ => Value::Null,
    }
}

/// [`property`] of an object.
pub fn map_property(map: &serde_json::Map<String, Value>, name: &str) -> Value {
    map.get(name)
        .or_else(|| {
            map.iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v)
        })
        .cloned()
        .unwrap_or(Value::Null)
}

fn call(name: &str, args: &[Expr], at: usize, scope: &dyn Scope) -> Result<Value, ExprError> {
    if STATUS_FUNCTIONS.contains(&name) {
        return Ok(Value::Bool(scope.status(name)));
    }
    let values = args
        .iter()
        .map(|a| eval(a, scope))
        .collect::<Result<Vec<_>, _>>()?;
    let text = |i: usize| to_text(&values[i]);
    Ok(match name {
        "contains" => Value::Bool(match &values[0] {
            Value::Array(items) => items.iter().any(|i| compare(BinOp::Eq, i, &values[1])),
            _ => text(0).to_lowercase().contains(&text(1).to_lowercase()),
        }),
        "startsWith" => Value::Bool(text(0).to_lowercase().starts_with(&text(1).to_lowercase())),
        "endsWith" => Value::Bool(text(0).to_lowercase().ends_with(&text(1).to_lowercase())),
        "format" => Value::String(format_string(&text(0), &values[1..], at)?),
        "join" => {
            let separator = if values.len() > 1 {
                text(1)
            } else {
                ",".into()
            };
            match &values[0] {
                Value::Array(items) => Value::String(
                    items
                        .iter()
                        .map(to_text)
                        .collect::<Vec<_>>()
                        .join(&separator),
                ),
                other => Value::String(to_text(other)),
            }
        }
        "toJSON" => Value::String(serde_json::to_string_pretty(&values[0]).unwrap_or_default()),
        "fromJSON" => match serde_json::from_str(&text(0)) {
            Ok(v) => v,
            Err(e) => return err(at, format!("fromJSON: {e}")),
        },
        "hashFiles" => {
            let patterns: Vec<String> = values.iter().map(to_text).collect();
            match scope.hash_files(&patterns) {
                Ok(digest) => Value::String(digest),
                Err(why) => return err(at, format!("hashFiles: {why}")),
            }
        }
        "__template" => Value::String(values.iter().map(to_text).collect()),
        _ => return err(at, format!("unknown function `{name}`")),
    })
}

fn format_string(pattern: &str, args: &[Value], at: usize) -> Result<String, ExprError> {
    let mut out = String::new();
    let mut chars = pattern.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '{' if chars.peek() == Some(&'{') => {
                chars.next();
                out.push('{');
            }
            '}' if chars.peek() == Some(&'}') => {
                chars.next();
                out.push('}');
            }
            '{' => {
                let mut digits = String::new();
                for d in chars.by_ref() {
                    if d == '}' {
                        break;
                    }
                    digits.push(d);
                }
                let index: usize = digits.parse().map_err(|_| ExprError {
                    message: format!("format: `{{{digits}}}` is not an argument index"),
                    at,
                })?;
                let value = args.get(index).ok_or(ExprError {
                    message: format!("format: no argument {index}"),
                    at,
                })?;
                out.push_str(&to_text(value));
            }
            c => out.push(c),
        }
    }
    Ok(out)
}

/// GitHub's truthiness: null, false, 0, NaN and '' are false.
pub fn truthy(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0 && !f.is_nan()),
        Value::String(s) => !s.is_empty(),
        Value::Array(_) | Value::Object(_) => true,
    }
}

/// A value as text, as substituted into a script.
pub fn to_text(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.clone(),
        other => serde_json::to_string_pretty(other).unwrap_or_default(),
    }
}

fn to_number(value: &Value) -> f64 {
    match value {
        Value::Null => 0.0,
        Value::Bool(b) => f64::from(u8::from(*b)),
        Value::Number(n) => n.as_f64().unwrap_or(f64::NAN),
        Value::String(s) => {
            let t = s.trim();
            if t.is_empty() {
                0.0
            } else if let Some(hex) = t.strip_prefix("0x") {
                i64::from_str_radix(hex, 16).map_or(f64::NAN, |n| n as f64)
            } else {
                t.parse().unwrap_or(f64::NAN)
            }
        }
        Value::Array(_) | Value::Object(_) => f64::NAN,
    }
}

/// GitHub's loose comparison: same types compare directly (strings ignoring case),
/// different types are compared as numbers.
pub fn compare(op: BinOp, l: &Value, r: &Value) -> bool {
    use std::cmp::Ordering;
    let ordering: Option<Ordering> = match (l, r) {
        (Value::String(a), Value::String(b)) => Some(a.to_lowercase().cmp(&b.to_lowercase())),
        (Value::Array(_) | Value::Object(_), _) | (_, Value::Array(_) | Value::Object(_)) => {
            if l == r && std::mem::discriminant(l) == std::mem::discriminant(r) {
                Some(Ordering::Equal)
            } else {
                None
            }
        }
        _ => to_number(l).partial_cmp(&to_number(r)),
    };
    match op {
        BinOp::Eq => ordering == Some(Ordering::Equal),
        BinOp::Ne => ordering != Some(Ordering::Equal),
        BinOp::Lt => ordering == Some(Ordering::Less),
        BinOp::Le => matches!(ordering, Some(Ordering::Less | Ordering::Equal)),
        BinOp::Gt => ordering == Some(Ordering::Greater),
        BinOp::Ge => matches!(ordering, Some(Ordering::Greater | Ordering::Equal)),
        BinOp::And | BinOp::Or => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    struct TestScope;
    impl Scope for TestScope {
        fn context(&self, name: &str) -> Option<Value> {
            match name {
                "matrix" => Some(json!({"os": "linux", "n": 3})),
                "vars" => Some(json!({"profile": "release"})),
                _ => None,
            }
        }
        fn status(&self, function: &str) -> bool {
            matches!(function, "always" | "failure")
        }
    }

    fn value(text: &str) -> Value {
        eval(&parse(text).unwrap(), &TestScope).unwrap()
    }

    #[test]
    fn github_coercion_table() {
        // From GitHub's documentation of operators: loose equality and coercion.
        let table = [
            ("null == 0", true),
            ("false == 0", true),
            ("true == 1", true),
            ("'' == 0", true),
            ("'abc' == 'ABC'", true),
            ("'1' == 1", true),
            ("'0x10' == 16", true),
            ("'abc' == 0", false),
            ("1 < 2", true),
            ("'b' > 'A'", true),
            ("!''", true),
            ("!'x'", false),
            ("matrix.os == 'LINUX'", true),
            ("matrix['os'] == 'linux'", true),
            ("matrix.missing == null", true),
            ("matrix.n >= 3 && vars.profile == 'release'", true),
            ("always() && !cancelled()", true),
            ("success() || failure()", true),
            ("contains('Hello world', 'WORLD')", true),
            ("contains(fromJSON('[1,2]'), 2)", true),
            ("startsWith('abc', 'AB')", true),
            ("endsWith('abc', 'bc')", true),
        ];
        for (text, expected) in table {
            assert_eq!(truthy(&value(text)), expected, "{text}");
        }
    }

    #[test]
    fn and_or_return_operands() {
        assert_eq!(value("'' || 'fallback'"), json!("fallback"));
        assert_eq!(value("vars.profile && 'yes'"), json!("yes"));
        assert_eq!(
            value("format('{0}-{1}{{x}}', matrix.os, 2)"),
            json!("linux-2{x}")
        );
        assert_eq!(value("join(fromJSON('[\"a\",\"b\"]'), '+')"), json!("a+b"));
    }

    #[test]
    fn templates_render_and_locate_errors() {
        let t = Template::parse("build ${{ vars.profile }} on ${{ matrix.os }}").unwrap();
        assert_eq!(t.render(&TestScope).unwrap(), "build release on linux");
        let e = Template::parse("x ${{ matrix.os == }}").unwrap_err();
        assert_eq!(e.at, "x ${{ matrix.os == ".len());
        assert!(Template::parse("x ${{ matrix.os").is_err());
        assert!(
            Template::parse("${{ '}}' }}")
                .unwrap()
                .render(&TestScope)
                .unwrap()
                == "}}"
        );
    }

    #[test]
    fn conditions_with_and_without_braces() {
        assert!(calls_status_function(
            &parse_condition("${{ always() }}").unwrap()
        ));
        assert!(calls_status_function(
            &parse_condition("!failure() && x").unwrap()
        ));
        assert!(!calls_status_function(
            &parse_condition("matrix.os == 'linux'").unwrap()
        ));
    }

    /// Found by `cargo fuzz run expression`: the printer writes large numbers with an
    /// exponent (`1.1111111111112008e16`), which the lexer must read back.
    #[test]
    fn regression_exponents_round_trip() {
        assert_eq!(value("2.99e-2"), json!(0.0299));
        assert_eq!(value("1e+3 == 1000"), json!(true));
        // Also found by the fuzzer: property access on a literal or a negation.
        for text in ["11111111111112009>=00", "0 .I", "(!x).y", "'a'[0]"] {
            let printed = parse(text).unwrap().to_string();
            assert_eq!(parse(&printed).unwrap().to_string(), printed, "{text}");
        }
        assert_eq!(parse("(!x).y").unwrap().to_string(), "(!(x)).y");
    }

    #[test]
    fn hostile_nesting_is_an_error_not_a_crash() {
        let deep = format!("{}1{}", "(".repeat(5000), ")".repeat(5000));
        assert!(parse(&deep).unwrap_err().message.contains("nested deeper"));
        let bangs = format!("{}true", "!".repeat(5000));
        assert!(parse(&bangs).is_err());
    }

    #[test]
    fn unknown_function_suggests() {
        let e = parse("startswith2('a', 'b')").unwrap_err();
        assert!(
            e.message.contains("did you mean `startsWith`"),
            "{}",
            e.message
        );
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use proptest::prelude::*;

    struct Empty;
    impl Scope for Empty {
        fn context(&self, _: &str) -> Option<Value> {
            Some(Value::Null)
        }
        fn status(&self, _: &str) -> bool {
            true
        }
    }

    /// Random well-formed expression text, built from the grammar.
    fn expression_text() -> impl Strategy<Value = String> {
        let leaf = prop_oneof![
            "[a-z][a-z0-9_-]{0,6}(\\.[a-z][a-z0-9_]{0,5}){0,2}",
            "'([^']|''){0,8}'",
            "-?[0-9]{1,4}(\\.[0-9]{1,3})?",
            Just("true".to_owned()),
            Just("null".to_owned()),
            Just("always()".to_owned()),
        ];
        leaf.prop_recursive(4, 32, 3, |inner| {
            let ops = prop_oneof![
                Just("=="),
                Just("!="),
                Just("<"),
                Just(">="),
                Just("&&"),
                Just("||")
            ];
            prop_oneof![
                (inner.clone(), ops, inner.clone()).prop_map(|(a, op, b)| format!("{a} {op} {b}")),
                inner.clone().prop_map(|a| format!("!({a})")),
                inner.clone().prop_map(|a| format!("({a})")),
                (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("contains({a}, {b})")),
                (inner.clone(), inner).prop_map(|(a, b)| format!("format('{{0}}', {a})[{b}]")),
            ]
        })
    }

    proptest! {
        /// Hostile text never panics the parser or the evaluator, and errors point inside it.
        #[test]
        fn parsing_never_panics(text in "\\PC{0,80}") {
            match Template::parse(&text) {
                Ok(t) => { let _ = t.render(&Empty); }
                Err(e) => prop_assert!(e.at <= text.len()),
            }
            if let Ok(e) = parse_condition(&text) {
                let _ = eval(&e, &Empty);
            }
        }

        /// Printing an expression and parsing the text again gives the same expression.
        #[test]
        fn print_then_parse_is_stable(text in expression_text()) {
            let parsed = parse(&text).map_err(|e| TestCaseError::fail(format!("{text}: {e}")))?;
            let printed = parsed.to_string();
            let reparsed = parse(&printed).map_err(|e| TestCaseError::fail(format!("{printed}: {e}")))?;
            prop_assert_eq!(reparsed.to_string(), printed);
            prop_assert_eq!(eval(&reparsed, &Empty).ok(), eval(&parsed, &Empty).ok());
        }

        /// Expression-shaped text (operators, quotes, calls) never panics either.
        #[test]
        fn expression_soup_never_panics(text in "[a-z.()\\[\\]'!=<>&| ,0-9é-]{0,60}") {
            if let Ok(e) = parse(&text) {
                let _ = eval(&e, &Empty);
            }
        }
    }
}
