//! `orch import`: AitherZero's playbooks written as orch playbooks that load.

use std::path::Path;

use crate::harness::{Ws, code, stderr, stdout};

/// The workspace as a git repository that ignores the stand-in's `ran.txt`.
fn git_repository(ws: &Ws) {
    let git = std::process::Command::new("git")
        .args(["init", "-q"])
        .current_dir(ws.path())
        .status()
        .expect("git");
    assert!(git.success());
    ws.write(".gitignore", "ran.txt\n");
}

/// A stand-in for pwsh on PATH that records the script and arguments it was asked to run
/// in `ran.txt`; the PATH to run orch with.
fn pwsh_stand_in(ws: &Ws) -> String {
    stand_in(ws, "pwsh")
}

/// The same stand-in as `program`.
fn stand_in(ws: &Ws, program: &str) -> String {
    ws.write(
        &format!("bin/{program}"),
        "#!/bin/sh\nwhile [ \"$1\" != -File ]; do shift; done; shift\nf=$1; shift\necho \"$(basename \"$f\") $*\" >> \"$ORCH_WORKSPACE/ran.txt\"\n",
    );
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(
        ws.path().join("bin").join(program),
        std::fs::Permissions::from_mode(0o755),
    )
    .expect("chmod");
    format!(
        "{}:{}",
        ws.path().join("bin").display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

#[test]
fn the_corpus_playbooks_import_or_say_why_not() {
    let dir =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpus/aitherzero-playbooks");
    let Ok(names) = std::fs::read_to_string(dir.join("scripts.txt")) else {
        eprintln!("skipped: ../shared/corpus/aitherzero-playbooks is not there");
        return;
    };
    let ws = Ws::new("jobs: { unused: { run: 'true' } }\n");
    // The scripts folder as the playbooks' repository has it (names only).
    for name in names.lines().filter(|l| l.ends_with(".ps1")) {
        ws.write(
            &format!("automation-scripts/{name}"),
            "param([switch]$All)\n",
        );
    }
    let mut imported = 0;
    let mut refused = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !(name.ends_with(".json") || name.ends_with(".psd1")) || name.contains("schema") {
            continue;
        }
        ws.write(&name, &std::fs::read_to_string(entry.path()).unwrap());
        let out_file = format!("{name}.orch.yml");
        let out = ws.run(&["import", &name, "-o", &out_file]);
        if code(&out) == 0 {
            let valid = ws.run(&["validate", "-f", &out_file]);
            assert_eq!(
                code(&valid),
                0,
                "{name}: {}\n{}",
                stderr(&valid),
                ws.read(&out_file)
            );
            imported += 1;
        } else {
            assert_eq!(code(&out), 2, "{name}");
            // A refusal names the file and the line it is about.
            assert!(
                stderr(&out).contains(&format!("[{name}:")),
                "{name}: {}",
                stderr(&out)
            );
            refused.push(name);
        }
    }
    assert!(imported >= 50, "{imported} imported; refused: {refused:?}");
    assert_eq!(imported + refused.len(), 54);
}

#[test]
fn an_import_runs_its_scripts_in_order_with_their_parameters() {
    let ws = Ws::new("jobs: { unused: { run: 'true' } }\n");
    ws.write(
        "automation-scripts/0407_Validate-Syntax.ps1",
        "param([switch]$All)\n",
    );
    ws.write(
        "automation-scripts/0402_Run-UnitTests.ps1",
        "param($Path)\n",
    );
    ws.write(
        "playbooks/pr.psd1",
        "@{
    Name = 'pr'
    Options = @{ Parallel = $false }
    Sequence = @(
        @{ Script = '0407'; Parameters = @{ All = $true } },
        @{ Script = '0402'; Parameters = @{ Path = './tests' }; Timeout = 30 }
    )
}
",
    );
    // A stand-in for pwsh that records what it was asked to run.
    let path = pwsh_stand_in(&ws);
    let out = ws.run(&["import", "playbooks/pr.psd1", "-o", "orch.yml"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let written = ws.read("orch.yml");
    assert!(written.contains("after: [s0407]"), "{written}");
    let run = ws.cmd(&["run"]).env("PATH", &path).output().unwrap();
    assert_eq!(code(&run), 0, "{}\n{}", stderr(&run), stdout(&run));
    assert_eq!(
        ws.read("ran.txt"),
        "0407_Validate-Syntax.ps1 -All\n0402_Run-UnitTests.ps1 -Path ./tests\n"
    );
    // Stage order is order only: one script runs alone, its predecessor not dragged in.
    std::fs::remove_file(ws.path().join("ran.txt")).expect("rm ran.txt");
    let one = ws
        .cmd(&["run", "--no-cache", "s0402"])
        .env("PATH", &path)
        .output()
        .unwrap();
    assert_eq!(code(&one), 0, "{}", stderr(&one));
    assert_eq!(ws.read("ran.txt"), "0402_Run-UnitTests.ps1 -Path ./tests\n");
    let strict = ws.run(&["import", "playbooks/pr.psd1", "--strict"]);
    assert_eq!(
        code(&strict),
        0,
        "nothing to warn about: {}",
        stderr(&strict)
    );
    ws.write(
        "playbooks/pr.psd1",
        "@{ Name = 'x'; Author = 'me'; Sequence = @( @{ Script = '0402' } ) }\n",
    );
    let strict = ws.run(&["import", "playbooks/pr.psd1", "--strict"]);
    assert_eq!(code(&strict), 2);
    assert!(
        stderr(&strict).contains("`Author` was never read"),
        "{}",
        stderr(&strict)
    );
    // Written below the scripts' folder, the playbook could not reach them: refused.
    let below = ws.run(&["import", "playbooks/pr.psd1", "-o", "playbooks/orch.yml"]);
    assert_eq!(code(&below), 2, "{}", stderr(&below));
    assert!(
        stderr(&below).contains("would not reach the scripts"),
        "{}",
        stderr(&below)
    );
    assert!(!ws.path().join("playbooks/orch.yml").exists());
}

#[test]
fn an_aitherzero_playbook_runs_directly() {
    let ws = Ws::new("jobs: { unused: { run: 'true' } }\n");
    // A repository: its root is the workspace, though the scripts are in `library/`.
    git_repository(&ws);
    ws.write(
        "library/automation-scripts/0407_Validate-Syntax.ps1",
        "param([switch]$All)\n",
    );
    ws.write(
        "library/automation-scripts/0402_Run-UnitTests.ps1",
        "param($Path)\n",
    );
    ws.write(
        "library/playbooks/pr.psd1",
        "@{
    Name = 'pr'
    Author = 'someone'
    Options = @{ Parallel = $false }
    Sequence = @(
        @{ Script = '0407'; Parameters = @{ All = $true } },
        @{ Script = '0402'; Parameters = @{ Path = './tests' } }
    )
}
",
    );
    let path = pwsh_stand_in(&ws);
    let file = "library/playbooks/pr.psd1";
    let valid = ws.run(&["validate", "-f", file]);
    assert_eq!(code(&valid), 0, "{}", stderr(&valid));
    assert!(
        stderr(&valid).contains("`Author` was never read"),
        "the import's warnings are said: {}",
        stderr(&valid)
    );
    let graph = ws.run(&["graph", "-f", file]);
    assert_eq!(stdout(&graph), "s0407\ns0402  (after s0407)\n");
    // The import's options are every command's: the old order, strictness, the folder.
    let ascending = ws.run(&["graph", "-f", file, "--old-order"]);
    assert_eq!(stdout(&ascending), "s0402\ns0407  (after s0402)\n");
    let strict = ws.run(&["validate", "-f", file, "--strict"]);
    assert_eq!(code(&strict), 2, "{}", stderr(&strict));
    assert!(stderr(&strict).contains("`Author` was never read"));
    std::fs::rename(
        ws.path().join("library/automation-scripts"),
        ws.path().join("library/scripts"),
    )
    .expect("mv");
    let lost = ws.run(&["validate", "-f", file]);
    assert_eq!(code(&lost), 2, "{}", stderr(&lost));
    assert!(stderr(&lost).contains("--scripts DIR"), "{}", stderr(&lost));
    let named = ws.run(&["graph", "-f", file, "--scripts", "library/scripts"]);
    assert_eq!(
        stdout(&named),
        "s0407\ns0402  (after s0407)\n",
        "{}",
        stderr(&named)
    );
    std::fs::rename(
        ws.path().join("library/scripts"),
        ws.path().join("library/automation-scripts"),
    )
    .expect("mv");
    let run = |args: &[&str]| {
        let out = ws.cmd(args).env("PATH", &path).output().unwrap();
        assert_eq!(code(&out), 0, "{args:?}: {}", stderr(&out));
    };
    run(&["run", "-f", file]);
    assert_eq!(
        ws.read("ran.txt"),
        "0407_Validate-Syntax.ps1 -All\n0402_Run-UnitTests.ps1 -Path ./tests\n"
    );
    // The workspace is the repository's root: the run's state is kept there.
    assert!(ws.exists(".orch/runs"));
    run(&["run", "-f", file]);
    assert!(ws.cached("s0402"), "{}", ws.why("s0402"));
    // A PSD1 error is located in the PSD1.
    ws.write(
        "library/playbooks/pr.psd1",
        "@{ Name = 'pr'\n  Sequence = @( @{ Script = '0407' } \n",
    );
    let bad = ws.run(&["run", "-f", file]);
    assert_eq!(code(&bad), 2, "{}", stderr(&bad));
    assert!(stderr(&bad).contains("pr.psd1:"), "{}", stderr(&bad));
}

#[test]
fn profiles_import_and_choose_vars() {
    let ws = Ws::new("jobs: { unused: { run: 'true' } }\n");
    git_repository(&ws);
    ws.write(
        "automation-scripts/0402_Run-UnitTests.ps1",
        "param($Mode, $Depth)\n",
    );
    ws.write(
        "playbooks/test.json",
        r#"{
  "metadata": { "name": "test" },
  "orchestration": {
    "defaultVariables": { "Mode": "standard" },
    "profiles": {
      "quick": { "description": "fast", "variables": { "Mode": "quick" }, "overrides": { "Depth": "shallow" }, "excludeStages": ["Slow"] },
      "full": { "variables": {} }
    },
    "stages": [ { "name": "Test", "sequences": ["0402"] } ]
  }
}
"#,
    );
    let path = pwsh_stand_in(&ws);
    let run = |args: &[&str]| {
        let out = ws.cmd(args).env("PATH", &path).output().unwrap();
        assert_eq!(code(&out), 0, "{args:?}: {}", stderr(&out));
        out
    };
    let out = run(&["run", "-f", "playbooks/test.json", "--profile", "quick"]);
    assert!(
        stderr(&out).contains("profile `quick`: `excludeStages` was never read"),
        "{}",
        stderr(&out)
    );
    run(&["run", "-f", "playbooks/test.json"]);
    run(&[
        "run",
        "-f",
        "playbooks/test.json",
        "--profile",
        "quick",
        "--var",
        "Mode=mine",
    ]);
    assert_eq!(
        ws.read("ran.txt"),
        "0402_Run-UnitTests.ps1 -Mode quick -Depth shallow\n\
         0402_Run-UnitTests.ps1 -Mode standard\n\
         0402_Run-UnitTests.ps1 -Mode mine -Depth shallow\n"
    );
}

#[test]
fn a_stage_condition_decides_whether_its_scripts_run() {
    let ws = Ws::new("jobs: { unused: { run: 'true' } }\n");
    git_repository(&ws);
    ws.write("automation-scripts/0402_Run-UnitTests.ps1", "param()\n");
    ws.write("automation-scripts/0407_Validate-Syntax.ps1", "param()\n");
    ws.write(
        "playbooks/ci.json",
        r#"{
  "metadata": { "name": "ci" },
  "orchestration": {
    "defaultVariables": { "skipTests": false },
    "stages": [
      { "name": "Tests", "sequences": ["0402"], "condition": "{{skipTests}} == false" },
      { "name": "Syntax", "sequences": ["0407"] }
    ]
  }
}
"#,
    );
    let path = pwsh_stand_in(&ws);
    let run = |args: &[&str]| {
        let out = ws.cmd(args).env("PATH", &path).output().unwrap();
        assert_eq!(code(&out), 0, "{args:?}: {}", stderr(&out));
    };
    run(&["run", "-f", "playbooks/ci.json"]);
    assert_eq!(
        ws.read("ran.txt"),
        "0402_Run-UnitTests.ps1 \n0407_Validate-Syntax.ps1 \n"
    );
    std::fs::remove_file(ws.path().join("ran.txt")).unwrap();
    // Skipped by its condition; the next stage still goes on after it (a hit).
    run(&["run", "-f", "playbooks/ci.json", "--var", "skipTests=True"]);
    assert!(!ws.exists("ran.txt"));
    assert_eq!(
        ws.node("s0402")["status"],
        "skipped",
        "{}",
        ws.node("s0402")
    );
    assert!(ws.cached("s0407"), "{}", ws.why("s0407"));
}

#[test]
fn a_v3_strategy_matrix_runs_each_leg_with_its_parameters() {
    let ws = Ws::new("jobs: { unused: { run: 'true' } }\n");
    git_repository(&ws);
    ws.write(
        "automation-scripts/0402_Run-UnitTests.ps1",
        "param($Level)\n",
    );
    ws.write(
        "p.json",
        r#"{ "metadata": { "name": "m" }, "orchestration": { "jobs": { "test": {
  "env": { "Level": "ignored" },
  "strategy": { "matrix": { "Level": ["unit", "deep"] }, "maxParallel": 1 },
  "steps": [ { "run": "0402" } ] } } } }
"#,
    );
    let path = pwsh_stand_in(&ws);
    let out = ws
        .cmd(&["run", "-f", "p.json"])
        .env("PATH", &path)
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(
        ws.read("ran.txt"),
        "0402_Run-UnitTests.ps1 -Level unit\n0402_Run-UnitTests.ps1 -Level deep\n"
    );
}

#[test]
fn windows_powershell_runs_the_scripts_where_pwsh_is_not_there() {
    let ws = Ws::new("jobs: { unused: { run: 'true' } }\n");
    git_repository(&ws);
    ws.write("automation-scripts/0402_Run-UnitTests.ps1", "param()\n");
    ws.write("p.psd1", "@{ Sequence = @('0402') }\n");
    let path = stand_in(&ws, "powershell");
    let out = ws
        .cmd(&["run", "-f", "p.psd1"])
        .env("PATH", &path)
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(ws.read("ran.txt"), "0402_Run-UnitTests.ps1 \n");
    let imported = ws
        .cmd(&["import", "p.psd1"])
        .env("PATH", &path)
        .output()
        .unwrap();
    assert!(
        stdout(&imported).contains("shell: powershell -NoProfile -NonInteractive -File {0}"),
        "{}",
        stdout(&imported)
    );
}

#[test]
fn the_old_engines_exit_statuses_under_a_flag() {
    let ws = Ws::new(
        "jobs:\n  flaky:\n    continue-on-error: true\n    run: exit 3\n  fine:\n    run: 'true'\n",
    );
    assert_eq!(code(&ws.run(&["run"])), 0);
    assert_eq!(code(&ws.run(&["run", "--aitherzero-exit-codes"])), 10);
    // `StopOnError = $false` as imported: the run goes on past a failure to the end,
    // a partial success (10); stopped by it, a failure (1).
    let went_on = "jobs:\n  a:\n    run: exit 3\n  b:\n    after: [a]\n    if: ${{ !cancelled() }}\n    run: 'true'\n";
    let ws = Ws::new(went_on);
    assert_eq!(code(&ws.run(&["run"])), 1);
    assert_eq!(code(&ws.run(&["run", "--aitherzero-exit-codes"])), 10);
    let ws = Ws::new(&went_on.replace("    if: ${{ !cancelled() }}\n", ""));
    assert_eq!(code(&ws.run(&["run", "--aitherzero-exit-codes"])), 1);
    // A `success:` gate decides: a critical script's failure fails the run (1); a
    // failure it allows is a partial success (10).
    let ws = Ws::new(&format!("{went_on}success:\n  critical: [a]\n"));
    assert_eq!(code(&ws.run(&["run", "--aitherzero-exit-codes"])), 1);
    let ws = Ws::new(&format!("{went_on}success:\n  allowed-failures: [a]\n"));
    assert_eq!(code(&ws.run(&["run"])), 0);
    assert_eq!(code(&ws.run(&["run", "--aitherzero-exit-codes"])), 10);
    let ws = Ws::new("jobs:\n  slow:\n    timeout: 1s\n    run: sleep 5\n");
    let out = ws.run(&["run", "--aitherzero-exit-codes"]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert_eq!(ws.node("slow")["exit_code"], 124);
    ws.run(&["run"]);
    assert!(
        ws.node("slow")["exit_code"].is_null(),
        "{}",
        ws.node("slow")
    );
}

#[test]
fn watch_imports_again_when_a_scripts_parameters_change() {
    use crate::watching::{lines, wait_for};
    let ws = Ws::new("jobs: { unused: { run: 'true' } }\n");
    git_repository(&ws);
    ws.write(
        "automation-scripts/0402_Run-UnitTests.ps1",
        "param($Path)\n",
    );
    ws.write(
        "pr.psd1",
        "@{ Variables = @{ Level = 'deep' }\n  Sequence = @( @{ Script = '0402' } ) }\n",
    );
    let path = pwsh_stand_in(&ws);
    // The stand-in must be the pwsh the nodes find.
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("orch"))
        .args(["watch", "-f", "pr.psd1"])
        .current_dir(ws.path())
        .env("CI", "true")
        .env("PATH", &path)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("orch watch");
    let out = lines(child.stdout.take().expect("stdout"));
    let _err = lines(child.stderr.take().expect("stderr"));
    wait_for(&out, "[1]");
    assert_eq!(ws.read("ran.txt"), "0402_Run-UnitTests.ps1 \n");
    // The script now declares `$Level`: the playbook's variable reaches it.
    ws.write(
        "automation-scripts/0402_Run-UnitTests.ps1",
        "param($Path, $Level)\n",
    );
    wait_for(&out, "[2]");
    assert_eq!(
        ws.read("ran.txt"),
        "0402_Run-UnitTests.ps1 \n0402_Run-UnitTests.ps1 -Level deep\n"
    );
    let _ = child.kill();
    let _ = child.wait();
}
