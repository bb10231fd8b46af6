//! A YAML/JSON document as a tree of values that remember where they came from.
//!
//! serde-saphyr does the YAML parsing (with its budgets against alias bombs and deep
//! nesting); each node is read as `serde_saphyr::Spanned` so the decoder can point at it.
//! JSON is checked by serde_json first (its syntax errors are the clearest), then read by
//! the same YAML reader for positions, since JSON is YAML's flow syntax.

use serde::Deserialize;
use serde::de::{self, MapAccess, SeqAccess, Visitor};
use serde_saphyr::Spanned;

use crate::load::diag::{Problem, SourceFile, Span};

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    Map(Vec<(Node, Node)>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub value: Value,
    pub span: Span,
}

impl Node {
    /// What kind of value this is, for "expected X, found Y" messages.
    pub fn kind(&self) -> &'static str {
        match self.value {
            Value::Null => "null",
            Value::Bool(_) => "a boolean",
            Value::Int(_) | Value::Float(_) => "a number",
            Value::Str(_) => "a string",
            Value::Seq(_) => "a list",
            Value::Map(_) => "a map",
        }
    }

    /// The text of a scalar as a user wrote it (numbers and booleans as text).
    pub fn scalar_text(&self) -> Option<String> {
        match &self.value {
            Value::Null => Some(String::new()),
            Value::Bool(b) => Some(b.to_string()),
            Value::Int(i) => Some(i.to_string()),
            Value::Float(f) => Some(f.to_string()),
            Value::Str(s) => Some(s.clone()),
            Value::Seq(_) | Value::Map(_) => None,
        }
    }
}

fn span_of(location: serde_saphyr::Location) -> Span {
    let span = location.span();
    let offset = span.byte_offset().unwrap_or(0);
    let len = span.byte_len().unwrap_or(0);
    Span::new(
        usize::try_from(offset).unwrap_or(0),
        usize::try_from(len).unwrap_or(0),
    )
}

impl From<Spanned<Value>> for Node {
    fn from(spanned: Spanned<Value>) -> Self {
        Node {
            value: spanned.value,
            span: span_of(spanned.referenced),
        }
    }
}

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ValueVisitor)
    }
}

struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("any YAML value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Int(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        Ok(i64::try_from(v).map_or(Value::Float(v as f64), Value::Int))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Value::Float(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::Str(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::Str(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_some<D: de::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        Value::deserialize(d)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Spanned<Value>>()? {
            items.push(Node::from(item));
        }
        Ok(Value::Seq(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut entries = Vec::new();
        while let Some(key) = map.next_key::<Spanned<Value>>()? {
            let value = map.next_value::<Spanned<Value>>()?;
            entries.push((Node::from(key), Node::from(value)));
        }
        Ok(Value::Map(entries))
    }
}

/// Parses a playbook file into a tree; JSON when the path ends in `.json`.
pub fn parse(source: &SourceFile) -> Result<Node, Problem> {
    let is_json = source
        .path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("json"));
    if is_json && let Err(e) = serde_json::from_str::<serde::de::IgnoredAny>(&source.text) {
        let offset = offset_of_line_column(&source.text, e.line(), e.column());
        let message = strip_position(&e.to_string());
        return Err(Problem::at(
            source,
            Span::new(offset, 1),
            format!("invalid JSON: {message}"),
        )
        .with_label("here"));
    }
    // YAML 1.2 booleans only: `y`, `yes` and `on` stay strings, as people mean them.
    let mut options = serde_saphyr::Options::default();
    options.strict_booleans = true;
    // The parser's default budget (250,000 nodes) is against alias bombs, yet a playbook
    // of 50,000 separate jobs has more nodes than that: the budget grows with the text
    // (without aliases a node takes at least a byte of it), the alias limits stay.
    let mut budget = serde_saphyr::Budget::default();
    budget.max_nodes = budget.max_nodes.max(source.text.len());
    budget.max_events = budget.max_events.max(2 * source.text.len());
    options.budget = Some(budget);
    match serde_saphyr::from_str_with_options::<Spanned<Value>>(&source.text, options) {
        Ok(root) => Ok(Node::from(root)),
        Err(e) => {
            let offset = e.location().map_or(0, |l| {
                offset_of_line_column(&source.text, l.line() as usize, l.column() as usize)
            });
            let what = if is_json { "JSON" } else { "YAML" };
            let message = strip_position(&e.to_string());
            Err(Problem::at(
                source,
                Span::new(offset, 1),
                format!("invalid {what}: {message}"),
            )
            .with_label("here"))
        }
    }
}

/// Byte offset of a 1-based line and (character) column.
fn offset_of_line_column(text: &str, line: usize, column: usize) -> usize {
    let mut offset = 0;
    for (i, l) in text.split_inclusive('\n').enumerate() {
        if i + 1 == line {
            let chars = column.saturating_sub(1);
            return offset
                + l.char_indices()
                    .nth(chars)
                    .map_or(l.trim_end_matches('\n').len(), |(b, _)| b);
        }
        offset += l.len();
    }
    text.len()
}

/// Parser messages carry their own "at line X column Y"; ours is printed separately.
fn strip_position(message: &str) -> String {
    let first_line = message.lines().next().unwrap_or(message);
    for marker in [" at line ", " at "] {
        if let Some(i) = first_line.find(marker) {
            let rest = &first_line[i + marker.len()..];
            if rest.chars().next().is_some_and(|c| c.is_ascii_digit()) || rest.starts_with("line") {
                return first_line[..i].to_owned();
            }
        }
    }
    first_line.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(path: &str, text: &str) -> SourceFile {
        SourceFile {
            path: path.into(),
            text: text.into(),
        }
    }

    /// A big playbook is no alias bomb: 255,000 nodes (2 MB of text) parse.
    #[test]
    fn the_node_budget_grows_with_the_text() {
        let mut text = String::from("list:\n");
        for i in 0..255_000 {
            text.push_str(&format!("- {i}\n"));
        }
        let tree = parse(&source("orch.yml", &text)).unwrap();
        let Value::Map(entries) = &tree.value else {
            panic!("{tree:?}")
        };
        assert!(matches!(&entries[0].1.value, Value::Seq(items) if items.len() == 255_000));
    }

    #[test]
    fn yaml_nodes_know_their_place() {
        let file = source("orch.yml", "jobs:\n  build:\n    run: echo hi\n");
        let root = parse(&file).unwrap();
        let Value::Map(top) = &root.value else {
            panic!("not a map")
        };
        let (key, jobs) = &top[0];
        assert_eq!(key.value, Value::Str("jobs".into()));
        assert_eq!(file.line_column(key.span.offset), (1, 1));
        let Value::Map(jobs) = &jobs.value else {
            panic!("not a map")
        };
        let Value::Map(build) = &jobs[0].1.value else {
            panic!("not a map")
        };
        let (run_key, run) = &build[0];
        assert_eq!(file.line_column(run_key.span.offset), (3, 5));
        assert_eq!(file.line_column(run.span.offset), (3, 10));
        assert_eq!(run.value, Value::Str("echo hi".into()));
    }

    #[test]
    fn json_nodes_know_their_place() {
        let file = source(
            "orch.json",
            "{\n  \"jobs\": {\"a\": {\"run\": \"true\"}}\n}\n",
        );
        let root = parse(&file).unwrap();
        let Value::Map(top) = &root.value else {
            panic!("not a map")
        };
        assert_eq!(file.line_column(top[0].0.span.offset), (2, 3));
    }

    #[test]
    fn syntax_errors_have_a_place() {
        let file = source("orch.yml", "jobs:\n  a: [1, 2\n");
        let problem = parse(&file).unwrap_err();
        assert!(
            problem.message.starts_with("invalid YAML"),
            "{}",
            problem.message
        );
        assert!(problem.location().is_some());

        let file = source("orch.json", "{\n  \"jobs\": {,}\n}");
        let problem = parse(&file).unwrap_err();
        assert!(
            problem.message.starts_with("invalid JSON"),
            "{}",
            problem.message
        );
        assert_eq!(problem.location().as_deref(), Some("orch.json:2:12"));
    }
}
