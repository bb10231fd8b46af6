//! Errors about a playbook, as plain data: the CLI turns them into miette reports.
//!
//! They stay plain (no miette types) so that salsa can memoize and compare them.

use std::path::PathBuf;
use std::sync::Arc;

/// A byte range in a source file.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize,
)]
pub struct Span {
    pub offset: usize,
    pub len: usize,
}

impl Span {
    pub fn new(offset: usize, len: usize) -> Self {
        Self { offset, len }
    }
}

/// A value with the place in the source it came from.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Sp<T> {
    pub value: T,
    pub span: Span,
}

impl<T> Sp<T> {
    pub fn new(value: T, span: Span) -> Self {
        Self { value, span }
    }
}

/// A source file as loaded: the path as the user should see it, and its text.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct SourceFile {
    pub path: PathBuf,
    pub text: Arc<str>,
}

impl SourceFile {
    /// 1-based line and column (in characters) of a byte offset.
    pub fn line_column(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let before = self.text.get(..offset).unwrap_or("");
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let column = before[line_start..].chars().count() + 1;
        (line, column)
    }
}

/// One problem found in a playbook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub source: Option<SourceFile>,
    pub span: Option<Span>,
    pub message: String,
    /// Short text printed at the caret.
    pub label: Option<String>,
    pub help: Option<String>,
}

impl Problem {
    pub fn at(source: &SourceFile, span: Span, message: impl Into<String>) -> Self {
        Self {
            source: Some(source.clone()),
            span: Some(span),
            message: message.into(),
            label: None,
            help: None,
        }
    }

    /// A problem with no place in a file (a missing file, a bad command-line value).
    pub fn general(message: impl Into<String>) -> Self {
        Self {
            source: None,
            span: None,
            message: message.into(),
            label: None,
            help: None,
        }
    }

    pub fn with_label(mut self, label: impl Into<String>) -> Self {
        self.label = Some(label.into());
        self
    }

    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// `file:line:column` of the problem, when it has a place.
    pub fn location(&self) -> Option<String> {
        let source = self.source.as_ref()?;
        let span = self.span?;
        let (line, column) = source.line_column(span.offset);
        Some(format!("{}:{line}:{column}", source.path.display()))
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.location() {
            Some(location) => write!(f, "{location}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

/// Everything wrong with a playbook; never empty.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", .problems.first().map(ToString::to_string).unwrap_or_default())]
pub struct LoadError {
    pub problems: Vec<Problem>,
}

impl From<Problem> for LoadError {
    fn from(problem: Problem) -> Self {
        Self {
            problems: vec![problem],
        }
    }
}

/// Closest candidate to `wanted` by edit distance, if it is close enough to be a likely typo.
pub fn suggest<'a>(wanted: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let limit = (wanted.chars().count() / 3).max(1) + 1;
    candidates
        .into_iter()
        .map(|c| (edit_distance(wanted, c), c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// "did you mean `x`?" for a help line, when there is a close candidate.
pub fn did_you_mean<'a>(
    wanted: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<String> {
    suggest(wanted, candidates).map(|c| format!("did you mean `{c}`?"))
}

fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().flat_map(char::to_lowercase).collect();
    let b: Vec<char> = b.chars().flat_map(char::to_lowercase).collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut current = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != cb);
            current[j + 1] = substitution.min(previous[j + 1] + 1).min(current[j] + 1);
        }
        previous = current;
    }
    previous[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_names_only() {
        assert_eq!(suggest("nedds", ["needs", "run", "env"]), Some("needs"));
        assert_eq!(suggest("bulid", ["build", "test"]), Some("build"));
        assert_eq!(suggest("zzzzzz", ["build", "test"]), None);
    }

    #[test]
    fn line_and_column_count_characters() {
        let file = SourceFile {
            path: "orch.yml".into(),
            text: "a: 1\nbé: x\n".into(),
        };
        assert_eq!(file.line_column(0), (1, 1));
        assert_eq!(file.line_column(5), (2, 1));
        // 'x' sits after "bé: " which is 5 bytes but 4 characters.
        assert_eq!(file.line_column(10), (2, 5));
    }
}
