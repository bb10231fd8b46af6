//! The judge of the cache: random small playbooks and random edits, and after each edit
//! the workspace an incremental `orch run` leaves must equal what a clean run leaves
//! (`--no-cache` in a fresh copy of the same sources): the same output files, byte for
//! byte, and the same job outputs.
//!
//! A few cases run in `cargo test`; `ORCH_DIFFERENTIAL_CASES=500` runs more. Failures
//! are shrunk by proptest and kept in `proptest-regressions/`, which replays them first.

use std::collections::BTreeMap;
use std::path::Path;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};

use crate::harness::{Ws, code, stderr};

const SOURCES: usize = 3;

/// How a job declares its inputs.
#[derive(Debug, Clone, Copy)]
enum Declared {
    /// No `inputs:`: every file the default rule sees.
    Default,
    /// Exactly the files it reads, by name.
    Literal,
    /// `src/*`.
    Glob,
}

#[derive(Debug, Clone)]
struct JobSpec {
    /// Jobs before this one that it needs (indices are taken modulo its position).
    needs: Vec<usize>,
    /// Source files it reads: `src/fN` for N < SOURCES, `src/link` for N == SOURCES.
    reads: Vec<usize>,
    declared: Declared,
    var: Option<usize>,
    env_input: bool,
    matrix: bool,
    /// Whether it writes files (declared outputs) or only job outputs.
    writes: bool,
    salt: u8,
}

#[derive(Debug, Clone)]
enum Edit {
    Write(usize, u8),
    Var(usize, bool),
    Env(u8),
    Salt(usize, u8),
    Relink(usize),
}

/// The whole state a run sees: what the playbook says and what the workspace holds.
#[derive(Debug, Clone)]
struct World {
    jobs: Vec<JobSpec>,
    files: [u8; SOURCES],
    link_to: usize,
    vars: [bool; 2],
    env: u8,
}

impl World {
    fn needs(&self, i: usize) -> Vec<usize> {
        dedup(self.jobs[i].needs.iter().filter(|_| i > 0).map(|n| n % i))
    }

    /// Every job `i` needs, directly or through others: it reads their files.
    fn upstream(&self, i: usize) -> Vec<usize> {
        let mut all = Vec::new();
        let mut todo = self.needs(i);
        while let Some(n) = todo.pop() {
            if !all.contains(&n) {
                all.push(n);
                todo.extend(self.needs(n));
            }
        }
        dedup(all.into_iter())
    }

    fn playbook(&self) -> String {
        let mut text = String::from("vars: { v0: a, v1: a }\njobs:\n");
        for (i, job) in self.jobs.iter().enumerate() {
            let needs: Vec<String> = self.needs(i).into_iter().map(|n| format!("j{n}")).collect();
            let reads: Vec<String> = dedup(job.reads.iter().copied())
                .into_iter()
                .map(source_name)
                .collect();
            let folder = if job.matrix {
                format!("out/j{i}/${{{{ matrix.m }}}}")
            } else {
                format!("out/j{i}")
            };
            text.push_str(&format!("  j{i}:\n"));
            if !needs.is_empty() {
                text.push_str(&format!("    needs: [{}]\n", needs.join(", ")));
            }
            if job.matrix {
                text.push_str("    matrix: { m: [x, y] }\n");
            }
            match job.declared {
                Declared::Default => {}
                Declared::Literal => text.push_str(&format!("    inputs: [{}]\n", {
                    let mut listed = reads.clone();
                    if listed.is_empty() {
                        listed.push("src/f0".into());
                    }
                    listed.join(", ")
                })),
                Declared::Glob => text.push_str("    inputs: ['src/*']\n"),
            }
            if job.env_input {
                text.push_str("    env-inputs: [ORCH_DIFF_E]\n");
            }
            if job.writes {
                text.push_str(&format!("    outputs: ['{folder}']\n"));
            }
            text.push_str("    env: { NEEDS: '${{ toJSON(needs) }}' }\n");
            let mut script = format!("tmp=$(mktemp)\n{{ echo salt {}\n", job.salt);
            for read in &reads {
                script.push_str(&format!("cat {read}\n"));
            }
            if let Some(v) = job.var {
                script.push_str(&format!("echo 'var ${{{{ vars.v{} }}}}'\n", v % 2));
            }
            if job.env_input {
                script.push_str("echo \"env $ORCH_DIFF_E\"\n");
            }
            for up in self
                .upstream(i)
                .into_iter()
                .filter(|&n| self.jobs[n].writes)
            {
                script.push_str(&format!("find out/j{up} -type f | sort | xargs cat\n"));
            }
            script.push_str("echo \"$NEEDS\"\n");
            script.push_str("} > \"$tmp\"\n");
            if job.writes {
                script.push_str(&format!(
                    "rm -rf {folder} && mkdir -p {folder} && cp \"$tmp\" {folder}/r.txt\n"
                ));
            }
            // A file only some runs make: a restore must not leave it behind.
            if let (true, Some(v)) = (job.writes, job.var) {
                script.push_str(&format!(
                    "if [ '${{{{ vars.v{} }}}}' = b ]; then echo extra > {folder}/extra.txt; fi\n",
                    v % 2
                ));
            }
            // A job that writes files reports their checksum; one that does not (a test
            // step) reports only that it ran: its result does not change when what it
            // read did, as a need between two others without outputs.
            if job.writes {
                script.push_str(
                    "echo \"o=$(cksum < \"$tmp\" | cut -d' ' -f1)\" >> \"$ORCH_OUTPUT\"\n",
                );
            } else {
                script.push_str(&format!("echo 'o=ran {}' >> \"$ORCH_OUTPUT\"\n", job.salt));
            }
            text.push_str("    run: |\n");
            for line in script.lines() {
                text.push_str(&format!("      {line}\n"));
            }
        }
        text
    }

    /// Writes the sources and the playbook into `dir` (only what differs, for the
    /// incremental workspace).
    fn lay_out(&self, dir: &Path) {
        let write = |path: &str, text: &str| {
            let full = dir.join(path);
            if std::fs::read_to_string(&full).ok().as_deref() != Some(text) {
                std::fs::create_dir_all(full.parent().unwrap()).unwrap();
                std::fs::write(full, text).unwrap();
            }
        };
        write("orch.yml", &self.playbook());
        for (n, content) in self.files.iter().enumerate() {
            write(&source_name(n), &format!("file {n} version {content}\n"));
        }
        let link = dir.join(source_name(SOURCES));
        let target = format!("f{}", self.link_to % SOURCES);
        if std::fs::read_link(&link).ok().as_deref() != Some(Path::new(&target)) {
            let _ = std::fs::remove_file(&link);
            std::os::unix::fs::symlink(&target, &link).unwrap();
        }
    }

    fn apply(&mut self, edit: &Edit) {
        match *edit {
            Edit::Write(n, content) => self.files[n % SOURCES] = content,
            Edit::Var(v, value) => self.vars[v % 2] = value,
            Edit::Env(value) => self.env = value,
            Edit::Salt(job, salt) => {
                let count = self.jobs.len();
                self.jobs[job % count].salt = salt;
            }
            Edit::Relink(n) => self.link_to = n,
        }
    }

    fn args(&self) -> Vec<String> {
        let mut args = vec!["run".to_owned()];
        for (v, b) in self.vars.iter().enumerate() {
            args.push("--var".into());
            args.push(format!("v{v}={}", if *b { "b" } else { "a" }));
        }
        args
    }
}

fn source_name(n: usize) -> String {
    if n >= SOURCES {
        "src/link".into()
    } else {
        format!("src/f{n}")
    }
}

fn dedup(items: impl Iterator<Item = usize>) -> Vec<usize> {
    let mut items: Vec<usize> = items.collect();
    items.sort_unstable();
    items.dedup();
    items
}

/// What a run left: every file under `out/` and each node's status and job outputs.
fn observed(dir: &Path, summary: &serde_json::Value) -> (BTreeMap<String, Vec<u8>>, Vec<String>) {
    let mut files = BTreeMap::new();
    let mut stack = vec![dir.join("out")];
    while let Some(folder) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&folder) else {
            continue;
        };
        for entry in entries {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let relative = path.strip_prefix(dir).unwrap().display().to_string();
                files.insert(relative, std::fs::read(&path).unwrap());
            }
        }
    }
    let nodes = summary["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| format!("{} {} {}", n["id"], n["status"], n["outputs"]))
        .collect();
    (files, nodes)
}

fn run(ws: &Ws, world: &World, extra: &[&str], cache: &Path) -> Result<(), TestCaseError> {
    let mut args = world.args();
    args.extend(extra.iter().map(|s| (*s).to_owned()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = ws
        .cmd(&args)
        .env("ORCH_DIFF_E", format!("e{}", world.env))
        .env("ORCH_CACHE_DIR", cache)
        .output()
        .unwrap();
    prop_assert_eq!(code(&out), 0, "{}\n{}", world.playbook(), stderr(&out));
    Ok(())
}

fn job() -> impl Strategy<Value = JobSpec> {
    (
        proptest::collection::vec(0usize..4, 0..3),
        proptest::collection::vec(0..=SOURCES, 0..3),
        prop_oneof![
            Just(Declared::Default),
            Just(Declared::Literal),
            Just(Declared::Glob)
        ],
        proptest::option::of(0usize..2),
        any::<bool>(),
        proptest::bool::weighted(0.3),
        proptest::bool::weighted(0.7),
        0u8..3,
    )
        .prop_map(
            |(needs, reads, declared, var, env_input, matrix, writes, salt)| JobSpec {
                needs,
                reads,
                declared,
                var,
                env_input,
                matrix,
                writes,
                salt,
            },
        )
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (0..SOURCES, 0u8..3).prop_map(|(n, c)| Edit::Write(n, c)),
        (0usize..2, any::<bool>()).prop_map(|(v, b)| Edit::Var(v, b)),
        (0u8..3).prop_map(Edit::Env),
        (0usize..5, 0u8..3).prop_map(|(j, s)| Edit::Salt(j, s)),
        (0..SOURCES).prop_map(Edit::Relink),
    ]
}

fn check(jobs: Vec<JobSpec>, edits: Vec<Edit>) -> Result<(), TestCaseError> {
    let mut world = World {
        jobs,
        files: [0; SOURCES],
        link_to: 0,
        vars: [false; 2],
        env: 0,
    };
    let incremental = Ws::new("");
    let cache = tempfile::tempdir().unwrap();
    world.lay_out(incremental.path());
    run(&incremental, &world, &[], cache.path())?;
    for edit in std::iter::once(None).chain(edits.iter().map(Some)) {
        if let Some(edit) = edit {
            world.apply(edit);
        }
        world.lay_out(incremental.path());
        run(&incremental, &world, &[], cache.path())?;
        let clean = Ws::new("");
        let clean_cache = tempfile::tempdir().unwrap();
        world.lay_out(clean.path());
        run(&clean, &world, &["--no-cache"], clean_cache.path())?;
        // Nothing changed in the first round: everything must come from the cache, or a
        // cache that always misses would pass this test.
        if edit.is_none() {
            let summary = incremental.summary();
            let nodes = summary["nodes"].as_array().unwrap();
            prop_assert!(
                nodes.iter().all(|n| n["cached"] == true),
                "an unchanged playbook missed: {:#}\n{}",
                summary,
                world.playbook()
            );
        }
        let (files, nodes) = observed(incremental.path(), &incremental.summary());
        let (want_files, want_nodes) = observed(clean.path(), &clean.summary());
        prop_assert_eq!(
            &nodes,
            &want_nodes,
            "after {:?}\n{}",
            edit,
            world.playbook()
        );
        prop_assert_eq!(
            files
                .iter()
                .map(|(k, v)| (k.as_str(), String::from_utf8_lossy(v)))
                .collect::<Vec<_>>(),
            want_files
                .iter()
                .map(|(k, v)| (k.as_str(), String::from_utf8_lossy(v)))
                .collect::<Vec<_>>(),
            "after {:?}\n{}",
            edit,
            world.playbook()
        );
    }
    Ok(())
}

/// Failures found (and shrunk) before, replayed first on every run.
fn pinned() -> Vec<(Vec<JobSpec>, Vec<Edit>)> {
    let job = |needs: Vec<usize>, writes: bool, var: Option<usize>| JobSpec {
        needs,
        reads: Vec::new(),
        declared: Declared::Default,
        var,
        env_input: false,
        matrix: false,
        writes,
        salt: 0,
    };
    vec![
        // A change two levels up, through a need without outputs (keys held only the
        // direct needs' results).
        (
            vec![
                job(vec![], true, None),
                job(vec![0], false, None),
                job(vec![1], true, None),
            ],
            vec![Edit::Salt(0, 1)],
        ),
        // A file one run made and another did not, left behind by a restore.
        (
            vec![job(vec![], true, Some(1))],
            vec![Edit::Var(1, true), Edit::Var(1, false)],
        ),
    ]
}

#[test]
fn pinned_cases_stay_fixed() {
    for (jobs, edits) in pinned() {
        if let Err(e) = check(jobs, edits) {
            panic!("{e}");
        }
    }
}

#[test]
fn an_incremental_run_leaves_what_a_clean_run_leaves() {
    let cases = std::env::var("ORCH_DIFFERENTIAL_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(16);
    let config = Config {
        cases,
        source_file: Some(file!()),
        failure_persistence: Some(Box::new(
            proptest::test_runner::FileFailurePersistence::SourceParallel("proptest-regressions"),
        )),
        ..Config::default()
    };
    // The same cases on every `cargo test` (CI must not pass or fail by chance); a longer
    // run asked for by the variable draws new ones.
    let mut runner = match std::env::var_os("ORCH_DIFFERENTIAL_CASES") {
        Some(_) => TestRunner::new(config),
        None => TestRunner::new_with_rng(
            config,
            proptest::test_runner::TestRng::deterministic_rng(
                proptest::test_runner::RngAlgorithm::ChaCha,
            ),
        ),
    };
    let strategy = (
        proptest::collection::vec(job(), 1..5),
        proptest::collection::vec(edit(), 1..5),
    );
    if let Err(e) = runner.run(&strategy, |(jobs, edits)| check(jobs, edits)) {
        panic!("{e}");
    }
}
