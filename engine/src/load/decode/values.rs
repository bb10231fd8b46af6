//! The decoder's readers of single values (strings, texts as written, scalars, booleans,
//! counts, lists, env maps, durations, shells) and of maps with their keys checked, each
//! problem recorded at its place.

use std::time::Duration;

use super::{Decoder, Entries};
use crate::load::diag::{Problem, Sp, Span, did_you_mean};
use crate::load::model::{Scalar, Shell};
use crate::load::tree::{Node, Value};

/// `90s`, `10m`, `1h30m`, `500ms`, `2d`.
/// The orch way to say what a GitHub Actions key says, for a key orch does not take: a
/// workflow habit deserves the right spelling, not the nearest word.
pub(super) fn github_spelling(key: &str) -> Option<&'static str> {
    Some(match key {
        "on" => "orch has no triggers: `orch run` (or CI calling it) runs the playbook; drop `on:`",
        "runs-on" | "container" | "services" => {
            "orch runs jobs on this machine; `requires:` checks the commands and env they need"
        }
        "timeout-minutes" => "orch spells it `timeout: 10m`",
        "id" => "`id` names a step (in `steps:`); a job is named by its key under `jobs:`",
        "permissions" | "concurrency" | "environment" => "not an orch key: drop it",
        "defaults.run" | "run-name" => {
            "orch spells defaults as `defaults: { shell: bash, working-directory: dir }`"
        }
        "matrix" => "orch puts `matrix:` on the job itself, beside `strategy:`",
        _ => return None,
    })
}

/// Why a duration (`90s`, `1h30m`, `250ms`) could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    #[error("it is empty")]
    Empty,
    #[error("expected a number at `{0}`")]
    NumberExpected(String),
    #[error("the number is too large")]
    NumberTooLarge,
    #[error("a unit is missing after the number")]
    UnitMissing,
    #[error("unknown unit `{0}`")]
    UnknownUnit(String),
    #[error("it is too long")]
    TooLong,
}

pub fn parse_duration(text: &str) -> Result<Duration, DurationError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(DurationError::Empty);
    }
    let mut total = Duration::ZERO;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits == 0 {
            return Err(DurationError::NumberExpected(rest.to_owned()));
        }
        let number: u64 = rest[..digits]
            .parse()
            .map_err(|_| DurationError::NumberTooLarge)?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let part = match unit {
            "ms" => Duration::from_millis(number),
            "s" => Duration::from_secs(number),
            "m" => Duration::from_secs(number.saturating_mul(60)),
            "h" => Duration::from_secs(number.saturating_mul(3600)),
            "d" => Duration::from_secs(number.saturating_mul(86400)),
            "" => return Err(DurationError::UnitMissing),
            other => return Err(DurationError::UnknownUnit(other.to_owned())),
        };
        total = total.checked_add(part).ok_or(DurationError::TooLong)?;
    }
    Ok(total)
}

impl Decoder<'_> {
    pub(super) fn error(&mut self, span: Span, message: impl Into<String>) {
        self.problems.push(Problem::at(self.source, span, message));
    }

    pub(super) fn type_error(&mut self, node: &Node, what: &str, expected: &str) {
        let problem = Problem::at(
            self.source,
            node.span,
            format!("{what} must be {expected}, found {}", node.kind()),
        )
        .with_label(format!("expected {expected}"));
        self.problems.push(problem);
    }

    /// The entries of a map, checking each key against `allowed`.
    pub(super) fn map<'a>(
        &mut self,
        node: &'a Node,
        what: &str,
        allowed: Option<&[&str]>,
    ) -> Option<Entries<'a>> {
        let Value::Map(pairs) = &node.value else {
            self.type_error(node, what, "a map");
            return None;
        };
        let mut entries: Entries<'a> = Vec::with_capacity(pairs.len());
        for (key, value) in pairs {
            let Value::Str(name) = &key.value else {
                self.type_error(key, &format!("a key in {what}"), "a string");
                continue;
            };
            if let Some(allowed) = allowed
                && !allowed.contains(&name.as_str())
            {
                let mut problem = Problem::at(
                    self.source,
                    key.span,
                    format!("unknown key `{name}` in {what}"),
                )
                .with_label("unknown key");
                problem.help = Some(
                    github_spelling(name)
                        .map(str::to_owned)
                        .or_else(|| did_you_mean(name, allowed.iter().copied()))
                        .unwrap_or_else(|| format!("expected one of: {}", allowed.join(", "))),
                );
                self.problems.push(problem);
                continue;
            }
            if entries.iter().any(|(k, _)| k.value == name.as_str()) {
                self.error(key.span, format!("duplicate key `{name}` in {what}"));
                continue;
            }
            entries.push((Sp::new(name.as_str(), key.span), value));
        }
        Some(entries)
    }

    pub(super) fn string(&mut self, node: &Node, what: &str) -> Option<Sp<String>> {
        match &node.value {
            Value::Str(s) => Some(Sp::new(s.clone(), node.span)),
            _ => {
                self.type_error(node, what, "a string");
                None
            }
        }
    }

    /// A string, or a number or boolean taken as its text (env values, `with`, args).
    pub(super) fn text(&mut self, node: &Node, what: &str) -> Option<Sp<String>> {
        match &node.value {
            Value::Seq(_) | Value::Map(_) => {
                self.type_error(node, what, "a string");
                None
            }
            Value::Str(s) => Some(Sp::new(s.clone(), node.span)),
            _ => Some(Sp::new(self.as_written(node), node.span)),
        }
    }

    /// A plain number or boolean exactly as written (`3.10` stays `3.10`).
    pub(super) fn as_written(&self, node: &Node) -> String {
        let written = self
            .source
            .text
            .get(node.span.offset..node.span.offset + node.span.len)
            .map(str::trim)
            .filter(|t| !t.is_empty() && !t.contains(['\n', '{', '[', ',', ':']));
        match written {
            Some(t) => t.to_owned(),
            None => node.scalar_text().unwrap_or_default(),
        }
    }

    pub(super) fn scalar(&mut self, node: &Node, what: &str) -> Option<Scalar> {
        Some(match &node.value {
            Value::Null => Scalar::Null,
            Value::Bool(b) => Scalar::Bool(*b),
            Value::Int(_) | Value::Float(_) => Scalar::Number(self.as_written(node)),
            Value::Str(s) => Scalar::Str(s.clone()),
            Value::Seq(_) | Value::Map(_) => {
                self.type_error(node, what, "a string, number or boolean");
                return None;
            }
        })
    }

    /// A matrix value: a scalar, or (as GitHub allows) a map or list of them, kept as JSON.
    pub(super) fn matrix_value(&mut self, node: &Node, what: &str) -> Option<Scalar> {
        match &node.value {
            Value::Seq(_) | Value::Map(_) => {
                Some(Scalar::Json(self.json_of(node, what)?.to_string()))
            }
            _ => self.scalar(node, what),
        }
    }

    /// A tree as JSON: numbers as written, map keys as text.
    fn json_of(&mut self, node: &Node, what: &str) -> Option<serde_json::Value> {
        Some(match &node.value {
            Value::Seq(items) => serde_json::Value::Array(
                items
                    .iter()
                    .map(|i| self.json_of(i, what))
                    .collect::<Option<_>>()?,
            ),
            Value::Map(pairs) => {
                let mut map = serde_json::Map::new();
                for (k, v) in pairs {
                    let Some(key) = k.scalar_text() else {
                        self.type_error(k, what, "a string key");
                        return None;
                    };
                    map.insert(key.to_owned(), self.json_of(v, what)?);
                }
                serde_json::Value::Object(map)
            }
            _ => self.scalar(node, what)?.to_json(),
        })
    }

    pub(super) fn bool(&mut self, node: &Node, what: &str) -> Option<bool> {
        match node.value {
            Value::Bool(b) => Some(b),
            _ => {
                self.type_error(node, what, "true or false");
                None
            }
        }
    }

    pub(super) fn count(&mut self, node: &Node, what: &str) -> Option<u32> {
        match node.value {
            Value::Int(i) if i >= 0 => u32::try_from(i).ok().or_else(|| {
                self.error(node.span, format!("{what} is too large"));
                None
            }),
            _ => {
                self.type_error(node, what, "a whole number of at least 0");
                None
            }
        }
    }

    /// A list of strings; `single` also allows one bare string.
    pub(super) fn strings(
        &mut self,
        node: &Node,
        what: &str,
        single: bool,
    ) -> Option<Vec<Sp<String>>> {
        match &node.value {
            Value::Str(s) if single => Some(vec![Sp::new(s.clone(), node.span)]),
            Value::Seq(items) => {
                let mut out = Vec::with_capacity(items.len());
                for item in items {
                    out.extend(self.string(item, &format!("each entry of {what}")));
                }
                Some(out)
            }
            _ => {
                let expected = if single {
                    "a string or a list of strings"
                } else {
                    "a list of strings"
                };
                self.type_error(node, what, expected);
                None
            }
        }
    }

    /// `remote:` — `true`, `false`, or a map of platform properties (names to strings).
    pub(super) fn remote_policy(
        &mut self,
        node: &Node,
        what: &str,
    ) -> crate::load::model::RemotePolicy {
        use crate::load::model::RemotePolicy;
        match node.value {
            Value::Bool(true) => RemotePolicy::Wanted(Vec::new()),
            Value::Bool(false) => RemotePolicy::Never,
            Value::Map(_) => RemotePolicy::Wanted(
                self.env(node, what)
                    .into_iter()
                    .map(|(k, v)| (k, v.value))
                    .collect(),
            ),
            _ => {
                self.type_error(
                    node,
                    what,
                    "true, false, or a map of platform properties (`OSFamily: linux`)",
                );
                RemotePolicy::Unsaid
            }
        }
    }

    pub(super) fn env(&mut self, node: &Node, what: &str) -> Vec<(String, Sp<String>)> {
        let Some(entries) = self.map(node, what, None) else {
            return Vec::new();
        };
        entries
            .into_iter()
            .filter_map(|(k, v)| {
                let value = self.text(v, &format!("{what}.{}", k.value))?;
                Some((k.value.to_owned(), value))
            })
            .collect()
    }

    pub(super) fn duration(&mut self, node: &Node, what: &str) -> Option<Duration> {
        let text = match &node.value {
            Value::Str(s) => s.as_str(),
            _ => {
                self.type_error(node, what, "a duration like `90s`, `10m` or `1h30m`");
                return None;
            }
        };
        match parse_duration(text) {
            Ok(d) => Some(d),
            Err(why) => {
                let problem = Problem::at(
                    self.source,
                    node.span,
                    format!("bad duration `{text}` in {what}: {why}"),
                )
                .with_label("not a duration")
                .with_help(
                    "write a number and a unit (ms, s, m, h, d), e.g. `90s`, `10m`, `1h30m`",
                );
                self.problems.push(problem);
                None
            }
        }
    }

    pub(super) fn shell(&mut self, node: &Node, what: &str) -> Option<Shell> {
        let text = self.string(node, what)?;
        let shell = Shell::parse(&text.value);
        if shell.is_none() {
            let problem = Problem::at(self.source, node.span, format!("unknown shell `{}`", text.value))
                .with_help(
                    did_you_mean(&text.value, ["bash", "sh", "python", "pwsh", "node"]).unwrap_or_else(|| {
                        "use bash, sh, python, pwsh, node, or a command containing {0} for the script file".into()
                    }),
                );
            self.problems.push(problem);
        }
        shell
    }
}
