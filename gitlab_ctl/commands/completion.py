"""`gitlab-ctl completion`: a bash completion script for gitlab-ctl on stdout, to source
(`source <(gitlab-ctl completion)`) or to save under bash-completion's completions
directory. It completes the command, then a service name for the commands that take one
(read from the installation's service definitions when TAB is pressed, so it follows
reconfigure), and up/down/status for deploy-page."""

from __future__ import annotations

import argparse
import shlex
from collections.abc import Iterable

from gitlab_ctl.paths import Layout

#: Commands whose first argument is a service (omnibus-ctl's service commands).
SERVICE_VERBS = ("status", "tail", "start", "stop", "restart", "once", "hup", "term", "int",
                 "kill", "graceful-kill", "usr1", "usr2")
#: Commands whose every argument is a service.
SERVICES_VERBS = ("restart-except",)
#: Commands with a fixed set of words.
WORD_CHOICES = {"deploy-page": ("up", "down", "status")}

SCRIPT = """\
# bash completion for gitlab-ctl (printed by `gitlab-ctl completion`)
_gitlab_ctl_services() {{
    local definition
    for definition in {sv_dir}/*/run; do
        [ -e "$definition" ] || continue
        definition=${{definition%/run}}
        printf '%s\\n' "${{definition##*/}}"
    done
}}

_gitlab_ctl() {{
    local current=${{COMP_WORDS[COMP_CWORD]}}
    COMPREPLY=()
    if [ "$COMP_CWORD" -eq 1 ]; then
        COMPREPLY=($(compgen -W {verbs} -- "$current"))
        return 0
    fi
    case ${{COMP_WORDS[1]}} in
        {service_verbs})
            [ "$COMP_CWORD" -eq 2 ] &&
                COMPREPLY=($(compgen -W "$(_gitlab_ctl_services)" -- "$current")) ;;
        {services_verbs})
            COMPREPLY=($(compgen -W "$(_gitlab_ctl_services)" -- "$current")) ;;
{word_cases}    esac
    return 0
}}
complete -F _gitlab_ctl gitlab-ctl
"""


def completion_script(verbs: Iterable[str], layout: Layout) -> str:
    word_cases = "".join(
        f"        {verb})\n            [ \"$COMP_CWORD\" -eq 2 ] &&\n"
        f"                COMPREPLY=($(compgen -W {shlex.quote(' '.join(words))} -- "
        "\"$current\")) ;;\n" for verb, words in WORD_CHOICES.items())
    return SCRIPT.format(sv_dir=shlex.quote(str(layout.sv_dir)),
                         verbs=shlex.quote(" ".join(sorted(verbs))),
                         service_verbs="|".join(SERVICE_VERBS),
                         services_verbs="|".join(SERVICES_VERBS), word_cases=word_cases)


HELP = "print a bash completion script for gitlab-ctl (commands, service names)"


def add_arguments(parser: argparse.ArgumentParser, layout: Layout) -> None:
    parser.epilog = ("Enable it with `source <(gitlab-ctl completion)` in ~/.bashrc, or save "
                     "it as /etc/bash_completion.d/gitlab-ctl.")


# the table's entry (gitlab_ctl.commands.table), whose handler passes it every verb
NO_ROOT = frozenset({"completion"})
