//! Path patterns: what makes one a glob, and include/exclude (`!`) sets compiled with
//! globset, `/` matched only by `/` (`*` stays in its folder, `**` crosses).

use std::path::Path;

use globset::{Glob, GlobSet, GlobSetBuilder};

/// The characters that make a pattern a glob rather than a literal path.
pub const GLOB_CHARS: [char; 4] = ['*', '?', '[', '{'];

/// A pattern that names one path (a file, or a folder and all under it): no glob
/// characters and no `!`.
pub fn is_literal(pattern: &str) -> bool {
    !pattern.contains(GLOB_CHARS) && !pattern.starts_with('!')
}

/// A pattern that matches exactly this path, whatever characters its name holds.
pub fn matching_exactly(path: &str) -> String {
    let escaped = globset::escape(path);
    // A leading `!` would be read as an exclusion.
    match escaped.strip_prefix('!') {
        Some(rest) => format!("[!]{rest}"),
        None => escaped,
    }
}

/// A pattern globset cannot compile.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bad pattern `{pattern}`: {message}")]
pub struct PatternError {
    pub pattern: String,
    pub message: String,
}

impl PatternError {
    fn new(pattern: &str, error: impl std::fmt::Display) -> Self {
        Self {
            pattern: pattern.to_owned(),
            message: error.to_string(),
        }
    }
}

/// Include and exclude (`!`) patterns, compiled.
pub struct Patterns {
    include: GlobSet,
    exclude: GlobSet,
}

impl Patterns {
    pub fn new(patterns: &[String]) -> Result<Self, PatternError> {
        let mut include = GlobSetBuilder::new();
        let mut exclude = GlobSetBuilder::new();
        for pattern in patterns {
            let (set, text) = match pattern.strip_prefix('!') {
                Some(rest) => (&mut exclude, rest),
                None => (&mut include, pattern.as_str()),
            };
            let text = text.strip_prefix("./").unwrap_or(text);
            let glob = globset::GlobBuilder::new(text)
                .literal_separator(true)
                .build()
                .map_err(|e| PatternError::new(pattern, e))?;
            set.add(glob);
            // `dir/**` should also match the folder's files when written as `dir`.
            if !text.contains(GLOB_CHARS) {
                set.add(
                    Glob::new(&format!("{text}/**")).map_err(|e| PatternError::new(pattern, e))?,
                );
            }
        }
        let all = || patterns.join(", ");
        Ok(Self {
            include: include.build().map_err(|e| PatternError::new(&all(), e))?,
            exclude: exclude.build().map_err(|e| PatternError::new(&all(), e))?,
        })
    }

    /// Patterns that match nothing.
    pub fn none() -> Self {
        Self {
            include: GlobSet::empty(),
            exclude: GlobSet::empty(),
        }
    }

    pub fn matches(&self, relative: &Path) -> bool {
        self.include.is_match(relative) && !self.exclude.is_match(relative)
    }
}
