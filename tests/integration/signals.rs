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

/// `orch run` in the workspace as a child process, as CI would start it.
fn spawn_orch(ws: &Ws, envs: &[(&str, &str)]) -> std::process::Child {
    Command::new(assert_cmd::cargo::cargo_bin("orch"))
        .arg("run")
        .current_dir(ws.path())
        .env("CI", "true")
        .envs(envs.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

fn send(signal: &str, child: &std::process::Child) {
    let status = Command::new("kill")
        .args(["-s", signal, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

/// Waits for the child to exit, failing the test past `limit`.
fn wait_exit(child: &mut std::process::Child, limit: Duration) -> std::process::ExitStatus {
    let started = Instant::now();
    loop {
        if let Some(exit) = child.try_wait().unwrap() {
            return exit;
        }
        assert!(
            started.elapsed() < limit,
            "orch did not stop within {limit:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn interrupt(signal: &str) {
    let ws = Ws::new(
        "jobs:\n  long:\n    run: |\n      sleep 120 &\n      echo $! > grandchild.pid\n      sleep 120\n  after: { needs: long, run: 'touch after' }\n",
    );
    let mut child = spawn_orch(&ws, &[]);
    wait_for_file(&ws.path().join("grandchild.pid"));
    let started = Instant::now();
    send(signal, &child);
    let exit = wait_exit(&mut child, Duration::from_secs(15));
    assert_eq!(exit.code(), Some(130));
    assert!(
        started.elapsed() < Duration::from_secs(2),
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

#[test]
fn a_second_sigint_kills_at_once() {
    // The job ignores SIGTERM; with a 60 s grace only a second Ctrl-C can end it soon.
    let ws = Ws::new(
        "jobs:\n  stubborn:\n    run: |\n      trap '' TERM\n      echo $$ > job.pid\n      while true; do sleep 0.1; done\n",
    );
    let mut child = spawn_orch(&ws, &[("ORCH_KILL_GRACE", "60s")]);
    wait_for_file(&ws.path().join("job.pid"));
    send("INT", &child);
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        child.try_wait().unwrap().is_none(),
        "the first Ctrl-C waits for the grace period"
    );
    send("INT", &child);
    let exit = wait_exit(&mut child, Duration::from_secs(30));
    assert_eq!(exit.code(), Some(130));
    let job: u32 = ws.read("job.pid").trim().parse().unwrap();
    assert!(!alive(job));
    assert_eq!(ws.status("stubborn"), "cancelled");
}

#[test]
fn the_terminal_gets_a_live_view() {
    // `script` gives orch a pseudo-terminal, as a person at a keyboard has.
    let ws = Ws::new(
        "jobs:\n  first: { run: 'echo hi' }\n  second: { needs: first, run: 'echo there' }\n",
    );
    let orch = assert_cmd::cargo::cargo_bin("orch");
    let out = Command::new("script")
        .args(["-qec", &format!("{} run", orch.display()), "/dev/null"])
        .current_dir(ws.path())
        .env_remove("CI")
        .env_remove("GITHUB_ACTIONS")
        .env("TERM", "xterm")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let screen = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{screen}");
    assert!(screen.contains("✓ first success"), "{screen}");
    assert!(screen.contains("2/2 nodes"), "the overall bar: {screen}");
    assert!(
        !screen.contains("[first] hi"),
        "no plain log lines on a terminal: {screen}"
    );
}

#[test]
fn an_always_job_started_after_ctrl_c_runs_to_its_end() {
    let ws = Ws::new(
        "jobs:
  long: { run: 'touch started; sleep 120' }
  cleanup:
    needs: long
    if: always()
    cache: false
    run: 'sleep 0.5; echo ${{ needs.long.result }} > cleaned'
",
    );
    let mut child = spawn_orch(&ws, &[]);
    wait_for_file(&ws.path().join("started"));
    send("INT", &child);
    let exit = wait_exit(&mut child, Duration::from_secs(10));
    assert_eq!(exit.code(), Some(130));
    assert_eq!(ws.status("cleanup"), "success", "{:#}", ws.summary());
    assert_eq!(ws.read("cleaned"), "cancelled\n");
}

/// The screen a terminal `width` columns wide shows after `bytes`: lines of text, with
/// the carriage return, erase-line and cursor up/down sequences the live view writes
/// applied, and the wrap at the last column it relies on; other escape sequences are
/// dropped.
fn render(bytes: &[u8], width: usize) -> Vec<String> {
    let text = String::from_utf8_lossy(bytes);
    let mut screen: Vec<Vec<char>> = vec![Vec::new()];
    let (mut row, mut col) = (0usize, 0usize);
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\r' => col = 0,
            '\n' => {
                row += 1;
                col = 0;
            }
            '\x1b' if chars.peek() == Some(&'[') => {
                chars.next();
                let mut arg = String::new();
                let mut command = ' ';
                for c in chars.by_ref() {
                    if c.is_ascii_digit() || c == ';' || c == '?' {
                        arg.push(c);
                    } else {
                        command = c;
                        break;
                    }
                }
                let n: usize = arg.parse().unwrap_or(1);
                match command {
                    'A' => row = row.saturating_sub(n),
                    'B' => row += n,
                    'K' => {
                        if let Some(line) = screen.get_mut(row) {
                            line.truncate(if arg == "2" { 0 } else { col });
                        }
                    }
                    _ => {}
                }
            }
            c if c.is_control() => {}
            c => {
                if col >= width {
                    row += 1;
                    col = 0;
                }
                while screen.len() <= row {
                    screen.push(Vec::new());
                }
                let line = &mut screen[row];
                while line.len() < col {
                    line.push(' ');
                }
                if col < line.len() {
                    line[col] = c;
                } else {
                    line.push(c);
                }
                col += 1;
            }
        }
        while screen.len() <= row {
            screen.push(Vec::new());
        }
    }
    screen
        .into_iter()
        .map(|l| l.into_iter().collect::<String>().trim_end().to_owned())
        .filter(|l| !l.is_empty())
        .collect()
}

#[test]
fn ctrl_c_at_a_terminal_leaves_no_spinner_behind() {
    let ws = Ws::new(
        "jobs:
  slow: { cache: false, run: 'touch started; sleep 30' }
  cleanup:
    needs: slow
    if: always()
    cache: false
    run: 'sleep 0.3; echo cleaned'
",
    );
    let orch = assert_cmd::cargo::cargo_bin("orch");
    let mut child = Command::new("script")
        .args([
            "-qfec",
            &format!("stty cols 100 rows 40; {} run", orch.display()),
            "/dev/null",
        ])
        .current_dir(ws.path())
        .env_remove("CI")
        .env_remove("GITHUB_ACTIONS")
        .env("TERM", "xterm")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for_file(&ws.path().join("started"));
    std::thread::sleep(Duration::from_millis(300));
    // The keyboard's Ctrl-C: the terminal sends SIGINT to orch.
    use std::io::Write as _;
    let mut keyboard = child.stdin.take().unwrap();
    keyboard.write_all(b"\x03").unwrap();
    keyboard.flush().unwrap();
    let exit = wait_exit(&mut child, Duration::from_secs(20));
    drop(keyboard);
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(&mut child.stdout.take().unwrap(), &mut bytes).unwrap();
    let screen = render(&bytes, 100);
    assert_eq!(exit.code(), Some(130), "{screen:#?}");
    let spinner = |l: &String| l.chars().any(|c| ('\u{2800}'..='\u{28FF}').contains(&c));
    assert!(
        !screen.iter().any(spinner),
        "a spinner line stayed: {screen:#?}"
    );
    assert!(
        !screen.iter().any(|l| l.contains("nodes cancelling")),
        "the overall bar stayed: {screen:#?}"
    );
    let at = |text: &str| screen.iter().position(|l| l.contains(text));
    let (cleanup, summary) = (
        at("✓ cleanup success"),
        at("cancelled: 2 nodes, 1 succeeded"),
    );
    assert!(cleanup.is_some() && cleanup < summary, "{screen:#?}");
}
