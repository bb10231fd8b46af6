//! `orch completions SHELL`: clap's completions of commands and options, with the
//! targets of `run`, `plan`, `watch`, `explain`, `graph` and `logs` completed from the playbook
//! (`orch list --ids`, which the script asks for the `-f`/`--workflow` given).

use clap::CommandFactory;
use clap_complete::Shell;

/// The subcommands whose free arguments are job or node ids.
const TAKE_TARGETS: &str = "run plan watch explain graph logs";

const BASH: &str = r#"
# Job and node ids for the targets of run, plan, watch, explain, graph and logs.
_orch_targets() {
    local cur="${COMP_WORDS[COMP_CWORD]}" prev="${COMP_WORDS[COMP_CWORD-1]}"
    local sub="" playbook=() i
    for (( i = 1; i < COMP_CWORD; i++ )); do
        case "${COMP_WORDS[i]}" in
            -f|--file|--workflow) playbook+=("${COMP_WORDS[i]}" "${COMP_WORDS[i+1]}"); (( i++ ));;
            -*) ;;
            *) [[ -z "$sub" ]] && sub="${COMP_WORDS[i]}";;
        esac
    done
    if [[ " TAKE_TARGETS " == *" $sub "* && "$cur" != -* && "$prev" != -* ]]; then
        local IFS=$'\n'
        COMPREPLY=( $(compgen -W "$(command orch "${playbook[@]}" list --ids 2>/dev/null)" -- "$cur") )
        return 0
    fi
    _orch "$@"
}
complete -F _orch_targets -o bashdefault -o default orch
"#;

const ZSH_FUNCTION: &str = r#"
# Job and node ids for the targets of run, plan, watch, explain, graph and logs.
_orch_targets() {
    local -a ids playbook
    local i
    for (( i = 2; i < CURRENT; i++ )); do
        case "${words[i]}" in
            -f|--file|--workflow) playbook+=("${words[i]}" "${words[i+1]}");;
        esac
    done
    ids=(${(f)"$(command orch "${playbook[@]}" list --ids 2>/dev/null)"})
    compadd -Q -a ids
}
"#;

const FISH: &str = r#"
# Job and node ids for the targets of run, plan, watch, explain, graph and logs.
function __fish_orch_targets
    set -l playbook
    set -l words (commandline -opc)
    for i in (seq 2 (count $words))
        switch $words[$i]
            case -f --file --workflow
                set -a playbook $words[$i] $words[(math $i + 1)]
        end
    end
    command orch $playbook list --ids 2>/dev/null
end
complete -c orch -n "__fish_seen_subcommand_from TAKE_TARGETS" -f -a "(__fish_orch_targets)"
"#;

pub(crate) fn print(shell: Shell) {
    let mut generated = Vec::new();
    clap_complete::generate(shell, &mut crate::Cli::command(), "orch", &mut generated);
    let generated = String::from_utf8_lossy(&generated);
    let script = match shell {
        Shell::Bash => format!("{generated}{}", BASH.replace("TAKE_TARGETS", TAKE_TARGETS)),
        Shell::Fish => format!("{generated}{}", FISH.replace("TAKE_TARGETS", TAKE_TARGETS)),
        Shell::Zsh => {
            // The targets argument completes ids instead of files; the function goes
            // after `#compdef`, which must stay the first line.
            let (first, rest) = generated.split_once('\n').unwrap_or((&generated, ""));
            let rest = rest
                .lines()
                .map(|line| {
                    if line.starts_with("'*::targets -- ") || line.starts_with("':node -- ") {
                        line.replacen(":_default'", ":_orch_targets'", 1)
                    } else {
                        line.to_owned()
                    }
                })
                .collect::<Vec<_>>()
                .join("\n");
            format!("{first}\n{ZSH_FUNCTION}{rest}\n")
        }
        _ => generated.into_owned(),
    };
    print!("{script}");
}
