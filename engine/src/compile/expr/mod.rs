//! The `${{ }}` expression language: GitHub Actions' grammar, values and coercions.
//!
//! Values are JSON values. Parsing keeps spans (byte offsets inside the expression) so
//! load-time checks can point at the column inside `${{ }}`. Evaluation never executes code.

mod ast;
#[cfg(test)]
mod conformance;
mod eval;
mod lexer;
mod parser;
mod template;

pub use ast::{BinOp, Expr, Special, calls_status_function, depth, path_of, visit};
pub use eval::{Scope, Val, compare, eval, json_text, map_property, property, to_text, truthy};
pub use parser::{parse, parse_condition};
pub use template::{Part, Template};

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

/// Deepest nesting the parser follows: hostile input must not overflow the stack.
const MAX_NESTING: usize = 100;
/// Deepest expression tree accepted, as GitHub counts it (every operator, access and
/// call one level).
const MAX_DEPTH: usize = 50;

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
    ("case", 3, usize::MAX),
];

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;
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
        eval(&parse(text).unwrap(), &TestScope).unwrap().into_json()
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
            ("'0x-1' == -1", false),
            ("'0o+7' == 7", false),
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
            assert_eq!(truthy(&Val::from(value(text))), expected, "{text}");
        }
    }

    #[test]
    fn github_forms_orch_users_write() {
        // Context names in any case; `case`; filters; numbers as GitHub writes them.
        assert_eq!(value("VARS.profile"), json!("release"));
        assert_eq!(value("Matrix.os"), json!("linux"));
        assert_eq!(
            value("case(matrix.os == 'linux', 'penguin', 'other')"),
            json!("penguin")
        );
        assert_eq!(
            value("toJSON(fromJSON('[{\"a\":1},{\"a\":2}]').*.a)"),
            json!("[\n  1,\n  2\n]")
        );
        assert_eq!(value("format('{0} {1}', .5, 0o10)"), json!("0.5 8"));
        assert_eq!(value("format('{0}', matrix)"), json!("Object"));
        assert!(parse("case(true, 'odd')").is_err());
        assert!(eval(&parse("format('{0')").unwrap(), &TestScope).is_err());
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
        // A long chain builds a tree as deep as it is long (`(a || b) || c`).
        let chain = vec!["true"; 200_000].join(" || ");
        assert!(parse(&chain).unwrap_err().message.contains("nested deeper"));
        let short = vec!["false"; 60].join(" || ") + " || true";
        assert_eq!(value(&short), Value::Bool(true));
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
    use serde_json::Value;

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
