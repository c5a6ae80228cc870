"""``sora2pro completion bash|zsh``: scripts made from the parser, that the shells accept."""

from __future__ import annotations

import pathlib
import re
import shlex
import subprocess

import pytest

from sora2pro._cli import COMMANDS, main


def script(shell: str, capsys: pytest.CaptureFixture[str]) -> str:
    """What ``sora2pro completion SHELL`` prints."""
    assert 0 == main(["completion", shell])
    return capsys.readouterr().out


def complete(bash_script: str, *words: str) -> list[str]:
    """What bash offers for the command line ``words``, the last one being completed."""
    program = "\n".join(
        [
            bash_script,
            "compopt() { :; }",  # only valid inside a completion that bash itself started
            f"COMP_WORDS=({shlex.join(['sora2pro', *words])})",
            f"COMP_CWORD={len(words)}",
            "_sora2pro",
            'printf "%s\\n" "${COMPREPLY[@]}"',
        ]
    )
    result = subprocess.run(  # noqa: S603  # the test's own program
        ["bash", "--norc", "--noprofile", "-c", program],  # noqa: S607  # bash from PATH
        capture_output=True,
        text=True,
        check=True,
    )
    assert "" == result.stderr
    return [line for line in result.stdout.splitlines() if line]


def test_bash_accepts_the_script(capsys: pytest.CaptureFixture[str]) -> None:
    """The script passes ``bash -n`` and registers its completion function."""
    text = script("bash", capsys)
    subprocess.run(["bash", "-n"], input=text, text=True, check=True)  # noqa: S607
    assert text.rstrip().endswith("complete -F _sora2pro sora2pro")


def test_bash_offers_every_command_then_its_options(capsys: pytest.CaptureFixture[str]) -> None:
    """Bash completes sub-commands, their options, choices, and skips option values."""
    text = script("bash", capsys)
    assert [command.name for command in COMMANDS] == complete(text, "")
    assert ["generate"] == complete(text, "ge")
    assert {"--aspect-ratio", "--verbose", "--json", "--output"} <= set(
        complete(text, "generate", "a dog", "--")
    )
    assert ["landscape", "portrait"] == complete(text, "generate", "--aspect-ratio", "")
    assert ["standard"] == complete(text, "batch", "--size", "s")
    assert ["--frames"] == complete(text, "batch", "--out", "wait", "--fr")  # not `wait`'s
    assert ["bash", "zsh"] == complete(text, "completion", "")
    assert ["create"] == complete(text, "character", "cr")


def test_bash_completes_files_where_a_file_goes(
    capsys: pytest.CaptureFixture[str], tmp_path: pathlib.Path
) -> None:
    """A FILE argument or option completes paths; a DIR option only folders."""
    text = script("bash", capsys)
    folder = str(tmp_path)
    (tmp_path / "prompts.txt").write_text("a dog\n")
    (tmp_path / "videos").mkdir()
    assert [f"{folder}/prompts.txt"] == complete(text, "batch", f"{folder}/pr")
    assert [f"{folder}/videos"] == complete(text, "batch", "--out", f"{folder}/")
    assert [f"{folder}/prompts.txt"] == complete(text, "generate", "-o", f"{folder}/p")


def test_zsh_script_describes_every_command_and_option(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The zsh script is an autoloadable #compdef file naming each command with its summary."""
    text = script("zsh", capsys)
    assert text.startswith("#compdef sora2pro\n")
    assert "compdef _sora2pro sora2pro" in text
    assert "_describe -t words 'sora2pro' candidates" in text
    for command in COMMANDS:
        assert shlex.quote(f"{command.name}:{command.summary}") in text
    assert "generate:--aspect-ratio) echo 'choices landscape portrait'" in text
    assert "batch:--out) echo dir" in text
    # Every case in the shared functions is closed, and so is every function.
    assert len(re.findall(r"^\s*case ", text, re.MULTILINE)) == text.count("esac")
    assert text.count("() {") == len(re.findall(r"^}$", text, re.MULTILINE))


def test_an_unknown_shell_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    """Completion for a shell it does not know exits 2 and names the ones it knows."""
    with pytest.raises(SystemExit) as caught:
        main(["completion", "fish"])
    assert 2 == caught.value.code
    err = capsys.readouterr().err
    assert "invalid choice: 'fish'" in err
    assert re.search(r"choose from '?bash'?, '?zsh'?\)", err)  # quotes differ by Python version
