//! The version a setup action asks for (`node-version: 20.x`, `toolchain: 1.89.0`,
//! `python-version-file: .python-version`), checked against the program this machine
//! has: a local run installs nothing, so a job that needs another version fails with
//! both named rather than running with the wrong one.

use std::path::Path;

/// What a setup step asks of a program: the program, and the versions it accepts (any
/// one of them; GitHub's lists and `||`).
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Wanted {
    pub(super) program: &'static str,
    pub(super) specs: Vec<String>,
    /// Where the spec was written (`with.node-version`, `the ref @1.70.0`).
    pub(super) from: String,
}

/// The version `action` (`owner/repo@ref`, as written) asks for, from its `with` (and
/// files of the workspace its `*-version-file` names); `None` when it asks for none.
pub(super) fn wanted(
    action: &str,
    with: &dyn Fn(&str) -> Option<String>,
    workspace: &Path,
) -> Result<Option<Wanted>, String> {
    let (name, reference) = action.split_once('@').unwrap_or((action, ""));
    let name = name.to_ascii_lowercase();
    let (program, key) = match name.as_str() {
        "actions/setup-node" => ("node", "node-version"),
        "actions/setup-python" => ("python3", "python-version"),
        "actions/setup-go" => ("go", "go-version"),
        "actions/setup-java" => ("java", "java-version"),
        "actions/setup-dotnet" => ("dotnet", "dotnet-version"),
        "dtolnay/rust-toolchain" => {
            // The toolchain is the ref (`@stable`, `@1.70.0`) unless the ref is a branch.
            let toolchain = with("toolchain").or_else(|| {
                (!matches!(reference, "" | "master" | "main")).then(|| reference.to_owned())
            });
            return Ok(toolchain.map(|t| Wanted {
                program: "rustc",
                specs: vec![t],
                from: "its toolchain".into(),
            }));
        }
        "actions-rs/toolchain" | "actions-rust-lang/setup-rust-toolchain" => {
            return Ok(with("toolchain").map(|t| Wanted {
                program: "rustc",
                specs: vec![t],
                from: "with.toolchain".into(),
            }));
        }
        _ => return Ok(None),
    };
    // setup-python reads `.python-version` when given neither.
    let default_file = (program == "python3" && workspace.join(".python-version").is_file())
        .then(|| ".python-version".to_owned());
    let (text, from) = match (with(key), with(&format!("{key}-file")).or(default_file)) {
        (Some(text), _) => (text, format!("with.{key}")),
        (None, Some(file)) => {
            let full = workspace.join(&file);
            let text = std::fs::read_to_string(&full)
                .map_err(|e| format!("{action}: cannot read {key}-file `{file}`: {e}"))?;
            (version_in_file(&file, &text), format!("{key}-file {file}"))
        }
        (None, None) => return Ok(None),
    };
    let specs: Vec<String> = text
        .split(['\n', ','])
        .flat_map(|line| line.split("||"))
        .map(|s| s.trim().trim_matches(['"', '\'']).to_owned())
        .filter(|s| !s.is_empty())
        .collect();
    Ok((!specs.is_empty()).then_some(Wanted {
        program,
        specs,
        from,
    }))
}

/// The version a version file holds: `go.mod`'s `toolchain`/`go` line, else its first
/// line that is not a comment (`.nvmrc`, `.python-version`, `.tool-versions` as `node 20`).
fn version_in_file(name: &str, text: &str) -> String {
    let lines = || {
        text.lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
    };
    if name.ends_with("package.json") {
        // setup-node reads `volta.node`, else `engines.node`.
        let json: serde_json::Value = serde_json::from_str(text).unwrap_or_default();
        return ["/volta/node", "/engines/node"]
            .iter()
            .find_map(|p| json.pointer(p).and_then(|v| v.as_str()))
            .unwrap_or_default()
            .to_owned();
    }
    if name.ends_with("pyproject.toml") {
        // setup-python reads `requires-python`.
        return lines()
            .find_map(|l| l.strip_prefix("requires-python"))
            .and_then(|rest| rest.trim_start().strip_prefix('='))
            .map(|v| v.trim().trim_matches(['"', '\'']).replace(',', " "))
            .unwrap_or_default();
    }
    if name.ends_with("go.mod") {
        let directive = |word: &str| {
            lines().find_map(|l| {
                l.strip_prefix(word)
                    .map(|v| v.trim().trim_start_matches("go"))
            })
        };
        return directive("toolchain ")
            .or_else(|| directive("go "))
            .unwrap_or_default()
            .to_owned();
    }
    let first = lines().next().unwrap_or_default();
    // `.tool-versions`: `node 20.1.0`.
    first
        .split_whitespace()
        .last()
        .unwrap_or_default()
        .to_owned()
}

/// The version a program's `--version` (`-version` for java) says, as it says it.
pub(super) fn version_said(program: &Path, name: &str) -> Option<String> {
    let flag = if name == "java" {
        "-version"
    } else {
        "--version"
    };
    let out = std::process::Command::new(program)
        .arg(flag)
        .stdin(std::process::Stdio::null())
        .output()
        .ok()?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    text.lines()
        .find(|l| !l.trim().is_empty())
        .map(|l| l.trim().to_owned())
}

/// A Rust toolchain `spec` names (`stable`, `1.89.0`, `nightly-2026-01-01`) that rustup
/// has installed: its name as rustup lists it, and what its `rustc --version` says. Never
/// one rustup would have to install (that is asked only of a listed toolchain).
pub(super) fn rustup_toolchain(rustup: &Path, spec: &str) -> Option<(String, String)> {
    let listed = std::process::Command::new(rustup)
        .args(["toolchain", "list"])
        .stdin(std::process::Stdio::null())
        .output()
        .ok()?;
    let listed = String::from_utf8_lossy(&listed.stdout);
    let name = listed
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .find(|name| *name == spec || name.starts_with(&format!("{spec}-")))?
        .to_owned();
    let out = std::process::Command::new(rustup)
        .args(["run", &name, "rustc", "--version"])
        .stdin(std::process::Stdio::null())
        .output()
        .ok()?;
    let said = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    (out.status.success() && !said.is_empty()).then_some((name, said))
}

/// The numbers of the first version in `said` (`v20.11.0` → [20, 11, 0]; java's
/// `1.8.0_292` → [8, 0, 292]), with what follows it (`-nightly`).
fn parse_version(said: &str) -> Option<(Vec<u64>, String)> {
    let start = said.find(|c: char| c.is_ascii_digit())?;
    let rest = &said[start..];
    let end = rest
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '_'))
        .unwrap_or(rest.len());
    let mut numbers: Vec<u64> = rest[..end]
        .split(['.', '_'])
        .filter_map(|n| n.parse().ok())
        .collect();
    if numbers.first() == Some(&1) && numbers.get(1).is_some_and(|m| *m >= 5 && *m <= 8) {
        // Java before 9 calls itself 1.N.
        numbers.remove(0);
    }
    Some((numbers, rest[end..].to_owned()))
}

/// Whether the version `said` satisfies `spec`, as setup actions read specs: `20`,
/// `20.x`, `3.11`, `>=18 <21`, `^1.2`, `~1.2.3`, `lts/*`, `latest`, `stable`,
/// `nightly`, `1.89.0`. A spec orch cannot read is satisfied (and said so by the caller).
pub(super) fn satisfies(said: &str, spec: &str) -> Option<bool> {
    let (have, suffix) = parse_version(said)?;
    let spec = spec.trim().trim_start_matches('v');
    let lower = spec.to_ascii_lowercase();
    match lower.as_str() {
        "" | "*" | "x" | "latest" | "current" | "node" | "lts" | "oldstable" => {
            return Some(true);
        }
        "stable" => return Some(!suffix.contains("nightly") && !suffix.contains("beta")),
        "lts/*" | "lts/-1" => return Some(true),
        _ if lower.starts_with("lts/") => {
            // Node's LTS lines by codename.
            const LINES: [(&str, u64); 11] = [
                ("argon", 4),
                ("boron", 6),
                ("carbon", 8),
                ("dubnium", 10),
                ("erbium", 12),
                ("fermium", 14),
                ("gallium", 16),
                ("hydrogen", 18),
                ("iron", 20),
                ("jod", 22),
                ("krypton", 24),
            ];
            let codename = &lower["lts/".len()..];
            let (_, major) = LINES.iter().find(|(name, _)| *name == codename)?;
            return Some(have.first() == Some(major));
        }
        _ if lower.starts_with("nightly") => return Some(suffix.contains("nightly")),
        _ if lower.starts_with("beta") => return Some(suffix.contains("beta")),
        _ => {}
    }
    let all = spec
        .split_whitespace()
        .map(|part| one_comparison(&have, part));
    all.collect::<Option<Vec<bool>>>()
        .map(|each| each.iter().all(|ok| *ok))
}

fn one_comparison(have: &[u64], part: &str) -> Option<bool> {
    let (op, version) = ["^", "~", ">=", "<=", ">", "<", "="]
        .iter()
        .find_map(|op| part.strip_prefix(op).map(|v| (*op, v)))
        .unwrap_or(("", part));
    // `20.x`, `3.11-dev`, `1.21.0-rc1`: the numbers written before a wildcard or a tag.
    let numbers: Vec<u64> = version
        .split(['-', '+'])
        .next()
        .unwrap_or_default()
        .split('.')
        .take_while(|n| !matches!(*n, "x" | "X" | "*"))
        .map(|n| n.parse().ok())
        .collect::<Option<Vec<u64>>>()?;
    let padded = |v: &[u64], n: usize| -> Vec<u64> {
        let mut v = v.to_vec();
        v.resize(n.max(v.len()), 0);
        v
    };
    let width = numbers.len().max(have.len());
    let (h, w) = (padded(have, width), padded(&numbers, width));
    let prefix = |n: usize| have.len() >= n && have[..n] == numbers[..n];
    Some(match op {
        "" | "=" => prefix(numbers.len()),
        ">=" => h >= w,
        ">" => h > w,
        "<=" => h <= w || prefix(numbers.len()),
        "<" => h < w,
        "^" => h >= w && prefix(1.min(numbers.len())),
        "~" => h >= w && prefix(2.min(numbers.len())),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_match_specs_as_setup_actions_read_them() {
        let yes = [
            ("v20.11.0", "20"),
            ("v20.11.0", "20.x"),
            ("v20.11.0", "20.11"),
            ("v20.11.0", ">=18 <21"),
            ("v20.11.0", "^20.1"),
            ("v20.11.0", "lts/*"),
            ("Python 3.11.7", "3.11"),
            ("Python 3.11.7", "3.x"),
            ("Python 3.11.7", "3.11-dev"),
            ("rustc 1.95.0 (59807616e 2026-04-14)", "stable"),
            ("rustc 1.95.0 (59807616e 2026-04-14)", "1.95"),
            (
                "rustc 1.95.0-nightly (abc 2026-04-14)",
                "nightly-2026-04-01",
            ),
            ("openjdk version \"17.0.15\" 2025-04-15", "17"),
            ("openjdk version \"1.8.0_292\"", "8"),
            ("go version go1.21.5 linux/amd64", "~1.21.0"),
        ];
        for (said, spec) in yes {
            assert_eq!(satisfies(said, spec), Some(true), "{said} vs {spec}");
        }
        let no = [
            ("v20.11.0", "18"),
            ("v20.11.0", "2"),
            ("v20.11.0", "20.12"),
            ("v20.11.0", ">=21"),
            ("v20.11.0", "<20"),
            ("v20.11.0", "^21"),
            ("Python 3.11.7", "3.1"),
            ("rustc 1.95.0-nightly (abc 2026-04-14)", "stable"),
            ("rustc 1.95.0 (59807616e 2026-04-14)", "nightly"),
            ("rustc 1.95.0 (59807616e 2026-04-14)", "1.70.0"),
            ("openjdk version \"17.0.15\"", "21"),
        ];
        for (said, spec) in no {
            assert_eq!(satisfies(said, spec), Some(false), "{said} vs {spec}");
        }
        assert_eq!(satisfies("v20.11.0", "pypy3.9"), None);
        assert_eq!(satisfies("v20.11.0", "lts/iron"), Some(true));
        assert_eq!(satisfies("v20.11.0", "lts/hydrogen"), Some(false));
        assert_eq!(satisfies("v20.11.0", "lts/nonsense"), None);
        assert_eq!(satisfies("Python 3.11.7", ">=3.9 <3.13"), Some(true));
    }

    #[test]
    fn the_wanted_version_comes_from_with_the_ref_or_a_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join(".nvmrc"), "# pinned\nv18.2\n").expect("write");
        std::fs::write(
            dir.path().join("go.mod"),
            "module x\n\ngo 1.21\n\ntoolchain go1.21.5\n",
        )
        .expect("write");
        let none = |_: &str| None;
        let given = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| (*v).to_owned())
            }
        };
        let ask = |action: &str, with: &dyn Fn(&str) -> Option<String>| {
            wanted(action, with, dir.path())
                .expect("no error")
                .map(|w| (w.program, w.specs))
        };
        assert_eq!(
            ask(
                "actions/setup-node@v4",
                &given(&[("node-version", "18.x\n20")])
            ),
            Some(("node", vec!["18.x".into(), "20".into()]))
        );
        assert_eq!(
            ask(
                "actions/setup-node@v4",
                &given(&[("node-version-file", ".nvmrc")])
            ),
            Some(("node", vec!["v18.2".into()]))
        );
        assert_eq!(
            ask(
                "actions/setup-go@v5",
                &given(&[("go-version-file", "go.mod")])
            ),
            Some(("go", vec!["1.21.5".into()]))
        );
        assert_eq!(
            ask("dtolnay/rust-toolchain@1.70.0", &none),
            Some(("rustc", vec!["1.70.0".into()]))
        );
        assert_eq!(
            ask(
                "dtolnay/rust-toolchain@master",
                &given(&[("toolchain", "nightly")])
            ),
            Some(("rustc", vec!["nightly".into()]))
        );
        assert_eq!(ask("dtolnay/rust-toolchain@master", &none), None);
        std::fs::write(
            dir.path().join("package.json"),
            r#"{ "engines": { "node": ">=18" } }"#,
        )
        .expect("write");
        assert_eq!(
            ask(
                "actions/setup-node@v4",
                &given(&[("node-version-file", "package.json")])
            ),
            Some(("node", vec![">=18".into()]))
        );
        std::fs::write(
            dir.path().join("pyproject.toml"),
            "[project]\nname = \"x\"\nrequires-python = \">=3.9,<3.13\"\n",
        )
        .expect("write");
        assert_eq!(
            ask(
                "actions/setup-python@v5",
                &given(&[("python-version-file", "pyproject.toml")])
            ),
            Some(("python3", vec![">=3.9 <3.13".into()]))
        );
        assert_eq!(ask("actions/setup-python@v5", &none), None);
        std::fs::write(dir.path().join(".python-version"), "3.12\n").expect("write");
        assert_eq!(
            ask("actions/setup-python@v5", &none),
            Some(("python3", vec!["3.12".into()]))
        );
        assert!(
            wanted(
                "actions/setup-node@v4",
                &given(&[("node-version-file", "missing")]),
                dir.path()
            )
            .is_err()
        );
    }
}
