//! The content-addressed cache: hits, restores, reasons, early cutoff, sharing, damage.

use std::process::{Command, Stdio};

use crate::harness::{Ws, code, stderr, stdout};

const PIPELINE: &str = "jobs:
  gen:
    inputs: ['src/**']
    outputs: [out/size.txt]
    run: |
      mkdir -p out
      wc -c < src/main.c | tr -d ' ' > out/size.txt
      echo generated
  use:
    needs: gen
    inputs: [out/size.txt]
    outputs: [used.txt]
    run: |
      echo \"size $(cat out/size.txt)\" > used.txt
      echo \"size=$(cat out/size.txt)\" >> \"$ORCH_OUTPUT\"
  report:
    needs: use
    inputs: []
    outputs: [report.txt]
    run: echo 'report ${{ needs.use.outputs.size }}' > report.txt
";

fn pipeline() -> Ws {
    let ws = Ws::new(PIPELINE);
    ws.write("src/main.c", "int main;\n");
    ws
}

fn cached(ws: &Ws, node: &str) -> bool {
    ws.cached(node)
}

fn plan(ws: &Ws) -> Vec<(String, String, String)> {
    let out = ws.run(&["plan", "--json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let plan: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    plan["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            let s = |k: &str| n[k].as_str().unwrap_or_default().to_owned();
            (s("id"), s("action"), s("reason"))
        })
        .collect()
}

fn row<'p>(plan: &'p [(String, String, String)], id: &str) -> (&'p str, &'p str) {
    let r = plan
        .iter()
        .find(|r| r.0 == id)
        .unwrap_or_else(|| panic!("{id} not in {plan:?}"));
    (r.1.as_str(), r.2.as_str())
}

#[test]
fn a_second_run_is_cached_and_restores_outputs() {
    let ws = pipeline();
    assert_eq!(row(&plan(&ws), "gen"), ("run", "no previous run"));
    assert_eq!(
        row(&plan(&ws), "use"),
        ("blocked", "waits for gen's result")
    );
    assert_eq!(code(&ws.run(&["run"])), 0);
    assert!(!cached(&ws, "gen"));
    let key = ws.summary()["nodes"][0]["key"].as_str().unwrap().to_owned();
    assert_eq!(key.len(), 64);

    let plan = plan(&ws);
    assert!(
        plan.iter()
            .all(|r| r.1 == "cached" && r.2 == "key found in cache"),
        "{plan:?}"
    );
    std::fs::remove_dir_all(ws.path().join("out")).unwrap();
    let out = ws.run(&["run"]);
    assert_eq!(code(&out), 0);
    for node in ["gen", "use", "report"] {
        assert!(cached(&ws, node), "{node}");
    }
    assert_eq!(ws.read("out/size.txt"), "10\n", "outputs are restored");
    assert_eq!(ws.summary()["counts"]["cached"], 3);
    assert_eq!(ws.summary()["nodes"][0]["key"], key.as_str());
    // The cached node's job outputs flow downstream, and its log is in this run's logs.
    assert_eq!(ws.summary()["nodes"][1]["outputs"]["size"], "10");
    assert!(ws.log("gen").contains("generated"), "{}", ws.log("gen"));
    let md = std::fs::read_to_string(ws.latest_run().join("summary.md")).unwrap();
    assert!(md.contains("💾 cached"), "{md}");
}

#[test]
fn fully_cached_runs_share_one_log_set() {
    let ws = pipeline();
    assert_eq!(code(&ws.run(&["run"])), 0);
    let first = ws.latest_run();
    assert!(first.join("logs").is_dir() && !first.join("logs").is_symlink());

    // Nothing runs: the run's logs are a link to a log set, and read as before.
    let out = ws.run(&["run"]);
    assert_eq!(code(&out), 0);
    assert!(stdout(&out).contains("[gen] generated"), "{}", stdout(&out));
    let second = ws.latest_run();
    let set = std::fs::read_link(second.join("logs")).expect("logs is a link");
    assert!(set.starts_with("../../logsets"), "{set:?}");
    assert!(ws.log("gen").contains("generated"), "{}", ws.log("gen"));
    let log = ws.summary()["nodes"][0]["log"].as_str().unwrap().to_owned();
    let text = std::fs::read_to_string(ws.path().join(".orch").join(&log)).unwrap();
    assert!(text.contains("generated"), "{log}: {text}");
    // The first run's own logs are untouched.
    assert!(
        std::fs::read_to_string(first.join("logs/gen.log"))
            .unwrap()
            .contains("generated")
    );

    // The same set again: the same folder, not a new one.
    assert_eq!(code(&ws.run(&["run"])), 0);
    assert_eq!(
        std::fs::read_link(ws.latest_run().join("logs")).unwrap(),
        set
    );
    let sets = std::fs::read_dir(ws.path().join(".orch/logsets")).unwrap();
    assert_eq!(sets.filter_map(Result::ok).count(), 1);

    // A log removed through a run's link leaves the set short: the next such run makes
    // the set again rather than link to it.
    std::fs::remove_file(ws.latest_run().join("logs/gen.log")).unwrap();
    assert_eq!(code(&ws.run(&["run"])), 0);
    assert!(ws.log("gen").contains("generated"), "{}", ws.log("gen"));

    // A run in which something ran has logs of its own, cached ones linked in.
    // (Same size: gen re-runs to the same result, the rest stays cached.)
    ws.write("src/main.c", "int mian;\n");
    assert_eq!(code(&ws.run(&["run"])), 0);
    assert!(!cached(&ws, "gen") && cached(&ws, "use"));
    let logs = ws.latest_run().join("logs");
    assert!(logs.is_dir() && !logs.is_symlink());
    assert!(ws.log("gen").contains("generated"));
    assert!(
        logs.join("use.log").is_file(),
        "the cached node's log is there"
    );
}

#[test]
fn a_remembered_result_still_needs_the_key_in_the_cache() {
    let ws = pipeline();
    assert_eq!(code(&ws.run(&["run"])), 0);
    // The second run reads the records and remembers them; the third uses what it
    // remembered.
    for _ in 0..2 {
        assert_eq!(code(&ws.run(&["run"])), 0);
        assert!(cached(&ws, "gen"));
    }
    // The cache loses the key (evicted, cleared, or another runner's gc): a miss.
    let records = ws.path().join(".orch/cache/ac");
    for shard in std::fs::read_dir(&records).unwrap() {
        std::fs::remove_dir_all(shard.unwrap().path()).unwrap();
    }
    assert_eq!(code(&ws.run(&["run"])), 0);
    assert!(!cached(&ws, "gen"));
    assert_eq!(
        ws.summary()["nodes"][0]["why"],
        "not in the cache (evicted or cleared)"
    );
    // A remembered result whose outputs were changed since is restored from the cache,
    // verified, like any other.
    assert_eq!(code(&ws.run(&["run"])), 0);
    assert_eq!(code(&ws.run(&["run"])), 0);
    ws.write("out/size.txt", "999\n");
    assert_eq!(code(&ws.run(&["run"])), 0);
    assert!(cached(&ws, "gen"));
    assert_eq!(ws.read("out/size.txt"), "10\n");
}

#[test]
fn reasons_name_what_changed_and_early_cutoff_holds() {
    let ws = pipeline();
    assert_eq!(code(&ws.run(&["run"])), 0);

    // Same size, different content: gen re-runs, its result is the same, the rest is cached.
    ws.write("src/main.c", "int mian;\n");
    assert_eq!(row(&plan(&ws), "gen"), ("run", "input src/main.c changed"));
    assert_eq!(code(&ws.run(&["run"])), 0);
    assert!(!cached(&ws, "gen"));
    assert!(cached(&ws, "use") && cached(&ws, "report"), "early cutoff");
    let md = std::fs::read_to_string(ws.latest_run().join("summary.md")).unwrap();
    assert!(md.contains("miss: input src/main.c changed"), "{md}");

    ws.write("src/extra.h", "x");
    assert_eq!(row(&plan(&ws), "gen"), ("run", "new input src/extra.h"));
    std::fs::remove_file(ws.path().join("src/extra.h")).unwrap();
    assert_eq!(row(&plan(&ws), "gen").0, "cached");

    // A different size changes gen's result, so `use` re-runs, and says why.
    ws.write("src/main.c", "int main = 1;\n");
    assert_eq!(code(&ws.run(&["run"])), 0);
    let summary = ws.summary();
    let used = summary["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["id"] == "use")
        .unwrap()
        .clone();
    assert_eq!(used["cached"], false);
    assert_eq!(used["why"], "input out/size.txt changed");
    assert_eq!(ws.read("report.txt"), "report 14\n");

    ws.write(
        "orch.yml",
        &PIPELINE.replace("echo generated", "echo generated!"),
    );
    assert_eq!(row(&plan(&ws), "gen"), ("run", "script changed"));
}

#[test]
fn env_inputs_and_needs_results_are_reasons() {
    let ws = Ws::new(
        "jobs:\n  a: { run: 'echo $ORCH_T_CC > a.txt', outputs: [a.txt], env-inputs: [ORCH_T_CC], inputs: [] }\n  b: { needs: a, run: 'cat a.txt', inputs: [] }\n",
    );
    assert_eq!(
        code(&ws.cmd(&["run"]).env("ORCH_T_CC", "gcc").output().unwrap()),
        0
    );
    let out = ws
        .cmd(&["plan", "--json"])
        .env("ORCH_T_CC", "clang")
        .output()
        .unwrap();
    let text = stdout(&out);
    assert!(text.contains("env ORCH_T_CC changed"), "{text}");
    assert_eq!(
        code(&ws.cmd(&["run"]).env("ORCH_T_CC", "clang").output().unwrap()),
        0
    );
    let summary = ws.summary();
    assert_eq!(summary["nodes"][1]["why"], "needs a, whose result changed");
}

#[test]
fn explain_shows_components_and_differences() {
    let ws = pipeline();
    assert_eq!(code(&ws.run(&["run"])), 0);
    ws.write("src/main.c", "int other;\n");
    let out = ws.run(&["explain", "gen"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("run: input src/main.c changed"), "{text}");
    assert!(text.contains("input src/main.c"), "{text}");
    assert!(text.contains("changed since the last run:"), "{text}");
    assert!(text.contains("input src/main.c: "), "{text}");
    let out = ws.run(&["explain", "use"]);
    assert!(
        stdout(&out).contains("blocked: waits for gen's result"),
        "{}",
        stdout(&out)
    );
    assert_eq!(code(&ws.run(&["explain", "nope"])), 2);
}

#[test]
fn failures_are_not_cached_and_cache_false_always_runs() {
    let ws = Ws::new(
        "jobs:\n  flaky: { run: '[ -e ok ] || { touch ok; exit 1; }; echo ran >> count', inputs: [] }\n  always: { run: 'echo x >> always.txt', cache: false }\n",
    );
    assert_eq!(code(&ws.run(&["run", "--keep-going"])), 1);
    assert_eq!(code(&ws.run(&["run"])), 0, "the failure was not cached");
    assert_eq!(code(&ws.run(&["run"])), 0);
    assert_eq!(ws.read("count"), "ran\n", "the success was cached");
    assert_eq!(ws.read("always.txt"), "x\nx\nx\n");
    assert_eq!(row(&plan(&ws), "always"), ("run", "cache: false"));
}

#[test]
fn no_cache_runs_everything_and_still_stores() {
    let ws = pipeline();
    assert_eq!(code(&ws.run(&["run"])), 0);
    assert_eq!(code(&ws.run(&["run", "--no-cache"])), 0);
    assert!(!cached(&ws, "gen"));
    assert_eq!(ws.summary()["nodes"][0]["why"], "--no-cache");
    assert_eq!(code(&ws.run(&["run"])), 0);
    assert!(cached(&ws, "gen"));
}

/// A copy of a workspace elsewhere, on the same cache directory, hits: keys hold only
/// workspace-relative paths.
#[test]
fn two_workspaces_share_a_cache_dir() {
    let cache = tempfile::tempdir().unwrap();
    let cache_dir = cache.path().to_str().unwrap();
    let first = pipeline();
    assert_eq!(
        code(
            &first
                .cmd(&["run"])
                .env("ORCH_CACHE_DIR", cache_dir)
                .output()
                .unwrap()
        ),
        0
    );
    let second = pipeline();
    assert_eq!(code(&second.run(&["run", "--cache-dir", cache_dir])), 0);
    for node in ["gen", "use", "report"] {
        assert!(cached(&second, node), "{node}");
    }
    assert_eq!(second.read("out/size.txt"), "10\n");
    assert!(
        !second.exists(".orch/cache/cas"),
        "the default cache was not used"
    );
}

#[test]
fn four_processes_write_one_cache_at_once() {
    let cache = tempfile::tempdir().unwrap();
    let playbook = "jobs:\n  m:\n    matrix: { i: [1, 2, 3, 4, 5, 6] }\n    outputs: ['out/${{ matrix.i }}.bin']\n    run: |\n      mkdir -p out\n      head -c 300000 /dev/urandom > /dev/null\n      seq 1 50000 | sed 's/^/${{ matrix.i }}-/' > out/${{ matrix.i }}.bin\n";
    let workspaces: Vec<Ws> = (0..4).map(|_| Ws::new(playbook)).collect();
    // `cache gc` runs beside the writers the whole time.
    let cache_arg = cache.path().to_str().unwrap().to_owned();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let collector = {
        let stop = stop.clone();
        let orch = assert_cmd::cargo::cargo_bin("orch");
        let dir = workspaces[0].path().to_path_buf();
        std::thread::spawn(move || {
            let mut rounds = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let status = Command::new(&orch)
                    // No grace: gc removes whatever it finds, under the writers' feet.
                    .args(["cache", "gc", "--max-size", "0", "--grace", "0s"])
                    .args(["--cache-dir", &cache_arg])
                    .current_dir(&dir)
                    .stdout(Stdio::null())
                    .status()
                    .unwrap();
                assert!(status.success());
                rounds += 1;
            }
            rounds
        })
    };
    let children: Vec<_> = workspaces
        .iter()
        .map(|ws| {
            Command::new(assert_cmd::cargo::cargo_bin("orch"))
                .args([
                    "run",
                    "-j",
                    "3",
                    "--cache-dir",
                    cache.path().to_str().unwrap(),
                ])
                .current_dir(ws.path())
                .env("CI", "true")
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    assert!(collector.join().unwrap() > 0, "gc ran beside the writers");
    let verify = workspaces[0].run(&[
        "cache",
        "verify",
        "--cache-dir",
        cache.path().to_str().unwrap(),
    ]);
    assert_eq!(code(&verify), 0, "{}", stdout(&verify));
    assert!(
        stdout(&verify).contains(", 0 broken"),
        "{}",
        stdout(&verify)
    );
    // Whatever gc left, a fresh workspace gets the same bytes (restored or run), and then
    // every entry is there for the next one.
    let cache_dir = cache.path().to_str().unwrap();
    let fresh = Ws::new(playbook);
    assert_eq!(code(&fresh.run(&["run", "--cache-dir", cache_dir])), 0);
    assert_eq!(fresh.read("out/3.bin"), workspaces[1].read("out/3.bin"));
    let again = Ws::new(playbook);
    assert_eq!(code(&again.run(&["run", "--cache-dir", cache_dir])), 0);
    assert_eq!(again.summary()["counts"]["cached"], 6);
    assert_eq!(again.read("out/3.bin"), workspaces[1].read("out/3.bin"));
}

/// Every file in a store folder of two-character shards (`ac/`, `cas/`).
fn entries(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut all = Vec::new();
    for shard in std::fs::read_dir(dir).unwrap() {
        for entry in std::fs::read_dir(shard.unwrap().path()).unwrap() {
            all.push(entry.unwrap().path());
        }
    }
    all.sort();
    all
}

#[test]
fn a_corrupted_blob_or_record_is_a_miss_never_a_restore() {
    let ws = Ws::new(
        "jobs:\n  g: { run: 'echo content > out.txt; echo ran >> count', outputs: [out.txt], inputs: [] }\n",
    );
    assert_eq!(code(&ws.run(&["run"])), 0);
    // Corrupt every blob: the output's content and the log.
    for shard in std::fs::read_dir(ws.path().join(".orch/cache/cas")).unwrap() {
        for blob in std::fs::read_dir(shard.unwrap().path()).unwrap() {
            let path = blob.unwrap().path();
            std::fs::write(&path, "tampered").unwrap();
        }
    }
    std::fs::remove_file(ws.path().join("out.txt")).unwrap();
    assert_eq!(code(&ws.run(&["run"])), 0);
    assert!(
        !cached(&ws, "g"),
        "a blob that fails verification is a miss"
    );
    assert!(
        ws.summary()["nodes"][0]["why"]
            .as_str()
            .unwrap()
            .contains("could not be restored")
    );
    assert_eq!(ws.read("out.txt"), "content\n");
    assert_eq!(ws.read("count"), "ran\nran\n");

    // Corrupt the record now: again a miss, and verify is clean after removing it.
    // Every record: a node has its own and one for the host-free key.
    for record in entries(&ws.path().join(".orch/cache/ac")) {
        std::fs::write(record, "ORCHACv\0junk").unwrap();
    }
    assert_eq!(code(&ws.run(&["run"])), 0);
    assert!(!cached(&ws, "g"));
    assert_eq!(
        ws.summary()["nodes"][0]["why"],
        "not in the cache (evicted or cleared)"
    );
    let verify = ws.run(&["cache", "verify"]);
    assert_eq!(code(&verify), 0, "{}", stdout(&verify));
}

#[test]
fn verify_reports_damage() {
    let ws = Ws::new("jobs:\n  g: { run: 'echo c > o.txt', outputs: [o.txt], inputs: [] }\n");
    assert_eq!(code(&ws.run(&["run"])), 0);
    std::fs::write(&entries(&ws.path().join(".orch/cache/ac"))[0], "junk").unwrap();
    let out = ws.run(&["cache", "verify"]);
    assert_eq!(code(&out), 1);
    assert!(
        stdout(&out).contains("removed broken entry ac/"),
        "{}",
        stdout(&out)
    );
    assert_eq!(
        code(&ws.run(&["cache", "verify"])),
        0,
        "the broken entry is gone"
    );
}

/// SIGKILL to every process of session `sid` at once; returns their pids.
fn kill_session(sid: u32) -> Vec<u32> {
    let in_session = |pid: u32| {
        std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
            // After the command's `)`: state, ppid, pgrp, session.
            stat.rsplit(')')
                .next()
                .and_then(|rest| rest.split_whitespace().nth(3))
                .is_some_and(|session| session == sid.to_string())
        })
    };
    let pids: Vec<u32> = std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .filter(|pid| in_session(*pid))
        .collect();
    if !pids.is_empty() {
        let _ = Command::new("kill")
            .arg("-9")
            .args(pids.iter().map(u32::to_string))
            .status();
    }
    pids
}

#[test]
fn a_killed_run_leaves_a_valid_cache() {
    let ws = Ws::new(
        "jobs:\n  big:\n    matrix: { i: [1, 2, 3, 4] }\n    outputs: ['big${{ matrix.i }}.bin']\n    run: 'head -c 3000000 /dev/zero | tr \"\\0\" \"${{ matrix.i }}\" > big${{ matrix.i }}.bin'\n    inputs: []\n",
    );
    // Twenty kills at moments spread over a run's life: before, during and after stores.
    // Each kills orch *and* its jobs at once, as a lost machine would: orch runs in a
    // session of its own (`setsid`), and every process of that session gets SIGKILL.
    for delay in (0..20u64).map(|i| 20 + (i * 37) % 400) {
        let mut child = Command::new("setsid")
            .arg(assert_cmd::cargo::cargo_bin("orch"))
            .args(["run", "-j", "2"])
            .current_dir(ws.path())
            .env("CI", "true")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(delay));
        let killed = kill_session(child.id());
        let _ = child.wait();
        // Killed processes are gone once reaped (their parent died with them).
        let gone = |pid: &u32| !crate::harness::alive(*pid);
        for _ in 0..100 {
            if killed.iter().all(gone) {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        assert!(killed.iter().all(gone), "{killed:?} outlived the kill");
    }
    let verify = ws.run(&["cache", "verify"]);
    assert!(
        stdout(&verify).contains(", 0 broken"),
        "{}",
        stdout(&verify)
    );
    for i in 1..=4 {
        let _ = std::fs::remove_file(ws.path().join(format!("big{i}.bin")));
    }
    assert_eq!(code(&ws.run(&["run"])), 0);
    for i in 1..=4u8 {
        let bytes = std::fs::read(ws.path().join(format!("big{i}.bin"))).unwrap();
        assert_eq!(bytes.len(), 3_000_000);
        assert!(bytes.iter().all(|b| *b == b'0' + i));
    }
}

#[test]
fn cache_stats_gc_clear_and_privacy() {
    use std::os::unix::fs::PermissionsExt;
    let ws = pipeline();
    assert_eq!(code(&ws.run(&["run"])), 0);
    assert_eq!(code(&ws.run(&["run"])), 0);
    let stats = stdout(&ws.run(&["cache", "stats"]));
    // Three results, each with the note of the host that made it.
    assert!(stats.contains("records    6"), "{stats}");
    assert!(
        stats.contains("hit rate   50.0% (3 cached, 3 run, over the last 2 runs)"),
        "{stats}"
    );
    let mode = std::fs::metadata(ws.path().join(".orch/cache"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o700);
    // Everything is younger than the grace period: gc keeps it.
    let gc = stdout(&ws.run(&["cache", "gc", "--max-size", "0"]));
    assert!(gc.starts_with("removed 0 entries"), "{gc}");
    assert!(gc.contains("used in the last 10m are always kept"), "{gc}");
    // Without the grace, the size limit removes everything.
    let gc = stdout(&ws.run(&["cache", "gc", "--max-size", "0", "--grace", "0s"]));
    assert!(!gc.starts_with("removed 0 entries"), "{gc}");
    assert!(stdout(&ws.run(&["cache", "stats"])).contains("records    0"));
    assert_eq!(code(&ws.run(&["run"])), 0);
    assert_eq!(code(&ws.run(&["cache", "gc", "--max-size", "lots"])), 2);
    assert_eq!(code(&ws.run(&["cache", "clear"])), 0);
    let stats = stdout(&ws.run(&["cache", "stats"]));
    assert!(stats.contains("records    0"), "{stats}");
    assert!(stats.contains("the cache is empty now"), "{stats}");
    assert_eq!(
        row(&plan(&ws), "gen"),
        ("run", "not in the cache (evicted or cleared)")
    );
}

/// Regressions from a review of wrong-hit risks: each of these once gave a hit.
#[test]
fn review_regressions_never_hit_wrongly() {
    // An output that starts with an expression must not hide the other files from
    // default inputs.
    let ws = Ws::new(
        "vars: { out: dist }\njobs:\n  a: { run: 'mkdir -p ${{ vars.out }} && touch ${{ vars.out }}/x', outputs: ['${{ vars.out }}/x'] }\n  b: { run: 'true' }\n",
    );
    ws.write("src/main.c", "1");
    assert_eq!(code(&ws.run(&["run"])), 0);
    assert_eq!(code(&ws.run(&["run"])), 0);
    ws.write("src/main.c", "2");
    assert_eq!(row(&plan(&ws), "b"), ("run", "input src/main.c changed"));

    // The values a step's `if` reads are part of the key.
    let ws = Ws::new(
        "vars: { profile: debug }\njobs:\n  s:\n    inputs: []\n    outputs: [out.txt]\n    steps:\n      - run: echo plain > out.txt\n      - if: vars.profile == 'release'\n        run: echo stripped > out.txt\n",
    );
    assert_eq!(code(&ws.run(&["run"])), 0);
    assert_eq!(code(&ws.run(&["run", "--var", "profile=release"])), 0);
    assert_eq!(
        ws.read("out.txt"),
        "stripped\n",
        "a flipped `if` is a miss, not a hit"
    );

    // A failed continue-on-error need and a never-cached need leave no stable result.
    let ws = Ws::new(
        "jobs:\n  lint: { run: 'exit 1', continue-on-error: true, inputs: [] }\n  fetch: { run: 'true', cache: false }\n  publish: { needs: [lint], run: 'echo p >> p.txt', inputs: [] }\n  use: { needs: [fetch], run: 'echo u >> u.txt', inputs: [] }\n",
    );
    assert_eq!(code(&ws.run(&["run"])), 0);
    assert_eq!(code(&ws.run(&["run"])), 0);
    assert_eq!(ws.read("p.txt"), "p\np\n");
    assert_eq!(ws.read("u.txt"), "u\nu\n");

    // An input that changes while its node runs: the result is not stored under a key
    // that names the old content.
    let ws = Ws::new("jobs:\n  w: { run: 'echo more >> in.txt', inputs: [in.txt] }\n");
    ws.write("in.txt", "start\n");
    let out = ws.run(&["run"]);
    assert_eq!(code(&out), 0);
    assert!(
        stderr(&out).contains("changed while it ran"),
        "{}",
        stderr(&out)
    );
    ws.write("in.txt", "start\n");
    assert_eq!(
        row(&plan(&ws), "w").0,
        "run",
        "nothing was cached for the old content"
    );
}

#[test]
fn files_under_a_rendered_output_folder_are_not_default_inputs() {
    let ws = Ws::new(
        "jobs:
  a:
    matrix: { m: [x, y] }
    inputs: []
    outputs: ['out/${{ matrix.m }}']
    run: mkdir -p out/${{ matrix.m }} && echo hi > out/${{ matrix.m }}/f
  b:
    run: 'true'
",
    );
    // a's files are a's outputs: never b's inputs, whenever b's key is taken.
    assert_eq!(code(&ws.run(&["run"])), 0);
    let explain = stdout(&ws.run(&["explain", "b"]));
    assert!(!explain.contains("input out/"), "{explain}");
}
