//! A workflow's `continue-on-error` and `timeout-minutes` written as expressions: the
//! job's decided per matrix leg, a step's over the steps before it.

use crate::harness::{code, stderr};
use crate::workflows::repository;

const SETTINGS: &str = "on: push
jobs:
  t:
    runs-on: ubuntu-latest
    continue-on-error: ${{ matrix.experimental }}
    strategy:
      fail-fast: false
      matrix:
        v: [1, 2]
        include:
          - v: 2
            experimental: true
    steps:
      - id: first
        run: echo \"minutes=${{ matrix.v == 2 && '0.005' || '1' }}\" >> \"$GITHUB_OUTPUT\"
      - continue-on-error: ${{ steps.first.outputs.minutes == '1' }}
        timeout-minutes: ${{ steps.first.outputs.minutes }}
        run: sleep 1
      - continue-on-error: ${{ matrix.v == 1 }}
        run: exit 1
      - run: mkdir -p out && touch out/${{ matrix.v }}
  after:
    needs: t
    runs-on: ubuntu-latest
    steps:
      - run: mkdir -p out && echo \"${{ needs.t.result }}\" > out/after
";

#[test]
fn continue_on_error_and_timeouts_may_be_expressions() {
    let ws = repository(SETTINGS);
    let out = ws.run(&["run", "--workflow", "ci"]);
    // Leg 2 timed out (0.3 s) and failed; its job's continue-on-error allows that.
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let summary = ws.summary();
    let nodes = summary["nodes"].as_array().expect("nodes");
    let leg = |v: &str| {
        nodes
            .iter()
            .find(|n| n["job"] == "t" && n["matrix"]["v"].to_string().contains(v))
            .unwrap_or_else(|| panic!("leg {v}: {summary}"))
    };
    assert_eq!(leg("1")["status"], "success", "{summary}");
    assert_eq!(leg("2")["status"], "failure", "{summary}");
    assert!(
        leg("2")["reason"]
            .as_str()
            .is_some_and(|r| r.contains("step 2 timed out after")),
        "{summary}"
    );
    assert!(ws.exists("out/1") && !ws.exists("out/2"));
    assert_eq!(ws.read("out/after"), "success\n");
    let md = std::fs::read_to_string(ws.latest_run().join("summary.md")).expect("summary.md");
    assert!(md.contains("Allowed failures"), "{md}");

    // A value that is neither true nor false allows nothing, and says so.
    let ws = repository(&SETTINGS.replace(
        "continue-on-error: ${{ matrix.experimental }}",
        "continue-on-error: ${{ matrix.v }}",
    ));
    let out = ws.run(&["run", "--workflow", "ci"]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert!(
        ws.summary()
            .to_string()
            .contains("`2` is neither true nor false"),
        "{}",
        ws.summary()
    );
}

#[test]
fn a_concurrency_group_runs_one_node_at_a_time() {
    let step = "mkdir -p out && echo start >> out/log && sleep 0.4 && echo end >> out/log";
    let ws = repository(&format!(
        "on: push
concurrency: ci-${{{{ github.ref }}}}
jobs:
  a:
    runs-on: ubuntu-latest
    concurrency: deploy
    steps: [{{ run: '{step}' }}]
  b:
    runs-on: ubuntu-latest
    concurrency: {{ group: Deploy, cancel-in-progress: true }}
    strategy: {{ matrix: {{ n: [1, 2] }} }}
    steps: [{{ run: '{step}' }}]
  free:
    runs-on: ubuntu-latest
    concurrency: free-${{{{ matrix.n }}}}
    strategy: {{ matrix: {{ n: [1, 2] }} }}
    steps: [{{ run: 'mkdir -p out && echo x >> out/free-${{{{ matrix.n }}}} && sleep 0.4' }}]
"
    ));
    let started = std::time::Instant::now();
    let out = ws.run(&["run", "--workflow", "ci", "-j", "8"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    // Three nodes of `deploy`, never two at once.
    assert_eq!(ws.read("out/log"), "start\nend\n".repeat(3));
    assert!(started.elapsed() >= std::time::Duration::from_millis(1200));
    assert!(ws.exists("out/free-1") && ws.exists("out/free-2"));
    assert!(
        stderr(&out).contains("`cancel-in-progress` is not applied: one local run"),
        "the ignored cancel-in-progress is said: {}",
        stderr(&out)
    );
}

#[test]
fn a_workflow_runs_its_independent_jobs_after_a_failure_in_folders_given_absolute() {
    let ws = repository(
        "on: push
jobs:
  bad:
    runs-on: ubuntu-latest
    steps: [{ run: 'exit 1' }]
  after-bad:
    needs: bad
    runs-on: ubuntu-latest
    steps: [{ run: 'touch out/never' }]
  other:
    runs-on: ubuntu-latest
    defaults: { run: { working-directory: '${{ github.workspace }}/sub' } }
    steps:
      - run: sleep 0.3 && pwd > ../out/other
      - working-directory: ${{ github.workspace }}
        run: touch out/root
",
    );
    ws.write("sub/.keep", "");
    ws.write("out/.keep", "");
    let out = ws.run(&["run", "--workflow", "ci", "-j", "1"]);
    // GitHub runs a job that does not need the failed one; what needs it is skipped.
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert_eq!(ws.status("other"), "success", "{}", ws.reason("other"));
    assert_eq!(ws.status("after-bad"), "skipped");
    assert!(ws.read("out/other").trim_end().ends_with("/sub"));
    assert!(ws.exists("out/root"));
}
