//! Matrix expansion with GitHub Actions' `include`/`exclude` semantics.
//!
//! 1. The cartesian product of the axes, first axis outermost.
//! 2. `exclude` removes every combination that matches all of an entry's pairs.
//! 3. Each `include` entry is merged into every remaining original combination whose
//!    original axis values it does not contradict (values that an include added may be
//!    overwritten, original ones never); an entry that fits none becomes a combination of
//!    its own.

use crate::load::model::{Combination, Matrix, Scalar};

/// Largest number of combinations one job may expand to; checked before expanding.
pub const MAX_COMBINATIONS: u128 = 100_000;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the matrix expands to {size} combinations, more than the limit of {MAX_COMBINATIONS}")]
pub struct TooLarge {
    /// The size, or `None` when it does not even fit in 128 bits.
    pub size: SizeText,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SizeText(pub String);

impl std::fmt::Display for SizeText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The size of the product before `exclude`/`include`, without building it.
pub fn product_size(matrix: &Matrix) -> Option<u128> {
    matrix.axes.iter().try_fold(1u128, |acc, (_, values)| {
        acc.checked_mul(values.len() as u128)
    })
}

pub fn expand(matrix: &Matrix) -> Result<Vec<Combination>, TooLarge> {
    let product = if matrix.axes.is_empty() {
        Some(0)
    } else {
        product_size(matrix)
    };
    let total = product.and_then(|p| p.checked_add(matrix.include.len() as u128));
    match total {
        Some(t) if t <= MAX_COMBINATIONS => {}
        Some(t) => {
            return Err(TooLarge {
                size: SizeText(t.to_string()),
            });
        }
        None => {
            let digits: f64 = matrix
                .axes
                .iter()
                .map(|(_, v)| (v.len() as f64).log10())
                .sum();
            return Err(TooLarge {
                size: SizeText(format!("about 10^{}", digits.floor())),
            });
        }
    }

    let axes: Vec<&str> = matrix.axes.iter().map(|(a, _)| a.value.as_str()).collect();
    let mut originals: Vec<Combination> = if matrix.axes.is_empty() {
        Vec::new()
    } else {
        vec![Vec::new()]
    };
    for (axis, values) in &matrix.axes {
        let mut next = Vec::with_capacity(originals.len() * values.len());
        for combination in &originals {
            for value in values {
                let mut c = combination.clone();
                c.push((axis.value.clone(), value.clone()));
                next.push(c);
            }
        }
        originals = next;
    }
    originals.retain(|c| !matrix.exclude.iter().any(|entry| matches_all(c, entry)));

    let original_count = originals.len();
    let mut combinations = originals;
    for entry in &matrix.include {
        let mut merged = false;
        for combination in &mut combinations[..original_count] {
            let fits = entry.iter().all(|(key, value)| {
                !axes.contains(&key.as_str()) || get(combination, key).is_none_or(|v| v == value)
            });
            if fits {
                merged = true;
                for (key, value) in entry {
                    set(combination, key, value);
                }
            }
        }
        if !merged {
            let mut own: Combination = Vec::with_capacity(entry.len());
            for axis in &axes {
                if let Some(value) = get(entry, axis) {
                    own.push(((*axis).to_owned(), value.clone()));
                }
            }
            for (key, value) in entry {
                if !axes.contains(&key.as_str()) {
                    own.push((key.clone(), value.clone()));
                }
            }
            combinations.push(own);
        }
    }
    Ok(combinations)
}

fn get<'c>(combination: &'c Combination, key: &str) -> Option<&'c Scalar> {
    combination.iter().find(|(k, _)| k == key).map(|(_, v)| v)
}

fn set(combination: &mut Combination, key: &str, value: &Scalar) {
    match combination.iter_mut().find(|(k, _)| k == key) {
        Some((_, v)) => *v = value.clone(),
        None => combination.push((key.to_owned(), value.clone())),
    }
}

fn matches_all(combination: &Combination, entry: &Combination) -> bool {
    entry
        .iter()
        .all(|(key, value)| get(combination, key) == Some(value))
}

/// `job[axis=value,axis=value]`, or the job id alone without a matrix.
pub fn node_id(job: &str, combination: &Combination) -> String {
    if combination.is_empty() {
        return job.to_owned();
    }
    let mut id = String::with_capacity(job.len() + 16 * combination.len());
    id.push_str(job);
    id.push('[');
    for (i, (axis, value)) in combination.iter().enumerate() {
        if i > 0 {
            id.push(',');
        }
        id.push_str(axis);
        id.push('=');
        id.push_str(&value.to_string());
    }
    id.push(']');
    id
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::diag::{SourceFile, Sp, Span};
    use crate::load::{decode, tree};

    fn matrix_of(yaml: &str) -> Matrix {
        let source = SourceFile {
            path: "orch.yml".into(),
            text: format!("jobs:\n  j:\n    run: x\n    matrix:\n{yaml}").into(),
        };
        let root = tree::parse(&source).unwrap();
        let playbook = decode::decode(&source, &root).unwrap();
        playbook.jobs["j"].matrix.clone().unwrap()
    }

    fn ids(matrix: &Matrix) -> Vec<String> {
        expand(matrix)
            .unwrap()
            .iter()
            .map(|c| node_id("j", c))
            .collect()
    }

    /// The worked example of GitHub's documentation ("Expanding or adding matrix configurations").
    #[test]
    fn github_include_example() {
        let m = matrix_of(
            "      fruit: [apple, pear]
      animal: [cat, dog]
      include:
        - color: green
        - color: pink
          animal: cat
        - fruit: apple
          shape: circle
        - fruit: banana
        - fruit: banana
          animal: cat
",
        );
        assert_eq!(
            ids(&m),
            [
                "j[fruit=apple,animal=cat,color=pink,shape=circle]",
                "j[fruit=apple,animal=dog,color=green,shape=circle]",
                "j[fruit=pear,animal=cat,color=pink]",
                "j[fruit=pear,animal=dog,color=green]",
                "j[fruit=banana]",
                "j[fruit=banana,animal=cat]",
            ]
        );
    }

    /// GitHub's exclude example: excluded combinations go, the rest keep their order.
    #[test]
    fn github_exclude_example() {
        let m = matrix_of(
            "      os: [macos-latest, windows-latest]
      version: [12, 14, 16]
      environment: [staging, production]
      exclude:
        - os: macos-latest
          version: 12
          environment: production
        - os: windows-latest
          version: 16
",
        );
        let got = ids(&m);
        assert_eq!(got.len(), 12 - 1 - 2);
        assert!(!got.contains(&"j[os=macos-latest,version=12,environment=production]".to_owned()));
        assert!(
            !got.iter()
                .any(|id| id.starts_with("j[os=windows-latest,version=16"))
        );
        assert_eq!(got[0], "j[os=macos-latest,version=12,environment=staging]");
    }

    #[test]
    fn include_only_matrix() {
        let m =
            matrix_of("      include:\n        - { site: a }\n        - { site: b, size: 2 }\n");
        assert_eq!(ids(&m), ["j[site=a]", "j[site=b,size=2]"]);
    }

    #[test]
    fn include_never_overwrites_original_values() {
        let m = matrix_of("      os: [linux]\n      include:\n        - { os: mac, extra: 1 }\n");
        assert_eq!(ids(&m), ["j[os=linux]", "j[os=mac,extra=1]"]);
    }

    #[test]
    fn hundred_axes_fail_at_once() {
        let axes = (0..100)
            .map(|i| {
                (
                    Sp::new(format!("a{i}"), Span::default()),
                    vec![Scalar::Bool(true), Scalar::Bool(false)],
                )
            })
            .collect();
        let m = Matrix {
            axes,
            include: Vec::new(),
            exclude: Vec::new(),
            span: Span::default(),
        };
        let err = expand(&m).unwrap_err();
        assert!(
            err.to_string().contains("1267650600228229401496703205376"),
            "{err}"
        );
    }

    #[test]
    fn fifty_thousand_combinations_expand() {
        let values = |n: usize| (0..n).map(|i| Scalar::Number(i.to_string())).collect();
        let m = Matrix {
            axes: vec![
                (Sp::new("a".into(), Span::default()), values(500)),
                (Sp::new("b".into(), Span::default()), values(100)),
            ],
            include: Vec::new(),
            exclude: Vec::new(),
            span: Span::default(),
        };
        assert_eq!(expand(&m).unwrap().len(), 50_000);
    }
}
