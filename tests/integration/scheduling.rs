//! Order and limits: needs, -j, max-parallel, fail-fast, --keep-going, continue-on-error,
//! if, retries, timeout, targets.

use crate::harness::{Ws, alive, code, stderr, stdout};

/// Two nodes that each wait for the other's marker: they pass only if they run at once.
const BARRIER: &str = "touch \"started-$1\"; for i in $(seq 100); do [ -e \"started-$2\" ] && exit 0; sleep 0.05; done; exit 1";

#[test]
fn needs_order_and_parallelism() {
    let ws = Ws::new(
        "jobs:
  first: { run: 'echo made > made.txt' }
  left: { needs: first, script: barrier.sh, args: [left, right] }
  right: { needs: first, script: barrier.sh, args: [right, left] }
  last: { needs: [left, right], run: 'cat made.txt started-left started-right > last.txt' }
",
    );
    ws.write("barrier.sh", BARRIER);
    let out = ws.run(&["run", "-j", "2"]);
    assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));
    assert_eq!(ws.read("last.txt"), "made\n");
}

/// Each node notes its start and end in one file; the most nodes seen running at once.
const NOTE_OVERLAP: &str = "echo start >> events; sleep 0.4; echo end >> events";

fn most_at_once(ws: &Ws) -> usize {
    let (mut running, mut most) = (0usize, 0usize);
    for line in ws.read("events").lines() {
        if line == "start" {
            running += 1;
            most = most.max(running);
        } else {
            running -= 1;
        }
    }
    most
}

#[test]
fn jobs_limit_is_respected() {
    let ws = Ws::new(&format!(
        "jobs:\n  a: {{ cache: false, run: '{NOTE_OVERLAP}' }}\n  b: {{ cache: false, run: '{NOTE_OVERLAP}' }}\n  c: {{ cache: false, run: '{NOTE_OVERLAP}' }}\n"
    ));
    let out = ws.run(&["run", "-j", "1"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(most_at_once(&ws), 1);
    // The same check sees concurrency when it is allowed.
    std::fs::remove_file(ws.path().join("events")).unwrap();
    assert_eq!(code(&ws.run(&["run", "-j", "3"])), 0);
    assert!(most_at_once(&ws) >= 2, "{}", ws.read("events"));
}

#[test]
fn max_parallel_limits_a_matrix() {
    let ws = Ws::new(&format!(
        "jobs:
  m:
    matrix: {{ i: [1, 2, 3, 4] }}
    strategy: {{ max-parallel: 2 }}
    cache: false
    run: '{NOTE_OVERLAP}'
"
    ));
    let out = ws.run(&["run", "-j", "4"]);
    assert_eq!(code(&out), 0, "{}", stdout(&out));
    assert_eq!(most_at_once(&ws), 2, "{}", ws.read("events"));
}

#[test]
fn fail_fast_cancels_the_rest_of_the_matrix() {
    let playbook = |fail_fast: bool| {
        format!(
            "jobs:\n  m:\n    matrix: {{ i: [1, 2, 3] }}\n    strategy: {{ fail-fast: {fail_fast}, max-parallel: 1 }}\n    run: 'touch ran-${{{{ matrix.i }}}}; [ ${{{{ matrix.i }}}} != 1 ]'\n"
        )
    };
    let ws = Ws::new(&playbook(true));
    assert_eq!(code(&ws.run(&["run", "--keep-going"])), 1);
    assert_eq!(ws.status("m[i=1]"), "failure");
    assert_eq!(ws.status("m[i=2]"), "cancelled");
    assert!(!ws.exists("ran-3"));

    let ws = Ws::new(&playbook(false));
    assert_eq!(code(&ws.run(&["run", "--keep-going"])), 1);
    assert_eq!(ws.status("m[i=3]"), "success");
    assert!(ws.exists("ran-3"));
}

#[test]
fn fail_fast_false_lets_the_other_legs_and_independent_jobs_go_on() {
    let ws = Ws::new(
        "jobs:
  m:
    matrix: { i: [1, 2, 3] }
    strategy: { fail-fast: false, max-parallel: 1 }
    run: 'touch ran-${{ matrix.i }}; [ ${{ matrix.i }} != 1 ]'
  other: { needs: m, if: always(), run: 'true' }
  after: { needs: m, run: 'touch after' }
  alone: { run: 'sleep 0.3; touch alone' }
",
    );
    // No --keep-going: as on GitHub, the failed leg stops neither its siblings nor
    // independent jobs; what needs it is skipped.
    assert_eq!(code(&ws.run(&["run", "-j", "1"])), 1);
    assert_eq!(ws.status("m[i=1]"), "failure");
    assert_eq!(ws.status("m[i=2]"), "success");
    assert_eq!(ws.status("m[i=3]"), "success");
    assert_eq!(ws.status("alone"), "success");
    assert_eq!(ws.status("other"), "success");
    assert_eq!(ws.status("after"), "skipped");
}

#[test]
fn keep_going_runs_what_does_not_need_the_failure() {
    let playbook = "jobs:\n  bad: { run: 'exit 1' }\n  after: { needs: bad, run: 'touch after' }\n  other: { run: 'touch other' }\n";
    let ws = Ws::new(playbook);
    assert_eq!(code(&ws.run(&["run", "-j", "1"])), 1);
    assert_eq!(ws.status("bad"), "failure");
    assert_eq!(ws.status("other"), "cancelled");
    // What needs the failure is skipped, as GitHub says it.
    assert_eq!(ws.status("after"), "skipped");

    let ws = Ws::new(playbook);
    assert_eq!(code(&ws.run(&["run", "-j", "1", "--keep-going"])), 1);
    assert_eq!(ws.status("other"), "success");
    assert_eq!(ws.status("after"), "skipped");
    assert!(!ws.exists("after"));
}

#[test]
fn continue_on_error_does_not_fail_the_run() {
    let ws = Ws::new(
        "jobs:\n  flaky: { run: 'exit 1', continue-on-error: true }\n  next: { needs: flaky, run: 'touch next' }\n",
    );
    let out = ws.run(&["run"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(ws.status("flaky"), "failure");
    assert_eq!(ws.status("next"), "success");
    assert_eq!(ws.summary()["status"], "success");
}

#[test]
fn status_functions_in_if() {
    let ws = Ws::new(
        "jobs:
  bad: { run: 'exit 1' }
  deploy: { needs: bad, run: 'touch deploy' }
  cleanup: { needs: bad, if: failure(), run: 'touch cleanup' }
  report: { needs: bad, if: '${{ always() }}', run: 'echo ${{ needs.bad.result }} > report' }
  happy: { needs: bad, if: success(), run: 'touch happy' }
  notcancelled: { needs: bad, if: '!cancelled()', run: 'touch notcancelled' }
  cancelledonly: { needs: bad, if: cancelled(), run: 'touch cancelledonly' }
",
    );
    assert_eq!(code(&ws.run(&["run"])), 1);
    // Its need failed: skipped, as on GitHub (not "cancelled", though the run halted).
    assert_eq!(ws.status("deploy"), "skipped");
    assert_eq!(ws.status("cleanup"), "success");
    assert_eq!(ws.read("report"), "failure\n");
    assert_eq!(ws.status("happy"), "skipped");
    assert!(ws.exists("notcancelled"));
    assert_eq!(ws.status("cancelledonly"), "skipped");
}

#[test]
fn skipped_needs_skip_dependents_and_if_uses_matrix() {
    let ws = Ws::new(
        "jobs:
  m: { matrix: { os: [linux, mac] }, if: \"matrix.os == 'linux'\", run: 'touch m-${{ matrix.os }}' }
  gate: { if: 'false', run: 'touch gate' }
  after: { needs: gate, run: 'touch after' }
  anyway: { needs: gate, if: always(), run: 'touch anyway' }
",
    );
    assert_eq!(code(&ws.run(&["run"])), 0);
    assert!(ws.exists("m-linux") && !ws.exists("m-mac"));
    assert_eq!(ws.status("m[os=mac]"), "skipped");
    assert_eq!(ws.status("gate"), "skipped");
    assert_eq!(ws.status("after"), "skipped");
    assert_eq!(ws.status("anyway"), "success");
}

#[test]
fn retries_give_more_attempts() {
    let ws = Ws::new(
        "jobs:\n  flaky:\n    retries: 2\n    run: 'echo x >> count; [ $(wc -l < count) -ge 2 ]'\n",
    );
    assert_eq!(code(&ws.run(&["run"])), 0);
    let summary = ws.summary();
    assert_eq!(summary["nodes"][0]["attempts"], 2);
    assert!(ws.log("flaky").contains("attempt 2 of 3"));

    let ws =
        Ws::new("defaults: { retries: 1 }\njobs:\n  never: { run: 'echo x >> count; exit 1' }\n");
    assert_eq!(code(&ws.run(&["run"])), 1);
    assert_eq!(ws.summary()["nodes"][0]["attempts"], 2);
}

#[test]
fn timeout_kills_the_whole_process_tree() {
    let ws = Ws::new(
        "jobs:\n  slow:\n    timeout: 1s\n    run: |\n      sleep 60 &\n      echo $! > grandchild.pid\n      sleep 60\n",
    );
    let started = std::time::Instant::now();
    let out = ws.run(&["run"]);
    assert_eq!(code(&out), 1);
    assert!(
        started.elapsed().as_secs() < 20,
        "took {:?}",
        started.elapsed()
    );
    let node = &ws.summary()["nodes"][0];
    assert_eq!(node["status"], "failure");
    assert!(
        node["reason"]
            .as_str()
            .unwrap()
            .contains("timed out after 1.0s"),
        "{node}"
    );
    let pid: u32 = ws.read("grandchild.pid").trim().parse().unwrap();
    assert!(!alive(pid), "the grandchild {pid} must be killed too");
}

#[test]
fn leftover_background_processes_are_cleaned_up() {
    let ws = Ws::new("jobs:\n  bg:\n    run: |\n      sleep 60 &\n      echo $! > bg.pid\n");
    assert_eq!(code(&ws.run(&["run"])), 0);
    let pid: u32 = ws.read("bg.pid").trim().parse().unwrap();
    assert!(
        !alive(pid),
        "a job's leftover process {pid} must not outlive it"
    );
}

#[test]
fn targets_globs_and_exclusions() {
    let ws = Ws::new(
        "jobs:
  build: { run: 'touch build' }
  test: { needs: build, matrix: { s: [fast, slow] }, run: 'touch test-${{ matrix.s }}' }
  lint: { run: 'touch lint' }
",
    );
    assert_eq!(code(&ws.run(&["run", "test*", "!test[s=slow]"])), 0);
    assert!(ws.exists("build") && ws.exists("test-fast"));
    assert!(!ws.exists("test-slow") && !ws.exists("lint"));
    assert_eq!(ws.summary()["counts"]["total"], 2);
}

#[test]
fn missing_working_directory_fails_the_node() {
    let ws = Ws::new("jobs:\n  a: { run: 'true', working-directory: nowhere }\n");
    assert_eq!(code(&ws.run(&["run"])), 1);
    let node = &ws.summary()["nodes"][0];
    assert!(
        node["reason"].as_str().unwrap().contains("nowhere"),
        "{node}"
    );
}

#[test]
fn after_orders_jobs_without_making_them_needs() {
    let playbook = "jobs:
  first:
    run: mkdir -p out && sleep 0.4 && echo first >> out/log
  second:
    after: first
    inputs: []
    outputs: [out/second]
    run: mkdir -p out && echo second >> out/log && touch out/second
";
    let ws = Ws::new(playbook);
    let out = ws.run(&["run", "-j", "4"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(ws.read("out/log"), "first\nsecond\n");
    // Not data: an edit of `first` re-runs it, not `second`.
    ws.write("orch.yml", &playbook.replace("echo first", "echo First"));
    let out = ws.run(&["run", "-j", "4"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(
        !ws.cached("first") && ws.cached("second"),
        "{}",
        ws.why("second")
    );
    // Not selected with it: `orch run second` runs it alone, without waiting.
    std::fs::remove_dir_all(ws.path().join("out")).expect("rm out");
    let out = ws.run(&["run", "--no-cache", "second"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(ws.read("out/log"), "second\n");
    // A failure before it: with --keep-going it still runs (order, not success).
    let ws = Ws::new(&playbook.replace("echo first >> out/log", "exit 3"));
    let out = ws.run(&["run", "--keep-going"]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert_eq!(ws.status("second"), "success");
    let graph = ws.run(&["graph", "--format", "json"]);
    let graph: serde_json::Value = serde_json::from_slice(&graph.stdout).expect("JSON");
    assert_eq!(graph["nodes"][1]["after"], serde_json::json!(["first"]));
    assert_eq!(graph["nodes"][1]["needs"], serde_json::json!([]));
    assert!(graph["nodes"][0].get("after").is_none());
}

#[test]
fn after_names_jobs_and_makes_no_cycle() {
    for (playbook, says) in [
        (
            "jobs:\n  a: { run: 'true' }\n  b: { after: [aa], run: 'true' }\n",
            "job `b` comes after `aa`, which is not a job",
        ),
        (
            "jobs:\n  a: { after: b, run: 'true' }\n  b: { needs: a, run: 'true' }\n",
            "form a cycle",
        ),
    ] {
        let ws = Ws::new(playbook);
        let out = ws.run(&["run"]);
        assert_eq!(code(&out), 2, "{says}: {}", stderr(&out));
        assert!(stderr(&out).contains(says), "{says}: {}", stderr(&out));
    }
}
