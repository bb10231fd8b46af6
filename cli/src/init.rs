//! `orch init`: a starter playbook for the project in the current folder, from what it
//! finds there (Cargo, npm, Python, make), with inputs and outputs declared so that the
//! first edit already shows the cache at work.

use std::path::Path;

use orch_engine::load::diag::Problem;

use crate::Failure;

/// The playbook for what `dir` holds, and what it was made for.
fn starter(dir: &Path) -> (&'static str, String) {
    let has = |name: &str| dir.join(name).exists();
    if has("Cargo.toml") {
        return (
            "a Cargo project",
            "\
name: ci
jobs:
  fmt:
    run: cargo fmt --all --check
    inputs: [\"**/*.rs\", \"!target/**\"]
  lint:
    run: cargo clippy --all-targets -- -D warnings
    inputs: [\"**/*.rs\", \"**/Cargo.toml\", \"Cargo.*\", \"!target/**\"]
    tools: [cargo, rustc]
  test:
    needs: lint
    run: cargo test
    inputs: [\"**/*.rs\", \"**/Cargo.toml\", \"Cargo.*\", \"!target/**\"]
    tools: [cargo, rustc]
"
            .into(),
        );
    }
    if has("package.json") {
        let scripts = std::fs::read_to_string(dir.join("package.json"))
            .ok()
            .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok())
            .and_then(|json| json["scripts"].as_object().cloned())
            .unwrap_or_default();
        // Only files that are there: an input pattern that matches nothing is an error.
        // `npm ci` needs a lockfile; without one, `npm install` makes it (an output).
        let (install, inputs, outputs) = if has("package-lock.json") {
            ("npm ci", "package.json, package-lock.json", "node_modules")
        } else {
            (
                "npm install",
                "package.json",
                "node_modules, package-lock.json",
            )
        };
        let mut text = format!(
            "name: ci\njobs:\n  install:\n    run: {install}\n    inputs: [{inputs}]\n    outputs: [{outputs}]\n    tools: [node, npm]\n"
        );
        // The other jobs read the files git does not ignore (orch's default inputs).
        for script in ["lint", "build", "test"] {
            if scripts.contains_key(script) {
                text.push_str(&format!(
                    "  {script}:\n    needs: install\n    run: npm run {script}\n    tools: [node]\n"
                ));
            }
        }
        return ("an npm package", text);
    }
    if has("pyproject.toml") || has("setup.py") {
        return (
            "a Python project",
            "\
name: ci
jobs:
  test:
    shell: bash
    run: python3 -m pytest -q
    tools: [python3]
"
            .into(),
        );
    }
    if has("Makefile") {
        return (
            "a Makefile",
            "\
name: ci
jobs:
  build:
    run: make
  test:
    needs: build
    run: make test
"
            .into(),
        );
    }
    (
        "a folder with nothing orch knows",
        "\
name: hello
jobs:
  hello:
    run: echo \"hello from orch\" > hello.txt
    inputs: []
    outputs: [hello.txt]
  show:
    needs: hello
    run: cat hello.txt
"
        .into(),
    )
}

pub(crate) fn init(force: bool) -> Result<u8, Failure> {
    let cwd = std::env::current_dir()
        .map_err(|e| Problem::general(format!("cannot read the current directory: {e}")))?;
    let path = cwd.join("orch.yml");
    if path.exists() && !force {
        return Err(Problem::general("orch.yml is already here")
            .with_help("`orch init --force` replaces it")
            .into());
    }
    let (what, text) = starter(&cwd);
    std::fs::write(&path, text)
        .map_err(|e| Problem::general(format!("cannot write orch.yml: {e}")))?;
    say!("wrote orch.yml for {what}: `orch list` shows its jobs, `orch run` runs them");
    Ok(0)
}
