//! `{{name}}` placeholders: in a stage's `condition` (`"{{skipTests}} == false"`), which
//! no engine of AitherZero evaluated, as the orch expression it evidently means; in a
//! variable's text, as the `${{ vars.name }}` orch expands. The old engine expanded
//! `{{name}}` to the variable's text (`{{name:=default}}` to it or the default, an
//! unknown name to nothing) and stopped there; orch's vars are text too, so a comparison
//! with `true` or `false` becomes a comparison with the text `'true'` (any case, as
//! expressions compare text): `== false` is "not set true", so an unset var runs the
//! stage, as its author meant.

use serde_json::Value;

use crate::compile::expr::{BinOp, Expr};

/// The expression `condition` means, and the var it reads; `Err` says why it is not
/// one orch can read.
pub fn translate(condition: &str) -> Result<(Expr, String), String> {
    let not_one = || format!("`{condition}` is not `{{{{var}}}} == value`");
    let rest = condition.trim().strip_prefix("{{").ok_or_else(not_one)?;
    let (inside, rest) = rest.split_once("}}").ok_or_else(not_one)?;
    let (name, value) = placeholder(inside).ok_or_else(not_one)?;
    let rest = rest.trim_start();
    let (equal, literal) = [("==", true), ("-eq", true), ("!=", false), ("-ne", false)]
        .iter()
        .find_map(|(op, equal)| {
            let after = rest.get(..op.len())?;
            after
                .eq_ignore_ascii_case(op)
                .then(|| (*equal, rest[op.len()..].trim()))
        })
        .ok_or_else(not_one)?;
    let quoted = ['\'', '"']
        .iter()
        .find_map(|q| literal.strip_prefix(*q)?.strip_suffix(*q));
    // Unquoted, a value is one word: `true && {{b}}` is more than orch reads here.
    if quoted.is_none() && (literal.is_empty() || literal.contains(char::is_whitespace)) {
        return Err(not_one());
    }
    let unquoted = quoted.unwrap_or(literal);
    // A boolean compares with the text `true`: `== false` holds for anything but it.
    let (equal, text) = match unquoted
        .trim_start_matches('$')
        .to_ascii_lowercase()
        .as_str()
    {
        "true" => (equal, "true".to_owned()),
        "false" => (!equal, "true".to_owned()),
        _ => (equal, unquoted.to_owned()),
    };
    let expression = Expr::Binary {
        op: if equal { BinOp::Eq } else { BinOp::Ne },
        left: Box::new(value),
        right: Box::new(Expr::Literal(Value::String(text))),
    };
    Ok((expression, name))
}

/// `name` or `name:=default` (what is between `{{` and `}}`): the var and the
/// expression of its value.
fn placeholder(inside: &str) -> Option<(String, Expr)> {
    let (name, default) = match inside.split_once(":=") {
        Some((name, default)) => (name.trim(), Some(default)),
        None => (inside.trim(), None),
    };
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        return None;
    }
    let var = Expr::Property {
        target: Box::new(Expr::Context {
            name: "vars".into(),
            at: 0,
        }),
        name: name.to_owned(),
        at: 0,
    };
    let value = match default {
        Some(default) => Expr::Binary {
            op: BinOp::Or,
            left: Box::new(var),
            right: Box::new(Expr::Literal(Value::String(default.to_owned()))),
        },
        None => var,
    };
    Some((name.to_owned(), value))
}

/// A variable's text with each `{{name}}` as `${{ vars.name }}` (`{{name:=d}}` as
/// `${{ vars.name || 'd' }}`), and the vars it reads; `None` when it has none.
pub fn expand(text: &str) -> Option<(String, Vec<String>)> {
    let mut names = Vec::new();
    let out = replace_placeholders(text, &mut |inside| {
        let (name, value) = placeholder(inside)?;
        names.push(name);
        Some(format!("${{{{ {value} }}}}"))
    })?;
    Some((out, names))
}

/// A variable's text with each `{{name}}` replaced as the old engine expanded it, from
/// `values` (`{{name:=d}}`: `d` when the name has none; an unknown name: nothing).
pub fn substitute(text: &str, values: &dyn Fn(&str) -> Option<String>) -> Option<String> {
    replace_placeholders(text, &mut |inside| {
        placeholder(inside)?;
        let (name, default) = match inside.split_once(":=") {
            Some((name, default)) => (name.trim(), Some(default)),
            None => (inside.trim(), None),
        };
        Some(
            values(name)
                .or_else(|| default.map(str::to_owned))
                .unwrap_or_default(),
        )
    })
}

/// `text` with each `{{…}}` that `replace` takes replaced; `None` when none was.
fn replace_placeholders(
    text: &str,
    replace: &mut dyn FnMut(&str) -> Option<String>,
) -> Option<String> {
    let mut out = String::new();
    let mut replaced = false;
    let mut rest = text;
    while let Some(open) = rest.find("{{") {
        let after = &rest[open + 2..];
        let Some((inside, tail)) = after.split_once("}}") else {
            break;
        };
        match replace(inside) {
            Some(with) => {
                out.push_str(&rest[..open]);
                out.push_str(&with);
                replaced = true;
                rest = tail;
            }
            None => {
                out.push_str(&rest[..open + 2]);
                rest = after;
            }
        }
    }
    out.push_str(rest);
    replaced.then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(condition: &str) -> String {
        translate(condition).map(|(e, _)| e.to_string()).unwrap()
    }

    #[test]
    fn a_comparison_with_a_boolean_reads_the_var_as_text() {
        assert_eq!(text("{{skipTests}} == false"), "(vars.skipTests != 'true')");
        assert_eq!(
            text("{{generateReport}} == true"),
            "(vars.generateReport == 'true')"
        );
        assert_eq!(text("{{a}} -ne $true"), "(vars.a != 'true')");
        assert_eq!(text("{{a}} != False"), "(vars.a == 'true')");
    }

    #[test]
    fn defaults_and_other_values() {
        assert_eq!(
            text("{{level:=full}} == 'quick'"),
            "((vars.level || 'full') == 'quick')"
        );
        assert_eq!(text("{{n}} -eq 3"), "(vars.n == '3')");
        let (_, name) = translate("{{ skipUnit }} == false").unwrap();
        assert_eq!(name, "skipUnit");
    }

    #[test]
    fn placeholders_in_text_are_orch_expressions() {
        assert_eq!(
            expand("{{resultsPath}}/All.xml"),
            Some((
                "${{ vars.resultsPath }}/All.xml".to_owned(),
                vec!["resultsPath".to_owned()]
            ))
        );
        assert_eq!(
            expand("-{{a:=x}}-{{b}}").map(|(t, _)| t),
            Some("-${{ (vars.a || 'x') }}-${{ vars.b }}".to_owned())
        );
        assert_eq!(expand("no {{ placeholder here"), None);
        assert_eq!(expand("{{not one}}"), None);
        let values = |name: &str| (name == "mode").then(|| "full".to_owned());
        assert_eq!(
            substitute("{{mode}}-{{depth:=2}}-{{gone}}.", &values),
            Some("full-2-.".to_owned())
        );
        assert_eq!(substitute("plain", &values), None);
    }

    #[test]
    fn what_is_not_a_comparison_is_refused() {
        for condition in [
            "fileExists",
            "{{a}}",
            "{{a}} > 3",
            "{{a b}} == true",
            "{{}} == true",
            "{{a == true",
            "{{a}} ==",
            "{{a}} == true && {{b}} == false",
        ] {
            assert!(translate(condition).is_err(), "{condition}");
        }
    }
}
