//! `orch watch`: an edit re-runs exactly what it affects, with work proportional to it.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use crate::harness::Ws;

/// Lines of a child's output, as they come.
pub(crate) fn lines(stream: impl std::io::Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

pub(crate) fn wait_for(rx: &mpsc::Receiver<String>, what: &str) -> String {
    loop {
        match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(line) if line.contains(what) => return line,
            Ok(_) => {}
            Err(e) => panic!("no line with {what:?}: {e}"),
        }
    }
}

/// `orch ARGS` (a watch) in the workspace, as CI runs it, its output piped.
fn spawn_watch(ws: &Ws, args: &[&str]) -> std::process::Child {
    Command::new(assert_cmd::cargo::cargo_bin("orch"))
        .args(args)
        .current_dir(ws.path())
        .env("CI", "true")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn queries(line: &str) -> usize {
    let before = line.split(" queries re-executed").next().unwrap_or("");
    before
        .rsplit(' ')
        .next()
        .unwrap_or("")
        .parse()
        .unwrap_or(usize::MAX)
}

#[test]
fn an_edit_reruns_only_what_it_affects() {
    let nodes = 1000;
    let values: Vec<String> = (1..=nodes).map(|i| i.to_string()).collect();
    let ws = Ws::new(&format!(
        "jobs:\n  c:\n    shell: sh\n    matrix: {{ i: [{}] }}\n    inputs: ['in/${{{{ matrix.i }}}}.txt']\n    outputs: ['out/${{{{ matrix.i }}}}.txt']\n    run: mkdir -p out && cp in/${{{{ matrix.i }}}}.txt out/${{{{ matrix.i }}}}.txt\n",
        values.join(", ")
    ));
    for i in 1..=nodes {
        ws.write(&format!("in/{i}.txt"), &format!("{i}\n"));
    }
    let mut child = spawn_watch(&ws, &["watch", "-v", "-j", "2"]);
    let out = lines(child.stdout.take().unwrap());
    let err = lines(child.stderr.take().unwrap());
    let first = wait_for(&out, "[1]");
    assert!(
        first.contains(&format!("ran {nodes}, cached 0, failed 0")),
        "{first}"
    );

    ws.write("in/500.txt", "edited\n");
    let second = wait_for(&out, "[2]");
    assert!(second.contains("changed in/500.txt"), "{second}");
    assert!(
        second.contains(&format!("ran 1, cached {}, failed 0", nodes - 1)),
        "{second}"
    );
    assert!(
        queries(&second) <= 10,
        "work proportional to the change, not the graph: {second}"
    );
    assert_eq!(ws.read("out/500.txt"), "edited\n");

    // An invalid edit of the playbook prints the error and keeps watching.
    let playbook = ws.read("orch.yml");
    ws.write("orch.yml", "jobs:\n  c: { rnu: x }\n");
    wait_for(&err, "unknown key `rnu`");
    wait_for(&err, "watching for a fix");
    ws.write("orch.yml", &playbook.replace("cp in/", "cp -f in/"));
    let fixed = wait_for(&out, "changed orch.yml");
    assert!(
        fixed.contains(&format!("ran {nodes}")),
        "a changed script re-runs its nodes: {fixed}"
    );

    // Outputs written by jobs trigger nothing: no further round appears.
    std::thread::sleep(Duration::from_millis(500));
    assert!(out.try_recv().is_err(), "outputs must not trigger runs");

    let _ = Command::new("kill")
        .args(["-s", "INT", &child.id().to_string()])
        .status();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130));
}

#[test]
fn a_change_during_a_run_cancels_only_the_nodes_that_read_it() {
    let ws = Ws::new(
        "jobs:\n  slow:\n    shell: sh\n    matrix: { n: [a, b] }\n    inputs: ['in/${{ matrix.n }}.txt']\n    outputs: ['out-${{ matrix.n }}.txt']\n    run: sleep 2 && cat in/${{ matrix.n }}.txt > out-${{ matrix.n }}.txt\n",
    );
    ws.write("in/a.txt", "a1\n");
    ws.write("in/b.txt", "b1\n");
    let mut child = Command::new(assert_cmd::cargo::cargo_bin("orch"))
        .args(["watch", "-j", "2"])
        .current_dir(ws.path())
        .env("CI", "true")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let out = lines(child.stdout.take().unwrap());
    std::thread::sleep(Duration::from_millis(800));
    ws.write("in/a.txt", "a2\n");
    // A round's line speaks of nodes; the key database's work is shown with -v only.
    let round = wait_for(&out, "[1]");
    assert!(!round.contains("queries"), "{round}");
    let mut runs: Vec<_> = std::fs::read_dir(ws.path().join(".orch/runs"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    runs.sort();
    let first: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(runs[0].join("summary.json")).unwrap())
            .unwrap();
    let status = |id: &str| {
        let node = first["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|n| n["id"] == id)
            .unwrap()
            .clone();
        (
            node["status"].as_str().unwrap().to_owned(),
            node["reason"].as_str().unwrap_or("").to_owned(),
        )
    };
    assert_eq!(status("slow[n=a]").0, "cancelled");
    assert!(
        status("slow[n=a]").1.contains("changed while it ran"),
        "{first:#}"
    );
    assert_eq!(
        status("slow[n=b]").0,
        "success",
        "a node that does not read the file runs on"
    );
    let second = wait_for(&out, "[2]");
    assert!(second.contains("ran 1, cached 1"), "{second}");
    assert_eq!(ws.read("out-a.txt"), "a2\n");
    let _ = Command::new("kill")
        .args(["-s", "INT", &child.id().to_string()])
        .status();
    assert_eq!(child.wait().unwrap().code(), Some(130));
}

#[test]
fn editor_temporaries_start_no_round() {
    let ws = Ws::new("jobs:\n  c:\n    inputs: ['src/**']\n    run: cat src/a.txt > /dev/null\n");
    ws.write("src/a.txt", "one\n");
    let mut child = spawn_watch(&ws, &["watch"]);
    let out = lines(child.stdout.take().unwrap());
    wait_for(&out, "[1]");
    // What vim, emacs and sed write and remove beside a file being saved.
    for name in [
        "src/.a.txt.swp",
        "src/a.txt~",
        "src/4913",
        "src/sedRnbV1D",
        "src/#a.txt#",
    ] {
        ws.write(name, "x");
        std::fs::remove_file(ws.path().join(name)).unwrap();
    }
    std::thread::sleep(Duration::from_millis(800));
    ws.write("src/a.txt", "two\n");
    let second = wait_for(&out, "[2]");
    let _ = child.kill();
    let _ = child.wait();
    assert!(second.contains("changed src/a.txt"), "{second}");
    assert!(
        !second.contains("swp") && !second.contains("4913") && !second.contains('~'),
        "{second}"
    );
}
