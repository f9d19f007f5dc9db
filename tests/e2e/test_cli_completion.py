"""Shell completion: `mintaka --install-completion` installs it, and the shell's completion
requests (what the installed script sends) get the sub-commands and their commands."""

from __future__ import annotations

import os
import subprocess
import sys


def complete(words: str) -> list[str]:
    """What bash completion offers for the command line `words` (the cursor at its end)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MINTAKA_")}
    env.update(_MINTAKA_COMPLETE="complete_bash", COMP_WORDS=words, COMP_CWORD=str(len(words.split(" ")) - 1))
    done = subprocess.run(
        [sys.executable, "-m", "mintaka.cli"], env=env, capture_output=True, text=True, timeout=60, check=True
    )
    return done.stdout.split()


def test_the_shell_completes_commands_and_sub_commands():
    assert complete("mintaka flow-r") == ["flow-run"]
    assert {"ls", "inspect", "logs", "cancel", "resume"} <= set(complete("mintaka flow-run "))
    assert {"server", "deploy", "worker", "config"} <= set(complete("mintaka "))


def test_help_offers_to_install_completion():
    done = subprocess.run(
        [sys.executable, "-m", "mintaka.cli", "--help"],
        env={**os.environ, "NO_COLOR": "1", "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert "--install-completion" in done.stdout and "--show-completion" in done.stdout
