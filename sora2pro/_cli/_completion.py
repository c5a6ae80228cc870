"""``sora2pro completion bash|zsh``: a shell completion script, read off the parser.

The script knows every sub-command, every option of each (with its help, in zsh),
each option's choices, and which values are files or folders; it is made from the
same ``argparse`` parser that reads the command line, so it cannot drift from it.
Both shells share one scan of the words typed so far (which sub-command they are in,
skipping the values of options); each then offers its candidates its own way.
"""

from __future__ import annotations

import argparse
import shlex
import textwrap
import typing

import attrs

from sora2pro._cli._common import EXIT_OK, EXIT_USAGE, Command

if typing.TYPE_CHECKING:
    from collections.abc import Callable

    from sora2pro._cli._output import Output

__all__ = ["SHELLS", "completion", "script"]

SHELLS = ("bash", "zsh")


@attrs.frozen
class _Level:
    """What may follow the words of one sub-command (``""`` for none).

    Attributes:
        path: The sub-command, its words joined by ``/``.
        words: Sub-commands, positional choices and options, each with its help.
        values: Each option that takes a value, and what it takes: ``choices A B``,
            ``file``, ``dir`` or ``none`` (free text: nothing to offer).
        files: Whether a positional argument is a file.

    """

    path: str
    words: tuple[tuple[str, str], ...]
    values: tuple[tuple[str, str], ...]
    files: bool


def _kind(action: argparse.Action) -> str:
    """What an option's value is, for completion."""
    if action.choices is not None:
        return "choices " + " ".join(str(choice) for choice in action.choices)
    metavar = str(action.metavar or "")
    if "FOLDER" in metavar or "DIR" in metavar:
        return "dir"
    return "file" if "FILE" in metavar else "none"


def _levels(parser: argparse.ArgumentParser, path: str = "") -> list[_Level]:
    """The level of ``parser`` and of every sub-command below it."""
    words: list[tuple[str, str]] = []
    values: list[tuple[str, str]] = []
    files = False
    below: list[_Level] = []
    for action in parser._actions:  # argparse lists its actions nowhere public
        if action.help == argparse.SUPPRESS:
            continue
        if isinstance(action, argparse._SubParsersAction):  # private, like the rest
            for choice in action._choices_actions:  # their help, likewise
                words.append((choice.dest, choice.help or ""))
                sub = action.choices[choice.dest]
                below += _levels(sub, f"{path}/{choice.dest}" if path else choice.dest)
        elif not action.option_strings:
            words += [(str(choice), action.help or "") for choice in action.choices or ()]
            files = files or "FILE" in str(action.metavar or "")
        else:
            words += [(option, action.help or "") for option in action.option_strings]
            if action.nargs != 0:
                values += [(option, _kind(action)) for option in action.option_strings]
    return [_Level(path, tuple(words), tuple(values), files), *below]


def _case(subject: str, arms: list[tuple[list[str], str]]) -> str:
    """A shell ``case`` with one arm per (patterns, body); valid in bash and zsh alike."""
    lines = [f"    case {subject} in"]
    for patterns, body in arms:
        lines.append(f"        {'|'.join(shlex.quote(pattern) for pattern in patterns)}) {body} ;;")
    return "\n".join([*lines, "    esac"])


def _scan_arms(levels: list[_Level]) -> list[tuple[list[str], str]]:
    """``level:word`` to the sub-command it enters, or to skipping an option's value."""
    paths = {level.path for level in levels}
    arms: list[tuple[list[str], str]] = []
    for level in levels:
        for word, _ in level.words:
            below = f"{level.path}/{word}".strip("/")
            if below in paths:
                arms.append(([f"{level.path}:{word}"], f"path={shlex.quote(below)}"))
        if level.values:
            arms.append(([f"{level.path}:{option}" for option, _ in level.values], "skip=1"))
    return arms


def _value_arms(levels: list[_Level]) -> list[tuple[list[str], str]]:
    """``level:option`` to what its value is."""
    arms = []
    for level in levels:
        for kind in sorted({kind for _, kind in level.values}):
            options = [f"{level.path}:{option}" for option, each in level.values if each == kind]
            arms.append((options, f"echo {shlex.quote(kind)}"))
    return arms


def _printf(words: tuple[tuple[str, str], ...]) -> str:
    """A ``printf`` of ``word:help`` lines (``word`` alone without help), an argument a line."""
    lines = [shlex.quote(f"{word}:{text}" if text else word) for word, text in words]
    return " \\\n            ".join(["printf '%s\\n'", *lines])


def _common(levels: list[_Level], name: str) -> str:
    """The functions both shells use: the scan, the values, the words of a level."""
    words = [([level.path or "_"], _printf(level.words)) for level in levels]
    files = [([level.path or "_" for level in levels if level.files], "return 0")]
    return f"""\
# The sub-command that the words "$@" are in (a/b when nested), in $__{name}_path.
__{name}_scan() {{
    local word path= skip=
    for word in "$@"; do
        if [[ -n $skip ]]; then skip=; continue; fi
{textwrap.indent(_case('"$path:$word"', _scan_arms(levels)), "    ")}
    done
    __{name}_path=$path
}}

# What the option "$1" (given as level:option) takes: choices A B, file, dir or none.
__{name}_value() {{
{_case('"$1"', _value_arms(levels))}
}}

# The words that may come next at level "$1" (_ for the top), as word:help lines.
__{name}_words() {{
{_case('"$1"', words)}
}}

# Whether a positional argument at level "$1" is a file.
__{name}_files() {{
{_case('"$1"', [arm for arm in files if arm[0]])}
    return 1
}}
"""


_BASH = """\
_{name}() {{
    local cur=${{COMP_WORDS[COMP_CWORD]}} prev=${{COMP_WORDS[COMP_CWORD-1]}} line
    __{name}_scan "${{COMP_WORDS[@]:1:COMP_CWORD-1}}"
    local value
    value=$(__{name}_value "$__{name}_path:$prev")
    case "$value" in
        choices*) mapfile -t COMPREPLY < <(compgen -W "${{value#choices }}" -- "$cur"); return ;;
        file) compopt -o filenames; mapfile -t COMPREPLY < <(compgen -f -- "$cur"); return ;;
        dir) compopt -o filenames; mapfile -t COMPREPLY < <(compgen -d -- "$cur"); return ;;
        none) COMPREPLY=(); return ;;
    esac
    local words=()  # options after a dash, the other words without one
    while IFS= read -r line; do
        line=${{line%%:*}}
        if [[ $cur == -* && $line == -* || $cur != -* && $line != -* ]]; then words+=("$line"); fi
    done < <(__{name}_words "${{__{name}_path:-_}}")
    mapfile -t COMPREPLY < <(compgen -W "${{words[*]}}" -- "$cur")
    if [[ $cur != -* ]] && __{name}_files "${{__{name}_path:-_}}"; then
        compopt -o filenames
        mapfile -t -O "${{#COMPREPLY[@]}}" COMPREPLY < <(compgen -f -- "$cur")
    fi
}}
complete -F _{name} {name}
"""

_ZSH = """\
_{name}() {{
    local cur=${{words[CURRENT]}} prev=${{words[CURRENT-1]}} value
    local -a candidates
    __{name}_scan "${{(@)words[2,CURRENT-1]}}"
    value=$(__{name}_value "$__{name}_path:$prev")
    case "$value" in
        choices*) compadd -- ${{=value#choices }}; return ;;
        file) _files; return ;;
        dir) _files -/; return ;;
        none) _message 'a value'; return ;;
    esac
    candidates=("${{(@f)$(__{name}_words "${{__{name}_path:-_}}")}}")
    if [[ $cur == -* ]]; then
        candidates=(${{(M)candidates:#-*}})
    else
        candidates=(${{candidates:#-*}})
        __{name}_files "${{__{name}_path:-_}}" && _files
    fi
    _describe -t words '{name}' candidates
}}

if [[ $zsh_eval_context[-1] == loadautofunc ]]; then
    _{name} "$@"
else
    compdef _{name} {name}
fi
"""


def script(parser: argparse.ArgumentParser, shell: str) -> str:
    """The completion script of ``parser``'s program for ``shell`` (bash or zsh)."""
    name = parser.prog
    header = f"# {shell} completion for {name}, made by '{name} completion {shell}'.\n"
    if shell == "zsh":
        header = f"#compdef {name}\n{header}"
    body = (_BASH if shell == "bash" else _ZSH).format(name=name)
    return f"{header}\n{_common(_levels(parser), name)}\n{body}"


def completion(parser: Callable[[], argparse.ArgumentParser]) -> Command:
    """The ``completion`` sub-command, for the parser ``parser()`` builds."""

    async def run(args: argparse.Namespace, out: Output) -> int:
        out.line(script(parser(), args.shell).rstrip("\n"))
        return EXIT_OK

    def arguments(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("shell", choices=SHELLS, help="the shell to complete in")

    return Command(
        name="completion",
        summary="print a shell completion script (bash or zsh)",
        description="Print a script that completes sora2pro's commands, options and "
        "their values in bash or zsh, made from this version's own options. "
        "bash: add 'eval \"$(sora2pro completion bash)\"' to ~/.bashrc. zsh: "
        "'sora2pro completion zsh > ~/.zfunc/_sora2pro' with ~/.zfunc in fpath, or "
        "'eval \"$(sora2pro completion zsh)\"' after compinit in ~/.zshrc.",
        exits=((EXIT_OK, "the script is printed"), (EXIT_USAGE, "usage error: no such shell")),
        arguments=arguments,
        run=run,
        output=False,
        environment=False,
    )
