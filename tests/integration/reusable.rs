//! Reusable playbooks: `uses` + `with`, inputs, outputs, `caller/inner` nodes, cycles.

use crate::harness::{Ws, code, stderr, stdout};

const SETUP: &str = "inputs:
  toolchain: { description: which toolchain, required: true }
  profile: { default: debug }
outputs:
  toolchain-path: ${{ jobs.install.outputs.path }}
env:
  PROFILE: ${{ inputs.profile }}
jobs:
  install:
    run: |
      echo \"installing ${{ inputs.toolchain }} ($PROFILE)\"
      echo \"path=/opt/${{ inputs.toolchain }}\" >> \"$ORCH_OUTPUT\"
  check:
    needs: install
    script: check.sh
    args: ['${{ needs.install.outputs.path }}']
";

fn workspace() -> Ws {
    let ws = Ws::new(
        "jobs:
  prepare: { run: 'echo ver=stable >> \"$ORCH_OUTPUT\"' }
  setup:
    needs: prepare
    uses: common/setup.yml
    with: { toolchain: '${{ needs.prepare.outputs.ver }}' }
  build:
    needs: [setup]
    run: echo \"built with ${{ needs.setup.outputs.toolchain-path }} (${{ needs.setup.result }})\" > build.txt
",
    );
    ws.write("common/setup.yml", SETUP);
    // Paths inside the used playbook are relative to its own file.
    ws.write("common/check.sh", "echo \"checked $1\" > checked.txt\n");
    ws
}

#[test]
fn uses_runs_the_called_jobs_with_inputs_and_outputs() {
    let ws = workspace();
    let out = ws.run(&["run"]);
    assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));
    assert_eq!(ws.read("build.txt"), "built with /opt/stable (success)\n");
    assert_eq!(ws.read("checked.txt"), "checked /opt/stable\n");
    assert!(
        stdout(&out).contains("[setup/install] installing stable (debug)"),
        "{}",
        stdout(&out)
    );
    let ids: Vec<String> = ws.summary()["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids, ["prepare", "build", "setup/install", "setup/check"]);
    assert_eq!(ws.status("setup/check"), "success");
}

#[test]
fn graph_and_list_show_the_called_jobs() {
    let ws = workspace();
    let graph: serde_json::Value =
        serde_json::from_str(&stdout(&ws.run(&["graph", "--format", "json"]))).unwrap();
    let build = graph["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["id"] == "build")
        .unwrap()
        .clone();
    assert_eq!(
        build["needs"],
        serde_json::json!(["setup/install", "setup/check"])
    );
    let install = graph["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["id"] == "setup/install")
        .unwrap()
        .clone();
    assert_eq!(install["needs"], serde_json::json!(["prepare"]));
    let list = stdout(&ws.run(&["list"]));
    assert!(list.contains("uses common/setup.yml"), "{list}");
    assert!(
        list.contains("toolchain (required): which toolchain"),
        "{list}"
    );
    assert!(list.contains("profile=debug"), "{list}");
    // Targeting the `uses` job runs what it brought in and what that needs.
    let text = stdout(&ws.run(&["graph", "setup"]));
    assert_eq!(
        text,
        "prepare\nsetup/install  <- prepare\nsetup/check  <- setup/install\n"
    );
}

#[test]
fn uses_errors_are_reported_where_they_are() {
    let ws = workspace();
    ws.write(
        "orch.yml",
        "jobs:\n  setup:\n    uses: common/setup.yml\n    with: { toolchan: x }\n",
    );
    let out = ws.run(&["validate"]);
    assert_eq!(code(&out), 2);
    let err = stderr(&out);
    assert!(err.contains("has no input `toolchan`"), "{err}");
    assert!(err.contains("did you mean `toolchain`?"), "{err}");
    assert!(err.contains("requires input `toolchain`"), "{err}");

    // A problem inside the used file points into that file.
    ws.write("orch.yml", "jobs:\n  setup: { uses: common/bad.yml }\n");
    ws.write("common/bad.yml", "jobs:\n  a: { rnu: x }\n");
    let err = stderr(&ws.run(&["validate"]));
    assert!(err.contains("common/bad.yml:2:8"), "{err}");

    ws.write("orch.yml", "jobs:\n  setup: { uses: common/missing.yml }\n");
    let err = stderr(&ws.run(&["validate"]));
    assert!(err.contains("cannot read common/missing.yml"), "{err}");
    assert!(err.contains("orch.yml:2:18"), "{err}");

    ws.write("orch.yml", "jobs:\n  setup: { uses: ../outside.yml }\n");
    let err = stderr(&ws.run(&["validate"]));
    assert!(err.contains("outside the workspace"), "{err}");

    ws.write("orch.yml", "jobs:\n  a: { run: 'echo ${{ inputs.x }}' }\n");
    let err = stderr(&ws.run(&["validate"]));
    assert!(
        err.contains("`inputs` exist only in a reusable playbook"),
        "{err}"
    );
}

#[test]
fn playbooks_using_each_other_are_a_cycle() {
    let ws = Ws::new("jobs:\n  a: { uses: one.yml }\n");
    ws.write("one.yml", "jobs:\n  b: { uses: sub/two.yml }\n");
    ws.write("sub/two.yml", "jobs:\n  c: { uses: ../one.yml }\n");
    let out = ws.run(&["validate"]);
    assert_eq!(code(&out), 2);
    let err = stderr(&out);
    assert!(
        err.contains("playbooks use each other in a cycle: one.yml → sub/two.yml → one.yml"),
        "{err}"
    );
    assert!(err.contains("sub/two.yml:2:14"), "{err}");
}

#[test]
fn nested_uses_and_failures_propagate() {
    let ws = Ws::new(
        "jobs:\n  outer: { uses: a.yml }\n  after: { needs: outer, run: 'touch after' }\n  cleanup: { needs: outer, if: failure(), run: 'echo ${{ needs.outer.result }} > cleanup' }\n",
    );
    ws.write("a.yml", "jobs:\n  inner: { uses: b.yml }\n");
    ws.write("b.yml", "jobs:\n  deep: { run: 'exit 1' }\n");
    let out = ws.run(&["run", "--keep-going"]);
    assert_eq!(code(&out), 1);
    assert_eq!(ws.status("outer/inner/deep"), "failure");
    assert_eq!(ws.status("after"), "skipped");
    assert_eq!(ws.read("cleanup"), "failure\n");
}

/// The graph is remembered between runs, and an edit of a used playbook alone (the root
/// unchanged) is still seen by the next run.
#[test]
fn an_edit_of_a_used_playbook_reaches_the_next_run() {
    let ws = Ws::new("jobs:\n  setup: { uses: common/say.yml }\n");
    ws.write("common/say.yml", "jobs:\n  say: { run: echo first }\n");
    for cached in [false, true] {
        let out = ws.run(&["run"]);
        assert_eq!(code(&out), 0, "{}", stderr(&out));
        assert_eq!(ws.cached("setup/say"), cached);
        assert!(ws.log("setup/say").contains("first"));
    }
    ws.write("common/say.yml", "jobs:\n  say: { run: echo second }\n");
    let out = ws.run(&["run"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(!ws.cached("setup/say"));
    assert!(
        ws.log("setup/say").contains("second"),
        "{}",
        ws.log("setup/say")
    );
}
