//! The sequence grammar of AitherZero's playbooks (`0400-0499`, `04*`, `!0408`,
//! `stage:Testing`, `tag:quality`, comma lists), resolved against the numbered scripts
//! folder: the selection the old engine made, except where it silently dropped or
//! misread an entry — each of those is a [`Note`] naming it (the importer makes them
//! warnings, or errors with `--strict`). Declared order is kept; [`Order::Ascending`]
//! gives the old engine's sorted order.

use std::collections::BTreeSet;

/// One numbered script of the scripts folder (`0402_Run-UnitTests.ps1`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Script {
    pub number: u16,
    pub file: String,
    /// Its `# Stage: ` header (first 10 lines), as the `stage:` rule's regex reads it:
    /// the text after `# Stage: `, written so, anywhere in the line.
    pub stage: Option<String>,
    /// A `Stage:` the `stage:` rule did not see, and why (under `.NOTES`, after line 10,
    /// or not written `# Stage: `).
    pub stage_unseen: Option<(String, &'static str)>,
    /// Its `# Tags:` header (first 20 lines), the text after `# Tags:`.
    pub tags: Option<String>,
    /// Its `Dependencies:` header (first 30 lines, `#` or `.NOTES` form): the numbers
    /// it names; names that are not numbers are in `named_dependencies`.
    pub dependencies: Vec<u16>,
    pub named_dependencies: Vec<String>,
    /// Its `AllowParallel:` header, the same way.
    pub allow_parallel: Option<bool>,
}

impl Script {
    /// A script from its file name and text; `None` when the name is not `NNNN_*.ps1`.
    pub fn from_file(file: &str, text: &str) -> Option<Script> {
        let number = script_number(file)?;
        let header = |limit: usize, key: &str| {
            text.lines().take(limit).find_map(|line| {
                let rest = line.trim_start().strip_prefix('#')?.trim_start();
                let (name, value) = rest.split_once(':')?;
                name.trim()
                    .eq_ignore_ascii_case(key)
                    .then(|| value.trim().to_owned())
            })
        };
        // `# Key: value`, or `Key: value` inside a comment-based help's `.NOTES` (which
        // the old engine did not read: orch does).
        let either = |key: &str| {
            header(30, key).or_else(|| {
                let mut in_notes = false;
                text.lines().take(60).find_map(|line| {
                    let line = line.trim();
                    if line.starts_with('.') {
                        in_notes = line.eq_ignore_ascii_case(".NOTES");
                        return None;
                    }
                    if line.starts_with("#>") {
                        in_notes = false;
                    }
                    let (name, value) = line.split_once(':').filter(|_| in_notes)?;
                    name.trim()
                        .eq_ignore_ascii_case(key)
                        .then(|| value.trim().to_owned())
                })
            })
        };
        let mut dependencies = Vec::new();
        let mut named_dependencies = Vec::new();
        for entry in either("Dependencies").iter().flat_map(|d| d.split(',')) {
            let entry = entry.trim();
            match entry.parse::<u16>() {
                Ok(n) if entry.len() == 4 => dependencies.push(n),
                _ if entry.is_empty() || entry.eq_ignore_ascii_case("none") => {}
                _ => named_dependencies.push(entry.to_owned()),
            }
        }
        let allow_parallel =
            either("AllowParallel").and_then(|v| match v.to_ascii_lowercase().as_str() {
                "true" | "yes" | "1" | "$true" => Some(true),
                "false" | "no" | "0" | "$false" => Some(false),
                _ => None,
            });
        // The old rules' regexes (`# Stage: NAME`, `# Tags:.*`), any case, unanchored.
        let as_the_old_rule = |limit: usize, written: &str| {
            text.lines().take(limit).find_map(|line| {
                let at = line.to_ascii_lowercase().find(written)?;
                Some(line[at + written.len()..].trim_end().to_owned())
            })
        };
        let stage = as_the_old_rule(10, "# stage: ");
        let stage_unseen = match (&stage, header(10, "Stage"), header(30, "Stage")) {
            (Some(_), _, _) => None,
            (None, Some(seen), _) => Some((seen, "is not written `# Stage: NAME`")),
            (None, None, Some(seen)) => Some((seen, "is after line 10")),
            (None, None, None) => either("Stage").map(|seen| (seen, "is under `.NOTES`")),
        };
        Some(Script {
            number,
            file: file.to_owned(),
            stage,
            stage_unseen,
            tags: as_the_old_rule(20, "# tags:"),
            dependencies,
            named_dependencies,
            allow_parallel,
        })
    }
}

/// `NNNN` of `NNNN_Name.ps1`.
fn script_number(file: &str) -> Option<u16> {
    let (digits, rest) = file.split_at_checked(4)?;
    (digits.chars().all(|c| c.is_ascii_digit()) && rest.starts_with('_') && rest.ends_with(".ps1"))
        .then(|| digits.parse().ok())
        .flatten()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    /// As written (orch's default).
    Declared,
    /// Ascending by number, as the old engine ran them.
    Ascending,
}

/// What the old engine did silently, and orch says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Note {
    /// An entry no rule reads (`402`, `0402_Run.ps1`, `0400 - 0499`): the old engine
    /// dropped it.
    NotAnEntry(String),
    /// A range, wildcard, `stage:` or `tag:` that selects no script.
    MatchesNothing(String),
    /// A number with no script file: the old engine skipped it with a warning at run time.
    NoScript(u16),
    /// ` 0404` after a comma and a space (or `0402 ` before one): the old engine dropped
    /// it; orch reads it trimmed.
    SpaceInList(String),
    /// A number selected twice: it runs once.
    Duplicate(u16),
    /// A number one entry selects that an `!` entry of another stage excludes: the old
    /// engine resolved every stage's sequence as one list.
    ExcludedElsewhere(u16),
    /// A `stage:` entry that does not take this script, whose `Stage:` (under `.NOTES`,
    /// which the old engine did not read) it names: kept out, as the old engine did.
    StageUnseen(String, u16, &'static str),
}

impl std::fmt::Display for Note {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Note::NotAnEntry(entry) => write!(
                f,
                "`{entry}` is not a sequence entry (the old engine dropped it without a word)"
            ),
            Note::MatchesNothing(entry) => write!(f, "`{entry}` selects no script"),
            Note::NoScript(n) => write!(f, "no script has the number {n:04}"),
            Note::SpaceInList(entry) => write!(
                f,
                "`{entry}` has a space beside a comma (the old engine dropped it; read as `{}`)",
                entry.trim()
            ),
            Note::Duplicate(n) => write!(f, "{n:04} is selected more than once; it runs once"),
            Note::ExcludedElsewhere(n) => write!(
                f,
                "{n:04} is excluded by an `!` entry of another stage (the old engine resolved all stages as one sequence): it does not run"
            ),
            Note::StageUnseen(entry, n, why) => write!(
                f,
                "`{entry}` does not select {n:04}: its `Stage:` {why}, which the old engine did not read (name {n:04} to run it)"
            ),
        }
    }
}

/// The numbers a sequence selects, in the order asked, and what it said nothing about:
/// each note with the index of the entry it is about (for a duplicate, the later one).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Resolved {
    pub numbers: Vec<u16>,
    /// For each number, the index of the entry that selected it.
    pub entry_of: Vec<usize>,
    pub notes: Vec<(usize, Note)>,
}

/// A whole sequence at once, as the old engine read it: an exclusion applies to every
/// entry, wherever it is written.
pub fn resolve(entries: &[&str], scripts: &[Script], order: Order) -> Resolved {
    resolve_excluding(entries, scripts, order, &BTreeSet::new())
}

/// What the `!` entries of a sequence exclude.
pub fn exclusions(entries: &[&str], scripts: &[Script]) -> BTreeSet<u16> {
    let mut excluded = BTreeSet::new();
    for entry in entries.iter().filter(|e| e.starts_with('!')) {
        entry_numbers(
            entry,
            scripts,
            &mut Vec::new(),
            &mut excluded,
            &mut Vec::new(),
        );
    }
    excluded
}

/// [`resolve`], where the `!` entries of other sequences the old engine read as one with
/// this one (a playbook's stages) exclude `elsewhere` too.
pub fn resolve_excluding(
    entries: &[&str],
    scripts: &[Script],
    order: Order,
    elsewhere: &BTreeSet<u16>,
) -> Resolved {
    let mut selected = Vec::new();
    let mut excluded = BTreeSet::new();
    let mut notes = Vec::new();
    for (index, entry) in entries.iter().enumerate() {
        let (mut taken, mut out, mut said) = (Vec::new(), BTreeSet::new(), Vec::new());
        entry_numbers(entry, scripts, &mut taken, &mut out, &mut said);
        selected.extend(taken.into_iter().map(|n| (n, index)));
        excluded.extend(out);
        notes.extend(said.into_iter().map(|note| (index, note)));
    }
    let mut kept = Vec::with_capacity(selected.len());
    let mut seen = BTreeSet::new();
    for (number, index) in selected {
        if !seen.insert(number) {
            let runs = !excluded.contains(&number) && !elsewhere.contains(&number);
            if runs && !notes.iter().any(|(_, n)| *n == Note::Duplicate(number)) {
                notes.push((index, Note::Duplicate(number)));
            }
            continue;
        }
        if excluded.contains(&number) {
            continue;
        }
        if elsewhere.contains(&number) {
            notes.push((index, Note::ExcludedElsewhere(number)));
            continue;
        }
        if !scripts.iter().any(|s| s.number == number) {
            notes.push((index, Note::NoScript(number)));
        }
        kept.push((number, index));
    }
    if order == Order::Ascending {
        kept.sort_unstable();
    }
    let (numbers, entry_of) = kept.into_iter().unzip();
    Resolved {
        numbers,
        entry_of,
        notes,
    }
}

/// Whether `text` has `word` between two regex word boundaries (`\bword\b`), any case.
fn has_word(text: &str, word: &str) -> bool {
    let (text, word) = (text.to_lowercase(), word.to_lowercase());
    let is_word = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_');
    let (Some(first), Some(last)) = (word.chars().next(), word.chars().next_back()) else {
        return false;
    };
    text.match_indices(&word).any(|(at, _)| {
        let before = text[..at].chars().next_back();
        let after = text[at + word.len()..].chars().next();
        is_word(before) != is_word(Some(first)) && is_word(Some(last)) != is_word(after)
    })
}

/// One entry by the first rule that reads it; `!` entries fill `excluded`.
fn entry_numbers(
    entry: &str,
    scripts: &[Script],
    selected: &mut Vec<u16>,
    excluded: &mut BTreeSet<u16>,
    notes: &mut Vec<Note>,
) {
    // 1. An exclusion: the rest read by the same grammar.
    if let Some(rest) = entry.strip_prefix('!') {
        let mut inner = Vec::new();
        let mut inner_excluded = BTreeSet::new();
        entry_numbers(rest, scripts, &mut inner, &mut inner_excluded, notes);
        excluded.extend(inner);
        return;
    }
    let existing = |keep: &dyn Fn(&Script) -> bool| -> Vec<u16> {
        let numbers: BTreeSet<u16> = scripts
            .iter()
            .filter(|s| keep(s))
            .map(|s| s.number)
            .collect();
        numbers.into_iter().collect()
    };
    let digits = |text: &str| !text.is_empty() && text.chars().all(|c| c.is_ascii_digit());
    let found = if entry.len() == 4 && digits(entry) {
        // 2. A number, whether or not a script has it.
        vec![entry.parse().unwrap_or_default()]
    } else if let Some((low, high)) = entry.split_once('-')
        && low.len() == 4
        && high.len() == 4
        && digits(low)
        && digits(high)
    {
        // 3. A range of existing scripts (a reversed one is empty).
        let (low, high): (u16, u16) = (low.parse().unwrap_or(0), high.parse().unwrap_or(0));
        let numbers = existing(&|s| (low..=high).contains(&s.number));
        if numbers.is_empty() {
            notes.push(Note::MatchesNothing(entry.to_owned()));
        }
        numbers
    } else if let Some(prefix) = entry.strip_suffix('*')
        && (1..=2).contains(&prefix.len())
        && digits(prefix)
    {
        // 4. `4*` is `04*`: a block of a hundred numbers.
        let block: u16 = prefix.parse().unwrap_or(0);
        let numbers = existing(&|s| s.number / 100 == block);
        if numbers.is_empty() {
            notes.push(Note::MatchesNothing(entry.to_owned()));
        }
        numbers
    } else if let Some(name) = entry.strip_prefix("stage:") {
        // 5. `# Stage: NAME`, any case, unanchored at its end: the name starts the
        // header's value (`stage:Dev` takes Development, `stage:ing` not Testing).
        let name = name.to_lowercase();
        let names =
            |stage: Option<&String>| stage.is_some_and(|st| st.to_lowercase().starts_with(&name));
        let numbers = existing(&|s| names(s.stage.as_ref()));
        let unseen: std::collections::BTreeMap<u16, &'static str> = scripts
            .iter()
            .filter_map(|s| {
                s.stage_unseen
                    .as_ref()
                    .map(|(stage, why)| (s.number, stage, *why))
            })
            .filter(|(_, stage, _)| names(Some(stage)))
            .map(|(n, _, why)| (n, why))
            .collect();
        if numbers.is_empty() && unseen.is_empty() {
            notes.push(Note::MatchesNothing(entry.to_owned()));
        }
        for (n, why) in unseen {
            notes.push(Note::StageUnseen(entry.to_owned(), n, why));
        }
        numbers
    } else if let Some(name) = entry.strip_prefix("tag:") {
        // 6. The `# Tags:` header has the name between word boundaries.
        let numbers = existing(&|s| s.tags.as_ref().is_some_and(|tags| has_word(tags, name)));
        if numbers.is_empty() {
            notes.push(Note::MatchesNothing(entry.to_owned()));
        }
        numbers
    } else if entry.contains(',') {
        // 7. A comma list: its parts read as a sequence of their own, so an `!` part
        // excludes from the whole list (`0404-0409,!0405`), not from the lists beside it.
        let mut numbers = Vec::new();
        let mut out = BTreeSet::new();
        for part in entry.split(',') {
            let part = if part != part.trim() && !part.trim().is_empty() {
                notes.push(Note::SpaceInList(part.to_owned()));
                part.trim()
            } else {
                part
            };
            entry_numbers(part, scripts, &mut numbers, &mut out, notes);
        }
        numbers.retain(|n| !out.contains(n));
        numbers
    } else {
        // 8. Anything else the old engine dropped without a word.
        notes.push(Note::NotAnEntry(entry.to_owned()));
        Vec::new()
    };
    selected.extend(found);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scripts() -> Vec<Script> {
        [
            (
                "0400_Install-TestingTools.ps1",
                "# Stage: Testing\n# Tags: testing, tools",
            ),
            ("0402_Run-UnitTests.ps1", "<#\n.NOTES\nStage: Testing\n#>"),
            (
                "0404_Run-PSScriptAnalyzer.ps1",
                "# Stage: Development\n# Tags: quality, lint",
            ),
            ("0405_Validate-Manifests.ps1", "# Tags: quality-gate"),
            ("0407_Validate-Syntax.ps1", ""),
            ("0408_Generate-Coverage.ps1", ""),
            ("0409_Run-AllTests.ps1", ""),
            ("0499_Last.ps1", ""),
            ("0510_Report.ps1", ""),
            ("4000_Far.ps1", ""),
        ]
        .iter()
        .filter_map(|(file, text)| Script::from_file(file, text))
        .collect()
    }

    fn run(entries: &[&str]) -> Resolved {
        resolve(entries, &scripts(), Order::Declared)
    }

    #[test]
    fn numbers_and_ranges() {
        assert_eq!(
            run(&["0407", "0402"]).numbers,
            [407, 402],
            "declared order kept"
        );
        assert_eq!(
            resolve(&["0407", "0402"], &scripts(), Order::Ascending).numbers,
            [402, 407]
        );
        assert_eq!(run(&["0404-0408"]).numbers, [404, 405, 407, 408]);
        let reversed = run(&["0408-0404"]);
        assert!(reversed.numbers.is_empty());
        assert_eq!(
            reversed.notes,
            [(0, Note::MatchesNothing("0408-0404".into()))]
        );
        // A number without a file is kept (the old engine skipped it at run time): noted.
        let missing = run(&["0401"]);
        assert_eq!(missing.numbers, [401]);
        assert_eq!(missing.notes, [(0, Note::NoScript(401))]);
    }

    #[test]
    fn wildcards_are_blocks_of_a_hundred() {
        assert_eq!(
            run(&["4*"]).numbers,
            [400, 402, 404, 405, 407, 408, 409, 499],
            "4* is 04*"
        );
        assert_eq!(run(&["04*"]).numbers, run(&["4*"]).numbers);
        assert_eq!(run(&["40*"]).numbers, [4000]);
        // Three digits and a bare `*` are rule 8: dropped by the old engine, noted here.
        assert_eq!(run(&["040*"]).notes, [(0, Note::NotAnEntry("040*".into()))]);
        assert_eq!(run(&["*"]).notes, [(0, Note::NotAnEntry("*".into()))]);
        assert_eq!(
            run(&["09*"]).notes,
            [(0, Note::MatchesNothing("09*".into()))]
        );
    }

    #[test]
    fn stages_and_tags_read_the_comment_headers() {
        // Unanchored, any case: `stage:dev` takes Development; `.NOTES` is not read, and
        // said.
        let testing = run(&["stage:testing"]);
        assert_eq!(testing.numbers, [400]);
        assert_eq!(
            testing.notes,
            [(
                0,
                Note::StageUnseen("stage:testing".into(), 402, "is under `.NOTES`")
            )]
        );
        assert_eq!(run(&["stage:Dev"]).numbers, [404]);
        // A tag is a whole word (`\b` as the old regex): `quality` is in `quality-gate`.
        assert_eq!(run(&["tag:lint"]).numbers, [404]);
        assert_eq!(run(&["tag:quality"]).numbers, [404, 405]);
        assert_eq!(
            run(&["tag:qual"]).notes,
            [(0, Note::MatchesNothing("tag:qual".into()))]
        );
        // `\bquality-gate\b` and `\bgate\b` both find `quality-gate`.
        assert_eq!(run(&["tag:quality-gate"]).numbers, [405]);
        assert_eq!(run(&["tag:Gate"]).numbers, [405]);
        // `# Stage: NAME`: the name starts the header's value.
        assert_eq!(
            run(&["stage:ing"]).notes,
            [(0, Note::MatchesNothing("stage:ing".into()))]
        );
    }

    #[test]
    fn the_stage_header_is_read_as_the_old_regex_wrote_it() {
        let stage = |text: &str| Script::from_file("0401_X.ps1", text).and_then(|s| s.stage);
        let unseen =
            |text: &str| Script::from_file("0401_X.ps1", text).and_then(|s| s.stage_unseen);
        // `# Stage: ` as written, anywhere in a line, any case.
        assert_eq!(stage("## STAGE: Testing"), Some("Testing".into()));
        assert_eq!(stage("x # stage: Testing  "), Some("Testing".into()));
        for missed in ["#Stage: Testing", "# Stage:Testing", "#  Stage: Testing"] {
            assert_eq!(stage(missed), None, "{missed}");
            assert_eq!(
                unseen(missed),
                Some(("Testing".into(), "is not written `# Stage: NAME`")),
                "{missed}"
            );
        }
        let late = format!("{}# Stage: Testing", "#\n".repeat(12));
        assert_eq!(unseen(&late), Some(("Testing".into(), "is after line 10")));
        // `# Tags:` needs its one space after `#`.
        let tags = |text: &str| Script::from_file("0401_X.ps1", text).and_then(|s| s.tags);
        assert_eq!(tags("# Tags: a, b"), Some(" a, b".into()));
        assert_eq!(tags("#Tags: a"), None);
    }

    #[test]
    fn headers_are_read_within_the_old_engines_line_limits() {
        let padding = "#\n".repeat(10);
        let late = Script::from_file(
            "0401_Late.ps1",
            &format!("{padding}# Stage: Testing\n{padding}# Tags: late"),
        );
        let late = late.as_ref();
        // Line 11 is past the `stage:` rule's 10 lines; line 22 past the `tag:` rule's 20.
        assert_eq!(late.and_then(|s| s.stage.as_deref()), None);
        assert_eq!(late.and_then(|s| s.tags.as_deref()), None);
        let early = Script::from_file("0401_Early.ps1", "#\n# Stage: Testing\n# Tags: early");
        assert_eq!(early.and_then(|s| s.stage), Some("Testing".to_owned()));
    }

    #[test]
    fn exclusions_apply_wherever_written() {
        assert_eq!(run(&["!0408", "0404-0409"]).numbers, [404, 405, 407, 409]);
        assert_eq!(
            run(&["04*", "!0408,0409"]).numbers,
            [400, 402, 404, 405, 407, 499]
        );
        assert_eq!(
            run(&["!0404-0407", "4*"]).numbers,
            [400, 402, 408, 409, 499]
        );
        // Inside a comma list, an exclusion applies to the list, wherever in it; not to
        // the entries beside the list.
        assert_eq!(run(&["0404-0408,!0405"]).numbers, [404, 407, 408]);
        // A list that starts with `!` is all exclusion (rule 1 comes first).
        assert!(run(&["!0405,0404-0408"]).numbers.is_empty());
        assert!(run(&["0404-0408,!0405"]).notes.is_empty());
        assert_eq!(run(&["0402,!0405", "0405"]).numbers, [402, 405]);
        // Another stage's `!` entries, given as `elsewhere`: noted at the entry.
        let elsewhere = exclusions(&["0510", "!0407-0408"], &scripts());
        assert_eq!(elsewhere.iter().copied().collect::<Vec<_>>(), [407, 408]);
        let other = resolve_excluding(&["0404-0409"], &scripts(), Order::Declared, &elsewhere);
        assert_eq!(other.numbers, [404, 405, 409]);
        assert_eq!(
            other.notes,
            [
                (0, Note::ExcludedElsewhere(407)),
                (0, Note::ExcludedElsewhere(408))
            ]
        );
        // Notes name their entry: the second's number without a script, the third's
        // range that selects nothing.
        let noted = run(&["0404", "0401", "0600-0699"]);
        assert_eq!(
            noted.notes,
            [
                (2, Note::MatchesNothing("0600-0699".into())),
                (1, Note::NoScript(401))
            ]
        );
        // An excluded number is no duplicate either: it does not run at all.
        assert!(run(&["0404", "0404", "!0404"]).notes.is_empty());
        // An excluded number without a script is not noted: it was not asked for.
        assert!(run(&["0401", "!0401"]).notes.is_empty());
        assert_eq!(
            resolve(
                &["0409", "!0408", "0404-0408"],
                &scripts(),
                Order::Ascending
            )
            .numbers,
            [404, 405, 407, 409]
        );
    }

    #[test]
    fn silent_cases_are_noted() {
        let list = run(&["0402, 0404"]);
        assert_eq!(list.numbers, [402, 404], "read trimmed");
        assert_eq!(list.notes, [(0, Note::SpaceInList(" 0404".into()))]);
        let trailing = run(&["0402 ,0404"]);
        assert_eq!(trailing.numbers, [402, 404]);
        assert_eq!(trailing.notes, [(0, Note::SpaceInList("0402 ".into()))]);
        for dropped in ["402", "0402_Run-UnitTests.ps1", "0400 - 0499", ""] {
            assert_eq!(
                run(&[dropped]).notes,
                [(0, Note::NotAnEntry(dropped.into()))],
                "{dropped:?}"
            );
        }
        let twice = run(&["0402", "0400-0402"]);
        assert_eq!(twice.numbers, [402, 400]);
        assert_eq!(twice.notes, [(1, Note::Duplicate(402))]);
        assert!(
            Note::SpaceInList(" 0404".into())
                .to_string()
                .contains("read as `0404`")
        );
    }

    #[test]
    fn the_corpus_script_names_are_read() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../shared/corpus/aitherzero-playbooks/scripts.txt");
        let Ok(text) = std::fs::read_to_string(&path) else {
            eprintln!("skipped: ../shared/corpus/aitherzero-playbooks is not there");
            return;
        };
        let names: Vec<&str> = text.lines().filter(|l| l.ends_with(".ps1")).collect();
        let read: Vec<Script> = names
            .iter()
            .filter_map(|n| Script::from_file(n, ""))
            .collect();
        assert_eq!(read.len(), names.len(), "every listed name is NNNN_*.ps1");
        assert!(!resolve(&["04*"], &read, Order::Declared).numbers.is_empty());
    }
}
