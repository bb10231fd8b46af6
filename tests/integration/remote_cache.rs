//! The remote cache against a real REAPI server (BuildGrid) on loopback: results shared
//! between workspaces only through the server, verified, and a server that fails costing
//! speed, never the run.

use std::time::{Duration, Instant, SystemTime};

use sha2::Digest as _;

use crate::buildgrid::Server;
use crate::harness::{Ws, code, stderr};

/// A playbook no other test shares (the server is shared by nothing, but keys must not
/// meet those of another run of the same test either): two nodes, an executable output,
/// a job output, a log.
fn playbook() -> String {
    let token = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!(
        r#"vars:
  token: "{token}"
jobs:
  build:
    inputs: [src.txt]
    outputs: [out/upper.txt, out/tool]
    run: |
      mkdir -p out
      tr a-z A-Z < src.txt > out/upper.txt
      printf '#!/bin/sh\necho tool\n' > out/tool && chmod +x out/tool
      echo "version=1.${{{{ vars.token }}}}" >> "$ORCH_OUTPUT"
      echo "built from $(cat src.txt)"
  test:
    needs: [build]
    inputs: [out/upper.txt]
    run: cat out/upper.txt
"#
    )
}

fn workspace(playbook: &str) -> Ws {
    let ws = Ws::new(playbook);
    ws.write("src.txt", "hello remote\n");
    ws
}

fn run_with(ws: &Ws, server: &str, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["run", "--remote-cache", server];
    args.extend_from_slice(extra);
    ws.run(&args)
}

fn cache_of(ws: &Ws, node: &str) -> String {
    ws.node(node)["cache"].as_str().unwrap_or("ran").to_owned()
}

#[test]
fn two_workspaces_share_results_only_through_the_server_byte_exact() {
    let server = Server::start();
    let playbook = playbook();
    let first = workspace(&playbook);
    let out = run_with(&first, &server.url(), &[]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(
        (cache_of(&first, "build"), cache_of(&first, "test")),
        ("ran".into(), "ran".into())
    );

    // Another workspace, its own local cache: everything comes from the server.
    let second = workspace(&playbook);
    let out = run_with(&second, &server.url(), &[]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(cache_of(&second, "build"), "remote", "{}", stderr(&out));
    assert_eq!(cache_of(&second, "test"), "remote");
    for file in ["out/upper.txt", "out/tool"] {
        assert_eq!(second.read(file), first.read(file), "{file}");
    }
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(second.path().join("out/tool"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o111, 0o111, "the executable bit comes back");
    assert_eq!(
        second.node("build")["outputs"],
        first.node("build")["outputs"]
    );
    assert!(
        second.log("build").contains("built from hello remote"),
        "{}",
        second.log("build")
    );
    assert!(
        stderr(&out).contains("2 cached, 2 of them remote"),
        "{}",
        stderr(&out)
    );

    // Kept locally: the next run is a local hit, the server not needed.
    drop(server);
    let out = second.run(&["run"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(cache_of(&second, "build"), "local");

    let stats = second.run(&["cache", "stats"]);
    let text = crate::harness::stdout(&stats);
    assert!(text.contains("remote: 2 hits"), "{text}");
}

#[test]
fn a_read_only_client_never_writes() {
    let server = Server::start();
    let playbook = playbook();
    let reader = workspace(&playbook);
    let out = run_with(&reader, &server.url(), &["--remote-cache-mode", "read"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let other = workspace(&playbook);
    let out = run_with(&other, &server.url(), &[]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(
        cache_of(&other, "build"),
        "ran",
        "a read-only run wrote to the server"
    );
    // What `other` wrote, a reader finds.
    let late = workspace(&playbook);
    run_with(&late, &server.url(), &["--remote-cache-mode", "read"]);
    assert_eq!(cache_of(&late, "build"), "remote");
}

#[test]
fn a_blob_damaged_on_the_server_is_a_miss_and_never_restored() {
    let server = Server::start();
    let playbook = playbook();
    let first = workspace(&playbook);
    assert_eq!(code(&run_with(&first, &server.url(), &[])), 0);
    // The output's blob, damaged in place (same size).
    let content = first.read("out/upper.txt");
    let hex: String = sha2::Sha256::digest(content.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let blob = server.objects().join(&hex[..2]).join(&hex[2..]);
    assert!(blob.exists(), "the server keeps {}", blob.display());
    std::fs::write(&blob, content.replace('H', "J")).unwrap();

    let second = workspace(&playbook);
    let out = run_with(&second, &server.url(), &[]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(
        cache_of(&second, "build"),
        "ran",
        "a damaged blob was taken for a hit"
    );
    assert_eq!(second.read("out/upper.txt"), "HELLO REMOTE\n");
    // The server was asked and answered: what needs build is still found there.
    assert_eq!(cache_of(&second, "test"), "remote", "{}", stderr(&out));
    assert!(!stderr(&out).contains("warning"), "{}", stderr(&out));
}

#[test]
fn a_plan_asks_the_server_and_downloads_nothing() {
    let server = Server::start();
    let playbook = playbook();
    let first = workspace(&playbook);
    assert_eq!(code(&run_with(&first, &server.url(), &[])), 0);
    let second = workspace(&playbook);
    let out = second.run(&["plan", "--json", "--remote-cache", &server.url()]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let build = &plan["nodes"][0];
    assert_eq!(build["action"], "cached", "{plan:#}");
    assert_eq!(build["reason"], "key found in the remote cache");
    assert!(!second.exists("out/upper.txt"));
    let blobs = second.path().join(".orch/cache/cas");
    let held = std::fs::read_dir(&blobs).map_or(0, |d| d.count());
    assert_eq!(held, 0, "a plan downloaded into {}", blobs.display());
}

#[test]
fn a_server_that_is_down_or_silent_costs_one_warning_and_the_run_goes_on() {
    let mut server = Server::start();
    let url = server.url();
    server.stop();
    let ws = workspace(&playbook());
    let out = run_with(&ws, &url, &[]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(
        stderr(&out).matches("warning: remote cache").count(),
        1,
        "{}",
        stderr(&out)
    );
    assert_eq!(ws.read("out/upper.txt"), "HELLO REMOTE\n");

    // A server that takes connections and never answers: bounded by the timeout.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let held = std::thread::spawn(move || {
        let mut kept = Vec::new();
        for stream in silent.incoming().take(4) {
            kept.push(stream);
        }
        std::thread::sleep(Duration::from_secs(30));
    });
    let other = workspace(&playbook());
    let started = Instant::now();
    let out = run_with(
        &other,
        &format!("grpc://127.0.0.1:{port}"),
        &["--remote-timeout", "1s"],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(
        stderr(&out).matches("warning: remote cache").count(),
        1,
        "{}",
        stderr(&out)
    );
    drop(held);
}

#[test]
fn a_server_killed_or_restarted_mid_run() {
    let mut server = Server::start();
    let playbook = format!(
        "{}  after:\n    needs: [test]\n    run: echo after\n  slow:\n    run: |\n      touch started\n      while [ ! -e go ]; do sleep 0.05; done\n",
        playbook()
    );
    for action in ["restart", "kill"] {
        let ws = workspace(&playbook.replace("echo after", &format!("echo after {action}")));
        let child = std::process::Command::new(assert_cmd::cargo::cargo_bin("orch"))
            .current_dir(ws.path())
            .args([
                "run",
                "-j",
                "2",
                "--remote-cache",
                &server.url(),
                "--remote-timeout",
                "3s",
            ])
            .env("NO_COLOR", "1")
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        while !ws.exists("started") && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        match action {
            "restart" => server.restart(),
            _ => server.stop(),
        }
        ws.write("go", "");
        let out = child.wait_with_output().unwrap();
        assert_eq!(code(&out), 0, "{action}: {}", stderr(&out));
        assert!(
            stderr(&out).matches("warning: remote cache").count() <= 1,
            "{}",
            stderr(&out)
        );
        assert_eq!(ws.read("out/upper.txt"), "HELLO REMOTE\n");
        assert_eq!(ws.status("after"), "success");
    }
}

#[test]
fn a_large_output_goes_through_bytestream() {
    let server = Server::start();
    let playbook = format!(
        "{}  big:\n    outputs: [big.bin]\n    run: head -c 104857600 /dev/urandom > big.bin\n",
        playbook()
    );
    let first = workspace(&playbook);
    let out = run_with(&first, &server.url(), &["--remote-timeout", "60s"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(!stderr(&out).contains("warning"), "{}", stderr(&out));
    let second = workspace(&playbook);
    let out = run_with(&second, &server.url(), &["--remote-timeout", "60s"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(cache_of(&second, "big"), "remote", "{}", stderr(&out));
    let (a, b) = (
        std::fs::read(first.path().join("big.bin")).unwrap(),
        std::fs::read(second.path().join("big.bin")).unwrap(),
    );
    assert_eq!(a.len(), 104_857_600);
    assert!(a == b, "the 100 MiB output differs");
}

#[test]
fn bad_remote_settings_are_refused_before_anything_runs() {
    let ws = workspace(&playbook());
    for (args, says) in [
        (
            vec!["--remote-cache", "http://127.0.0.1:1"],
            "grpc:// or grpcs://",
        ),
        (
            vec!["--remote-cache", "grpc://127.0.0.1"],
            "a host and a port",
        ),
        (
            vec![
                "--remote-cache",
                "grpc://127.0.0.1:1",
                "--remote-timeout",
                "soon",
            ],
            "--remote-timeout soon",
        ),
        (
            vec![
                "--remote-cache",
                "grpc://127.0.0.1:1",
                "--remote-tls-ca",
                "ca.pem",
            ],
            "not grpcs://",
        ),
        (
            vec![
                "--remote-cache",
                "grpcs://127.0.0.1:1",
                "--remote-tls-cert",
                "c.pem",
            ],
            "go together",
        ),
        (
            vec![
                "--remote-cache",
                "grpcs://127.0.0.1:1",
                "--remote-tls-ca",
                "missing.pem",
            ],
            "missing.pem",
        ),
    ] {
        let out = run_with(&ws, args[1], &args[2..]);
        assert_eq!(code(&out), 2, "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains(says), "{args:?}: {}", stderr(&out));
        assert!(!ws.exists("out"), "{args:?} ran something");
    }
}

#[test]
fn mutual_tls_and_a_bearer_token() {
    let (server, secrets) = Server::start_secured();
    let url = format!("grpcs://127.0.0.1:{}", server.port);
    let tls = [
        "--remote-tls-ca",
        secrets.ca.to_str().unwrap(),
        "--remote-tls-cert",
        secrets.client_cert.to_str().unwrap(),
        "--remote-tls-key",
        secrets.client_key.to_str().unwrap(),
    ];
    let playbook = playbook();
    let token_file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(token_file.path(), format!("{}\n", secrets.token)).unwrap();
    let first = workspace(&playbook);
    let mut args = tls.to_vec();
    args.extend(["--remote-token-file", token_file.path().to_str().unwrap()]);
    let out = run_with(&first, &url, &args);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(!stderr(&out).contains("warning"), "{}", stderr(&out));

    // The token from the environment; the results written above come back.
    let second = workspace(&playbook);
    let out = second
        .cmd(&[&["run", "--remote-cache", &url][..], &tls].concat())
        .env("ORCH_REMOTE_TOKEN", &secrets.token)
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(cache_of(&second, "build"), "remote", "{}", stderr(&out));
    assert!(!stderr(&out).contains(&secrets.token));

    // Without the token, or without the client certificate: one warning, and it runs.
    for args in [tls.to_vec(), tls[..2].to_vec()] {
        let third = workspace(&playbook);
        let mut cmd = third.cmd(&[&["run", "--remote-cache", &url][..], &args].concat());
        if args.len() == 2 {
            cmd.env("ORCH_REMOTE_TOKEN", &secrets.token);
        }
        let out = cmd.output().unwrap();
        assert_eq!(code(&out), 0, "{}", stderr(&out));
        assert_eq!(
            stderr(&out).matches("warning: remote cache").count(),
            1,
            "{}",
            stderr(&out)
        );
        assert_eq!(cache_of(&third, "build"), "ran");
    }
    for dir in [first.path(), second.path()] {
        assert!(dir.join(".orch/cache/remote-stats").exists());
        // Nothing orch keeps holds the token (grep exits 1: no file matched).
        let grep = std::process::Command::new("grep")
            .args(["-rqF", &secrets.token, ".orch"])
            .current_dir(dir)
            .status()
            .unwrap();
        assert_eq!(
            grep.code(),
            Some(1),
            "the token was written under {}",
            dir.display()
        );
    }
}

#[test]
fn hundreds_of_nodes_looked_up_at_once_stay_within_the_servers_limits() {
    let server = Server::start();
    let legs: Vec<String> = (1..=200).map(|n| n.to_string()).collect();
    let playbook = format!(
        "{}  many:\n    shell: sh\n    matrix:\n      n: [{}]\n    outputs: ['many/${{{{ matrix.n }}}}.txt']\n    run: mkdir -p many && echo ${{{{ matrix.n }}}} > many/${{{{ matrix.n }}}}.txt\n",
        playbook(),
        legs.join(", ")
    );
    let first = workspace(&playbook);
    let out = run_with(&first, &server.url(), &[]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(!stderr(&out).contains("warning"), "{}", stderr(&out));
    let second = workspace(&playbook);
    let out = run_with(&second, &server.url(), &[]);
    assert!(!stderr(&out).contains("warning"), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("202 cached, 202 of them remote"),
        "{}",
        stderr(&out)
    );
    assert_eq!(second.read("many/200.txt"), "200\n");
}

#[test]
fn the_token_never_reaches_a_node_nor_crosses_the_network_unencrypted() {
    let ws = Ws::new("jobs:\n  show:\n    run: env\n");
    let out = ws
        .cmd(&["run"])
        .env("ORCH_REMOTE_TOKEN", "tok-6f1d-secret")
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(ws.log("show").contains("PATH="), "{}", ws.log("show"));
    assert!(
        !ws.log("show").contains("tok-6f1d-secret"),
        "{}",
        ws.log("show")
    );

    let out = ws
        .cmd(&["run", "--remote-cache", "grpc://192.0.2.1:8980"])
        .env("ORCH_REMOTE_TOKEN", "tok-6f1d-secret")
        .output()
        .unwrap();
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(stderr(&out).contains("unencrypted"), "{}", stderr(&out));
    assert!(!stderr(&out).contains("tok-6f1d-secret"));
}

#[test]
fn a_server_that_takes_no_results_is_only_read_with_one_note() {
    let server = Server::start_refusing_results();
    let ws = workspace(&playbook());
    let out = run_with(&ws, &server.url(), &[]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(
        stderr(&out).matches("does not take results").count(),
        1,
        "{}",
        stderr(&out)
    );
    assert!(!stderr(&out).contains("warning"), "{}", stderr(&out));
    let stats = crate::harness::stdout(&ws.run(&["cache", "stats"]));
    assert!(stats.contains("0 results written"), "{stats}");
    assert!(stats.contains("0 failed calls"), "{stats}");
}
