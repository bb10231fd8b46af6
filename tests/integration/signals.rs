//! SIGINT and SIGTERM end every job's process tree, write a cancelled summary, exit 130.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::harness::{Ws, alive};

fn wait_for_file(path: &std::path::Path) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !path.exists() {
        assert!(
            Instant::now() < deadline,
            "{} never appeared",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // The writer may not have finished the line yet.
    std::thread::sleep(Duration::from_millis(100));
}

fn interrupt(signal: &str) {
    let ws = Ws::new(
        "jobs:\n  long:\n    run: |\n      sleep 120 &\n      echo $! > grandchild.pid\n      sleep 120\n  after: { needs: long, run: 'touch after' }\n",
    );
    let mut child = Command::new(assert_cmd::cargo::cargo_bin("orch"))
        .arg("run")
        .current_dir(ws.path())
        .env("CI", "true")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for_file(&ws.path().join("grandchild.pid"));
    let started = Instant::now();
    let status = Command::new("kill")
        .args(["-s", signal, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = loop {
        if let Some(exit) = child.try_wait().unwrap() {
            break exit;
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "orch did not stop"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(exit.code(), Some(130));
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
    let pid: u32 = ws.read("grandchild.pid").trim().parse().unwrap();
    assert!(!alive(pid), "grandchild {pid} still running");
    let summary = ws.summary();
    assert_eq!(summary["status"], "cancelled");
    assert_eq!(ws.status("long"), "cancelled");
    assert_eq!(ws.status("after"), "cancelled");
    assert!(!ws.exists("after"));
}

#[test]
fn sigint_cancels_the_run() {
    interrupt("INT");
}

#[test]
fn sigterm_cancels_the_run() {
    interrupt("TERM");
}
