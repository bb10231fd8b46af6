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
    /// The literal start every include's matches share (`packages/p1/src/` for
    /// `packages/p1/src/**`), sorted, none inside another; `None` when one has none.
    include_prefixes: Option<Vec<String>>,
}

/// The text every path a pattern matches starts with: up to its first glob character
/// (or backslash, an escape whose text is not the path's), cut back to a folder.
fn literal_prefix(text: &str) -> &str {
    match text.find(|c| GLOB_CHARS.contains(&c) || c == '\\') {
        None => text,
        Some(i) => &text[..text[..i].rfind('/').map_or(0, |slash| slash + 1)],
    }
}

/// The folders of the workspace whose listings hold every path the include patterns can
/// match (`packages/p1/src` for `packages/p1/src/**`, a literal path itself), none inside
/// another; `[""]`, the whole workspace, when one starts with a glob.
pub fn listing_roots(patterns: &[String]) -> Vec<String> {
    let mut roots: Vec<String> = Vec::new();
    for pattern in patterns.iter().filter(|p| !p.starts_with('!')) {
        let text = pattern.strip_prefix("./").unwrap_or(pattern);
        // A literal path is its own root, whatever it holds (a backslash is no escape there).
        let root = if is_literal(pattern) {
            text
        } else {
            literal_prefix(text)
        };
        let root = root.trim_end_matches('/');
        if root.is_empty() {
            return vec![String::new()];
        }
        roots.push(root.to_owned());
    }
    roots.sort();
    let mut kept: Vec<String> = Vec::new();
    for root in roots {
        let inside = |outer: &String| {
            root == *outer
                || (root.starts_with(outer.as_str()) && root.as_bytes()[outer.len()] == b'/')
        };
        // Any kept one, not only the last: `src.txt` sorts between `src` and `src/a`.
        if !kept.iter().any(inside) {
            kept.push(root);
        }
    }
    kept
}

/// Prefixes sorted, each one dropped that a shorter one already covers.
fn covering(mut prefixes: Vec<String>) -> Vec<String> {
    prefixes.sort();
    let mut kept: Vec<String> = Vec::new();
    for prefix in prefixes {
        if !kept
            .last()
            .is_some_and(|last| prefix.starts_with(last.as_str()))
        {
            kept.push(prefix);
        }
    }
    kept
}

impl Patterns {
    pub fn new(patterns: &[String]) -> Result<Self, PatternError> {
        let mut include = GlobSetBuilder::new();
        let mut exclude = GlobSetBuilder::new();
        let mut prefixes = Some(Vec::new());
        for pattern in patterns {
            let (set, text) = match pattern.strip_prefix('!') {
                Some(rest) => (&mut exclude, rest),
                None => (&mut include, pattern.as_str()),
            };
            let text = text.strip_prefix("./").unwrap_or(text);
            if !pattern.starts_with('!') {
                let prefix = literal_prefix(text);
                match &mut prefixes {
                    Some(list) if !prefix.is_empty() => list.push(prefix.to_owned()),
                    _ => prefixes = None,
                }
            }
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
            include_prefixes: prefixes.map(covering),
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
            include_prefixes: Some(Vec::new()),
        }
    }

    pub fn matches(&self, relative: &Path) -> bool {
        self.include.is_match(relative) && !self.exclude.is_match(relative)
    }

    /// The paths of `sorted` (in order) that match: only the ranges under the includes'
    /// literal prefixes are matched, found by binary search, when every include has one
    /// (a package's `packages/p1/src/**` looks at that package's files, not all).
    pub fn select_from(&self, sorted: &[String]) -> Vec<String> {
        let keep = |f: &&String| self.matches(Path::new(f.as_str()));
        let Some(prefixes) = &self.include_prefixes else {
            return sorted.iter().filter(keep).cloned().collect();
        };
        let mut out = Vec::new();
        for prefix in prefixes {
            let start = sorted.partition_point(|f| f.as_str() < prefix.as_str());
            let under = sorted[start..]
                .iter()
                .take_while(|f| f.starts_with(prefix.as_str()));
            out.extend(under.filter(keep).cloned());
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listing_roots_cover_every_match_and_nest_by_folder() {
        let roots =
            |p: &[&str]| listing_roots(&p.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert_eq!(
            roots(&["packages/p1/src/**", "./a.txt", "!x/**"]),
            ["a.txt", "packages/p1/src"]
        );
        assert_eq!(
            roots(&["src", "src/*.rs", "src.txt", "src/a/b"]),
            ["src", "src.txt"]
        );
        assert_eq!(roots(&["docs/**", "**/*.md"]), [""]);
        assert_eq!(roots(&["src/{a,b}/x"]), ["src"]);
        assert_eq!(roots(&["we\\ird", "x\\*/y"]), [""]);
        assert_eq!(roots(&["we\\ird"]), ["we\\ird"]);
    }

    #[test]
    fn selecting_by_prefix_finds_what_matching_every_path_finds() {
        let mut all: Vec<String> = [
            "a.txt",
            "a\\b/c*.txt",
            "a\\b/cd.txt",
            "docs/x.md",
            "lib/x.rs",
            "pkg/a/src/m.rs",
            "pkg/a/src/sub/n.rs",
            "pkg/ab/src/m.rs",
            "src/x.rs",
            "src/y/z.rs",
            "srcs.txt",
            "x/lib/x.rs",
            "[x]/y.txt",
        ]
        .map(str::to_owned)
        .to_vec();
        all.sort();
        let sets: [&[&str]; 9] = [
            &["pkg/a/src/**"],
            &["src"],
            &["./src/*.rs", "srcs.txt"],
            &["src/**", "src/y/*.rs", "!src/x.rs"],
            &["{lib,docs}/*"],
            &["**/x.rs"],
            &["pkg/a*/src/*.rs"],
            &["a\\\\b/c\\*.txt"],
            &["[[]x]/*.txt", "a.txt"],
        ];
        for set in sets {
            let patterns: Vec<String> = set.iter().map(|p| (*p).to_owned()).collect();
            let compiled = Patterns::new(&patterns).expect("compiles");
            let every: Vec<String> = all
                .iter()
                .filter(|f| compiled.matches(Path::new(f.as_str())))
                .cloned()
                .collect();
            assert!(!every.is_empty(), "{set:?} matches something");
            assert_eq!(compiled.select_from(&all), every, "{set:?}");
        }
        let escaped = Patterns::new(&[matching_exactly("a\\b/c*.txt")]).expect("compiles");
        assert_eq!(escaped.select_from(&all), ["a\\b/c*.txt"]);
        assert!(
            Patterns::new(&["**/x.rs".into()])
                .unwrap()
                .include_prefixes
                .is_none()
        );
        assert_eq!(
            Patterns::new(&["pkg/a/src/**".into(), "pkg/a/src/sub/*.rs".into()])
                .unwrap()
                .include_prefixes,
            Some(vec!["pkg/a/src/".to_owned()])
        );
    }

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
