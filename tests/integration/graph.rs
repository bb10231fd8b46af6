//! `graph`, `list`, `validate`, `--version`, `--help`, and where the playbook is found.

use serde_json::Value;

use crate::harness::{Ws, code, stderr, stdout};

const GITHUB_EXAMPLE: &str = "jobs:
  build: { run: 'true' }
  example_matrix:
    needs: build
    run: 'true'
    matrix:
      fruit: [apple, pear]
      animal: [cat, dog]
      include:
        - color: green
        - color: pink
          animal: cat
        - fruit: apple
          shape: circle
        - fruit: banana
        - fruit: banana
          animal: cat
";

#[test]
fn graph_json_expands_github_include_example() {
    let ws = Ws::new(GITHUB_EXAMPLE);
    let out = ws.run(&["graph", "--format", "json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let graph: Value = serde_json::from_str(&stdout(&out)).unwrap();
    let nodes = graph["nodes"].as_array().unwrap();
    let ids: Vec<&str> = nodes.iter().map(|n| n["id"].as_str().unwrap()).collect();
    assert_eq!(
        ids,
        [
            "build",
            "example_matrix[fruit=apple,animal=cat,color=pink,shape=circle]",
            "example_matrix[fruit=apple,animal=dog,color=green,shape=circle]",
            "example_matrix[fruit=pear,animal=cat,color=pink]",
            "example_matrix[fruit=pear,animal=dog,color=green]",
            "example_matrix[fruit=banana]",
            "example_matrix[fruit=banana,animal=cat]",
        ]
    );
    assert_eq!(
        nodes[0],
        serde_json::json!({"id": "build", "job": "build", "matrix": {}, "needs": []})
    );
    assert_eq!(nodes[1]["job"], "example_matrix");
    assert_eq!(nodes[1]["matrix"]["shape"], "circle");
    assert_eq!(nodes[1]["needs"], serde_json::json!(["build"]));
}

#[test]
fn graph_text_dot_mermaid() {
    let ws = Ws::new(
        "jobs:\n  a: { run: 'true' }\n  b: { run: 'true', needs: a, matrix: { x: [1, 2] } }\n",
    );
    let text = stdout(&ws.run(&["graph"]));
    assert!(text.contains("a\n"), "{text}");
    assert!(text.contains("b[x=1]  <- a"), "{text}");
    let dot = stdout(&ws.run(&["graph", "--format", "dot"]));
    assert!(dot.starts_with("digraph orch {"), "{dot}");
    assert!(
        dot.contains("n0 -> n1;") && dot.contains("n0 -> n2;"),
        "{dot}"
    );
    assert!(dot.contains("label=\"b[x=2]\""), "{dot}");
    let mermaid = stdout(&ws.run(&["graph", "--format", "mermaid"]));
    assert!(mermaid.starts_with("flowchart"), "{mermaid}");
    assert!(mermaid.contains("n0 --> n2"), "{mermaid}");
    // Targets narrow the graph to them and their needs.
    let only_a = stdout(&ws.run(&["graph", "a"]));
    assert_eq!(only_a, "a\n");
    let b1 = stdout(&ws.run(&["graph", "b[x=1]"]));
    assert_eq!(b1, "a\nb[x=1]  <- a\n");
}

#[test]
fn fifty_thousand_nodes_graph() {
    let values: Vec<String> = (0..500).map(|i| i.to_string()).collect();
    let playbook = format!(
        "jobs:\n  big:\n    run: 'true'\n    matrix:\n      a: [{}]\n      b: [{}]\n",
        values.join(", "),
        values[..100].join(", ")
    );
    let ws = Ws::new(&playbook);
    let out = ws.run(&["graph", "--format", "json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let graph: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(graph["nodes"].as_array().unwrap().len(), 50_000);
}

#[test]
fn matrix_override_from_command_line() {
    let ws = Ws::new("jobs:\n  t: { run: 'true', matrix: { os: [a, b] } }\n  u: { run: 'true' }\n");
    let text = stdout(&ws.run(&["graph", "--matrix", "os=x,y,z", "t"]));
    assert_eq!(text, "t[os=x]\nt[os=y]\nt[os=z]\n");
    // Without targets, only the jobs that have the axis get the values.
    let text = stdout(&ws.run(&["graph", "--matrix", "os=q"]));
    assert_eq!(text, "t[os=q]\nu\n");
    // An axis no job has is an error, with a suggestion.
    let out = ws.run(&["graph", "--matrix", "oss=q"]);
    assert_eq!(code(&out), 2);
    assert!(
        stderr(&out).contains("--matrix oss: no job has a matrix axis `oss`"),
        "{}",
        stderr(&out)
    );
    assert!(stderr(&out).contains("os"), "{}", stderr(&out));
    let out = ws.run(&["graph", "--matrix", "os=q", "u"]);
    assert_eq!(code(&out), 2, "{}", stdout(&out));
    assert!(stderr(&out).contains("none of u has"), "{}", stderr(&out));
}

#[test]
fn list_validate_version_help() {
    let ws = Ws::new(
        "name: demo\njobs:\n  build: { run: 'true', description: Builds it }\n  test: { run: 'true', matrix: { s: [a, b, c] } }\n",
    );
    let list = stdout(&ws.run(&["list"]));
    assert!(list.contains("demo"), "{list}");
    assert!(list.contains("build  Builds it"), "{list}");
    assert!(list.contains("test   3 nodes"), "{list}");
    let out = ws.run(&["validate"]);
    assert_eq!(code(&out), 0);
    assert!(
        stdout(&out).contains("orch.yml: ok (2 jobs, 4 nodes)"),
        "{}",
        stdout(&out)
    );
    let version = stdout(&ws.run(&["--version"]));
    assert!(version.starts_with("orch "), "{version}");
    let help = stdout(&ws.run(&["--help"]));
    assert!(
        help.contains("Examples:") && help.contains("orch run"),
        "{help}"
    );
    let completions = stdout(&ws.run(&["completions", "bash"]));
    assert!(completions.contains("_orch"), "completions");
}

#[test]
fn playbook_found_upward_or_named() {
    let ws = Ws::new("jobs:\n  a: { run: 'true' }\n");
    std::fs::create_dir_all(ws.path().join("deep/er")).unwrap();
    let out = ws
        .cmd(&["validate"])
        .current_dir(ws.path().join("deep/er"))
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let out = ws
        .cmd(&["run"])
        .current_dir(ws.path().join("deep/er"))
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(
        ws.exists(".orch/runs/latest"),
        "runs live in the workspace, not the cwd"
    );
    assert_eq!(ws.summary()["playbook"], "orch.yml");

    ws.write(
        "ci/other.json",
        "{\"jobs\": {\"j1\": {\"run\": \"true\"}, \"j2\": {\"run\": \"true\", \"needs\": \"j1\"}}}",
    );
    let out = ws.run(&["graph", "-f", "ci/other.json"]);
    assert_eq!(stdout(&out), "j1\nj2  <- j1\n");
    let out = ws
        .cmd(&["graph"])
        .env("ORCH_FILE", "ci/other.json")
        .output()
        .unwrap();
    assert_eq!(stdout(&out), "j1\nj2  <- j1\n");
}

#[test]
fn matrix_override_follows_glob_targets() {
    let ws =
        Ws::new("jobs:\n  test-a: { run: 'true', matrix: { os: [a] } }\n  lint: { run: 'true' }\n");
    let text = stdout(&ws.run(&["graph", "--matrix", "os=z", "test*"]));
    assert_eq!(text, "test-a[os=z]\n");
}

#[test]
fn schema_describes_the_playbook() {
    let ws = Ws::new("jobs:\n  a: { run: 'true' }\n");
    let out = ws.run(&["schema"]);
    assert_eq!(code(&out), 0);
    let schema: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(schema["required"], serde_json::json!(["jobs"]));
    let job = &schema["properties"]["jobs"]["additionalProperties"]["properties"];
    for key in [
        "run",
        "needs",
        "matrix",
        "inputs",
        "outputs",
        "env-inputs",
        "cache",
        "timeout",
        "uses",
        "steps",
    ] {
        assert!(job.get(key).is_some(), "{key} missing from the job schema");
    }
}
