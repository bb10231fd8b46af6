//! GitHub Actions workflow files run as they are: the corpus of real workflows loads,
//! plans and graphs; a workflow's steps see the runner's protocol and contexts.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::harness::{Ws, code, stderr, stdout};

fn corpus() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpus/gha-workflows");
    dir.is_dir().then_some(dir)
}

/// A git repository (GitHub's checkout) with `workflow` as `.github/workflows/ci.yml`.
pub(crate) fn repository(workflow: &str) -> Ws {
    let ws = Ws::new("jobs: { unused: { run: 'true' } }\n");
    std::fs::remove_file(ws.path().join("orch.yml")).expect("rm orch.yml");
    ws.write(".github/workflows/ci.yml", workflow);
    ws.write(".gitignore", "out/\n");
    for args in [
        &["init", "-q"][..],
        &["symbolic-ref", "HEAD", "refs/heads/trunk"],
        &["config", "user.name", "Ada Lovelace"],
        &["config", "user.email", "ada@example.com"],
        &["remote", "add", "origin", "git@github.com:acme/widgets.git"],
        &["add", "-A"],
        &["commit", "-qm", "init"],
    ] {
        let status = Command::new("git")
            .args(args)
            .current_dir(ws.path())
            .status()
            .expect("git runs");
        assert!(status.success(), "git {args:?}");
    }
    ws
}

fn graph_nodes(ws: &Ws, file: &str) -> Vec<String> {
    let out = ws.run(&["graph", "-f", file, "--format", "json"]);
    assert_eq!(code(&out), 0, "{file}: {}", stderr(&out));
    let graph: serde_json::Value = serde_json::from_slice(&out.stdout).expect("graph JSON");
    graph["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .map(|n| n["id"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[test]
fn the_corpus_workflows_plan_and_graph_with_githubs_node_counts() {
    let Some(dir) = corpus() else {
        eprintln!("skipped: ../shared/corpus/gha-workflows is not there");
        return;
    };
    // Each file's node count by GitHub's matrix rules (products, include-only lists; a
    // matrix on a reusable-workflow job calls it once per leg), counted independently.
    // And an event each is triggered by, for `plan`.
    let expected = [
        (
            "BurntSushi__ripgrep__.github__workflows__ci.yml",
            22,
            "pull_request",
        ),
        (
            "BurntSushi__ripgrep__.github__workflows__release.yml",
            16,
            "push",
        ),
        (
            "astral-sh__ruff__.github__workflows__ci.yaml",
            41,
            "pull_request",
        ),
        (
            "casey__just__.github__workflows__ci.yaml",
            6,
            "pull_request",
        ),
        (
            "launchbadge__sqlx__.github__workflows__examples.yml",
            6,
            "pull_request",
        ),
        (
            "nektos__act__.github__workflows__checks.yml",
            5,
            "pull_request",
        ),
        (
            "pallets__flask__.github__workflows__tests.yaml",
            12,
            "pull_request",
        ),
        (
            "rust-lang__cargo__.github__workflows__main.yml",
            29,
            "pull_request",
        ),
        (
            "rust-lang__rust-analyzer__.github__workflows__release.yaml",
            12,
            "push",
        ),
        (
            "tokio-rs__tokio__.github__workflows__ci.yml",
            78,
            "pull_request",
        ),
    ];
    let ws = Ws::new("jobs: { unused: { run: 'true' } }\n");
    // tokio calls a reusable workflow the corpus does not hold: one job, its input.
    ws.write(
        ".github/workflows/uring-kernel-version-test.yml",
        "on:\n  workflow_call:\n    inputs:\n      kernel_version: { type: string, required: true }\njobs:\n  test:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo ${{ inputs.kernel_version }}\n",
    );
    let mut total = 0;
    for (file, count, event) in expected {
        let text = std::fs::read_to_string(dir.join(file)).expect("corpus file");
        let path = format!(".github/workflows/{file}");
        ws.write(&path, &text);
        let nodes = graph_nodes(&ws, &path);
        assert_eq!(nodes.len(), count, "{file}: {nodes:?}");
        total += nodes.len();
        let out = ws.run(&["plan", "-f", &path, "--event", event]);
        assert_eq!(code(&out), 0, "plan {file}: {}", stderr(&out));
        assert!(
            stdout(&out).contains(&format!("{count} nodes")),
            "{file}: {}",
            stdout(&out)
        );
    }
    assert_eq!(total, 227);
    // Legs of a matrix `uses` are separate calls, and the value GitHub reads from a
    // need stays an expression in the id.
    let tokio = graph_nodes(
        &ws,
        ".github/workflows/tokio-rs__tokio__.github__workflows__ci.yml",
    );
    assert!(
        tokio
            .iter()
            .any(|n| n == "test-io-uring-on-specific-kernel-versions[kernel_version=4.19.325]/test"),
        "{tokio:?}"
    );
}

const RUNNER_PROTOCOL: &str = "name: CI
on:
  push:
  workflow_dispatch:
    inputs:
      level: { description: how loud, default: quiet }
env:
  TOP: top-${{ github.repository }}
jobs:
  build:
    runs-on: ${{ matrix.os }}
    strategy:
      matrix:
        os: [ubuntu-latest, windows-latest]
    outputs:
      version: ${{ steps.ver.outputs.v }}
    steps:
      - uses: actions/checkout@v4
      - uses: Swatinem/rust-cache@v2
      - id: ver
        run: |
          echo \"v=1.2.${{ strategy.job-index }}\" >> \"$GITHUB_OUTPUT\"
          echo \"unmapped=x\" >> \"$GITHUB_OUTPUT\"
          echo \"FROM_ENV=carried\" >> \"$GITHUB_ENV\"
          mkdir -p \"$RUNNER_TEMP/bin\" && printf '#!/bin/sh\\necho tool\\n' > \"$RUNNER_TEMP/bin/t\" && chmod +x \"$RUNNER_TEMP/bin/t\"
          echo \"$RUNNER_TEMP/bin\" >> \"$GITHUB_PATH\"
          echo '### built' >> \"$GITHUB_STEP_SUMMARY\"
      - run: |
          mkdir -p out
          echo \"$FROM_ENV $TOP $RUNNER_OS $CI ${{ runner.os }} ${{ github.event_name }} ${{ inputs.level }} [${{ matrix.missing }}] $(t)\" > out/seen.txt
          echo \"${{ github.sha }}\" > out/sha.txt
          test \"$GITHUB_WORKSPACE\" = \"$PWD\" && echo same > out/workspace.txt
  after:
    needs: build
    runs-on: ubuntu-latest
    steps:
      - run: mkdir -p out && echo \"got ${{ needs.build.outputs.version }}[${{ needs.build.outputs.unmapped }}] ${{ github.actor }} ${{ github.ref_name }}\" > out/after.txt
      - uses: someone/unknown-action@v1
";

#[test]
fn a_workflow_runs_with_the_runners_files_and_contexts() {
    let ws = repository(RUNNER_PROTOCOL);
    let out = ws.run(&["run", "-f", ".github/workflows/ci.yml"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(
        ws.read("out/seen.txt"),
        "carried top-acme/widgets Linux true Linux push quiet [] tool\n",
        "GITHUB_ENV, GITHUB_PATH, env over github, RUNNER_OS, CI, runner, event, input default, a missing matrix key"
    );
    assert_eq!(ws.read("out/workspace.txt"), "same\n");
    let head = Command::new("git")
        .args(["rev-parse", "HEAD"])
        .current_dir(ws.path())
        .output()
        .expect("git");
    assert_eq!(
        ws.read("out/sha.txt"),
        String::from_utf8_lossy(&head.stdout)
    );
    // Job outputs are the `outputs:` map only; the ref is the branch git is on.
    let branch = Command::new("git")
        .args(["branch", "--show-current"])
        .current_dir(ws.path())
        .output()
        .expect("git");
    let branch = String::from_utf8_lossy(&branch.stdout).trim().to_owned();
    assert_eq!(
        ws.read("out/after.txt"),
        format!("got 1.2.0[] Ada Lovelace {branch}\n")
    );
    let windows = "build[os=windows-latest]";
    assert_eq!(ws.status(windows), "skipped");
    assert!(
        ws.reason(windows)
            .contains("runs-on `windows-latest`: not this machine"),
        "{}",
        ws.reason(windows)
    );
    assert!(
        ws.log("build[os=ubuntu-latest]")
            .contains("actions/checkout@v4: nothing to do")
    );
    let err = stderr(&out);
    assert!(
        err.contains("step `someone/unknown-action@v1` skipped: a remote action is not run"),
        "{err}"
    );
    let summary = std::fs::read_to_string(ws.latest_run().join("summary.md")).expect("summary.md");
    assert!(summary.contains("### built"), "{summary}");

    // No edit: every job that ran is cached, its job outputs with it.
    let again = ws.run(&["run", "--workflow", "ci"]);
    assert_eq!(code(&again), 0, "{}", stderr(&again));
    assert!(
        ws.cached("build[os=ubuntu-latest]"),
        "{}",
        ws.why("build[os=ubuntu-latest]")
    );
    assert!(ws.cached("after"), "{}", ws.why("after"));

    // Another event or input is another run of the steps that read it.
    let dispatch = ws.run(&[
        "run",
        "--workflow",
        "ci",
        "--event",
        "workflow_dispatch",
        "--input",
        "level=loud",
    ]);
    assert_eq!(code(&dispatch), 0, "{}", stderr(&dispatch));
    assert!(!ws.cached("build[os=ubuntu-latest]"));
    assert!(ws.read("out/seen.txt").contains("workflow_dispatch loud"));

    // The plan says where the Windows leg would run, and `--runner` brings it here.
    let plan = ws.run(&[
        "plan",
        "--workflow",
        "ci",
        "--runner",
        "windows-latest=local",
    ]);
    assert_eq!(code(&plan), 0, "{}", stderr(&plan));
    assert!(
        !stdout(&plan).contains("not this machine"),
        "{}",
        stdout(&plan)
    );
    let plan = ws.run(&["plan", "--workflow", "ci"]);
    assert!(
        stdout(&plan).contains("3 nodes: 2 cached, 0 to run, 0 blocked, 1 skipped"),
        "the numbers add up: {}",
        stdout(&plan)
    );
    assert!(
        stdout(&plan).contains("not this machine"),
        "{}",
        stdout(&plan)
    );

    // Every command that reads a playbook takes `--workflow` (there is no orch.yml here).
    for args in [
        &["runs", "--workflow", "ci"][..],
        &["logs", "--workflow", "ci", "after"],
        &["cache", "stats", "--workflow", "ci"],
        &["list", "--workflow", "ci"],
        &["graph", "--workflow", "ci"],
    ] {
        let out = ws.run(args);
        assert_eq!(code(&out), 0, "{args:?}: {}", stderr(&out));
    }
}

#[test]
fn a_workflow_refuses_what_it_does_not_take() {
    let ws = repository(RUNNER_PROTOCOL);
    for (args, says) in [
        (
            &["run", "--workflow", "ci", "--event", "pull_request"][..],
            "does not run on `pull_request`: its `on:` is push, workflow_dispatch",
        ),
        (
            &["run", "--workflow", "ci", "--input", "levle=x"],
            "the workflow has no input `levle`",
        ),
        (
            &["run", "--workflow", "ci", "--runner", "windows-latest"],
            "expected LABEL=local",
        ),
        (&["run", "--workflow", "cj"], "no workflow `cj`"),
    ] {
        let out = ws.run(args);
        assert_eq!(code(&out), 2, "{args:?}");
        assert!(stderr(&out).contains(says), "{args:?}: {}", stderr(&out));
        assert!(!ws.exists("out"), "{args:?} ran something");
    }
    let out = ws.run(&["run", "--workflow", "cj"]);
    assert!(
        stderr(&out).contains("did you mean `ci`?"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_setup_action_needs_its_tool_on_path() {
    let ws = repository(
        "on: push
jobs:
  t:
    runs-on: ubuntu-latest
    timeout-minutes: ${{ github.repository == 'acme/widgets' && 1 || 2 }}
    steps:
      - uses: taiki-e/install-action@v2
        with: { tool: 'sh,no-such-tool-xyz' }
      - run: mkdir -p out && touch out/ran
",
    );
    let out = ws.run(&["run", "--workflow", "ci"]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert!(
        ws.reason("t")
            .contains("sets up `no-such-tool-xyz`, which is not on PATH"),
        "{}",
        ws.reason("t")
    );
    assert!(ws.log("t").contains("sh is "), "{}", ws.log("t"));
    assert!(!ws.exists("out/ran"));
}

#[test]
fn a_setup_action_checks_the_version_it_asks_for() {
    let version = |program: &str| {
        Command::new(program)
            .arg("--version")
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
    };
    let Some(node) = version("node") else {
        eprintln!("node is not installed: its version is not checked");
        return;
    };
    let major: u32 = node
        .trim_start_matches('v')
        .split('.')
        .next()
        .and_then(|m| m.parse().ok())
        .expect("node's major version");
    let workflow = |spec: &str| {
        format!(
            "on: push
jobs:
  t:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/setup-node@v4
        with: {{ node-version: '{spec}' }}
      - run: mkdir -p out && touch out/ran
"
        )
    };
    let ws = repository(&workflow(&format!("{major}.x")));
    let out = ws.run(&["run", "--workflow", "ci"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(ws.log("t").contains(&format!("`{node}` is node {major}.x")));
    let ws = repository(&workflow(&format!(">={}", major + 1)));
    let out = ws.run(&["run", "--workflow", "ci"]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert!(
        ws.reason("t").contains(&format!(
            "asks for node >={} (with.node-version), and this machine's is `{node}`",
            major + 1
        )),
        "{}",
        ws.reason("t")
    );
    assert!(!ws.exists("out/ran"));

    // With rustup, a toolchain it has is chosen for the steps after the action.
    let has_nightly = Command::new("rustup")
        .args(["toolchain", "list"])
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("nightly"));
    if has_nightly {
        let ws = repository(
            "on: push
jobs:
  t:
    runs-on: ubuntu-latest
    steps:
      - uses: dtolnay/rust-toolchain@nightly
      - run: mkdir -p out && rustc --version > out/rustc
",
        );
        let out = ws.run(&["run", "--workflow", "ci"]);
        assert_eq!(code(&out), 0, "{}", stderr(&out));
        assert!(
            ws.read("out/rustc").contains("nightly"),
            "{}",
            ws.read("out/rustc")
        );
        // A toolchain file beats the action's default, as on GitHub.
        ws.write("rust-toolchain.toml", "[toolchain]\nchannel = \"stable\"\n");
        let out = ws.run(&["run", "--workflow", "ci"]);
        assert_eq!(code(&out), 0, "{}", stderr(&out));
        assert!(
            !ws.read("out/rustc").contains("nightly"),
            "{}",
            ws.read("out/rustc")
        );
        assert!(
            ws.log("t")
                .contains("rust-toolchain.toml decides the toolchain")
        );
    }
}

#[test]
fn a_job_of_a_real_workflow_runs_end_to_end() {
    let Some(dir) = corpus() else {
        eprintln!("skipped: ../shared/corpus/gha-workflows is not there");
        return;
    };
    // just's `msrv` job: checkout, a Rust toolchain action, rust-cache, `cargo check`,
    // on a small crate in a git repository.
    let text = std::fs::read_to_string(dir.join("casey__just__.github__workflows__ci.yaml"))
        .expect("corpus file");
    // It asks for Rust 1.89.0: where that is not what this machine has, the job fails
    // naming both; the run below writes this machine's version in its place.
    let rustc = Command::new("rustc")
        .arg("--version")
        .output()
        .expect("rustc");
    let here = String::from_utf8_lossy(&rustc.stdout)
        .split_whitespace()
        .nth(1)
        .expect("a version")
        .to_owned();
    if !here.starts_with("1.89.") {
        let ws = repository(&text);
        ws.write(
            "Cargo.toml",
            "[package]\nname = \"tiny\"\nversion = \"0.1.0\"\n",
        );
        let out = ws.run(&["run", "--workflow", "ci", "msrv", "--event", "pull_request"]);
        let installed = Command::new("rustup")
            .args(["toolchain", "list"])
            .output()
            .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("1.89.0"));
        if !installed {
            assert_eq!(code(&out), 1, "{}", stderr(&out));
            assert!(
                ws.reason("msrv")
                    .contains("asks for rustc 1.89.0 (with.toolchain)"),
                "{}",
                ws.reason("msrv")
            );
        }
    }
    let ws = repository(&text.replace("toolchain: 1.89.0", &format!("toolchain: {here}")));
    ws.write(
        "Cargo.toml",
        "[package]\nname = \"tiny\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[workspace]\n",
    );
    ws.write("src/main.rs", "fn main() { println!(\"hi\"); }\n");
    ws.write(".gitignore", "out/\ntarget/\nCargo.lock\n");
    // Its pushes run on `master` only: a pull request's filter names a base branch.
    let out = ws.run(&["run", "--workflow", "ci", "msrv", "--event", "push"]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("on.push.branches is master and HEAD is `"),
        "{}",
        stderr(&out)
    );
    let out = ws.run(&["run", "--workflow", "ci", "msrv", "--event", "pull_request"]);
    assert_eq!(code(&out), 0, "{}\n{}", stderr(&out), ws.log("msrv"));
    let log = ws.log("msrv");
    assert!(log.contains("actions/checkout@v6: nothing to do"), "{log}");
    assert!(
        log.contains("actions-rust-lang/setup-rust-toolchain@v1: cargo is "),
        "{log}"
    );
    assert!(
        log.contains("Checking tiny v0.1.0") || log.contains("Finished"),
        "{log}"
    );
    assert_eq!(ws.status("msrv"), "success");
    let again = ws.run(&["run", "--workflow", "ci", "msrv", "--event", "pull_request"]);
    assert_eq!(code(&again), 0, "{}", stderr(&again));
    assert!(ws.cached("msrv"), "{}", ws.why("msrv"));
    ws.write("src/main.rs", "fn main() { println!(\"edited\"); }\n");
    let edited = ws.run(&["run", "--workflow", "ci", "msrv", "--event", "pull_request"]);
    assert_eq!(code(&edited), 0, "{}", stderr(&edited));
    assert!(!ws.cached("msrv"), "an edit re-runs it");
}

#[test]
fn path_filters_look_at_what_changed() {
    let ws = repository(
        "on:
  push:
    paths-ignore: ['docs/**']
jobs:
  t:
    runs-on: ubuntu-latest
    steps:
      - run: mkdir -p out && touch out/ran
",
    );
    ws.write("docs/guide.md", "words\n");
    let out = ws.run(&["run", "--workflow", "ci"]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("on.push.paths-ignore is docs/**, and every changed file matches"),
        "{}",
        stderr(&out)
    );
    assert!(!ws.exists("out/ran"));
    ws.write("src/lib.rs", "// code\n");
    let out = ws.run(&["run", "--workflow", "ci"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(ws.exists("out/ran"));
}

#[test]
fn artifacts_pass_between_jobs_and_come_back_with_a_hit() {
    let ws = repository(
        "on: push
jobs:
  build:
    runs-on: ubuntu-latest
    strategy: { matrix: { flavor: [plain] } }
    steps:
      - run: mkdir -p out/dist/bin && echo \"$(cat src.txt)${{ vars.suffix }}\" > out/dist/bin/app && echo notes > out/dist/notes.md && echo x > out/dist/skip.log
      - uses: actions/upload-artifact@v4
        with:
          name: app-${{ matrix.flavor }}
          path: |
            out/dist/
            !out/dist/*.log
  package:
    needs: build
    runs-on: ubuntu-latest
    steps:
      - uses: actions/download-artifact@v4
        with: { name: app-plain, path: out/got }
      - run: cat out/got/bin/app > out/packaged.txt; test ! -e out/got/skip.log
  stranger:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/download-artifact@v4
        with: { name: app-plain }
",
    );
    ws.write("src.txt", "v1\n");
    let out = ws.run(&["run", "--workflow", "ci", "--keep-going"]);
    assert_eq!(code(&out), 1, "stranger fails: {}", stderr(&out));
    assert_eq!(ws.read("out/packaged.txt"), "v1\n");
    let reason = ws.reason("stranger");
    assert!(
        reason.contains("no artifact named `app-plain`")
            || reason.contains("which this job does not need"),
        "{reason}"
    );
    let run = ws.latest_run();
    assert_eq!(
        std::fs::read_to_string(run.join("artifacts/app-plain/bin/app")).unwrap(),
        "v1\n"
    );
    let summary = std::fs::read_to_string(run.join("summary.md")).unwrap();
    assert!(
        summary.contains("| `app-plain` | `build[flavor=plain]` | 2 |"),
        "{summary}"
    );
    assert_eq!(ws.node("build[flavor=plain]")["artifacts"][0]["files"], 2);

    // A hit brings its artifacts into the new run.
    let again = ws.run(&["run", "--workflow", "ci", "build", "package"]);
    assert_eq!(code(&again), 0, "{}", stderr(&again));
    assert!(
        ws.cached("build[flavor=plain]"),
        "{}",
        ws.why("build[flavor=plain]")
    );
    assert!(ws.cached("package"), "{}", ws.why("package"));
    assert!(
        ws.latest_run()
            .join("artifacts/app-plain/notes.md")
            .exists()
    );

    // What the artifact holds is in the result its dependents' keys hold: a var only
    // the build reads changes what the package fetches.
    let edited = ws.run(&[
        "run",
        "--workflow",
        "ci",
        "build",
        "package",
        "--var",
        "suffix=-2",
    ]);
    assert_eq!(code(&edited), 0, "{}", stderr(&edited));
    assert!(!ws.cached("package"), "{}", ws.why("package"));
    assert_eq!(ws.read("out/packaged.txt"), "v1-2\n");
}

#[test]
fn a_playbook_keeps_artifacts_for_the_jobs_after_it() {
    let ws = Ws::new(
        "jobs:
  build:
    inputs: [src.txt]
    run: mkdir -p out && cp src.txt out/app
    artifacts: { app: [out/app] }
  ship:
    needs: build
    inputs: []
    run: cat \"$ORCH_ARTIFACTS/app/app\" > shipped.txt
  missing:
    inputs: []
    run: 'true'
    artifacts: [nothing/here]
",
    );
    ws.write("src.txt", "one\n");
    let out = ws.run(&["run", "--keep-going"]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert_eq!(ws.read("shipped.txt"), "one\n");
    assert!(
        ws.reason("missing")
            .contains("no file matches nothing/here"),
        "{}",
        ws.reason("missing")
    );
    let again = ws.run(&["run", "build", "ship"]);
    assert_eq!(code(&again), 0, "{}", stderr(&again));
    assert!(ws.cached("build"));
    assert!(ws.latest_run().join("artifacts/app/app").exists());
}

#[test]
fn what_artifacts_keeps_is_in_the_key() {
    let ws = Ws::new(
        "jobs:
  build:
    inputs: []
    run: echo a > a.txt; echo b > b.txt
    artifacts: { app: [a.txt] }
",
    );
    assert_eq!(code(&ws.run(&["run"])), 0);
    ws.write(
        "orch.yml",
        "jobs:
  build:
    inputs: []
    run: echo a > a.txt; echo b > b.txt
    artifacts: { app: [b.txt] }
",
    );
    let out = ws.run(&["run"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(!ws.cached("build"), "another artifact is another result");
    assert!(ws.latest_run().join("artifacts/app/b.txt").exists());
}

#[test]
fn secrets_event_payload_and_what_is_not_applied() {
    let ws = repository(
        "on: [push]
permissions: { contents: read }
concurrency: ci-${{ github.ref }}
jobs:
  t:
    runs-on: ubuntu-latest
    services:
      db: { image: postgres }
    steps:
      - run: |
          mkdir -p out
          echo \"token ${{ secrets.GITHUB_TOKEN }} and ${{ secrets.deploy_key }}\"
          echo \"${{ github.event.sender.login }} [${{ secrets.UNSET_ONE }}]\" > out/event.txt
",
    );
    ws.write("payload.json", "{ \"sender\": { \"login\": \"octocat\" } }");
    let out = ws
        .cmd(&["run", "--workflow", "ci", "--event-file", "payload.json"])
        .env("GITHUB_TOKEN", "ghp_s3cr3t_value")
        .env("DEPLOY_KEY", "dk-123456")
        .output()
        .expect("orch runs");
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(
        ws.read("out/event.txt"),
        "octocat []\n",
        "the payload, an unset secret empty"
    );
    let log = ws.log("t");
    assert!(
        !log.contains("ghp_s3cr3t_value") && !log.contains("dk-123456"),
        "{log}"
    );
    assert!(log.contains("token *** and ***"), "{log}");
    let err = stderr(&out);
    for note in [
        ".github/workflows/ci.yml:2:1: `permissions` is not applied",
        ".github/workflows/ci.yml:3:1: `concurrency` is not applied",
        "`jobs.t.services` is not applied: service containers are not started",
    ] {
        assert!(err.contains(note), "{note}: {err}");
    }
    ws.write("payload.json", "{ not json");
    let out = ws.run(&["run", "--workflow", "ci", "--event-file", "payload.json"]);
    assert_eq!(code(&out), 2);
    assert!(
        stderr(&out).contains("payload.json:1:3: not JSON"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_matrix_value_may_be_an_expression_over_needs() {
    let ws = repository(
        "on: push
jobs:
  version:
    runs-on: ubuntu-latest
    outputs: { v: '${{ steps.v.outputs.v }}' }
    steps:
      - id: v
        run: echo v=4.19 >> \"$GITHUB_OUTPUT\"
  test:
    needs: version
    runs-on: ubuntu-latest
    strategy:
      matrix:
        kernel: ['${{ needs.version.outputs.v }}', '6.1']
    steps:
      - run: mkdir -p out && echo ${{ matrix.kernel }} > out/test-${{ strategy.job-index }}.txt
  call:
    needs: version
    strategy:
      matrix:
        kernel: ['${{ needs.version.outputs.v }}']
    uses: ./.github/workflows/callee.yml
    with: { kernel: '${{ matrix.kernel }}' }
",
    );
    ws.write(
        ".github/workflows/callee.yml",
        "on:
  workflow_call:
    inputs: { kernel: { type: string, required: true } }
jobs:
  run:
    runs-on: ubuntu-latest
    steps:
      - run: mkdir -p out && echo ${{ inputs.kernel }} > out/called.txt
",
    );
    let out = ws.run(&["run", "--workflow", "ci"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(ws.read("out/test-0.txt"), "4.19\n");
    assert_eq!(ws.read("out/test-1.txt"), "6.1\n");
    assert_eq!(ws.read("out/called.txt"), "4.19\n");
}

/// A graph remembered in `.orch/state/` answers `graph` and `plan` exactly as the
/// compiled one does, for every corpus workflow (all the dialect's features).
#[test]
fn a_remembered_graph_answers_as_a_compiled_one() {
    let Some(dir) = corpus() else {
        eprintln!("skipped: ../shared/corpus/gha-workflows is not there");
        return;
    };
    let fresh = Ws::new("jobs: { unused: { run: 'true' } }\n");
    let remembering = Ws::new("jobs: { unused: { run: 'true' } }\n");
    std::fs::create_dir_all(remembering.path().join(".orch/state")).expect("mkdir");
    // tokio calls a reusable workflow the corpus does not hold.
    for ws in [&fresh, &remembering] {
        ws.write(
            ".github/workflows/uring-kernel-version-test.yml",
            "on:\n  workflow_call:\n    inputs:\n      kernel_version: { type: string, required: true }\njobs:\n  test:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo ${{ inputs.kernel_version }}\n",
        );
    }
    let answers = |ws: &Ws, path: &str| {
        let graph = ws.run(&["graph", "-f", path, "--format", "json"]);
        let plan = ws.run(&["plan", "-f", path, "--event", "pull_request"]);
        (stdout(&graph), stderr(&graph), stdout(&plan), stderr(&plan))
    };
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .expect("corpus")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|name| name.ends_with(".yml") || name.ends_with(".yaml"))
        .collect();
    files.sort();
    assert_eq!(files.len(), 10);
    for file in &files {
        let text = std::fs::read_to_string(dir.join(file)).expect("corpus file");
        let path = format!(".github/workflows/{file}");
        fresh.write(&path, &text);
        remembering.write(&path, &text);
        // `plan` keeps a stat cache in `.orch/state/`: gone, nothing is remembered.
        let _ = std::fs::remove_dir_all(fresh.path().join(".orch"));
        let compiled = answers(&fresh, &path);
        assert!(!compiled.0.is_empty(), "{file}: {}", compiled.1);
        let kept = answers(&remembering, &path);
        let recalled = answers(&remembering, &path);
        assert_eq!(kept, compiled, "{file}");
        assert_eq!(recalled, compiled, "{file}");
    }
    let kept = std::fs::read_dir(remembering.path().join(".orch/state"))
        .expect("state")
        .filter(|e| {
            e.as_ref()
                .is_ok_and(|e| e.file_name().to_string_lossy().starts_with("graph-"))
        })
        .count();
    assert_eq!(kept, files.len(), "one remembered graph per workflow");
}
