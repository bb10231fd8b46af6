//! Faults and hostile input: orch keeps working, loses nothing, and stays inside the
//! workspace.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use orch_store::{ActionResult, Digest, LocalStore, OutputFile};

use crate::harness::{Ws, code, stderr, stdout};

fn no_panic(out: &std::process::Output) {
    let err = stderr(out);
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn an_unwritable_cache_warns_and_the_run_stands() {
    let ws = Ws::new(
        "jobs:\n  g: { run: 'cat in.txt > out.txt', inputs: [in.txt], outputs: [out.txt] }\n",
    );
    ws.write("in.txt", "one\n");
    assert_eq!(code(&ws.run(&["run"])), 0);
    // Writes go through cache/tmp: make that impossible, even for root.
    let tmp = ws.path().join(".orch/cache/tmp");
    std::fs::remove_dir_all(&tmp).unwrap();
    std::fs::write(&tmp, "not a folder").unwrap();
    ws.write("in.txt", "two\n");
    let out = ws.run(&["run"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(stderr(&out).contains("warning:"), "{}", stderr(&out));
    assert_eq!(ws.read("out.txt"), "two\n");
    assert_eq!(ws.summary()["status"], "success");

    // A cache directory that cannot be opened at all: the run goes on without it.
    let blocker = ws.path().join("blocker");
    std::fs::write(&blocker, "a file where the cache should be").unwrap();
    let out = ws.run(&[
        "run",
        "--cache-dir",
        blocker.join("cache").to_str().unwrap(),
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("the cache is off for this run"),
        "{}",
        stderr(&out)
    );
    assert_eq!(ws.summary()["nodes"][0]["cached"], false);
}

#[test]
fn a_hand_crafted_record_cannot_write_outside_the_workspace() {
    let ws =
        Ws::new("jobs:\n  g: { run: 'echo good > out.txt', inputs: [], outputs: [out.txt] }\n");
    assert_eq!(code(&ws.run(&["run"])), 0);
    let key = Digest::from_hex(ws.summary()["nodes"][0]["key"].as_str().unwrap()).unwrap();
    let store = LocalStore::open(&ws.path().join(".orch/cache")).unwrap();
    let evil = store.put_bytes(b"evil\n").unwrap();
    let outside = tempfile::tempdir().unwrap();
    let target = outside.path().join("pwned.txt");
    for files in [
        vec![OutputFile {
            path: "../pwned.txt".into(),
            digest: evil,
            size: 5,
            mode: 0o644,
            symlink: None,
        }],
        vec![OutputFile {
            path: target.to_str().unwrap().into(),
            digest: evil,
            size: 5,
            mode: 0o644,
            symlink: None,
        }],
        vec![OutputFile {
            path: "out.txt".into(),
            digest: evil,
            size: 5,
            mode: 0o644,
            symlink: Some(target.to_str().unwrap().into()),
        }],
    ] {
        let record = ActionResult {
            orch_version: "evil".into(),
            exit_code: 0,
            duration_ms: 0,
            log: None,
            files,
            outputs: Vec::new(),
            summary: String::new(),
            result_digest: Digest::of(b"evil"),
            artifacts: Vec::new(),
        };
        store.put_action(&key, &record).unwrap();
        std::fs::remove_file(ws.path().join("out.txt")).unwrap();
        let out = ws.run(&["run"]);
        assert_eq!(code(&out), 0, "{}", stderr(&out));
        let node = &ws.summary()["nodes"][0];
        assert_eq!(node["cached"], false, "{node}");
        assert!(node["why"].as_str().unwrap().contains("refused"), "{node}");
        assert_eq!(ws.read("out.txt"), "good\n", "the node ran instead");
        assert!(!target.exists() && !ws.path().parent().unwrap().join("pwned.txt").exists());
    }
}

#[test]
fn symbolic_links_out_of_the_workspace_are_refused() {
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("evil.sh"), "echo evil > evil.txt\n").unwrap();
    std::fs::write(
        outside.path().join("used.yml"),
        "jobs:\n  x: { run: 'true' }\n",
    )
    .unwrap();
    let ws = Ws::new("jobs:\n  a: { script: tools/evil.sh }\n");
    std::os::unix::fs::symlink(outside.path(), ws.path().join("tools")).unwrap();
    std::os::unix::fs::symlink(
        outside.path().join("evil.sh"),
        ws.path().join("tools-run.sh"),
    )
    .unwrap();
    let out = ws.run(&["run"]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("resolves outside the workspace"),
        "{}",
        stderr(&out)
    );
    assert!(!ws.exists("evil.txt"));

    ws.write(
        "orch.yml",
        "jobs:\n  a: { run: pwd, working-directory: tools }\n",
    );
    let out = ws.run(&["run"]);
    assert_eq!(code(&out), 2);
    assert!(
        stderr(&out).contains("working-directory"),
        "{}",
        stderr(&out)
    );

    std::os::unix::fs::symlink(outside.path().join("used.yml"), ws.path().join("used.yml"))
        .unwrap();
    ws.write("orch.yml", "jobs:\n  a: { uses: used.yml }\n");
    let out = ws.run(&["validate"]);
    assert_eq!(code(&out), 2);
    assert!(
        stderr(&out).contains("resolves outside the workspace"),
        "{}",
        stderr(&out)
    );

    // A declared input that links out of the workspace is refused; under the
    // default-inputs rule such a link is its text: the file outside is never read, so
    // changing it changes nothing.
    ws.write(
        "orch.yml",
        "jobs:\n  a: { run: 'true', inputs: ['*.lnk'] }\n",
    );
    std::os::unix::fs::symlink(outside.path().join("evil.sh"), ws.path().join("secret.lnk"))
        .unwrap();
    assert_eq!(code(&ws.run(&["run"])), 1);
    assert!(
        ws.node("a")["reason"]
            .as_str()
            .unwrap()
            .contains("out of the workspace")
    );
    std::fs::remove_file(ws.path().join("tools")).unwrap();
    std::fs::remove_file(ws.path().join("used.yml")).unwrap();
    ws.write("orch.yml", "jobs:\n  a: { run: 'true' }\n");
    assert_eq!(code(&ws.run(&["run"])), 0);
    std::fs::write(outside.path().join("evil.sh"), "changed\n").unwrap();
    let plan = stdout(&ws.run(&["plan"]));
    assert!(plan.starts_with("cached"), "{plan}");
}

#[test]
fn hostile_playbooks_fail_fast_and_clearly() {
    let mut bytes: Vec<u8> = (0..4096u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    bytes.extend_from_slice(b"\xff");
    let deep_yaml = format!("jobs: {}{}", "[".repeat(100_000), "]".repeat(100_000));
    let bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\ne: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\nf: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\ng: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f, *f]\nh: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g, *g]\ni: &i [*h, *h, *h, *h, *h, *h, *h, *h, *h, *h]\njobs: {}\n".to_owned();
    let long_line = format!(
        "jobs:\n  a: {{ run: 'true', rnu: '{}' }}\n",
        "x".repeat(5_000_000)
    );
    let deep_expr = format!(
        "jobs:\n  a: {{ run: 'echo ${{{{ {}1{} }}}}' }}\n",
        "(".repeat(5000),
        ")".repeat(5000)
    );
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("random bytes", bytes, "UTF-8"),
        ("deep nesting", deep_yaml.into_bytes(), "invalid YAML"),
        ("alias bomb", bomb.into_bytes(), "invalid YAML"),
        (
            "a very long line",
            long_line.into_bytes(),
            "unknown key `rnu`",
        ),
        (
            "a deeply nested expression",
            deep_expr.into_bytes(),
            "nested deeper than",
        ),
    ];
    for (what, text, expected) in cases {
        let ws = Ws::new("");
        std::fs::write(ws.path().join("orch.yml"), text).unwrap();
        let started = Instant::now();
        let out = ws.run(&["validate"]);
        assert_eq!(code(&out), 2, "{what}: {}", stderr(&out));
        no_panic(&out);
        assert!(
            stderr(&out).contains(expected),
            "{what}: {}",
            &stderr(&out)[..stderr(&out).len().min(2000)]
        );
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "{what} took {:?}",
            started.elapsed()
        );
    }
}

/// Reads the peak resident memory of a process from /proc while it runs.
fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

#[test]
fn a_flood_of_output_streams_to_disk_with_bounded_memory() {
    let ws = Ws::new(
        "jobs:\n  flood: { shell: sh, run: 'yes 0123456789abcdefghijklmnopqrstuvwxyz | head -c 300000000', cache: false }\n",
    );
    let mut child = Command::new(assert_cmd::cargo::cargo_bin("orch"))
        .args(["run", "-q"])
        .current_dir(ws.path())
        .env("CI", "true")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut peak = 0;
    let status = loop {
        if let Some(p) = peak_rss_kib(child.id()) {
            peak = peak.max(p);
        }
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    assert!(status.success());
    let log = std::fs::metadata(ws.latest_run().join("logs/flood.log")).unwrap();
    assert_eq!(log.len(), 300_000_000);
    assert!(
        peak < 100 * 1024,
        "orch's peak memory was {peak} KiB for 300 MB of output"
    );
}
