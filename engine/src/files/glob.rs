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
    // Backslash escapes the next character to globset on Unix: a literal one is `\\`.
    let escaped = globset::escape(&path.replace('\\', "\\\\"));
    // A leading `!` would be read as an exclusion; `\!` is a literal `!` to globset
    // (`[!]` would open a negated class that never closes).
    match escaped.strip_prefix('!') {
        Some(rest) => format!("\\!{rest}"),
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

/// Whether a pattern compiles, parsed only (a set's matcher is not built: checking
/// thousands of patterns stays cheap).
pub fn check(pattern: &str) -> Result<(), PatternError> {
    let text = pattern.strip_prefix('!').unwrap_or(pattern);
    let text = text.strip_prefix("./").unwrap_or(text);
    globset::GlobBuilder::new(text)
        .literal_separator(true)
        .build()
        .map(drop)
        .map_err(|e| PatternError::new(pattern, e))
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

    /// The patterns that compile, each on its own: for exclusions, where dropping a bad
    /// one keeps more (a miss at worst) instead of losing every other exclusion with it.
    pub fn each_valid(patterns: &[String]) -> Self {
        let valid: Vec<String> = patterns
            .iter()
            .filter(|p| check(p).is_ok())
            .cloned()
            .collect();
        Self::new(&valid).unwrap_or_else(|_| Self::none())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_exact_pattern_matches_its_path_and_nothing_else() {
        for path in [
            "!report.json",
            "a[1]/*.txt",
            "odd\\name",
            "{x}",
            "plain.txt",
        ] {
            let patterns =
                Patterns::new(&[matching_exactly(path)]).unwrap_or_else(|e| panic!("{path}: {e}"));
            assert!(patterns.matches(Path::new(path)), "{path}");
            assert!(!patterns.matches(Path::new("other")), "{path}");
        }
        let bang = Patterns::new(&[matching_exactly("!report.json")]).unwrap();
        assert!(!bang.matches(Path::new("xreport.json")));
    }

    #[test]
    fn a_bad_exclusion_does_not_drop_the_others() {
        let patterns = vec!["out/[a".to_owned(), "dist/**".to_owned()];
        assert!(Patterns::new(&patterns).is_err());
        let valid = Patterns::each_valid(&patterns);
        assert!(valid.matches(Path::new("dist/x")));
        assert!(!valid.matches(Path::new("src/x")));
    }
}
