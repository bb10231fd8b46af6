//! Tree → model: every key and type checked, every problem collected with its place.

mod action;
mod job;
mod sections;
pub mod values;
mod workflow;
mod workflow_job;

pub use action::{ACTION_FILE_NAMES, ACTION_KEYS, is_action};
pub(crate) use job::is_job_id;
pub use job::{JOB_KEYS, STEP_KEYS};
pub use sections::TOP_KEYS;
pub use workflow::{WORKFLOW_KEYS, is_workflow};
pub use workflow_job::{WORKFLOW_JOB_KEYS, WORKFLOW_STEP_KEYS};

use super::model::{self, Playbook};
use super::tree::Node;
use crate::load::diag::{LoadError, Problem, SourceFile, Sp};

/// Decodes a parsed tree into a playbook, or every problem found on the way.
pub fn decode(source: &SourceFile, root: &Node) -> Result<Playbook, LoadError> {
    let mut d = Decoder {
        source,
        problems: Vec::new(),
        dropped: Vec::new(),
        undecoded: Vec::new(),
    };
    let playbook = d.document(root);
    match playbook {
        Some(p) if d.problems.is_empty() => Ok(p),
        _ => {
            if d.problems.is_empty() {
                d.problems
                    .push(Problem::at(source, root.span, "the playbook is not valid"));
            }
            Err(LoadError {
                problems: d.problems,
            })
        }
    }
}

/// What of a playbook with problems could still be decoded: the checks that come after
/// decoding (needs, expressions, cycles) run on it, so that a user sees every problem in
/// one round. `dropped` names the jobs left out (not a map, a bad id): a need of one is
/// not a problem of its own. `undecoded` names the sections (`vars`) and job fields
/// (`build.matrix`) that had problems: what the later checks say of them (an unknown
/// var, a job with no matrix) would only repeat those.
pub struct Partial {
    pub playbook: Option<Playbook>,
    pub dropped: Vec<String>,
    pub undecoded: Vec<String>,
}

/// [`decode`], keeping what decoded despite the problems.
pub fn decode_partial(source: &SourceFile, root: &Node) -> Partial {
    let mut d = Decoder {
        source,
        problems: Vec::new(),
        dropped: Vec::new(),
        undecoded: Vec::new(),
    };
    let playbook = d.document(root);
    Partial {
        playbook,
        dropped: d.dropped,
        undecoded: d.undecoded,
    }
}

impl<'s> Decoder<'s> {
    /// The `jobs:` map, each job read by `one` (orch's or a workflow's); a job that does
    /// not decode at all is named in `dropped`.
    fn jobs_into(
        &mut self,
        value: &Node,
        playbook: &mut Playbook,
        mut one: impl FnMut(&mut Self, Sp<&str>, &Node) -> Option<model::Job>,
    ) {
        for (id, job) in self.map(value, "jobs", None).unwrap_or_default() {
            let name = id.value.to_owned();
            match one(self, id, job) {
                Some(job) => {
                    playbook.jobs.insert(job.id.value.clone(), job);
                }
                None => self.dropped.push(name),
            }
        }
    }

    /// An orch playbook, a GitHub Actions workflow or an action's metadata, by what the
    /// file is.
    fn document(&mut self, root: &Node) -> Option<Playbook> {
        if is_action(&self.source.path) {
            self.action(root)
        } else if is_workflow(&self.source.path, root) {
            self.workflow(root)
        } else {
            self.playbook(root)
        }
    }
}

struct Decoder<'s> {
    source: &'s SourceFile,
    problems: Vec<Problem>,
    /// Jobs that could not be decoded at all.
    dropped: Vec<String>,
    /// Sections and job fields that had problems (see [`Partial`]).
    undecoded: Vec<String>,
}

/// `NAME: text` pairs (env, with).
type NamedTexts = Vec<(String, Sp<String>)>;

/// A map's entries with their names, after the keys were checked.
type Entries<'a> = Vec<(Sp<&'a str>, &'a Node)>;

#[cfg(test)]
mod tests {
    use super::values::parse_duration;
    use super::*;
    use crate::load::model::{Command, Scalar};
    use crate::load::tree;
    use std::time::Duration;

    fn load(text: &str) -> Result<Playbook, LoadError> {
        let source = SourceFile {
            path: "orch.yml".into(),
            text: text.into(),
        };
        let root = tree::parse(&source).map_err(LoadError::from)?;
        decode(&source, &root)
    }

    fn first_problem(text: &str) -> Problem {
        load(text).unwrap_err().problems.remove(0)
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert!(parse_duration("10").is_err());
        assert!(parse_duration("10x").is_err());
        assert!(parse_duration("m").is_err());
    }

    #[test]
    fn decodes_a_job() {
        let playbook = load(
            "jobs:\n  build:\n    run: make\n    needs: lint\n    timeout: 10m\n    retries: 2\n  lint:\n    script: lint.sh\n    args: [--fix, 3]\n",
        )
        .unwrap();
        let build = &playbook.jobs["build"];
        assert_eq!(build.needs[0].value, "lint");
        assert_eq!(build.timeout, Some(Duration::from_secs(600)));
        assert_eq!(build.retries, Some(2));
        let Command::Script { args, .. } = &playbook.jobs["lint"].command else {
            panic!("not a script")
        };
        assert_eq!(
            args.iter()
                .map(|a| a.value.value.as_str())
                .collect::<Vec<_>>(),
            ["--fix", "3"]
        );
    }

    #[test]
    fn unknown_key_suggests() {
        let problem = first_problem("jobs:\n  build:\n    rnu: make\n");
        assert_eq!(problem.message, "unknown key `rnu` in job `build`");
        assert_eq!(problem.help.as_deref(), Some("did you mean `run`?"));
        assert_eq!(problem.location().as_deref(), Some("orch.yml:3:5"));
    }

    #[test]
    fn wrong_type_is_located() {
        let playbook =
            load("vars: { py: 3.10, n: 7 }\njobs:\n  a: { run: x, env: { V: 3.10, Y: yes } }\n")
                .unwrap();
        assert_eq!(playbook.vars["py"].value, Scalar::Number("3.10".into()));
        assert_eq!(playbook.vars["n"].value, Scalar::Number("7".into()));
        let env: Vec<_> = playbook.jobs["a"]
            .env
            .iter()
            .map(|(k, v)| (k.as_str(), v.value.as_str()))
            .collect();
        assert_eq!(env, [("V", "3.10"), ("Y", "yes")]);

        let problem = first_problem("jobs:\n  build:\n    run: [a]\n");
        assert_eq!(problem.message, "build.run must be a string, found a list");
        assert_eq!(problem.location().as_deref(), Some("orch.yml:3:10"));
    }

    #[test]
    fn bad_duration_is_located() {
        let problem = first_problem("jobs:\n  build:\n    run: x\n    timeout: 10 minutes\n");
        assert!(
            problem.message.starts_with("bad duration `10 minutes`"),
            "{}",
            problem.message
        );
        assert_eq!(problem.location().as_deref(), Some("orch.yml:4:14"));
    }

    #[test]
    fn exactly_one_command() {
        assert!(
            first_problem("jobs:\n  a: { name: x }\n")
                .message
                .contains("nothing to do")
        );
        let m = first_problem("jobs:\n  a: { run: x, script: y }\n").message;
        assert!(m.contains("both `run` and `script`"), "{m}");
    }

    #[test]
    fn invalid_job_id() {
        assert!(
            first_problem("jobs:\n  9lives: { run: x }\n")
                .message
                .contains("invalid job id")
        );
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use crate::load::tree;
    use proptest::prelude::*;

    proptest! {
        /// Any text, YAML-shaped or not, loads to a playbook or to located problems: no panic.
        #[test]
        fn loading_never_panics(text in "(jobs:\n  [a-z]{1,3}:\n    )?[a-z{}\\[\\]:,'\" \n${}.-]{0,120}") {
            let source = SourceFile { path: "orch.yml".into(), text: text.clone().into() };
            match tree::parse(&source) {
                Ok(root) => {
                    if let Err(e) = decode(&source, &root) {
                        prop_assert!(!e.problems.is_empty());
                    }
                }
                Err(problem) => prop_assert!(problem.span.is_some_and(|s| s.offset <= text.len())),
            }
        }
    }
}
