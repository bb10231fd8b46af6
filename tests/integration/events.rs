//! `orch run --events FILE|-`: the run's events as JSON lines.

use serde_json::Value;

use crate::harness::{Ws, code, stderr, stdout};

fn lines(text: &str) -> Vec<Value> {
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l}: {e}")))
        .collect()
}

const PLAYBOOK: &str = "secrets: [TOKEN]
jobs:
  build:
    run: |
      echo \"building with ${{ secrets.TOKEN }}\"
      echo v=1 >> \"$ORCH_OUTPUT\"
  test:
    needs: build
    matrix: { suite: [unit, e2e] }
    run: echo testing ${{ matrix.suite }}
  broken:
    run: exit 3
";

#[test]
fn events_stream_the_run_on_stdout() {
    let ws = Ws::new(PLAYBOOK);
    let out = ws
        .cmd(&["run", "--keep-going", "--events", "-"])
        .env("TOKEN", "hunter22")
        .output()
        .expect("orch runs");
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    // stdout holds the stream alone; the nodes' logs went to stderr.
    let events = lines(&stdout(&out));
    assert!(
        stderr(&out).contains("[build] building with ***"),
        "{}",
        stderr(&out)
    );
    assert!(!stdout(&out).contains("hunter22") && !stderr(&out).contains("hunter22"));

    let first = &events[0];
    assert_eq!(first["event"], "run_started");
    assert_eq!(first["version"], 1);
    assert_eq!(first["playbook"], "orch.yml");
    let run_id = first["run_id"].as_str().expect("run id");
    assert_eq!(ws.read(".orch/runs/latest").trim(), run_id);
    let ids: Vec<&str> = first["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .map(|n| n["id"].as_str().expect("id"))
        .collect();
    assert_eq!(
        ids,
        ["build", "test[suite=unit]", "test[suite=e2e]", "broken"]
    );
    assert_eq!(first["nodes"][1]["needs"], serde_json::json!(["build"]));
    assert_eq!(
        first["nodes"][1]["matrix"],
        serde_json::json!({"suite": "unit"})
    );

    let last = events.last().expect("events");
    assert_eq!(last["event"], "run_finished");
    assert_eq!(last["status"], "failure");

    let finished = |node: &str| {
        events
            .iter()
            .find(|e| e["event"] == "node_finished" && e["node"] == node)
            .unwrap_or_else(|| panic!("no node_finished for {node}"))
    };
    let build = &finished("build")["result"];
    assert_eq!(build["status"], "success");
    assert_eq!(build["outputs"]["v"], "1");
    assert_eq!(build["log"], format!("runs/{run_id}/logs/build.log"));
    let broken = &finished("broken")["result"];
    assert_eq!(broken["status"], "failure");
    assert_eq!(broken["exit_code"], 3);
    // Each node's events come in order: started, its output, finished.
    let at = |kind: &str, node: &str| {
        events
            .iter()
            .position(|e| e["event"] == kind && e["node"] == node)
            .unwrap_or_else(|| panic!("no {kind} for {node}"))
    };
    assert!(at("node_started", "build") < at("node_output", "build"));
    assert!(at("node_output", "build") < at("node_finished", "build"));
    assert!(at("node_finished", "build") < at("node_started", "test[suite=unit]"));
    let output = &events[at("node_output", "build")];
    assert_eq!(output["line"], "building with ***");
    // Time counts up from the stream's start.
    let times: Vec<u64> = events
        .iter()
        .map(|e| e["at_ms"].as_u64().expect("at_ms"))
        .collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "{times:?}");
}

#[test]
fn an_events_file_in_the_workspace_is_not_an_input() {
    let ws = Ws::new("jobs:\n  build:\n    run: echo built\n");
    let out = ws.run(&["run", "--events", "events.jsonl"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(
        !stderr(&out).contains("changed while it ran"),
        "{}",
        stderr(&out)
    );
    let events = lines(&ws.read("events.jsonl"));
    assert_eq!(events[0]["event"], "run_started");
    assert_eq!(events.last().expect("events")["status"], "success");
    // Written again by the next run, it still does not make anything run again, and a
    // plan (which was not told of it) agrees.
    let plan = ws.run(&["plan"]);
    assert!(stdout(&plan).contains("cached"), "{}", stdout(&plan));
    let again = ws.run(&["run", "--events", "events.jsonl"]);
    assert_eq!(code(&again), 0, "{}", stderr(&again));
    assert_eq!(ws.node("build")["cached"], true);
}

#[test]
fn an_events_file_that_cannot_be_written_runs_nothing() {
    let ws = Ws::new("jobs:\n  build:\n    run: touch ran\n");
    let out = ws.run(&["run", "--events", "no/such/folder/events.jsonl"]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("cannot write --events"),
        "{}",
        stderr(&out)
    );
    assert!(!ws.exists("ran"));
}
