//! Actions of the workspace (`uses: ./path`) run in place of the step: a composite
//! action's steps with its inputs, outputs and failures; a JavaScript action with `node`;
//! what cannot load refused with its place.

use crate::harness::{code, stderr};
use crate::workflows::repository;

const GREET: &str = "name: greet
inputs:
  who:
    required: true
  greeting:
    default: Hello ${{ github.event_name }}
outputs:
  said:
    value: ${{ steps.say.outputs.line }}
runs:
  using: composite
  steps:
    - id: say
      shell: bash
      run: echo \"line=${{ inputs.greeting }}, ${{ inputs.who }}\" >> \"$GITHUB_OUTPUT\"
    - shell: bash
      run: bash \"${{ github.action_path }}/extra.sh\" \"$GITHUB_ACTION_PATH\"
    - if: failure()
      shell: bash
      run: mkdir -p out && echo cleanup-ran >> out/log
";

const CALLER: &str = "on: push
jobs:
  a:
    runs-on: ubuntu-latest
    outputs:
      said: ${{ steps.g.outputs.said }}
    steps:
      - id: g
        uses: ./.github/actions/greet
        with:
          who: world
      - run: mkdir -p out && echo \"${{ steps.g.outputs.said }} ${{ steps.g.outcome }}\" >> out/log
";

#[test]
fn a_composite_action_runs_its_steps_with_its_inputs_and_outputs() {
    let ws = repository(CALLER);
    ws.write(".github/actions/greet/action.yml", GREET);
    ws.write(
        ".github/actions/greet/extra.sh",
        "mkdir -p out && echo \"extra in ${1##*/}\" >> out/log\n",
    );
    let out = ws.run(&["run", "--workflow", "ci"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(
        ws.read("out/log"),
        "extra in greet\nHello push, world success\n"
    );
    assert_eq!(ws.node("a")["outputs"]["said"], "Hello push, world");
    assert!(
        ws.log("a").contains(".github/actions/greet › step 1"),
        "{}",
        ws.log("a")
    );
    // Unchanged: a hit. Its action edited: it runs again, with the new text.
    let out = ws.run(&["run", "--workflow", "ci"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(ws.cached("a"));
    ws.write(
        ".github/actions/greet/action.yml",
        &GREET.replace("Hello", "Hi"),
    );
    let out = ws.run(&["run", "--workflow", "ci"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(!ws.cached("a"), "an edited action must run again");
    assert_eq!(ws.node("a")["outputs"]["said"], "Hi push, world");
}

#[test]
fn a_failing_step_of_a_composite_action_fails_the_step_that_uses_it() {
    let ws = repository(&CALLER.replace(
        "      - id: g\n",
        "      - id: g\n        continue-on-error: true\n",
    ));
    ws.write(".github/actions/greet/action.yml", GREET);
    ws.write(".github/actions/greet/extra.sh", "exit 3\n");
    let out = ws.run(&["run", "--workflow", "ci"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    // The action's own `if: failure()` step ran; the caller went on (continue-on-error),
    // seeing the step's outcome and the outputs its steps set before the failure.
    assert_eq!(
        ws.read("out/log"),
        "cleanup-ran\nHello push, world failure\n"
    );

    // Without continue-on-error the job fails, and its `failure()`/`always()` steps
    // still run; the calling step's `env` reached the action's steps.
    let ws = repository(
        "on: push
jobs:
  a:
    runs-on: ubuntu-latest
    steps:
      - id: g
        uses: ./.github/actions/greet
        env: { FROM_STEP: given }
        with: { who: world }
      - run: echo never >> out/log
      - if: failure()
        run: mkdir -p out && echo \"failure seen ${{ steps.g.outcome }}\" >> out/log
      - if: always()
        run: mkdir -p out && echo always >> out/log
",
    );
    ws.write(".github/actions/greet/action.yml", GREET);
    ws.write(
        ".github/actions/greet/extra.sh",
        "mkdir -p out && echo \"env $FROM_STEP\" >> out/log && exit 3\n",
    );
    let out = ws.run(&["run", "--workflow", "ci"]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert!(
        ws.reason("a")
            .contains("action `.github/actions/greet`: a step failed (exit code 3)"),
        "{}",
        ws.reason("a")
    );
    assert_eq!(
        ws.read("out/log"),
        "env given\ncleanup-ran\nfailure seen failure\nalways\n"
    );
}

#[test]
fn a_javascript_action_runs_with_node_and_its_inputs() {
    if std::process::Command::new("node")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("node is not installed: the JavaScript action is not run");
        return;
    }
    let ws = repository(
        "on: push
jobs:
  a:
    runs-on: ubuntu-latest
    steps:
      - id: j
        uses: ./tools/js
        with:
          Name Of: given
      - run: mkdir -p out && echo \"${{ steps.j.outputs.seen }}\" > out/seen
",
    );
    ws.write(
        "tools/js/action.yaml",
        "name: js\ninputs:\n  Name Of: {}\n  other: { default: 'o-${{ github.event_name }}' }\nruns:\n  using: node20\n  main: index.js\n",
    );
    ws.write(
        "tools/js/index.js",
        "const fs = require('fs');\nfs.appendFileSync(process.env.GITHUB_OUTPUT, `seen=${process.env.INPUT_NAME_OF} ${process.env.INPUT_OTHER}\\n`);\n",
    );
    let out = ws.run(&["run", "--workflow", "ci"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(ws.read("out/seen"), "given o-push\n");
    // A file of the action that git ignores (a built `dist/`) is still in the key.
    ws.write(".gitignore", "out/\ntools/js/lib/\n");
    ws.write("tools/js/lib/x.js", "module.exports = 1;\n");
    let out = ws.run(&["run", "--workflow", "ci"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let out = ws.run(&["run", "--workflow", "ci"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(ws.cached("a"), "{}", ws.why("a"));
    ws.write("tools/js/lib/x.js", "module.exports = 2;\n");
    let out = ws.run(&["run", "--workflow", "ci"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(
        !ws.cached("a"),
        "an edit of the action's ignored file must run it again"
    );
}

#[test]
fn a_local_action_that_cannot_load_is_refused_with_its_place() {
    for (action, with, says) in [
        (
            GREET,
            "whom: x",
            "action `./.github/actions/greet` has no input `whom`",
        ),
        (
            &*GREET.replace("      shell: bash\n      run: echo", "      run: echo"),
            "who: x",
            "a `run` step of a composite action needs `shell`",
        ),
        (
            &*GREET.replace("inputs.who", "inputs.whoo"),
            "who: x",
            "unknown input `whoo`",
        ),
        (
            "runs:\n  using: composite\n  steps:\n    - uses: ./.github/actions/greet\n",
            "who: x",
            "actions use each other in a cycle",
        ),
    ] {
        let ws = repository(&CALLER.replace("who: world", with));
        ws.write(".github/actions/greet/action.yml", action);
        let out = ws.run(&["run", "--workflow", "ci"]);
        assert_eq!(code(&out), 2, "{says}: {}", stderr(&out));
        assert!(stderr(&out).contains(says), "{says}: {}", stderr(&out));
        assert!(!ws.exists("out"), "{says}: something ran");
    }
}

#[test]
fn a_missing_local_action_fails_its_step_and_is_found_once_written() {
    let ws = repository(CALLER);
    // Twice: the second run finds `.orch/state` and remembers the graph.
    for _ in 0..2 {
        let out = ws.run(&["run", "--workflow", "ci"]);
        assert_eq!(code(&out), 1, "{}", stderr(&out));
    }
    assert!(
        ws.reason("a")
            .contains("no action.yml or action.yaml in `.github/actions/greet`"),
        "{}",
        ws.reason("a")
    );
    // The graph compiled without it was remembered; the action written since is read.
    ws.write(".github/actions/greet/action.yaml", GREET);
    ws.write(".github/actions/greet/extra.sh", "true\n");
    let out = ws.run(&["run", "--workflow", "ci"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(ws.node("a")["outputs"]["said"], "Hello push, world");
}
