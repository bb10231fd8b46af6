//! Which files a node's inputs name: its patterns over every file, or the default rule
//! over the files not ignored.

use std::path::Path;

use crate::files::glob::Patterns;

/// The files a job's inputs name: its patterns over every file, or, with none, the
/// default rule (every file not ignored, minus all declared outputs and the playbooks).
/// The files literal patterns (no glob, no `!`) name, found by binary search: a file
/// itself, or everything under a folder. `None` when any pattern is a glob.
pub fn select_literal(all: &[String], patterns: &[String]) -> Option<Vec<String>> {
    if !patterns.iter().all(|p| crate::files::glob::is_literal(p)) {
        return None;
    }
    let mut out = Vec::new();
    for pattern in patterns {
        let pattern = pattern
            .strip_prefix("./")
            .unwrap_or(pattern)
            .trim_end_matches('/');
        if let Ok(i) = all.binary_search_by(|f| f.as_str().cmp(pattern)) {
            out.push(all[i].clone());
        }
        let folder = format!("{pattern}/");
        let start = all.partition_point(|f| f.as_str() < folder.as_str());
        out.extend(
            all[start..]
                .iter()
                .take_while(|f| f.starts_with(&folder))
                .cloned(),
        );
    }
    out.sort();
    out.dedup();
    Some(out)
}

pub fn select(
    all: &[String],
    default_set: &[String],
    patterns: Option<&Patterns>,
    excluded: &Patterns,
) -> Vec<String> {
    match patterns {
        Some(p) => p.select_from(all),
        None => default_set
            .iter()
            .filter(|f| !excluded.matches(Path::new(f)))
            .cloned()
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_patterns_are_looked_up_not_scanned() {
        let all: Vec<String> = ["a.txt", "src/x.rs", "src/y/z.rs", "srcs.txt"]
            .map(str::to_owned)
            .to_vec();
        let found = select_literal(&all, &["src".into(), "a.txt".into(), "nope".into()]).unwrap();
        assert_eq!(found, ["a.txt", "src/x.rs", "src/y/z.rs"]);
        assert!(select_literal(&all, &["src/*.rs".into()]).is_none());
        assert!(select_literal(&all, &["!a.txt".into()]).is_none());
    }
}
