//! The cache never lies: each way to a stale hit that was found by hand, closed.

use crate::harness::{Ws, code, stderr};

/// `orch run` fails (exit 1); why `node` failed.
fn failure_of(ws: &Ws, node: &str) -> String {
    let out = ws.run(&["run"]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    ws.reason(node)
}

fn run_ok(ws: &Ws, args: &[&str]) {
    let out = ws.run(args);
    assert_eq!(code(&out), 0, "orch {args:?}: {}", stderr(&out));
}

#[test]
fn a_change_two_levels_up_reaches_a_need_of_a_need() {
    let ws = Ws::new(
        "vars: { v: one }
jobs:
  build:
    outputs: [app]
    run: echo '${{ vars.v }}' > app
  test:
    needs: build
    run: test -s app
  package:
    needs: test
    outputs: [package.txt]
    run: cp app package.txt
",
    );
    run_ok(&ws, &["run"]);
    assert_eq!(ws.read("package.txt"), "one\n");
    run_ok(&ws, &["run", "--var", "v=two"]);
    assert!(!ws.cached("package"), "package must see build's new app");
    assert_eq!(ws.read("package.txt"), "two\n");
    assert_eq!(ws.why("package"), "needs build, whose result changed");
    // And it is still cached when nothing changed.
    run_ok(&ws, &["run", "--var", "v=two"]);
    assert!(ws.cached("package"));
}

#[test]
fn a_change_two_levels_up_through_env_inputs() {
    let ws = Ws::new(
        "jobs:
  build:
    env-inputs: [ORCH_TEST_V]
    outputs: [app]
    run: echo \"$ORCH_TEST_V\" > app
  test:
    needs: build
    run: test -s app
  package:
    needs: test
    outputs: [package.txt]
    run: cp app package.txt
",
    );
    let out = ws.cmd(&["run"]).env("ORCH_TEST_V", "one").output().unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let out = ws.cmd(&["run"]).env("ORCH_TEST_V", "two").output().unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(!ws.cached("package"));
    assert_eq!(ws.read("package.txt"), "two\n");
}

#[test]
fn a_newly_declared_output_is_stored_and_restored() {
    let playbook = |outputs: &str| {
        format!(
            "jobs:
  make:
    inputs: []
    outputs: [{outputs}]
    run: |
      echo a > a
      echo b > b
"
        )
    };
    let ws = Ws::new(&playbook("a"));
    run_ok(&ws, &["run"]);
    ws.write("orch.yml", &playbook("a, b"));
    run_ok(&ws, &["run"]);
    assert!(!ws.cached("make"), "the old record does not hold b");
    assert_eq!(ws.why("make"), "declared outputs changed");
    std::fs::remove_file(ws.path().join("b")).unwrap();
    run_ok(&ws, &["run"]);
    assert!(ws.cached("make"));
    assert_eq!(ws.read("b"), "b\n", "b is restored from the new record");
}

/// A folder on PATH holding a program of ours, and a PATH that finds it first.
fn tool(ws: &Ws, name: &str, body: &str) -> String {
    ws.write(&format!("bin/{name}"), &format!("#!/bin/sh\n{body}\n"));
    let path = ws.path().join("bin").join(name);
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    format!(
        "{}:{}",
        ws.path().join("bin").display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

#[test]
fn the_interpreter_and_declared_tools_are_in_the_key() {
    let ws = Ws::new(
        "jobs:
  interpreted:
    inputs: []
    shell: orch-test-interp {0}
    run: anything
  tooled:
    inputs: []
    tools: [orch-test-tool]
    run: orch-test-tool > tooled.txt
    outputs: [tooled.txt]
",
    );
    let path = tool(&ws, "orch-test-interp", "echo interp one");
    tool(&ws, "orch-test-tool", "echo tool one");
    let out = ws.cmd(&["run"]).env("PATH", &path).output().unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let out = ws.cmd(&["run"]).env("PATH", &path).output().unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(ws.cached("interpreted") && ws.cached("tooled"));

    tool(&ws, "orch-test-interp", "echo interp two");
    tool(&ws, "orch-test-tool", "echo tool two");
    let out = ws.cmd(&["run"]).env("PATH", &path).output().unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(!ws.cached("interpreted") && !ws.cached("tooled"));
    assert_eq!(
        ws.why("interpreted"),
        "orch-test-interp is another program than the one that produced the last result"
    );
    assert_eq!(ws.read("tooled.txt"), "tool two\n");

    // Tools every job declares, from `defaults`.
    ws.write(
        "orch.yml",
        "defaults: { tools: [orch-test-tool] }\njobs:\n  plain: { inputs: [], run: 'true' }\n",
    );
    let out = ws.cmd(&["run"]).env("PATH", &path).output().unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    tool(&ws, "orch-test-tool", "echo tool three");
    let out = ws.cmd(&["run"]).env("PATH", &path).output().unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(
        ws.why("plain"),
        "orch-test-tool is another program than the one that produced the last result"
    );
}

#[test]
fn every_damaged_byte_of_a_record_is_a_miss() {
    let ws = Ws::new(
        "jobs:
  g:
    inputs: []
    outputs: [out.txt]
    run: |
      echo content > out.txt
      echo 'version=1.2.3' >> \"$ORCH_OUTPUT\"
",
    );
    run_ok(&ws, &["run"]);
    let key = ws.node("g")["key"].as_str().unwrap().to_owned();
    let record = ws
        .path()
        .join(".orch/cache/ac")
        .join(&key[..2])
        .join(&key[2..]);
    let good = std::fs::read(&record).unwrap();
    // The intact record is a hit, so a miss below is the damage's doing.
    let _ = std::fs::remove_file(ws.path().join(".orch/state/keys"));
    let out = ws.run(&["plan", "--json"]);
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(plan["nodes"][0]["action"], "cached", "{plan:#}");
    for at in 0..good.len() {
        let mut damaged = good.clone();
        damaged[at] ^= 0x01;
        std::fs::write(&record, &damaged).unwrap();
        // Forget the copy this workspace remembers, so the record itself is read.
        let _ = std::fs::remove_file(ws.path().join(".orch/state/keys"));
        let out = ws.run(&["plan", "--json"]);
        assert_eq!(code(&out), 0, "{}", stderr(&out));
        let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(
            plan["nodes"][0]["action"], "run",
            "byte {at} of the record flipped still decoded: {plan:#}"
        );
    }
}

#[test]
fn every_line_of_a_multi_line_secret_is_masked() {
    let ws = Ws::new(
        "secrets: [ORCH_TEST_KEY]
jobs:
  show:
    cache: false
    run: |
      printf '%s\\n' \"$KEY\" | sed -n 2p
      printf '%s' \"$KEY\" | base64 -w0; echo
    env: { KEY: '${{ secrets.ORCH_TEST_KEY }}' }
",
    );
    let out = ws
        .cmd(&["run"])
        .env("ORCH_TEST_KEY", "first-line-x\nsecond-line-y\nthird")
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let log = ws.log("show");
    let shown = format!("{log}{}", crate::harness::stdout(&out));
    assert!(!shown.contains("second-line-y"), "{shown}");
    assert!(!shown.contains("Zmlyc3QtbGluZS14"), "base64 shown: {shown}");
    assert!(log.contains("***"), "{log}");
}

#[test]
fn a_restore_writes_only_the_nodes_declared_outputs() {
    use orch_store::{ActionResult, Digest, LocalStore, OutputFile};
    let ws = Ws::new(
        "jobs:\n  g: { run: 'if [ -e out.txt ]; then touch existed; fi; echo good > out.txt', inputs: [], outputs: [out.txt] }\n",
    );
    ws.write("src/main.c", "int main;\n");
    std::fs::create_dir_all(ws.path().join(".git/hooks")).unwrap();
    run_ok(&ws, &["run"]);
    let key = Digest::from_hex(ws.node("g")["key"].as_str().unwrap()).unwrap();
    let store = LocalStore::open(&ws.path().join(".orch/cache")).unwrap();
    let evil = store.put_bytes(b"evil\n").unwrap();
    let playbook = ws.read("orch.yml");
    for path in [
        ".git/hooks/pre-commit",
        "orch.yml",
        "src/main.c",
        ".orch/state/keys",
    ] {
        let file = |path: &str| OutputFile {
            path: path.into(),
            digest: evil,
            size: 5,
            mode: 0o755,
            symlink: None,
        };
        let record = ActionResult {
            orch_version: "evil".into(),
            exit_code: 0,
            duration_ms: 0,
            log: None,
            // The declared output first: nothing at all is written when one path is refused.
            files: vec![file("out.txt"), file(path)],
            outputs: Vec::new(),
            summary: String::new(),
            result_digest: Digest::of(b"evil"),
            artifacts: Vec::new(),
        };
        store.put_action(&key, &record).unwrap();
        std::fs::remove_file(ws.path().join("out.txt")).unwrap();
        run_ok(&ws, &["run"]);
        assert!(!ws.cached("g"), "{path}");
        assert!(ws.why("g").contains("refused"), "{path}: {}", ws.why("g"));
        assert_eq!(ws.read("out.txt"), "good\n", "the node ran instead");
        assert!(
            !ws.exists("existed"),
            "{path}: the refused record wrote out.txt first"
        );
        assert!(!ws.exists(".git/hooks/pre-commit"));
        assert_eq!(ws.read("orch.yml"), playbook);
        assert_eq!(ws.read("src/main.c"), "int main;\n");
    }
}

#[test]
fn a_folder_in_the_way_of_a_restore_is_never_removed() {
    let ws = Ws::new("jobs:\n  g: { run: 'echo good > out', inputs: [], outputs: [out] }\n");
    run_ok(&ws, &["run"]);
    std::fs::remove_file(ws.path().join("out")).unwrap();
    ws.write("out/precious.txt", "mine\n");
    let out = ws.run(&["run"]);
    assert!(!ws.cached("g"), "{}", stderr(&out));
    assert_eq!(ws.read("out/precious.txt"), "mine\n");
}

#[test]
fn a_restored_output_folder_holds_only_what_was_recorded() {
    let ws = Ws::new(
        "vars: { more: no }
jobs:
  g:
    inputs: []
    outputs: [dist]
    run: |
      rm -rf dist && mkdir dist && echo a > dist/a
      if [ '${{ vars.more }}' = yes ]; then echo b > dist/b; fi
",
    );
    run_ok(&ws, &["run"]);
    run_ok(&ws, &["run", "--var", "more=yes"]);
    assert!(ws.exists("dist/b"));
    run_ok(&ws, &["run"]);
    assert!(ws.cached("g"));
    assert!(!ws.exists("dist/b"), "a clean run would not have dist/b");
    assert_eq!(ws.read("dist/a"), "a\n");
}

#[test]
fn rendered_paths_are_checked_when_rendered() {
    let marker = format!("orch-escaped-{}", std::process::id());
    let ws = Ws::new(&format!(
        "vars: {{ d: sub, p: src }}
jobs:
  wd:
    inputs: []
    working-directory: ${{{{ vars.d }}}}
    run: touch {marker}
  globbed:
    inputs: ['${{{{ vars.p }}}}/**']
    run: 'true'
  out:
    inputs: []
    outputs: ['${{{{ vars.p }}}}/made']
    run: 'true'
"
    ));
    ws.write("sub/keep", "");
    ws.write("src/a", "a");
    let out = ws.run(&[
        "run",
        "--keep-going",
        "--var",
        "d=..",
        "--var",
        "p=../elsewhere",
    ]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let parent = ws.path().parent().unwrap();
    assert!(
        !parent.join(&marker).exists(),
        "the job ran outside the workspace"
    );
    for node in ["wd", "globbed", "out"] {
        assert_eq!(ws.status(node), "failure", "{node}");
        let reason = ws.reason(node);
        assert!(reason.contains("outside the workspace"), "{node}: {reason}");
    }
    // The same playbook with values inside the workspace runs.
    run_ok(&ws, &["run"]);
    assert!(ws.exists(&format!("sub/{marker}")));
}

#[test]
fn a_literal_input_behind_a_link_out_of_the_workspace_is_refused() {
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("secret.txt"), "s").unwrap();
    let ws = Ws::new("jobs:\n  a: { inputs: [door/secret.txt], run: 'true' }\n");
    std::os::unix::fs::symlink(outside.path(), ws.path().join("door")).unwrap();
    let out = ws.run(&["run"]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("resolves outside it through a symbolic link"),
        "{}",
        stderr(&out)
    );
}

/// A folder checked as inside when one node started, made a link out of the workspace by
/// a node that ran after, is looked at again for the nodes after that: never taken on
/// the word of the earlier check.
#[test]
fn a_folder_a_need_made_a_link_out_is_refused_to_the_nodes_after_it() {
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("x.txt"), "secret").unwrap();
    let ws = Ws::new(&format!(
        "jobs:
  early: {{ inputs: [gen/x.txt], run: 'true' }}
  swap:
    needs: [early]
    run: rm -rf gen && ln -s {} gen
  late:
    needs: [swap]
    inputs: [gen/x.txt]
    run: cat gen/x.txt > seen.txt
",
        outside.path().display()
    ));
    ws.write("gen/x.txt", "inside");
    let out = ws.run(&["run", "-j", "1"]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert_eq!(ws.status("late"), "failure");
    assert!(
        ws.reason("late")
            .contains("resolves outside it through a symbolic link"),
        "{}",
        ws.reason("late")
    );
    assert!(!ws.exists("seen.txt"), "the node read through the link");
}

/// Listings are walked from the folder a pattern is rooted in: never through a link
/// there, as the whole workspace's walk would not.
#[test]
fn patterns_rooted_in_a_link_to_a_folder_do_not_read_through_it() {
    let ws = Ws::new(
        "jobs:
  a: { inputs: ['lnk/**'], run: 'true' }
  b: { inputs: [lnk], run: 'true' }
  c: { inputs: [lnk, 'real/*'], run: 'true' }
",
    );
    ws.write("real/a.txt", "x\n");
    std::os::unix::fs::symlink("real", ws.path().join("lnk")).unwrap();
    let out = ws.run(&["run", "--keep-going"]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert_eq!(ws.reason("a"), "input pattern `lnk/**` matches no file");
    for node in ["b", "c"] {
        assert!(
            ws.reason(node).contains("is a symbolic link to a folder"),
            "{node}: {}",
            ws.reason(node)
        );
    }
}

#[test]
fn an_input_pattern_that_matches_nothing_is_an_error() {
    let ws = Ws::new("jobs:\n  a: { inputs: ['src/**', 'scr/**'], run: 'true' }\n");
    ws.write("src/main.c", "int main;\n");
    let out = ws.run(&["run"]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert_eq!(ws.status("a"), "failure");
    assert_eq!(ws.reason("a"), "input pattern `scr/**` matches no file");
    ws.write(
        "orch.yml",
        "jobs:\n  a: { inputs: ['src/**'], run: 'true' }\n",
    );
    run_ok(&ws, &["run"]);
}

#[test]
fn links_count_as_what_they_point_to() {
    let ws = Ws::new(
        "jobs:
  scripted:
    script: tools/run.sh
  reads:
    inputs: [cfg]
    outputs: [copy.txt]
    run: cat cfg > copy.txt
",
    );
    ws.write("real/run.sh", "echo one\n");
    ws.write("data/config.txt", "one\n");
    std::fs::create_dir_all(ws.path().join("tools")).unwrap();
    std::os::unix::fs::symlink("../real/run.sh", ws.path().join("tools/run.sh")).unwrap();
    std::os::unix::fs::symlink("data/config.txt", ws.path().join("cfg")).unwrap();
    run_ok(&ws, &["run"]);
    run_ok(&ws, &["run"]);
    assert!(ws.cached("scripted") && ws.cached("reads"));
    ws.write("real/run.sh", "echo two\n");
    ws.write("data/config.txt", "two\n");
    run_ok(&ws, &["run"]);
    assert!(
        !ws.cached("scripted"),
        "the script a link points to changed"
    );
    assert!(ws.log("scripted").contains("two"));
    assert!(!ws.cached("reads"), "the input a link points to changed");
    assert_eq!(ws.read("copy.txt"), "two\n");
}

#[test]
fn a_declared_input_that_links_out_of_the_workspace_is_refused() {
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("config"), "c").unwrap();
    let ws = Ws::new("jobs:\n  a: { inputs: ['conf/*'], run: 'true' }\n");
    std::fs::create_dir_all(ws.path().join("conf")).unwrap();
    std::os::unix::fs::symlink(outside.path().join("config"), ws.path().join("conf/link")).unwrap();
    let out = ws.run(&["run"]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert_eq!(
        ws.reason("a"),
        "input conf/link is a symbolic link out of the workspace"
    );
}

#[test]
fn a_missing_secret_is_an_error_unless_optional() {
    let ws = Ws::new(
        "secrets:
  ORCH_TEST_TOKEN: { description: deploys }
  ORCH_TEST_HOOK: { required: false }
jobs:
  deploy:
    cache: false
    run: echo \"token=${{ secrets.ORCH_TEST_TOKEN }}\"
  notify:
    cache: false
    run: echo \"hook=[${{ secrets.ORCH_TEST_HOOK }}]\"
",
    );
    let out = ws
        .cmd(&["run"])
        .env_remove("ORCH_TEST_TOKEN")
        .output()
        .unwrap();
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(
        stderr(&out)
            .contains("secret ORCH_TEST_TOKEN is not set in the environment; `deploy` reads it"),
        "{}",
        stderr(&out)
    );
    assert!(!ws.exists(".orch/runs/latest"), "nothing ran");
    // A job that does not read it runs; an optional secret reads as empty.
    let out = ws
        .cmd(&["run", "notify"])
        .env_remove("ORCH_TEST_TOKEN")
        .env_remove("ORCH_TEST_HOOK")
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(ws.log("notify").contains("hook=[]"));
    // Reading the whole context may read any secret.
    ws.write(
        "orch.yml",
        "secrets: [ORCH_TEST_TOKEN]\njobs:\n  all: { cache: false, run: \"echo '${{ toJSON(secrets) }}'\" }\n",
    );
    let out = ws
        .cmd(&["run"])
        .env_remove("ORCH_TEST_TOKEN")
        .output()
        .unwrap();
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(stderr(&out).contains("`all` reads it"), "{}", stderr(&out));
}

#[test]
fn render_errors_outside_a_node_fail_instead_of_becoming_empty() {
    // The playbook's env.
    let ws = Ws::new(
        "vars: { bad: 'not json' }
env: { CONFIG: '${{ fromJSON(vars.bad) }}' }
jobs:
  a: { cache: false, run: 'echo \"[$CONFIG]\"' }
",
    );
    let reason = failure_of(&ws, "a");
    assert!(reason.contains("env.CONFIG"), "{reason}");

    // A caller's `with`, and a used playbook's `outputs`.
    let ws = Ws::new(
        "vars: { bad: 'not json' }
jobs:
  setup:
    uses: lib/setup.yml
    with: { level: '${{ fromJSON(vars.bad) }}' }
",
    );
    ws.write(
        "lib/setup.yml",
        "inputs: { level: { default: x } }
jobs:
  go: { cache: false, run: 'echo ${{ inputs.level }}' }
",
    );
    let reason = failure_of(&ws, "setup/go");
    assert!(reason.contains("with.level"), "{reason}");

    ws.write(
        "orch.yml",
        "jobs:
  setup: { uses: lib/setup.yml }
  after:
    needs: setup
    if: always()
    cache: false
    run: echo 'value=${{ needs.setup.outputs.value }} ${{ needs.setup.result }}'
",
    );
    ws.write(
        "lib/setup.yml",
        "outputs: { value: '${{ fromJSON(jobs.go.outputs.v) }}' }
jobs:
  go: { cache: false, run: 'echo v=oops >> \"$ORCH_OUTPUT\"' }
",
    );
    let out = ws.run(&["run"]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert!(stderr(&out).contains("outputs.value"), "{}", stderr(&out));
    assert!(
        ws.log("after").contains("value= failure"),
        "{}",
        ws.log("after")
    );
}

#[test]
fn hash_files_in_a_used_playbook_is_relative_to_it() {
    let ws = Ws::new(
        "jobs:
  root: { cache: false, run: \"echo 'root ${{ hashFiles('lib/data.txt') }}'\" }
  lib: { uses: lib/used.yml }
",
    );
    ws.write(
        "lib/used.yml",
        "jobs:\n  h: { cache: false, run: \"echo 'used ${{ hashFiles('data.txt') }}'\" }\n",
    );
    ws.write("lib/data.txt", "data\n");
    run_ok(&ws, &["run"]);
    let root = ws.log("root");
    let used = ws.log("lib/h");
    let digest = |log: &str, tag: &str| {
        log.lines()
            .find_map(|l| l.strip_prefix(tag).map(str::to_owned))
            .unwrap_or_default()
    };
    let expected = digest(&root, "root ");
    assert_eq!(expected.len(), 64, "{root}");
    assert_eq!(digest(&used, "used "), expected, "{used}");
}

#[test]
fn long_node_ids_still_get_their_logs() {
    let value = "v".repeat(300);
    let ws = Ws::new(&format!(
        "jobs:\n  t: {{ cache: false, matrix: {{ x: [{value}] }}, run: echo hello }}\n"
    ));
    run_ok(&ws, &["run"]);
    let node = &ws.summary()["nodes"][0];
    let log = node["log"].as_str().unwrap().to_owned();
    let text = std::fs::read_to_string(ws.path().join(".orch").join(&log)).unwrap();
    assert!(text.contains("hello"), "{log}: {text}");
}

#[test]
fn a_miss_says_when_the_shared_cache_holds_another_hosts_result() {
    let playbook = "jobs:\n  t: { inputs: [], shell: 'orch-test-interp {0}', run: anything }\n";
    let cache = tempfile::tempdir().unwrap();
    let cache_dir = cache.path().to_str().unwrap();
    let first = Ws::new(playbook);
    let path = tool(&first, "orch-test-interp", "echo one");
    let out = first
        .cmd(&["run", "--cache-dir", cache_dir])
        .env("PATH", &path)
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    // Another runner, with another interpreter under the same name, has no run of its own.
    let second = Ws::new(playbook);
    let path = tool(&second, "orch-test-interp", "echo two");
    let out = second
        .cmd(&["run", "--cache-dir", cache_dir])
        .env("PATH", &path)
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(!second.cached("t"));
    assert_eq!(
        second.why("t"),
        "the cache holds this node's result made with another orch-test-interp"
    );
}

#[test]
fn a_node_that_failed_last_time_says_so() {
    let ws = Ws::new("jobs:\n  flaky: { inputs: [], run: 'exit 1' }\n");
    assert_eq!(code(&ws.run(&["run"])), 1);
    assert_eq!(code(&ws.run(&["run"])), 1);
    assert_eq!(
        ws.why("flaky"),
        "it failed last time (failures are not cached)"
    );
}

#[test]
fn excluded_outputs_are_neither_stored_nor_a_reason_to_miss() {
    let ws = Ws::new(
        "jobs:\n  g:\n    inputs: []\n    outputs: [dist, '!dist/*.map']\n    run: mkdir -p dist && echo js > dist/a.js && echo map > dist/a.js.map\n",
    );
    run_ok(&ws, &["run"]);
    std::fs::remove_dir_all(ws.path().join("dist")).unwrap();
    run_ok(&ws, &["run"]);
    assert!(ws.cached("g"), "{}", ws.why("g"));
    assert_eq!(ws.read("dist/a.js"), "js\n");
    assert!(
        !ws.exists("dist/a.js.map"),
        "an excluded output is not restored"
    );
}

#[test]
fn a_restore_never_sweeps_away_another_nodes_outputs() {
    use orch_store::{ActionResult, Digest, LocalStore, OutputFile};
    let ws = Ws::new(
        "jobs:
  docs:
    inputs: []
    outputs: [build/docs]
    run: mkdir -p build/docs && echo docs > build/docs/x.html
  site:
    needs: docs
    inputs: []
    outputs: [build]
    run: mkdir -p build && echo site > build/index.html
",
    );
    run_ok(&ws, &["run"]);
    // A record of site made before docs wrote build/docs (another run order, another
    // runner): it does not hold docs' file.
    let key = Digest::from_hex(ws.node("site")["key"].as_str().unwrap()).unwrap();
    let store = LocalStore::open(&ws.path().join(".orch/cache")).unwrap();
    let index = store.put_bytes(b"site\n").unwrap();
    let files = vec![OutputFile {
        path: "build/index.html".into(),
        digest: index,
        size: 5,
        mode: 0o644,
        symlink: None,
    }];
    let record = ActionResult {
        orch_version: "test".into(),
        exit_code: 0,
        duration_ms: 0,
        log: None,
        result_digest: orch_engine::cache::key::result_digest(&files, &Default::default(), &[]),
        artifacts: Vec::new(),
        files,
        outputs: Vec::new(),
        summary: String::new(),
    };
    store.put_action(&key, &record).unwrap();
    std::fs::remove_file(ws.path().join(".orch/state/keys")).unwrap();
    run_ok(&ws, &["run"]);
    assert!(ws.cached("docs") && ws.cached("site"));
    // site's sweep of build/ must leave docs' file alone: nothing would bring it back.
    assert_eq!(ws.read("build/docs/x.html"), "docs\n");
}

#[test]
fn an_interpreter_found_through_a_relative_path_entry_is_in_the_key() {
    let ws = Ws::new("jobs:\n  t: { inputs: [], shell: 'orch-test-rel {0}', run: anything }\n");
    tool(&ws, "orch-test-rel", "echo one");
    // `bin` relative to the node's folder, and an empty entry, as `PATH=$PATH:` makes.
    let path = format!("bin:{}:", std::env::var("PATH").unwrap_or_default());
    let out = ws.cmd(&["run"]).env("PATH", &path).output().unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    tool(&ws, "orch-test-rel", "echo two");
    let out = ws.cmd(&["run"]).env("PATH", &path).output().unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(!ws.cached("t"), "the interpreter changed");
}

#[test]
fn a_declared_input_that_links_to_a_folder_is_refused() {
    let ws = Ws::new("jobs:\n  a: { inputs: [vendor], run: 'true' }\n");
    ws.write("third_party/vendor/x.c", "x");
    std::os::unix::fs::symlink("third_party/vendor", ws.path().join("vendor")).unwrap();
    let reason = failure_of(&ws, "a");
    assert!(
        reason.contains("input vendor is a symbolic link to a folder"),
        "{reason}"
    );
}

#[test]
fn a_glob_that_does_not_compile_is_an_error_at_load_and_when_rendered() {
    let ws = Ws::new("jobs:\n  a: { inputs: ['src/[a'], run: 'touch ran' }\n");
    let out = ws.run(&["run"]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(stderr(&out).contains("orch.yml:2:17"), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("bad pattern `src/[a`"),
        "{}",
        stderr(&out)
    );
    assert!(!ws.exists("ran"));
    // Rendered: the node fails instead of keying on no files (and hitting forever).
    ws.write(
        "orch.yml",
        "vars: { p: src }\njobs:\n  a: { inputs: ['${{ vars.p }}/**'], run: 'touch ran' }\n",
    );
    ws.write("src/x", "1");
    let out = ws.run(&["run", "--var", "p=src/[a"]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert!(ws.reason("a").contains("bad pattern"), "{}", ws.reason("a"));
    assert!(!ws.exists("ran"));
}

#[test]
fn a_report_file_named_with_a_bang_keeps_the_other_exclusions() {
    // Report files are remembered as exact patterns; one that failed to compile once
    // dropped every exclusion (outputs, the playbook), so nothing ever hit again.
    let ws = Ws::new(
        "jobs:\n  a: { inputs: [], outputs: [out.txt], run: 'date +%N > out.txt' }\n  b: { needs: [a], run: 'true' }\n",
    );
    for _ in 0..3 {
        run_ok(&ws, &["run", "--events", "!events.json"]);
    }
    assert!(ws.exists("!events.json"));
    assert!(ws.cached("a") && ws.cached("b"), "{}", ws.why("b"));
}

#[test]
fn a_step_condition_keys_its_values_with_their_type() {
    // `false` skips the step, the text `'false'` (from --var) is truthy and runs it.
    let ws = Ws::new(
        "vars: { flag: false }
jobs:
  a:
    inputs: []
    outputs: [out.txt]
    steps:
      - run: echo no > out.txt
      - if: vars.flag
        run: echo yes > out.txt
",
    );
    run_ok(&ws, &["run"]);
    assert_eq!(ws.read("out.txt"), "no\n");
    run_ok(&ws, &["run", "--var", "flag=false"]);
    assert!(!ws.cached("a"), "the text 'false' hit on the boolean's key");
    assert_eq!(ws.read("out.txt"), "yes\n");
}

#[test]
fn a_steps_rendered_folder_is_checked_when_rendered() {
    let marker = format!("orch-step-escaped-{}", std::process::id());
    let ws = Ws::new(&format!(
        "vars: {{ d: sub }}\njobs:\n  a:\n    inputs: []\n    steps:\n      - working-directory: ${{{{ vars.d }}}}\n        run: touch {marker}\n"
    ));
    ws.write("sub/.keep", "");
    assert_eq!(code(&ws.run(&["run", "--var", "d=.."])), 1);
    assert!(!ws.path().parent().unwrap().join(&marker).exists());
    assert!(
        ws.reason("a").contains("outside the workspace"),
        "{}",
        ws.reason("a")
    );
    // Literal, it is refused at load.
    ws.write(
        "orch.yml",
        "jobs:\n  a:\n    inputs: []\n    steps:\n      - working-directory: ../x\n        run: 'true'\n",
    );
    let out = ws.run(&["run"]);
    assert_eq!(code(&out), 2);
    assert!(
        stderr(&out).contains("outside the workspace"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_toolchain_behind_rustups_proxy_is_in_the_key() {
    // A fake rustup layout outside the workspace: `bin/cargo` links to `bin/rustup`,
    // which runs the toolchain's own `cargo`.
    let outside = tempfile::tempdir().expect("tempdir");
    let bin = outside.path().join("bin");
    let toolchain = outside.path().join("rustup/toolchains/stable/bin");
    std::fs::create_dir_all(&bin).expect("mkdir");
    std::fs::create_dir_all(&toolchain).expect("mkdir");
    let executable = |path: &std::path::Path, text: &str| {
        use std::os::unix::fs::PermissionsExt;
        std::fs::write(path, text).expect("write");
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    };
    executable(
        &bin.join("rustup"),
        "#!/bin/sh\nexec \"$RUSTUP_HOME/toolchains/stable/bin/$(basename \"$0\")\" \"$@\"\n",
    );
    std::os::unix::fs::symlink("rustup", bin.join("cargo")).expect("symlink");
    executable(&toolchain.join("cargo"), "#!/bin/sh\necho cargo one\n");
    let ws = Ws::new(
        "jobs:\n  build:\n    tools: [cargo]\n    outputs: [out.txt]\n    run: cargo > out.txt\n",
    );
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let run = || {
        let out = ws
            .cmd(&["run"])
            .env("PATH", &path)
            .env("RUSTUP_HOME", outside.path().join("rustup"))
            .output()
            .expect("orch runs");
        assert_eq!(code(&out), 0, "{}", stderr(&out));
    };
    run();
    run();
    assert!(ws.cached("build"), "{}", ws.why("build"));
    // `rustup update`: the proxy is the same, the toolchain's cargo is not.
    executable(&toolchain.join("cargo"), "#!/bin/sh\necho cargo two\n");
    run();
    assert!(!ws.cached("build"), "a new toolchain must run it again");
    assert_eq!(ws.read("out.txt"), "cargo two\n");
}

/// A key computed after a node beside it changed one of its inputs uses the file as it
/// is then, not the digest taken before (the other node stat-ed it first): the result is
/// stored under the right key and the next run hits.
#[test]
fn an_input_changed_by_a_node_before_the_key_is_taken_is_read_again() {
    let ws = Ws::new(
        "jobs:
  touch:
    inputs: [f.txt]
    run: echo new > f.txt
  copy:
    inputs: [f.txt]
    outputs: [copy.txt]
    run: cp f.txt copy.txt
",
    );
    ws.write("f.txt", "old\n");
    run_ok(&ws, &["run", "-j", "1"]);
    assert_eq!(ws.read("copy.txt"), "new\n");
    run_ok(&ws, &["run", "-j", "1"]);
    assert!(ws.cached("copy"), "copy's result was stored under its key");
}

/// A need whose matrix excludes every leg has no nodes, yet what lies above it is still
/// in its dependents' keys.
#[test]
fn a_change_above_a_need_without_nodes_reaches_its_dependents() {
    let playbook = |text: &str| {
        format!(
            "jobs:
  gen:
    outputs: [out.txt]
    run: echo {text} > out.txt
  mid:
    needs: gen
    matrix: {{ x: [a], exclude: [{{ x: a }}] }}
    run: 'true'
  use:
    needs: mid
    outputs: [final.txt]
    run: cat out.txt > final.txt
"
        )
    };
    let ws = Ws::new(&playbook("one"));
    run_ok(&ws, &["run"]);
    assert_eq!(ws.read("final.txt"), "one\n");
    ws.write("orch.yml", &playbook("two"));
    run_ok(&ws, &["run"]);
    assert!(!ws.cached("use"), "use must see gen's new out.txt");
    assert_eq!(ws.read("final.txt"), "two\n");
}

/// `l/..` is not the workspace when `l` is a link: the kernel resolves it through the
/// link, so a literal working directory written so is refused, not normalized away.
#[test]
fn a_working_directory_climbing_out_of_a_link_is_refused() {
    let outside = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(outside.path().join("sub")).unwrap();
    let ws = Ws::new("jobs:\n  a: { working-directory: l/.., run: 'true' }\n");
    std::os::unix::fs::symlink(outside.path().join("sub"), ws.path().join("l")).unwrap();
    let out = ws.run(&["run"]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("through a symbolic link"),
        "{}",
        stderr(&out)
    );
}
