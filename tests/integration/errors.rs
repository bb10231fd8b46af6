//! Bad input: a clear error with file:line:column and a caret, exit 2, nothing run.

use crate::harness::{Ws, code, stderr};

/// Runs `orch run` on a bad playbook; checks exit 2, nothing ran, and returns stderr.
fn rejected(playbook: &str) -> String {
    let ws = Ws::new(playbook);
    let out = ws.run(&["run"]);
    assert_eq!(code(&out), 2, "stderr: {}", stderr(&out));
    assert!(
        !ws.exists(".orch/runs"),
        "nothing may run for an invalid playbook"
    );
    assert!(!ws.exists("ran"), "a job ran");
    stderr(&out)
}

#[test]
fn yaml_syntax_error_is_located() {
    let err = rejected("jobs:\n  a: { run: touch ran\n  b: [\n");
    assert!(err.contains("invalid YAML"), "{err}");
    assert!(err.contains("orch.yml:"), "{err}");
}

#[test]
fn json_syntax_error_is_located() {
    let ws = Ws::new("");
    ws.write(
        "orch.json",
        "{\n  \"jobs\": {\n    \"a\": {\"run\": \"touch ran\"},\n  }\n}\n",
    );
    std::fs::remove_file(ws.path().join("orch.yml")).unwrap();
    let out = ws.run(&["run"]);
    assert_eq!(code(&out), 2);
    let err = stderr(&out);
    assert!(err.contains("invalid JSON"), "{err}");
    assert!(err.contains("orch.json:4:3"), "{err}");
    assert!(!ws.exists("ran"));
}

#[test]
fn unknown_key_has_suggestion_and_caret() {
    let err = rejected("jobs:\n  build:\n    rnu: touch ran\n");
    assert!(err.contains("unknown key `rnu` in job `build`"), "{err}");
    assert!(err.contains("orch.yml:3:5"), "{err}");
    assert!(err.contains("did you mean `run`?"), "{err}");
    assert!(
        err.contains('^') || err.contains('─'),
        "a caret or underline: {err}"
    );
}

#[test]
fn wrong_type_is_reported() {
    let err = rejected("jobs:\n  a:\n    run: touch ran\n    retries: many\n");
    assert!(err.contains("a.retries must be a whole number"), "{err}");
    assert!(err.contains("orch.yml:4:14"), "{err}");
}

#[test]
fn unknown_needs_suggests() {
    let err =
        rejected("jobs:\n  build: { run: touch ran }\n  test: { run: 'true', needs: [biuld] }\n");
    assert!(err.contains("needs `biuld`, which is not a job"), "{err}");
    assert!(err.contains("did you mean `build`?"), "{err}");
    assert!(err.contains("orch.yml:3:32"), "{err}");
}

#[test]
fn cycles_name_every_job() {
    let err = rejected(
        "jobs:\n  a: { run: touch ran, needs: c }\n  b: { run: 'true', needs: a }\n  c: { run: 'true', needs: b }\n",
    );
    assert!(err.contains("form a cycle"), "{err}");
    assert!(err.contains("a → c → b → a"), "{err}");
}

#[test]
fn bad_duration() {
    let err = rejected("jobs:\n  a: { run: touch ran, timeout: 5 minutes }\n");
    assert!(err.contains("bad duration `5 minutes`"), "{err}");
    assert!(err.contains("orch.yml:2:33"), "{err}");
}

#[test]
fn several_problems_are_all_reported() {
    let err = rejected("jobs:\n  a: { rnu: x }\n  b: { run: x, timeout: soon }\n");
    assert!(err.contains("unknown key `rnu`"), "{err}");
    assert!(err.contains("bad duration `soon`"), "{err}");
}

#[test]
fn bad_expression_points_inside_the_braces() {
    let err =
        rejected("vars: { profile: x }\njobs:\n  a: { run: 'touch ran ${{ vars.prfile }}' }\n");
    assert!(err.contains("unknown var `prfile`"), "{err}");
    assert!(err.contains("did you mean `profile`?"), "{err}");
    assert!(err.contains("orch.yml:3:28"), "{err}");
}

#[test]
fn huge_matrix_fails_at_once() {
    let axes: String = (0..100).map(|i| format!("      a{i}: [x, y]\n")).collect();
    let started = std::time::Instant::now();
    let err = rejected(&format!(
        "jobs:\n  m:\n    run: touch ran\n    matrix:\n{axes}"
    ));
    assert!(err.contains("more than the limit"), "{err}");
    assert!(
        started.elapsed().as_secs() < 10,
        "must fail at once, not expand"
    );
}

#[test]
fn missing_playbook_and_bad_command_line() {
    let ws = Ws::new("jobs:\n  a: { run: 'true' }\n");
    std::fs::remove_file(ws.path().join("orch.yml")).unwrap();
    let out = ws.run(&["run"]);
    assert_eq!(code(&out), 2);
    assert!(
        stderr(&out).contains("no playbook here"),
        "{}",
        stderr(&out)
    );

    let ws = Ws::new("jobs:\n  a: { run: 'true' }\n");
    assert_eq!(code(&ws.run(&["run", "--jobs", "0"])), 2);
    assert_eq!(code(&ws.run(&["run", "--var", "nope=1"])), 2);
    assert_eq!(code(&ws.run(&["run", "nosuchjob"])), 2);
    assert_eq!(code(&ws.run(&["frobnicate"])), 2);
}

#[test]
fn invalid_utf8_is_an_error_not_a_panic() {
    let ws = Ws::new("");
    std::fs::write(
        ws.path().join("orch.yml"),
        b"jobs:\n  a: { run: \xff\xfe }\n",
    )
    .unwrap();
    let out = ws.run(&["validate"]);
    assert_eq!(code(&out), 2);
    assert!(stderr(&out).contains("not valid UTF-8"), "{}", stderr(&out));
}

#[test]
fn requires_names_each_miss_before_running() {
    let err = rejected(
        "requires:\n  commands: [sh, no-such-command-xyz]\n  env: [ORCH_TEST_SURELY_UNSET]\njobs:\n  a: { run: touch ran }\n",
    );
    assert!(
        err.contains("command `no-such-command-xyz` is not on PATH"),
        "{err}"
    );
    assert!(
        err.contains("environment variable `ORCH_TEST_SURELY_UNSET` is not set"),
        "{err}"
    );
    assert!(!err.contains("command `sh`"), "{err}");
}

#[test]
fn paths_outside_the_workspace_are_refused() {
    for (key, value) in [
        ("script", "../escape.sh"),
        ("working-directory", "/tmp"),
        ("inputs", "['src/**', '../secret/**']"),
        ("outputs", "['out/../../x']"),
    ] {
        let run = if key == "script" {
            ""
        } else {
            "run: touch ran, "
        };
        let err = rejected(&format!("jobs:\n  a: {{ {run}{key}: {value} }}\n"));
        assert!(err.contains("is outside the workspace"), "{key}: {err}");
        assert!(err.contains("orch.yml:2:"), "{key}: {err}");
    }
}

#[test]
fn a_wrong_axis_in_exclude_is_pointed_at() {
    let err = rejected(
        "jobs:\n  t:\n    matrix:\n      os: [linux, mac]\n      exclude:\n        - oss: linux\n    run: touch ran\n",
    );
    assert!(err.contains("t.matrix.exclude names `oss`"), "{err}");
    assert!(err.contains("orch.yml:6:11"), "{err}");
    assert!(err.contains("did you mean `os`?"), "{err}");
}

#[test]
fn github_habits_get_the_orch_spelling() {
    let err = rejected(
        "on: push
jobs:
  build:
    timeout-minutes: 5
    strategy: { matrix: { os: [a] } }
    outputs: { version: '${{ steps.v.outputs.version }}' }
    run: touch ran
",
    );
    assert!(err.contains("orch has no triggers"), "{err}");
    assert!(err.contains("orch spells it `timeout: 10m`"), "{err}");
    assert!(
        err.contains("orch puts `matrix:` on the job itself"),
        "{err}"
    );
    assert!(err.contains("\"$ORCH_OUTPUT\""), "{err}");
    let err = rejected("jobs:\n  a: { run: 'echo ${{ github.sha }} && touch ran' }\n");
    assert!(err.contains("orch's own context is `orch`"), "{err}");
}

#[test]
fn every_problem_comes_in_one_round() {
    // A key typo (found decoding) beside a bad need and a bad reference (found after):
    // all in one report, in file order; a need of a job that could not be decoded at all
    // is not reported on top of that job's own problem.
    let ws = Ws::new(
        "jobs:
  build:
    rnu: echo hi
    run: echo ${{ vars.nope }}
  test:
    needs: [biuld]
    run: echo test
  broken: echo not a map
  deploy:
    needs: [broken]
    run: echo deploy
",
    );
    let out = ws.run(&["validate"]);
    assert_eq!(code(&out), 2);
    let err = stderr(&out);
    let at = |what: &str| {
        err.find(what)
            .unwrap_or_else(|| panic!("no `{what}` in:\n{err}"))
    };
    assert!(at("unknown key `rnu`") < at("unknown var `nope`"));
    assert!(at("unknown var `nope`") < at("needs `biuld`"));
    assert!(at("needs `biuld`") < at("`broken` must be a map"));
    assert!(!err.contains("needs `broken`"), "{err}");
    assert!(err.contains("4 problems found"), "{err}");
}

#[test]
fn what_decoding_left_out_is_not_reported_again() {
    // A section or field that did not decode is its own problem; the later checks would
    // only repeat it (an unknown var, a job without its matrix or needs).
    let ws = Ws::new(
        "vars: [1, 2]
jobs:
  a:
    matrix: 5
    run: echo ${{ matrix.os }} ${{ vars.x }}
  b:
    needs: {x: 1}
    run: echo ${{ needs.a.outputs.y }}
  c:
    run: echo ${{ matrix.z }}
",
    );
    let out = ws.run(&["validate"]);
    assert_eq!(code(&out), 2);
    let err = stderr(&out);
    for expected in [
        "vars must be a map",
        "a.matrix must be a map",
        "b.needs must be",
        "job `c` has no matrix",
        "4 problems found",
    ] {
        assert!(err.contains(expected), "no `{expected}` in:\n{err}");
    }
    for cascade in ["job `a` has no matrix", "unknown var", "does not need"] {
        assert!(!err.contains(cascade), "`{cascade}` in:\n{err}");
    }
}

#[test]
fn the_command_lines_problems_come_in_the_same_round() {
    let ws = Ws::new(
        "jobs:\n  t:\n    matrix: { os: [a, b] }\n    rnu: x\n    run: echo ${{ matrix.os }}\n",
    );
    let out = ws.run(&["run", "--matrix", "oss=x"]);
    assert_eq!(code(&out), 2);
    let err = stderr(&out);
    assert!(err.contains("unknown key `rnu`"), "{err}");
    assert!(
        err.contains("--matrix oss: no job has a matrix axis `oss`"),
        "{err}"
    );
    assert!(err.contains("2 problems found"), "{err}");
}

#[test]
fn a_misspelt_need_is_not_offered_for_the_right_name() {
    let err = rejected(
        "jobs:
  build: { run: 'true' }
  deploy:
    needs: [biuld]
    run: echo ${{ needs.build.outputs.x }}
",
    );
    assert!(
        err.contains("`needs.build`: job `deploy` does not need `build`"),
        "{err}"
    );
    assert!(err.contains("add `build` to the job's `needs`"), "{err}");
    assert!(!err.contains("did you mean `biuld`"), "{err}");
}
