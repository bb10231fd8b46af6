//! What a new user meets first: closed pipes, `--matrix`, gc's grace and durations,
//! `fail-fast: false`.

use std::path::Path;
use std::process::{Command, Stdio};

use crate::harness::{Ws, code, stderr, stdout};

/// `orch ARGS` with its stdout and stderr read by nobody (`orch plan | head -0`).
fn with_closed_pipes(ws: &Ws, args: &[&str]) -> std::process::ExitStatus {
    let mut child = Command::new(assert_cmd::cargo::cargo_bin("orch"))
        .args(args)
        .current_dir(ws.path())
        .env("CI", "true")
        .env("RUST_BACKTRACE", "0")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    drop(child.stderr.take());
    child.wait().unwrap()
}

#[test]
fn a_closed_pipe_ends_orch_quietly() {
    let many: String = (0..300)
        .map(|i| format!("  j{i}: {{ cache: false, run: 'seq 1 200' }}\n"))
        .collect();
    let ws = Ws::new(&format!("jobs:\n{many}"));
    for args in [
        &["plan"][..],
        &["explain", "j1"],
        &["list"],
        &["graph"],
        &["cache", "stats"],
    ] {
        let status = with_closed_pipes(&ws, args);
        // Ended by SIGPIPE as a Unix tool is, or exited: never a panic (101).
        assert_ne!(status.code(), Some(101), "orch {args:?}: {status:?}");
    }
    // A run goes on without its reader: every job ran and the summary was written.
    let status = with_closed_pipes(&ws, &["run", "-j", "2"]);
    assert_eq!(status.code(), Some(0), "{status:?}");
    assert_eq!(ws.summary()["counts"]["success"], 300);
}

#[test]
fn gc_says_its_grace_and_takes_usual_durations() {
    let ws = Ws::new("jobs:\n  a: { inputs: [], outputs: [o], run: 'echo o > o' }\n");
    assert_eq!(code(&ws.run(&["run"])), 0);
    let out = ws.run(&["cache", "gc", "--max-age", "7days"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let said = stdout(&out);
    assert!(
        said.contains("removed 0 entries") && said.contains("--grace"),
        "{said}"
    );
    let help = stdout(&ws.run(&["cache", "gc", "--help"]));
    assert!(help.contains("--grace"), "{help}");
    let out = ws.run(&["cache", "gc", "--max-size", "0", "--grace", "0"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(!stdout(&out).starts_with("removed 0"), "{}", stdout(&out));
    let out = ws.run(&["cache", "gc", "--max-age", "soon"]);
    assert_eq!(code(&out), 2);
    assert!(stderr(&out).contains("--max-age soon"));
}

#[test]
fn counts_read_as_english() {
    let ws = Ws::new("jobs:\n  a: { run: 'true' }\n");
    let out = ws.run(&["run"]);
    assert!(
        stderr(&out).contains(": 1 node, 1 succeeded"),
        "{}",
        stderr(&out)
    );
    let out = ws.run(&["validate"]);
    assert!(
        stdout(&out).contains("ok (1 job, 1 node)"),
        "{}",
        stdout(&out)
    );
    let out = ws.run(&["plan"]);
    assert!(
        stdout(&out).contains("1 node: 1 cached"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn the_reference_covers_every_key_and_help_points_to_it() {
    let reference = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/reference.md"),
    )
    .unwrap();
    let ws = Ws::new("jobs:\n  a: { run: 'true' }\n");
    let schema: serde_json::Value = serde_json::from_str(&stdout(&ws.run(&["schema"]))).unwrap();
    // Every key the loader takes (the schema is kept equal to it) is in the reference.
    let mut keys: Vec<String> = schema["properties"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    let job = &schema["properties"]["jobs"]["additionalProperties"]["properties"];
    keys.extend(job.as_object().unwrap().keys().cloned());
    for key in &keys {
        assert!(
            reference.contains(&format!("`{key}`")),
            "docs/reference.md lacks `{key}`"
        );
    }
    assert!(keys.len() > 30, "{keys:?}");
    let help = stdout(&ws.run(&["--help"]));
    assert!(help.contains("docs/reference.md"), "{help}");
}

#[test]
fn paths_are_shown_from_the_current_folder() {
    let ws = Ws::new("jobs:\n  a: { run: 'true' }\n");
    std::fs::create_dir_all(ws.path().join("sub/deeper")).unwrap();
    let out = ws
        .cmd(&["run"])
        .current_dir(ws.path().join("sub/deeper"))
        .output()
        .unwrap();
    let said = stderr(&out);
    assert!(said.contains("../../orch.yml success"), "{said}");
    let summary = said.rsplit(" — ").next().unwrap().trim();
    assert!(summary.starts_with("../../.orch/runs/"), "{said}");
    assert!(
        ws.path().join("sub/deeper").join(summary).is_file(),
        "{summary}"
    );
}

#[test]
fn outside_git_the_first_run_says_what_default_inputs_mean() {
    let ws = Ws::new("jobs:\n  a: { run: 'echo x > made.txt' }\n");
    let first = stderr(&ws.run(&["run"]));
    assert!(first.contains("is not in a git repository"), "{first}");
    let second = stderr(&ws.run(&["run"]));
    assert!(
        !second.contains("is not in a git repository"),
        "said once: {second}"
    );
    // In a git repository, nothing to say.
    let ws = Ws::new("jobs:\n  a: { run: 'true' }\n");
    std::fs::create_dir_all(ws.path().join(".git")).unwrap();
    assert!(!stderr(&ws.run(&["run"])).contains("git repository"));
}

#[test]
fn an_allowed_failure_reads_as_one_with_its_real_outcome() {
    let ws = Ws::new(
        "jobs:
  flaky: { continue-on-error: true, cache: false, run: 'exit 3' }
  after:
    needs: flaky
    cache: false
    run: echo 'result=${{ needs.flaky.result }} outcome=${{ needs.flaky.outcome }}'
",
    );
    assert_eq!(code(&ws.run(&["run"])), 0);
    assert!(
        ws.log("after").contains("result=success outcome=failure"),
        "{}",
        ws.log("after")
    );
    let md = std::fs::read_to_string(ws.latest_run().join("summary.md")).unwrap();
    assert!(
        md.contains("## Allowed failures (continue-on-error)"),
        "{md}"
    );
    assert!(!md.contains("## Failures"), "{md}");
}

#[test]
fn runs_and_logs_show_the_history() {
    let ws = Ws::new(
        "jobs:\n  t: { inputs: [], matrix: { i: [1, 2] }, run: 'echo hello ${{ matrix.i }}' }\n",
    );
    assert_eq!(code(&ws.run(&["run"])), 0);
    let first = ws.read(".orch/runs/latest").trim().to_owned();
    assert_eq!(code(&ws.run(&["run"])), 0);
    let runs = stdout(&ws.run(&["runs"]));
    let lines: Vec<&str> = runs.lines().collect();
    assert_eq!(lines.len(), 2, "{runs}");
    assert!(
        lines[0].contains("2 nodes: 2 cached"),
        "newest first: {runs}"
    );
    assert!(
        lines[1].starts_with(&first) && lines[1].contains("0 cached"),
        "{runs}"
    );
    // A job's id shows each node's log; a node id one; a cached node's log is the one
    // its run recorded.
    let both = stdout(&ws.run(&["logs", "t"]));
    assert!(
        both.contains("hello 1") && both.contains("hello 2"),
        "{both}"
    );
    let one = stdout(&ws.run(&["logs", "t[i=2]", "--run", &first]));
    assert!(one.contains("hello 2") && !one.contains("hello 1"), "{one}");
    // Without a node: every node's log of the run, each under its id.
    let all = stdout(&ws.run(&["logs"]));
    assert!(
        all.contains("── t[i=1]") && all.contains("hello 1") && all.contains("hello 2"),
        "{all}"
    );
    let out = ws.run(&["logs", "nope"]);
    assert_eq!(code(&out), 2);
    assert!(
        stderr(&out).contains("has no node or job `nope`"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn init_writes_a_starter_that_loads() {
    for (marker, text, job) in [
        ("Cargo.toml", "[package]\nname = \"x\"\n", "lint"),
        (
            "package.json",
            "{\"scripts\": {\"test\": \"true\"}}",
            "test",
        ),
        ("pyproject.toml", "", "test"),
        ("Makefile", "all:\n", "build"),
    ] {
        let ws = Ws::new("");
        std::fs::remove_file(ws.path().join("orch.yml")).unwrap();
        ws.write(marker, text);
        ws.write("src/main.rs", "fn main() {}\n");
        let out = ws.run(&["init"]);
        assert_eq!(code(&out), 0, "{marker}: {}", stderr(&out));
        let out = ws.run(&["validate"]);
        assert_eq!(
            code(&out),
            0,
            "{marker}: {}\n{}",
            stderr(&out),
            ws.read("orch.yml")
        );
        assert!(stdout(&ws.run(&["list"])).contains(job), "{marker}");
        if marker == "package.json" {
            // No lockfile: `npm ci` would refuse; `npm install` makes one.
            let written = ws.read("orch.yml");
            assert!(written.contains("run: npm install"), "{written}");
            assert!(
                written.contains("outputs: [node_modules, package-lock.json]"),
                "{written}"
            );
        }
    }
    // Nothing known: a playbook that runs, and hits the cache the second time.
    let ws = Ws::new("");
    std::fs::remove_file(ws.path().join("orch.yml")).unwrap();
    assert_eq!(code(&ws.run(&["init"])), 0);
    assert_eq!(code(&ws.run(&["run"])), 0);
    assert_eq!(code(&ws.run(&["run"])), 0);
    assert!(ws.cached("hello"));
    let out = ws.run(&["init"]);
    assert_eq!(code(&out), 2, "an orch.yml is there");
    assert!(stderr(&out).contains("--force"), "{}", stderr(&out));
}

#[test]
fn the_newest_run_is_a_folder_away() {
    // `runs/latest` keeps its contract (a file with the id); `runs/last` is the folder.
    let ws = Ws::new("jobs:\n  t: { inputs: [], run: echo hi }\n");
    assert_eq!(code(&ws.run(&["run"])), 0);
    assert_eq!(code(&ws.run(&["run"])), 0);
    let id = ws.read(".orch/runs/latest").trim().to_owned();
    let link = std::fs::read_link(ws.path().join(".orch/runs/last")).unwrap();
    assert_eq!(link, std::path::Path::new(&id));
    assert!(ws.read(".orch/runs/last/summary.md").contains("t"));
    // Only runs are listed, and kept ones pruned: the link is neither.
    assert_eq!(stdout(&ws.run(&["runs"])).lines().count(), 2);
}

#[test]
fn log_files_need_no_quoting_in_a_shell() {
    let ws = Ws::new(
        "jobs:
  build:
    matrix: { os: [linux], target: ['x86_64 gnu'] }
    run: echo built on ${{ matrix.os }}
",
    );
    let out = ws.run(&["run"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let node = "build[os=linux,target=x86_64 gnu]";
    let named = ws.node(node)["log"].as_str().unwrap_or_default().to_owned();
    assert!(
        named.ends_with("/logs/build.os=linux.target=x86_64%20gnu.log"),
        "{named}"
    );
    // Unquoted, as a user types it after `ls`.
    let cat = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("cat .orch/{named}"))
        .current_dir(ws.path())
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&cat.stdout).contains("built on linux"),
        "{cat:?}"
    );
    let logs = ws.run(&["logs", node]);
    assert!(
        stdout(&logs).contains("built on linux"),
        "{}",
        stderr(&logs)
    );
}

#[test]
fn completions_offer_job_and_node_ids() {
    let ws = Ws::new(
        "jobs:
  build:
    matrix: { os: [linux, mac] }
    run: 'true'
  bench: { run: 'true' }
  lint: { run: 'true' }
",
    );
    let ids = ws.run(&["list", "--ids"]);
    assert_eq!(
        stdout(&ids),
        "build\nbench\nlint\nbuild[os=linux]\nbuild[os=mac]\n"
    );
    let script = ws.run(&["completions", "bash"]);
    ws.write("orch.bash", &stdout(&script));
    let bin = assert_cmd::cargo::cargo_bin("orch");
    let path = format!(
        "{}:{}",
        bin.parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let complete = |words: &str| {
        let out = Command::new("bash")
            .arg("-c")
            .arg(format!(
                "source ./orch.bash; COMP_WORDS=({words}); COMP_CWORD=$(( ${{#COMP_WORDS[@]}} - 1 )); _orch_targets orch \"${{COMP_WORDS[COMP_CWORD]}}\" \"${{COMP_WORDS[COMP_CWORD-1]}}\"; printf '%s\\n' \"${{COMPREPLY[@]}}\""
            ))
            .current_dir(ws.path())
            .env("PATH", &path)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert_eq!(
        complete("orch run b"),
        "build\nbench\nbuild[os=linux]\nbuild[os=mac]\n"
    );
    assert_eq!(complete("orch plan --var x=1 l"), "lint\n");
    assert_eq!(complete("orch logs build[os=m"), "build[os=mac]\n");
    // Elsewhere, clap's completion of subcommands stands.
    assert!(complete("orch r").contains("run"), "{}", complete("orch r"));
    for (shell, hook) in [
        ("zsh", ":_orch_targets' \\"),
        (
            "fish",
            "__fish_seen_subcommand_from run plan watch explain graph logs",
        ),
    ] {
        let script = stdout(&ws.run(&["completions", shell]));
        assert!(script.contains(hook), "{shell}: {script}");
        assert!(script.contains("list --ids"), "{shell}");
    }
}

#[test]
fn cache_options_are_in_the_help_of_the_commands_that_use_the_cache() {
    let ws = Ws::new("jobs:\n  a: { run: 'true' }\n");
    for command in [
        "list", "graph", "validate", "init", "logs", "runs", "schema",
    ] {
        let help = stdout(&ws.run(&[command, "--help"]));
        assert!(!help.contains("--cache-dir"), "{command}: {help}");
    }
    for command in [
        &["run"][..],
        &["plan"],
        &["explain"],
        &["watch"],
        &["cache", "stats"],
    ] {
        let mut args = command.to_vec();
        args.push("--help");
        let help = stdout(&ws.run(&args));
        assert!(
            help.contains("--cache-dir") && help.contains("--cache-mode"),
            "{command:?}: {help}"
        );
    }
    let graph = stdout(&ws.run(&["graph", "--help"]));
    assert!(
        graph.contains("How to draw it"),
        "--format says what it is: {graph}"
    );
    // Before the subcommand, as the spec's global options are written, or after it.
    let shared = ws.path().join("shared-cache");
    let dir = shared.to_string_lossy().into_owned();
    assert_eq!(code(&ws.run(&["--cache-dir", &dir, "run"])), 0);
    assert!(shared.join("ac").is_dir());
    let stats = ws.run(&["cache", "stats", "--cache-dir", &dir]);
    assert!(stdout(&stats).contains(&dir), "{}", stdout(&stats));
}

#[test]
fn the_readmes_playbooks_load() {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md"))
            .expect("README.md");
    let mut blocks = 0;
    for block in readme.split("```yaml\n").skip(1) {
        let text = block.split("```").next().unwrap_or_default();
        if !text.contains("jobs:") {
            continue;
        }
        let ws = Ws::new(text);
        let out = ws.run(&["validate"]);
        assert_eq!(code(&out), 0, "{text}\n{}", stderr(&out));
        blocks += 1;
    }
    assert!(blocks >= 1, "the README shows a playbook");
}
