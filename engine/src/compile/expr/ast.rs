//! The expression tree, its canonical text (parsing it gives the tree back), and walks
//! over it.

use serde_json::Value;

use super::STATUS_FUNCTIONS;

/// The numbers JSON has no text for, written as GitHub writes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Special {
    NaN,
    Infinity,
    NegativeInfinity,
}

impl Special {
    pub fn value(self) -> f64 {
        match self {
            Special::NaN => f64::NAN,
            Special::Infinity => f64::INFINITY,
            Special::NegativeInfinity => f64::NEG_INFINITY,
        }
    }

    pub fn of(n: f64) -> Option<Self> {
        if n.is_nan() {
            Some(Special::NaN)
        } else if n == f64::INFINITY {
            Some(Special::Infinity)
        } else if n == f64::NEG_INFINITY {
            Some(Special::NegativeInfinity)
        } else {
            None
        }
    }

    fn text(self) -> &'static str {
        match self {
            Special::NaN => "NaN",
            Special::Infinity => "Infinity",
            Special::NegativeInfinity => "-Infinity",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Expr {
    Literal(Value),
    /// `NaN`, `Infinity`, `-Infinity`.
    Special(Special),
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
    /// `target.*` or `target[*]`: the values of an object or the items of an array, as
    /// one array; a property or index after it applies to each of them.
    Filter {
        target: Box<Expr>,
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
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
    pub(super) fn text(self) -> &'static str {
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

/// The canonical text of an expression: binary operations parenthesized, strings quoted
/// with `''` escapes. Parsing it gives back the same expression.
impl std::fmt::Display for Expr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Expr::Literal(Value::String(s)) => write!(f, "'{}'", s.replace('\'', "''")),
            Expr::Literal(v) => write!(f, "{v}"),
            Expr::Special(special) => f.write_str(special.text()),
            Expr::Context { name, .. } => f.write_str(name),
            Expr::Property { target, name, .. } => write!(f, "{}.{name}", Postfix(target)),
            Expr::Index { target, index } => write!(f, "{}[{index}]", Postfix(target)),
            Expr::Filter { target } => write!(f, "{}.*", Postfix(target)),
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
pub(super) struct Postfix<'e>(&'e Expr);

impl std::fmt::Display for Postfix<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Expr::Context { .. }
            | Expr::Property { .. }
            | Expr::Index { .. }
            | Expr::Filter { .. }
            | Expr::Call { .. } => write!(f, "{}", self.0),
            other => write!(f, "({other})"),
        }
    }
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

/// How deeply the expression nests: GitHub refuses more than [`super::MAX_DEPTH`].
pub fn depth(expr: &Expr) -> usize {
    1 + match expr {
        Expr::Literal(_) | Expr::Special(_) | Expr::Context { .. } => 0,
        Expr::Property { target, .. } | Expr::Filter { target } | Expr::Not(target) => {
            depth(target)
        }
        Expr::Index { target, index } => depth(target).max(depth(index)),
        Expr::Call { args, .. } => args.iter().map(depth).max().unwrap_or(0),
        // A chain of one logical operator (`a || b || c`) is one level, as GitHub parses it.
        Expr::Binary {
            op: op @ (BinOp::And | BinOp::Or),
            left,
            right,
        } => chain_depth(*op, left).max(chain_depth(*op, right)),
        Expr::Binary { left, right, .. } => depth(left).max(depth(right)),
    }
}

/// The depth of an operand of a chain of `op`: its own operands if it continues the chain.
fn chain_depth(op: BinOp, expr: &Expr) -> usize {
    match expr {
        Expr::Binary {
            op: inner,
            left,
            right,
        } if *inner == op => chain_depth(op, left).max(chain_depth(op, right)),
        other => depth(other),
    }
}

/// Calls `f` on every sub-expression.
pub fn visit(expr: &Expr, f: &mut dyn FnMut(&Expr)) {
    f(expr);
    match expr {
        Expr::Literal(_) | Expr::Special(_) | Expr::Context { .. } => {}
        Expr::Property { target, .. } | Expr::Filter { target } => visit(target, f),
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
