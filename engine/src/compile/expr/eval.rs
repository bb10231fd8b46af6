//! Evaluation over JSON values, with GitHub's loose equality and coercions; the
//! contexts come from a [`Scope`].

use crate::files::hash::HashFilesError;
use serde_json::Value;

use super::{BinOp, Expr, ExprError, STATUS_FUNCTIONS, err};

/// A value of the language: JSON's, or a number JSON has no text for (`NaN`,
/// `Infinity`, `-Infinity`), which only an expression makes (contexts are JSON).
#[derive(Debug, Clone, PartialEq)]
pub enum Val {
    Json(Value),
    /// Not finite, always: a finite number is `Json`.
    NonFinite(f64),
}

impl Val {
    pub fn number(n: f64) -> Self {
        if n.is_finite() {
            Val::Json(super::parser::number(n))
        } else {
            Val::NonFinite(n)
        }
    }

    /// As JSON: a number JSON cannot hold becomes its name as text.
    pub fn into_json(self) -> Value {
        match self {
            Val::Json(v) => v,
            non_finite => Value::String(to_text(&non_finite)),
        }
    }

    fn json(&self) -> Option<&Value> {
        match self {
            Val::Json(v) => Some(v),
            Val::NonFinite(_) => None,
        }
    }
}

impl From<Value> for Val {
    fn from(value: Value) -> Self {
        Val::Json(value)
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
    fn hash_files(&self, patterns: &[String]) -> Result<String, HashFilesError> {
        let _ = patterns;
        Err(HashFilesError::Unavailable)
    }
}

pub fn eval(expr: &Expr, scope: &dyn Scope) -> Result<Val, ExprError> {
    Ok(match expr {
        Expr::Literal(v) => Val::Json(v.clone()),
        Expr::Special(special) => Val::NonFinite(special.value()),
        Expr::Context { name, at } => match scope.context(name) {
            Some(v) => Val::Json(v),
            None => return err(*at, format!("unknown context `{name}`")),
        },
        Expr::Property { .. } | Expr::Index { .. } | Expr::Filter { .. } => {
            match access(expr, scope)? {
                Access::One(value) => value,
                Access::Many(items) => Val::Json(Value::Array(items)),
            }
        }
        Expr::Not(inner) => Val::Json(Value::Bool(!truthy(&eval(inner, scope)?))),
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
                    // Arrays and objects are equal only to themselves, as GitHub compares
                    // them by reference: the same path read twice.
                    if matches!(op, BinOp::Eq | BinOp::Ne)
                        && composite(&l)
                        && composite(&r)
                        && same_path(left, right)
                    {
                        Val::Json(Value::Bool(*op == BinOp::Eq))
                    } else {
                        Val::Json(Value::Bool(compare(*op, &l, &r)))
                    }
                }
            }
        }
        Expr::Call { name, args, at } => call(name, args, *at, scope)?,
    })
}

/// What an access path gives: a value, or the items a filter (`.*`, `[*]`) selected, to
/// which every further access applies one by one (those that find nothing drop out).
enum Access {
    One(Val),
    Many(Vec<Value>),
}

fn access(expr: &Expr, scope: &dyn Scope) -> Result<Access, ExprError> {
    Ok(match expr {
        Expr::Property { target, name, .. } => match &**target {
            Expr::Context { name: context, at } => match scope.context_property(context, name) {
                Some(v) => Access::One(Val::Json(v)),
                None => return err(*at, format!("unknown context `{context}`")),
            },
            target => match access(target, scope)? {
                Access::One(v) => Access::One(Val::Json(
                    v.json().map_or(Value::Null, |v| property(v, name)),
                )),
                Access::Many(items) => {
                    Access::Many(items.iter().filter_map(|i| lookup(i, name)).collect())
                }
            },
        },
        Expr::Index { target, index } => {
            let target = access(target, scope)?;
            let index = eval(index, scope)?;
            match target {
                Access::One(v) => Access::One(Val::Json(
                    v.json()
                        .and_then(|v| indexed(v, &index))
                        .unwrap_or(Value::Null),
                )),
                Access::Many(items) => {
                    Access::Many(items.iter().filter_map(|i| indexed(i, &index)).collect())
                }
            }
        }
        Expr::Filter { target } => match access(target, scope)? {
            Access::One(v) => Access::Many(v.json().map(children).unwrap_or_default()),
            Access::Many(items) => Access::Many(items.iter().flat_map(children).collect()),
        },
        other => Access::One(eval(other, scope)?),
    })
}

/// The items of an array or the values of an object; nothing for anything else.
fn children(value: &Value) -> Vec<Value> {
    match value {
        Value::Array(items) => items.clone(),
        Value::Object(map) => map.values().cloned().collect(),
        _ => Vec::new(),
    }
}

/// An object's value under `name` (exactly, else ignoring case); `None` when it has none.
fn lookup(target: &Value, name: &str) -> Option<Value> {
    let Value::Object(map) = target else {
        return None;
    };
    map.get(name)
        .or_else(|| {
            map.iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v)
        })
        .cloned()
}

/// `target[index]`: an array's item at the index read as a number, an object's value
/// under the index read as text; arrays and objects index nothing.
fn indexed(target: &Value, index: &Val) -> Option<Value> {
    if composite(index) {
        return None;
    }
    match target {
        Value::Array(items) => {
            let n = to_number(index);
            (n.is_finite() && n >= 0.0 && n.fract() == 0.0)
                .then(|| items.get(n as usize).cloned())
                .flatten()
        }
        Value::Object(_) => lookup(target, &to_text(index)),
        _ => None,
    }
}

fn composite(value: &Val) -> bool {
    matches!(value, Val::Json(Value::Array(_) | Value::Object(_)))
}

/// Whether two expressions are the same context path (`a.b[0]['c']`, names compared
/// as GitHub does, without regard to case): reading both reads one value.
fn same_path(a: &Expr, b: &Expr) -> bool {
    match (a, b) {
        (Expr::Context { name: x, .. }, Expr::Context { name: y, .. }) => x.eq_ignore_ascii_case(y),
        (
            Expr::Property {
                target: t, name: x, ..
            },
            Expr::Property {
                target: u, name: y, ..
            },
        ) => x.eq_ignore_ascii_case(y) && same_path(t, u),
        (
            Expr::Index {
                target: t,
                index: i,
            },
            Expr::Index {
                target: u,
                index: j,
            },
        ) => matches!(**i, Expr::Literal(_)) && i == j && same_path(t, u),
        _ => false,
    }
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

pub(super) fn call(
    name: &str,
    args: &[Expr],
    at: usize,
    scope: &dyn Scope,
) -> Result<Val, ExprError> {
    let boolean = |b: bool| Val::Json(Value::Bool(b));
    let string = |s: String| Val::Json(Value::String(s));
    if STATUS_FUNCTIONS.contains(&name) {
        return Ok(boolean(scope.status(name)));
    }
    let values = if name == "case" {
        // Its arguments are evaluated as it goes, not all at first.
        Vec::new()
    } else {
        args.iter()
            .map(|a| eval(a, scope))
            .collect::<Result<Vec<_>, _>>()?
    };
    let text = |i: usize| to_text(&values[i]);
    Ok(match name {
        "contains" => boolean(match &values[0] {
            Val::Json(Value::Array(items)) => items
                .iter()
                .any(|i| compare(BinOp::Eq, &Val::Json(i.clone()), &values[1])),
            _ => fold(&text(0)).contains(&fold(&text(1))),
        }),
        "startsWith" => boolean(fold(&text(0)).starts_with(&fold(&text(1)))),
        "endsWith" => boolean(fold(&text(0)).ends_with(&fold(&text(1)))),
        "case" => {
            // Pairs of a condition and a value, then the default: the first true wins.
            for pair in args.chunks(2) {
                let [condition, value] = pair else {
                    return eval(&pair[0], scope);
                };
                match eval(condition, scope)? {
                    Val::Json(Value::Bool(true)) => return eval(value, scope),
                    Val::Json(Value::Bool(false)) => {}
                    _ => return err(at, "case: each condition must be true or false"),
                }
            }
            Val::Json(Value::Null)
        }
        "format" => string(format_string(&text(0), &values[1..], at)?),
        "join" => {
            // A separator that is not a plain value is the default one.
            let separator = match values.get(1) {
                Some(s) if !composite(s) => to_text(s),
                _ => ",".into(),
            };
            match &values[0] {
                Val::Json(Value::Array(items)) => string(
                    items
                        .iter()
                        .map(json_text)
                        .collect::<Vec<_>>()
                        .join(&separator),
                ),
                Val::Json(Value::Object(_)) => string(String::new()),
                other => string(to_text(other)),
            }
        }
        "toJSON" => string(match &values[0] {
            Val::Json(v) => serde_json::to_string_pretty(v).unwrap_or_default(),
            non_finite => to_text(non_finite),
        }),
        "fromJSON" => match serde_json::from_str(&text(0)) {
            Ok(v) => Val::Json(v),
            Err(e) => return err(at, format!("fromJSON: {e}")),
        },
        "hashFiles" => {
            let patterns: Vec<String> = values.iter().map(to_text).collect();
            match scope.hash_files(&patterns) {
                Ok(digest) => string(digest),
                Err(why) => return err(at, format!("hashFiles: {why}")),
            }
        }
        "__template" => string(values.iter().map(to_text).collect()),
        _ => return err(at, format!("unknown function `{name}`")),
    })
}

pub(super) fn format_string(pattern: &str, args: &[Val], at: usize) -> Result<String, ExprError> {
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
            '}' => {
                return err(
                    at,
                    format!("format: `{pattern}` has a `}}` that closes nothing (write `}}}}`)"),
                );
            }
            '{' => {
                let mut digits = String::new();
                let mut closed = false;
                for d in chars.by_ref() {
                    if d == '}' {
                        closed = true;
                        break;
                    }
                    digits.push(d);
                }
                if !closed {
                    return err(
                        at,
                        format!("format: `{pattern}` has a `{{` that is not closed (write `{{{{`)"),
                    );
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
pub fn truthy(value: &Val) -> bool {
    let value = match value {
        Val::Json(v) => v,
        Val::NonFinite(n) => return !n.is_nan(),
    };
    match value {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0 && !f.is_nan()),
        Value::String(s) => !s.is_empty(),
        Value::Array(_) | Value::Object(_) => true,
    }
}

/// A value as text, as GitHub substitutes it into a script: an array is `Array`, an
/// object `Object` (`toJSON` gives their content).
pub fn to_text(value: &Val) -> String {
    match value {
        Val::Json(v) => json_text(v),
        Val::NonFinite(n) if n.is_nan() => "NaN".into(),
        Val::NonFinite(n) if *n > 0.0 => "Infinity".into(),
        Val::NonFinite(_) => "-Infinity".into(),
    }
}

/// [`to_text`] of a JSON value.
pub fn json_text(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::Bool(b) => b.to_string(),
        // Integers (matrix values, counts) the short way: most numbers rendered are.
        Value::Number(n) => match n.as_i64() {
            Some(i) if i.unsigned_abs() < 1_000_000_000_000_000 => i.to_string(),
            _ => n.as_f64().map_or_else(|| n.to_string(), number_text),
        },
        Value::String(s) => s.clone(),
        Value::Array(_) => "Array".into(),
        Value::Object(_) => "Object".into(),
    }
}

/// A number as GitHub writes it: at most 15 significant digits, no trailing zeros, no
/// exponent for the sizes playbooks use, `-0` as `0`.
pub(super) fn number_text(n: f64) -> String {
    if n == 0.0 {
        return "0".into();
    }
    if n.fract() == 0.0 && n.abs() < 1e15 {
        return format!("{}", n as i64);
    }
    let magnitude = n.abs().log10().floor() as i32;
    let decimals = (14 - magnitude).clamp(0, 20) as usize;
    let text = format!("{n:.decimals$}");
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        text
    }
}

/// Text as GitHub compares it: upper-cased one character at a time, so `'a' == 'A'`,
/// `'A' < '['` and `'ς' == 'σ' == 'Σ'`; a character whose capital is several (`ß`) or
/// is another letter's (the dotless `ı`) stays as it is, as .NET's invariant casing.
fn fold(text: &str) -> String {
    text.chars()
        .map(|c| {
            let mut upper = c.to_uppercase();
            match (upper.next(), upper.next()) {
                (Some(u), None) if c != 'ı' => u,
                _ => c,
            }
        })
        .collect()
}

pub(super) fn to_number(value: &Val) -> f64 {
    let value = match value {
        Val::Json(v) => v,
        Val::NonFinite(n) => return *n,
    };
    match value {
        Value::Null => 0.0,
        Value::Bool(b) => f64::from(u8::from(*b)),
        Value::Number(n) => n.as_f64().unwrap_or(f64::NAN),
        Value::String(s) => number_of_text(s),
        Value::Array(_) | Value::Object(_) => f64::NAN,
    }
}

/// A string read as a number, as GitHub reads one: surrounding blanks ignored, empty is
/// 0, `0x` hexadecimal, `0o` octal, decimals with an optional sign, leading `.` and
/// exponent; anything else is NaN.
pub(super) fn number_of_text(text: &str) -> f64 {
    let t = text.trim();
    if t.is_empty() {
        return 0.0;
    }
    // Digits only: `from_str_radix` would also take a sign (`0x-1`), which GitHub does not.
    let radix = |digits: &str, radix: u32| {
        if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
            return f64::NAN;
        }
        i64::from_str_radix(digits, radix).map_or(f64::NAN, |n| n as f64)
    };
    if let Some(hex) = t.strip_prefix("0x") {
        return radix(hex, 16);
    }
    if let Some(octal) = t.strip_prefix("0o") {
        return radix(octal, 8);
    }
    match t {
        "Infinity" | "+Infinity" => return f64::INFINITY,
        "-Infinity" => return f64::NEG_INFINITY,
        _ => {}
    }
    // Rust also reads `inf` and `nan`, which GitHub does not.
    let decimal = |c: char| c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '+' | '-');
    if !t.chars().all(decimal) {
        return f64::NAN;
    }
    t.parse().unwrap_or(f64::NAN)
}

/// GitHub's loose comparison: same types compare directly (strings ignoring case),
/// different types are compared as numbers.
pub fn compare(op: BinOp, l: &Val, r: &Val) -> bool {
    use std::cmp::Ordering;
    let ordering: Option<Ordering> = match (l.json(), r.json()) {
        (Some(Value::String(a)), Some(Value::String(b))) => Some(fold(a).cmp(&fold(b))),
        // Equal only to themselves (see `eval`): never by content.
        (Some(Value::Array(_) | Value::Object(_)), _)
        | (_, Some(Value::Array(_) | Value::Object(_))) => None,
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
