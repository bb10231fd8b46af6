//! Strings with `${{ }}` parts: parsed once, rendered per node.

use super::{Expr, ExprError, Scope, eval, parse, to_text};

/// A string with `${{ }}` parts.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Template {
    pub parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
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

    /// The template as written, each expression in its canonical form.
    pub fn source(&self) -> String {
        self.parts
            .iter()
            .map(|p| match p {
                Part::Text(t) => t.clone(),
                Part::Expr(e, _) => format!("${{{{ {e} }}}}"),
            })
            .collect()
    }

    /// Whether an expression of it reads the context `name` (`steps`).
    pub fn reads_context(&self, name: &str) -> bool {
        self.exprs().any(|(e, _)| {
            let mut found = false;
            super::visit(e, &mut |sub| {
                if let super::Expr::Context { name: n, .. } = sub {
                    found |= n.eq_ignore_ascii_case(name);
                }
            });
            found
        })
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
pub(super) fn find_close(text: &str) -> Option<usize> {
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
