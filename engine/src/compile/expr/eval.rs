//! Evaluation over JSON values, with GitHub's loose equality and coercions; the
//! contexts come from a [`Scope`].

use crate::files::hash::HashFilesError;
use serde_json::Value;

use super::{BinOp, Expr, ExprError, STATUS_FUNCTIONS, err};

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

pub(super) fn call(
    name: &str,
    args: &[Expr],
    at: usize,
    scope: &dyn Scope,
) -> Result<Value, ExprError> {
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

pub(super) fn format_string(pattern: &str, args: &[Value], at: usize) -> Result<String, ExprError> {
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

pub(super) fn to_number(value: &Value) -> f64 {
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
