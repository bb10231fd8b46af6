//! Remote execution against a real farm on loopback: BuildGrid's Execution service, its
//! scheduler in PostgreSQL, and `orch worker` processes taking its leases.

use std::time::{Duration, Instant};

use crate::buildgrid::Server;
use crate::harness::{Ws, code, stderr};

/// A matrix job whose nodes read an input and a need's output and write outputs and a
/// job output; a need that makes a file the matrix reads. Nothing depends on the host.
const PLAYBOOK: &str = r###"jobs:
  prepare:
    inputs: [src/words.txt]
    outputs: [gen/header.txt]
    run: |
      mkdir -p gen
      echo "header of $(wc -l < src/words.txt) words" > gen/header.txt
  shout:
    needs: [prepare]
    matrix:
      n: [1, 2, 3, 4]
    inputs: [src/words.txt]
    outputs: ["out/${{ matrix.n }}/**"]
    working-directory: src
    run: |
      sleep 1
      mkdir -p ../out/${{ matrix.n }}
      { cat ../gen/header.txt; sed -n "${{ matrix.n }}p" words.txt | tr a-z A-Z; } > ../out/${{ matrix.n }}/line.txt
      printf '#!/bin/sh\necho ${{ matrix.n }}\n' > ../out/${{ matrix.n }}/tool && chmod +x ../out/${{ matrix.n }}/tool
      echo "shouted=$(sed -n "${{ matrix.n }}p" words.txt)" >> "$ORCH_OUTPUT"
      echo "## line ${{ matrix.n }}" >> "$ORCH_SUMMARY"
      echo "done ${{ matrix.n }} in $(basename "$PWD")"
"###;

fn workspace() -> Ws {
    let ws = Ws::new(PLAYBOOK);
    ws.write("src/words.txt", "alpha\nbeta\ngamma\ndelta\n");
    ws
}

fn outputs(ws: &Ws) -> Vec<(String, String, bool)> {
    use std::os::unix::fs::PermissionsExt;
    let mut found = Vec::new();
    for n in 1..=4 {
        for name in ["line.txt", "tool"] {
            let path = format!("out/{n}/{name}");
            let mode = std::fs::metadata(ws.path().join(&path))
                .map(|m| m.permissions().mode() & 0o111 != 0)
                .unwrap_or(false);
            found.push((path.clone(), ws.read(&path), mode));
        }
    }
    found.push(("gen/header.txt".into(), ws.read("gen/header.txt"), false));
    found
}

#[test]
fn a_matrix_runs_on_two_workers_with_the_results_of_a_local_run() {
    let server = Server::start_executing();
    let one = server.worker("worker-one");
    let two = server.worker("worker-two");
    let local = workspace();
    let out = local.run(&["run"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));

    let remote = workspace();
    let out = remote.run(&["run", "-j", "4", "--remote-exec", &server.url()]);
    assert_eq!(
        code(&out),
        0,
        "{}\n{}\n{}",
        stderr(&out),
        one.log(),
        two.log()
    );
    assert_eq!(outputs(&remote), outputs(&local));
    for n in 1..=4 {
        let node = format!("shout[n={n}]");
        assert_eq!(remote.node(&node)["outputs"], local.node(&node)["outputs"]);
        let log = remote.log(&node);
        assert!(log.contains(&format!("done {n} in src")), "{log}");
        assert!(log.contains("orch: ran on grpc://127.0.0.1"), "{log}");
    }
    let summary = std::fs::read_to_string(remote.latest_run().join("summary.md")).expect("md");
    assert!(summary.contains("## line 3"), "{summary}");
    // Both workers took leases: five nodes, at most one at a time each.
    for worker in [&one, &two] {
        assert!(worker.log().contains(": started"), "{}", worker.log());
    }
    // The results are in the local cache as after a local run.
    let again = remote.run(&["run", "--remote-exec", &server.url()]);
    assert_eq!(code(&again), 0);
    assert!(remote.cached("shout[n=2]") && remote.cached("prepare"));
    // Another workspace, its own local cache: every result comes from the farm's cache.
    let third = workspace();
    let out = third.run(&["run", "--remote-exec", &server.url()]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    for n in 1..=4 {
        assert_eq!(third.node(&format!("shout[n={n}]"))["cache"], "remote");
    }
    assert_eq!(outputs(&third), outputs(&local));
}

#[test]
fn the_worker_holds_a_step_to_its_time_limit() {
    let server = Server::start_executing();
    let worker = server.worker("worker-limit");
    let ws = Ws::new("jobs:\n  slow:\n    timeout: 2s\n    run: sleep 30\n");
    let started = Instant::now();
    let out = ws.run(&["run", "--remote-exec", &server.url()]);
    assert_ne!(code(&out), 0);
    assert_eq!(ws.status("slow"), "failure");
    assert!(
        ws.reason("slow").contains("timed out"),
        "{}",
        ws.reason("slow")
    );
    assert!(
        started.elapsed() < Duration::from_secs(25),
        "{:?}",
        started.elapsed()
    );
    assert!(
        ws.log("slow").contains("orch: ran on"),
        "{}",
        ws.log("slow")
    );
    assert!(worker.log().contains(": started"), "{}", worker.log());
}

#[test]
fn a_node_that_cannot_go_runs_here_and_a_server_that_cannot_execute_is_said_once() {
    let server = Server::start_executing();
    let _worker = server.worker("worker-solo");
    let ws = Ws::new(
        "secrets: [TOKEN]\njobs:\n  secretive:\n    outputs: [s.txt]\n    run: echo \"${{ secrets.TOKEN }}\" | wc -c > s.txt\n",
    );
    let out = ws
        .cmd(&["run", "--remote-exec", &server.url()])
        .env("TOKEN", "hunter2")
        .output()
        .expect("orch");
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(
        ws.log("secretive")
            .contains("orch: runs on this machine: a step uses a secret")
    );
    assert_eq!(ws.read("s.txt").trim(), "8");

    // A job decides: `remote: false` stays; with `--remote-exec-jobs marked` only jobs
    // that say `remote:` go.
    let ws = Ws::new(
        "jobs:\n  here:\n    remote: false\n    run: echo here\n  plain:\n    run: echo plain\n  \
         marked:\n    remote: {OSFamily: linux}\n    run: echo marked\n  \
         several:\n    remote: true\n    steps:\n      - run: echo one > f\n      - run: cat f\n  \
         hosted:\n    remote: true\n    env-inputs: [HOME]\n    run: echo hosted\n",
    );
    let out = ws.run(&[
        "run",
        "--remote-exec",
        &server.url(),
        "--remote-exec-jobs",
        "marked",
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(
        ws.log("here")
            .contains("runs on this machine: the job says `remote: false`")
    );
    assert!(
        !ws.log("plain").contains("orch: ran on"),
        "{}",
        ws.log("plain")
    );
    assert!(
        ws.log("marked").contains("orch: ran on"),
        "{}",
        ws.log("marked")
    );
    // What a farm's step would not see the same way stays here, with the reason.
    assert!(
        ws.log("several")
            .contains("runs on this machine: it has several steps")
    );
    assert!(
        ws.log("hosted")
            .contains("runs on this machine: its key reads this machine's variables")
    );
    let out = ws.run(&["run", "--no-cache", "--remote-exec", &server.url()]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(
        ws.log("plain").contains("orch: ran on"),
        "{}",
        ws.log("plain")
    );
    assert!(
        !ws.log("here").contains("orch: ran on"),
        "{}",
        ws.log("here")
    );

    // A cache-only server: the step runs here, with a warning.
    let cache_only = Server::start();
    let ws = Ws::new("jobs:\n  a:\n    outputs: [a.txt]\n    run: echo a > a.txt\n");
    let out = ws.run(&["run", "--remote-exec", &cache_only.url()]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("does not execute actions"),
        "{}",
        stderr(&out)
    );
    assert_eq!(ws.read("a.txt"), "a\n");
    // Keyed as the farm's work, what ran here instead is not kept.
    let again = ws.run(&["run", "--remote-exec", &cache_only.url()]);
    assert_eq!(code(&again), 0, "{}", stderr(&again));
    assert!(!ws.cached("a"), "a result made here stood for the farm's");
}

#[test]
fn ctrl_c_cancels_the_operation_on_the_server() {
    let server = Server::start_executing();
    let worker = server.worker("worker-cancel");
    let ws = Ws::new("jobs:\n  long:\n    run: sleep 60\n");
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("orch"))
        .args(["run", "--remote-exec", &server.url()])
        .current_dir(ws.path())
        .env("CI", "true")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("orch starts");
    assert!(
        worker.wait_for(": started", Duration::from_secs(30)),
        "{}",
        worker.log()
    );
    let started = Instant::now();
    let pid = rustix::process::Pid::from_raw(i32::try_from(child.id()).expect("pid")).expect("pid");
    let _ = rustix::process::kill_process(pid, rustix::process::Signal::INT);
    let status = child.wait().expect("orch ends");
    assert!(!status.success());
    assert!(started.elapsed() < Duration::from_secs(20));
    assert!(
        worker.wait_for("cancelled by the server", Duration::from_secs(30)),
        "{}",
        worker.log()
    );
}
