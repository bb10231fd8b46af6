//! What a run does: commands, shells, env, outputs, logs and summaries.

use crate::harness::{Ws, code, stderr, stdout};

#[test]
fn the_orch_context_names_the_node() {
    let ws = Ws::new(
        "jobs:
  build:
    matrix: { os: [linux] }
    env: { WHERE: '${{ orch.os }}' }
    run: echo \"${{ orch.job }} ${{ orch.node }} $WHERE ${{ toJSON(orch.workspace != '') }} ${{ matrix.os }}\"
",
    );
    let out = ws.run(&["run"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let expected = format!("build build[os=linux] {} true linux", std::env::consts::OS);
    assert!(stdout(&out).contains(&expected), "{}", stdout(&out));
}

#[test]
fn a_run_writes_logs_and_summaries() {
    let ws = Ws::new(
        "name: demo
vars: { greeting: hello }
env:
  TOP: top-${{ vars.greeting }}
jobs:
  build:
    run: |
      echo \"$TOP and ${{ vars.greeting }}\"
      echo version=1.2.3 >> \"$ORCH_OUTPUT\"
      printf 'notes<<EOF\\nline one\\nline two\\nEOF\\n' >> \"$ORCH_OUTPUT\"
  test:
    needs: build
    matrix: { suite: [unit, e2e] }
    run: |
      echo \"suite=$ORCH_MATRIX_SUITE v=${{ needs.build.outputs.version }} node=$ORCH_NODE job=$ORCH_JOB\"
      echo '**tested** ${{ matrix.suite }}' >> \"$ORCH_SUMMARY\"
",
    );
    let out = ws.run(&["run"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    // Plain output (no terminal): each node's log, lines prefixed with its id.
    let text = stdout(&out);
    assert!(text.contains("[build] top-hello and hello"), "{text}");
    assert!(
        text.contains("[test[suite=unit]] suite=unit v=1.2.3 node=test[suite=unit] job=test"),
        "{text}"
    );

    let summary = ws.summary();
    assert_eq!(summary["version"], 1);
    assert_eq!(summary["status"], "success");
    assert_eq!(summary["playbook"], "orch.yml");
    let run_id = summary["run_id"].as_str().unwrap();
    assert_eq!(ws.read(".orch/runs/latest").trim(), run_id);
    assert_eq!(
        summary["counts"],
        serde_json::json!({"total": 3, "success": 3, "failure": 0, "skipped": 0, "cancelled": 0, "cached": 0})
    );
    let build = &summary["nodes"][0];
    assert_eq!(build["id"], "build");
    assert_eq!(build["outputs"]["version"], "1.2.3");
    assert_eq!(build["outputs"]["notes"], "line one\nline two");
    assert_eq!(build["exit_code"], 0);
    assert_eq!(build["attempts"], 1);
    assert_eq!(build["cached"], false);
    assert_eq!(build["log"], format!("runs/{run_id}/logs/build.log"));
    let test = &summary["nodes"][1];
    assert_eq!(test["matrix"], serde_json::json!({"suite": "unit"}));
    for key in ["started_at", "duration_ms"] {
        assert!(!summary[key].is_null(), "{key}");
    }
    assert!(ws.log("test[suite=e2e]").contains("suite=e2e v=1.2.3"));

    let md = std::fs::read_to_string(ws.latest_run().join("summary.md")).unwrap();
    assert!(md.contains("succeeded"), "{md}");
    assert!(md.contains("| `test[suite=unit]` | ✅ success |"), "{md}");
    assert!(md.contains("suite=e2e"), "{md}");
    assert!(md.contains("**tested** unit"), "{md}");
}

#[test]
fn failures_show_their_log_tail_in_the_summary() {
    let ws = Ws::new("jobs:\n  bad: { run: 'echo the reason it broke; exit 3' }\n");
    let out = ws.run(&[
        "run",
        "--junit",
        "junit.xml",
        "--summary",
        "s.md",
        "--json-summary",
        "s.json",
    ]);
    assert_eq!(code(&out), 1);
    let summary = ws.summary();
    assert_eq!(summary["status"], "failure");
    assert_eq!(summary["nodes"][0]["exit_code"], 3);
    let md = ws.read("s.md");
    assert!(md.contains("## Failures"), "{md}");
    assert!(md.contains("the reason it broke"), "{md}");
    let json: serde_json::Value = serde_json::from_str(&ws.read("s.json")).unwrap();
    assert_eq!(json["status"], "failure");
    let junit = ws.read("junit.xml");
    assert!(
        junit.contains("<testcase classname=\"bad\" name=\"bad\""),
        "{junit}"
    );
    assert!(
        junit.contains("<failure message=\"exit code 3\">"),
        "{junit}"
    );
    assert!(junit.contains("the reason it broke"), "{junit}");
}

#[test]
fn github_step_summary_is_appended() {
    let ws = Ws::new("jobs:\n  a: { run: 'true' }\n");
    ws.write("step-summary.md", "before\n");
    let out = ws
        .cmd(&["run"])
        .env("GITHUB_STEP_SUMMARY", ws.path().join("step-summary.md"))
        .output()
        .unwrap();
    assert_eq!(code(&out), 0);
    let text = ws.read("step-summary.md");
    assert!(text.starts_with("before\n"), "{text}");
    assert!(text.contains("| `a` | ✅ success |"), "{text}");
}

#[test]
fn shells_scripts_args_and_working_directory() {
    let ws = Ws::new(
        "defaults: { shell: sh }
jobs:
  posix: { run: 'echo \"sh here\" > posix.txt' }
  py: { shell: python, run: 'open(\"py.txt\", \"w\").write(\"python here\")' }
  scripted: { script: tools/s.sh, args: ['${{ matrix.x }}', two words], matrix: { x: [1] } }
  sub: { run: 'pwd > where.txt; echo \"$MY_VAR\" >> where.txt', working-directory: sub, env: { MY_VAR: set } }
  template: { shell: 'bash -e {0}', run: 'echo templated > t.txt' }
",
    );
    ws.write("tools/s.sh", "printf '%s|' \"$@\" > args.txt\n");
    std::fs::create_dir_all(ws.path().join("sub")).unwrap();
    let out = ws.run(&["run"]);
    assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));
    assert_eq!(ws.read("posix.txt"), "sh here\n");
    assert_eq!(ws.read("py.txt"), "python here");
    assert_eq!(ws.read("args.txt"), "1|two words|");
    let where_ = ws.read("sub/where.txt");
    assert!(where_.trim_end().ends_with("sub\nset"), "{where_}");
    assert_eq!(ws.read("t.txt"), "templated\n");
}

#[test]
fn an_option_with_an_empty_value_is_left_out_with_its_name() {
    let ws = Ws::new(
        "vars: { level: '', mode: fast }
jobs:
  scripted:
    script: s.sh
    args: [first, { option: --level, value: '${{ vars.level }}' }, { option: --mode, value: '${{ vars.mode }}' }]
  stepped:
    steps:
      - { id: probe, run: 'echo \"seen=\" >> \"$ORCH_OUTPUT\"' }
      - { script: s2.sh, args: [{ option: --seen, value: '${{ steps.probe.outputs.seen }}' }, last] }
",
    );
    ws.write("s.sh", "printf '%s|' \"$@\" > args.txt\n");
    ws.write("s2.sh", "printf '%s|' \"$@\" > args2.txt\n");
    let out = ws.run(&["run"]);
    assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));
    assert_eq!(ws.read("args.txt"), "first|--mode|fast|");
    assert_eq!(ws.read("args2.txt"), "last|");
    // A value that is set now passes both words, and is a new key.
    let out = ws.run(&["run", "--var", "level=3"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(ws.read("args.txt"), "first|--level|3|--mode|fast|");
}

#[test]
fn an_option_without_its_value_is_a_located_error() {
    let ws = Ws::new("jobs:\n  a: { script: s.sh, args: [{ option: --x }] }\n");
    ws.write("s.sh", "true\n");
    let out = ws.run(&["validate"]);
    assert_eq!(code(&out), 2);
    assert!(
        stderr(&out).contains("needs both `option` and `value`")
            && stderr(&out).contains("orch.yml:2:"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn bash_is_strict_by_default() {
    let ws = Ws::new("jobs:\n  a: { run: 'false | true; echo should-not-print' }\n");
    let out = ws.run(&["run"]);
    assert_eq!(code(&out), 1, "pipefail must fail the job");
    assert!(!ws.log("a").contains("should-not-print"));
}

#[test]
fn vars_profiles_and_steps() {
    let ws = Ws::new(
        "vars: { level: low }
profiles:
  loud: { vars: { level: high }, targets: [say] }
jobs:
  say: { run: 'echo level=${{ vars.level }} > say.txt' }
  other: { run: 'touch other.txt' }
  stepped:
    steps:
      - { name: first, run: 'echo one > steps.txt' }
      - { run: 'exit 1', continue-on-error: true }
      - { if: \"vars.level == 'nope'\", run: 'echo skipped >> steps.txt' }
      - { run: 'echo three >> steps.txt' }
",
    );
    let out = ws.run(&["run", "--var", "level=mid"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(ws.read("say.txt"), "level=mid\n");
    assert_eq!(ws.read("steps.txt"), "one\nthree\n");
    std::fs::remove_file(ws.path().join("other.txt")).unwrap();
    let out = ws.run(&["run", "--profile", "loud"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(ws.read("say.txt"), "level=high\n");
    assert!(!ws.exists("other.txt"), "the profile's targets only");
    assert_eq!(code(&ws.run(&["run", "--profile", "lodu"])), 2);
}

#[test]
fn keeps_the_newest_fifty_runs() {
    let ws = Ws::new("jobs:\n  a: { run: 'true' }\n");
    for i in 0..55 {
        std::fs::create_dir_all(
            ws.path()
                .join(format!(".orch/runs/20200101T0000{i:02}Z-abcd/logs")),
        )
        .unwrap();
    }
    assert_eq!(code(&ws.run(&["run"])), 0);
    let runs = std::fs::read_dir(ws.path().join(".orch/runs"))
        .unwrap()
        .filter(|e| e.as_ref().unwrap().file_type().unwrap().is_dir())
        .count();
    assert_eq!(runs, 50);
    assert!(ws.latest_run().exists(), "the newest run is kept");
    assert!(!ws.exists(".orch/runs/20200101T000000Z-abcd"));
}

#[test]
fn huge_output_streams_to_the_log() {
    let ws = Ws::new(
        "jobs:\n  flood: { run: 'head -c 20000000 /dev/zero | tr \"\\0\" x; echo; echo end' }\n",
    );
    let out = ws.cmd(&["run", "-q"]).output().unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let log = std::fs::metadata(ws.latest_run().join("logs/flood.log")).unwrap();
    assert!(log.len() > 20_000_000);
}

#[test]
fn secrets_are_masked_everywhere() {
    let ws = Ws::new(
        "secrets: [DEPLOY_TOKEN]
jobs:
  leak:
    run: |
      echo \"direct ${{ secrets.DEPLOY_TOKEN }}\"
      printf 'split s3c'; sleep 0.2; printf 'ret-v'; sleep 0.2; printf 'alue\\n'
      echo \"token=${{ secrets.DEPLOY_TOKEN }}\" >> \"$ORCH_OUTPUT\"
      echo \"summary ${{ secrets.DEPLOY_TOKEN }}\" >> \"$ORCH_SUMMARY\"
      exit 1
",
    );
    let out = ws
        .cmd(&["run"])
        .env("DEPLOY_TOKEN", "s3cret-value")
        .output()
        .unwrap();
    assert_eq!(code(&out), 1);
    let shown = format!("{}{}", stdout(&out), stderr(&out));
    assert!(!shown.contains("s3cret-value"), "{shown}");
    assert!(
        shown.contains("direct ***") && shown.contains("split ***"),
        "{shown}"
    );
    // Nothing orch wrote under .orch holds the secret in plain text.
    for entry in walk(&ws.path().join(".orch")) {
        let bytes = std::fs::read(&entry).unwrap();
        assert!(
            !String::from_utf8_lossy(&bytes).contains("s3cret-value"),
            "{} holds the secret",
            entry.display()
        );
    }
    assert!(ws.log("leak").contains("split ***"));

    // The same from a secrets file, with the environment empty.
    ws.write("secrets.env", "# deploy\nDEPLOY_TOKEN=\"s3cret-value\"\n");
    let out = ws
        .cmd(&["run", "--secrets-file", "secrets.env"])
        .env_remove("DEPLOY_TOKEN")
        .output()
        .unwrap();
    assert_eq!(code(&out), 1);
    assert!(stdout(&out).contains("direct ***"), "{}", stdout(&out));
    assert!(!stdout(&out).contains("s3cret-value"));
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}

#[test]
fn hash_files_changes_with_content() {
    let ws = Ws::new(
        "jobs:\n  h: { run: \"echo '${{ hashFiles('src/**/*.c', '!src/skip.c') }}' > hash.txt\" }\n",
    );
    ws.write("src/a.c", "int a;");
    ws.write("src/skip.c", "int skip;");
    assert_eq!(code(&ws.run(&["run"])), 0);
    let first = ws.read("hash.txt");
    assert_eq!(first.trim().len(), 64, "{first}");
    ws.write("src/skip.c", "int skipped;");
    assert_eq!(code(&ws.run(&["run"])), 0);
    assert_eq!(
        ws.read("hash.txt"),
        first,
        "an excluded file does not count"
    );
    ws.write("src/a.c", "int b;");
    assert_eq!(code(&ws.run(&["run"])), 0);
    assert_ne!(ws.read("hash.txt"), first);
}

#[test]
fn env_context_sees_playbook_then_job_env() {
    let ws = Ws::new(
        "env: { TOP: top }\njobs:\n  a:\n    env: { MINE: 'mine-${{ env.TOP }}' }\n    run: echo '${{ env.MINE }} ${{ env.TOP }}' > env.txt\n",
    );
    assert_eq!(code(&ws.run(&["run"])), 0);
    assert_eq!(ws.read("env.txt"), "mine-top top\n");
}

#[test]
fn matrix_outputs_last_node_in_expansion_order_wins() {
    let ws = Ws::new(
        "jobs:
  m:
    matrix: { n: [1, 2, 3] }
    run: |
      [ ${{ matrix.n }} = 3 ] || echo \"all=${{ matrix.n }}\" >> \"$ORCH_OUTPUT\"
      echo \"n${{ matrix.n }}=yes\" >> \"$ORCH_OUTPUT\"
  read:
    needs: m
    run: echo '${{ needs.m.outputs.all }} ${{ needs.m.outputs.n1 }} ${{ needs.m.outputs.n3 }}' > read.txt
",
    );
    // One at a time in reverse would still give 2: expansion order decides, not timing.
    assert_eq!(code(&ws.run(&["run", "-j", "3"])), 0);
    assert_eq!(ws.read("read.txt"), "2 yes yes\n");
}

#[test]
fn a_step_has_its_own_shell_folder_and_time_limit() {
    let ws = Ws::new(
        "jobs:
  a:
    inputs: []
    steps:
      - working-directory: sub
        run: pwd > where.txt
      - shell: python
        run: open('py.txt', 'w').write('from python')
      - timeout: 1s
        continue-on-error: true
        run: sleep 5
      - run: echo after > after.txt
  b:
    inputs: []
    steps:
      - timeout: 1s
        run: sleep 5
",
    );
    ws.write("sub/.keep", "");
    let started = std::time::Instant::now();
    let out = ws.run(&["run", "--keep-going"]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert!(started.elapsed() < std::time::Duration::from_secs(4));
    assert!(ws.read("sub/where.txt").trim_end().ends_with("/sub"));
    assert_eq!(ws.read("py.txt"), "from python");
    assert_eq!(ws.read("after.txt"), "after\n");
    assert!(
        ws.log("a").contains("step 3 timed out after 1.0s"),
        "{}",
        ws.log("a")
    );
    assert_eq!(ws.status("a"), "success");
    assert_eq!(ws.status("b"), "failure");
    assert_eq!(ws.reason("b"), "step 1 timed out after 1.0s");
}

#[test]
fn a_steps_own_settings_are_in_its_key() {
    let playbook = |shell: &str| {
        format!(
            "jobs:\n  a:\n    inputs: []\n    steps:\n      - shell: {shell}\n        run: echo hi\n"
        )
    };
    let ws = Ws::new(&playbook("bash"));
    assert_eq!(code(&ws.run(&["run"])), 0);
    assert_eq!(code(&ws.run(&["run"])), 0);
    assert!(ws.cached("a"));
    ws.write("orch.yml", &playbook("sh"));
    assert_eq!(code(&ws.run(&["run"])), 0);
    assert!(!ws.cached("a"), "another shell hit the old key");
}

#[test]
fn a_steps_if_reads_the_steps_before_it() {
    let ws = Ws::new(
        "jobs:
  a:
    inputs: []
    outputs: [seen.txt]
    steps:
      - id: probe
        run: echo found=yes >> \"$ORCH_OUTPUT\"
      - id: flaky
        continue-on-error: true
        run: exit 3
      - if: steps.probe.outputs.found == 'yes' && steps.flaky.outcome == 'failure' && steps.flaky.conclusion == 'success'
        run: echo ok > seen.txt
      - id: never
        if: steps.probe.outputs.found == 'no'
        run: echo bad > bad.txt
      - if: steps.never.outcome == 'skipped'
        run: echo skipped >> seen.txt
",
    );
    let out = ws.run(&["run"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(ws.read("seen.txt"), "ok\nskipped\n");
    assert!(!ws.exists("bad.txt"));
    assert_eq!(ws.node("a")["outputs"]["found"], "yes");
}

#[test]
fn steps_are_named_only_where_they_can_be_read() {
    let ws = Ws::new(
        "jobs:
  a:
    steps:
      - id: first
        run: 'true'
      - if: steps.frist.outcome == 'success'
        run: echo ${{ steps.first.outputs.x }}
      - id: first
        run: 'true'
  b:
    run: echo ${{ steps.first.outputs.x }}
",
    );
    let out = ws.run(&["validate"]);
    assert_eq!(code(&out), 2);
    let err = stderr(&out);
    assert!(
        err.contains("no step before this one has the id `frist`"),
        "{err}"
    );
    assert!(err.contains("did you mean `first`"), "{err}");
    assert!(
        err.contains("`steps` is only available inside a job's steps"),
        "{err}"
    );
    assert!(err.contains("step id `first` is used twice"), "{err}");
    assert!(err.contains("3 problems found"), "{err}");
}

#[test]
fn orch_env_and_orch_path_reach_the_steps_after() {
    let ws = Ws::new(
        "jobs:
  a:
    inputs: []
    steps:
      - run: |
          echo GREETING=hello >> \"$ORCH_ENV\"
          mkdir -p bin && printf '#!/bin/sh\\necho tool-ran\\n' > bin/mytool && chmod +x bin/mytool
          echo \"$PWD/bin\" >> \"$ORCH_PATH\"
      - run: echo \"$GREETING\" > g.txt; mytool > t.txt
      - env: { GREETING: from-step }
        run: echo \"$GREETING\" > s.txt
",
    );
    let out = ws.run(&["run"]);
    assert_eq!(code(&out), 0, "{}\n{}", stderr(&out), ws.log("a"));
    assert_eq!(ws.read("g.txt"), "hello\n");
    assert_eq!(ws.read("t.txt"), "tool-ran\n");
    assert_eq!(ws.read("s.txt"), "from-step\n", "a step's own env wins");
}

#[test]
fn a_steps_text_reads_the_outputs_of_the_steps_before_it() {
    let ws = Ws::new(
        "vars: { tag: x }
jobs:
  a:
    inputs: []
    outputs: [v.txt]
    steps:
      - id: ver
        run: echo version=1.2 >> \"$ORCH_OUTPUT\"
      - env: { V: '${{ steps.ver.outputs.version }}' }
        run: echo \"${{ steps.ver.outputs.version }}-$V-${{ vars.tag }}\" > v.txt
",
    );
    let out = ws.run(&["run"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(ws.read("v.txt"), "1.2-1.2-x\n");
    assert_eq!(code(&ws.run(&["run"])), 0);
    assert!(ws.cached("a"));
    // What the late text reads besides `steps` is in the key.
    assert_eq!(code(&ws.run(&["run", "--var", "tag=y"])), 0);
    assert!(
        !ws.cached("a"),
        "a var read by a step rendered late did not change the key"
    );
    assert_eq!(ws.read("v.txt"), "1.2-1.2-y\n");
}

#[test]
fn a_matrix_value_may_be_an_object() {
    let ws = Ws::new(
        "jobs:
  t:
    inputs: []
    matrix:
      target: [{ os: linux, name: a }, { os: mac, name: b }]
      include: [{ target: { os: win, name: c }, extra: x }]
      exclude: [{ target: { os: mac, name: b } }]
    run: echo \"${{ matrix.target.os }}\" > out-${{ matrix.target.name }}.txt
",
    );
    let out = ws.run(&["run"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(ws.read("out-a.txt"), "linux\n");
    assert_eq!(ws.read("out-c.txt"), "win\n");
    assert!(!ws.exists("out-b.txt"), "the excluded object was run");
    assert_eq!(ws.summary()["nodes"].as_array().unwrap().len(), 2);
}

#[test]
fn a_bad_output_file_fails_a_step_that_succeeded_and_never_hides_why_one_failed() {
    let ws = Ws::new(
        "jobs:
  ok:
    inputs: []
    run: echo 'x<<END' >> \"$ORCH_OUTPUT\"
  failing:
    inputs: []
    run: echo 'x<<END' >> \"$ORCH_OUTPUT\"; exit 4
",
    );
    assert_eq!(code(&ws.run(&["run", "--keep-going"])), 1);
    assert_eq!(ws.status("ok"), "failure");
    assert!(
        ws.reason("ok").starts_with("bad $ORCH_OUTPUT"),
        "{}",
        ws.reason("ok")
    );
    assert_eq!(ws.reason("failing"), "exit code 4");
}

#[test]
fn a_step_rendered_late_is_not_rendered_before_its_steps_have_run() {
    // Rendered without `steps`, `fromJSON(null)` fails: the node must not fail on that.
    let ws = Ws::new(
        "jobs:
  a:
    inputs: []
    steps:
      - id: a
        run: echo 'j={\"v\":3}' >> \"$ORCH_OUTPUT\"
      - run: echo \"${{ fromJSON(steps.a.outputs.j).v }}\" > v.txt
",
    );
    let out = ws.run(&["run"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(ws.read("v.txt"), "3\n");
}

#[test]
fn success_rules_judge_the_run_on_real_outcomes() {
    let playbook = |rules: &str| {
        format!(
            "success: {rules}\njobs:\n  good:\n    run: 'true'\n  flaky:\n    continue-on-error: true\n    run: exit 3\n"
        )
    };
    // By the usual rule the allowed failure passes; a critical job must really succeed.
    let ws = Ws::new(&playbook("{ critical: [flaky] }"));
    let out = ws.run(&["run"]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("success: critical job `flaky` did not succeed (flaky)"),
        "{}",
        stderr(&out)
    );
    let ws = Ws::new(&playbook("{ minimum-count: 2 }"));
    let out = ws.run(&["run"]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert!(stderr(&out).contains("1 nodes succeeded, fewer than the 2 required"));
    let ws = Ws::new(&playbook("{ minimum-rate: 0.5, critical: [good] }"));
    assert_eq!(code(&ws.run(&["run"])), 0);
    let ws = Ws::new(&playbook("{ critical: [nope] }"));
    let out = ws.run(&["validate"]);
    assert_eq!(code(&out), 2);
    assert!(
        stderr(&out).contains("`success:` names `nope`, which is not a job here"),
        "{}",
        stderr(&out)
    );
}
