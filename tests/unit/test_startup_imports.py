"""`k8sboot --version` and every `--help` start without the slow libraries; commands load theirs.

Each check runs in a fresh interpreter (this test process has imported everything
already) and reports which modules are loaded afterwards: what is loaded, never how long.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

# each takes a tenth of a second or more to import; printing a version or a help needs none
HEAVY = ("paramiko", "cryptography", "kubernetes", "jinja2", "libvirt", "rich")

# appended to each script: the watched top-level packages (its arguments) now in sys.modules
REPORT = """
import sys
print(__import__("json").dumps(sorted({m.split(".")[0] for m in sys.modules} & set(sys.argv[1:]))))
"""

EVERY_HELP = """
import argparse, contextlib, io
from k8sboot.cli import build_parser, main

def helps(parser, words):
    yield [*words, "--help"]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from helps(sub, [*words, name])

asked = [*helps(build_parser(), []), ["--version"]]
for argv in asked:
    with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):
        main(argv)
assert len(asked) > 25, asked  # `up --help`, `etcd status --help`, ... all of them
"""

VERSION_AS_MODULE = """
import contextlib, runpy, sys
watched, sys.argv = sys.argv[1:], ["k8sboot", "--version"]
with contextlib.suppress(SystemExit):
    runpy.run_module("k8sboot", run_name="__main__")
sys.argv[1:] = watched
"""

VERSION_COMMAND = """
import contextlib, io
from k8sboot.cli import main
with contextlib.redirect_stdout(io.StringIO()):
    assert main(["version"]) == 0
"""


def _loaded_after(script: str, watched: tuple[str, ...]) -> list[str]:
    done = subprocess.run([sys.executable, "-c", script + REPORT, *watched], capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])


def test_version_and_every_help_load_none_of_the_slow_libraries():
    assert _loaded_after(EVERY_HELP, HEAVY) == []


def test_python_m_k8sboot_version_loads_none_of_the_slow_libraries():
    assert _loaded_after(VERSION_AS_MODULE, HEAVY) == []


def test_the_version_command_loads_none_of_the_slow_libraries():
    assert _loaded_after(VERSION_COMMAND, HEAVY) == []


@pytest.mark.parametrize("command, not_yet", [
    # rbac, roll nodes and wait for Ready import the kubernetes client when they run
    ("up", ("kubernetes", "libvirt")),
    ("export", ("kubernetes", "libvirt")),  # writes a playbook, asks no API
    ("inventory", ("paramiko", "jinja2", "kubernetes", "libvirt", "rich")),  # reads files, prints JSON
    ("kubeconfig", ("paramiko", "jinja2", "kubernetes", "libvirt", "rich")),
])
def test_a_command_loads_no_library_before_it_needs_it(command, not_yet):
    assert _loaded_after(f"import k8sboot.commands.{command}\n", not_yet) == []


def test_invoke_waits_until_an_ssh_config_match_exec_needs_it():
    # paramiko imports invoke at its own import; only `Match exec` in an ssh_config uses it
    real = "import sys\nprint(sys.modules['invoke'].__dict__.get('__file__') is not None)\n"
    assert _loaded_after("import k8sboot.commands.up\n", ("asyncio", "unittest")) == []
    done = subprocess.run([sys.executable, "-c", "import k8sboot.commands.up\n" + real], capture_output=True,
                          text=True, timeout=120, check=True)
    assert done.stdout.split() == ["False"]
    used = "import k8sboot.commands.up, paramiko.config\nassert paramiko.config.invoke.run.__name__ == 'run'\n"
    done = subprocess.run([sys.executable, "-c", used + real], capture_output=True, text=True, timeout=120,
                          check=True)
    assert done.stdout.split() == ["True"]
