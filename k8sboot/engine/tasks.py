"""Tasks: a strict subset of Ansible's own task syntax.

    - name: Write the etcd unit
      ansible.builtin.template:        # or `template:`; Ansible's argument names
        src: etcd/etcd.service.j2
        dest: /etc/systemd/system/etcd.service
      notify: restart etcd
      when: "'etcd' in group_names"
      loop: "{{ items }}"
      register: unit
      become: true
      tags: [etcd]

Anything outside the subset is an error naming the file and task, so a role
never silently means something else here than under ansible-playbook.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from k8sboot.booleans import parse_bool
from k8sboot.errors import InputError

KEYWORDS = {
    "name", "when", "loop", "notify", "register", "become", "tags",
    "changed_when", "failed_when", "ignore_errors", "args", "no_log",
    "until", "retries", "delay", "timeout", "check_mode",
}
# Ansible knows `listen` on handlers only: on a task it is an unknown module
HANDLER_KEYWORDS = KEYWORDS | {"listen"}
FREE_FORM_MODULES = {"command", "shell", "meta"}
# `meta: flush_handlers` is run by the runner itself: it is not a module on the host
META_ACTIONS = {"flush_handlers"}
# names Jinja reads as constants or operators, never as variables
_JINJA_NAMES = {"true", "false", "none", "True", "False", "None", "not"}


@dataclass
class Task:
    name: str
    module: str
    args: dict[str, Any]
    file: str
    index: int
    when: Any = None
    loop: Any = None
    notify: list[str] = field(default_factory=list)
    register: str | None = None
    become: bool | None = None
    tags: list[str] = field(default_factory=list)
    changed_when: Any = None
    failed_when: Any = None
    ignore_errors: bool = False
    listen: list[str] = field(default_factory=list)
    no_log: bool = False
    until: Any = None
    retries: Any = 3  # may be a template: rendered when the task runs
    delay: Any = 5
    timeout: Any = None  # seconds for the whole task (Ansible's keyword); None: the runner's default
    # Ansible's keyword: False runs the task for real even in check mode (a read-only probe whose
    # result later `when`s need), True always checks; None follows the run
    check_mode: bool | None = None

    @property
    def where(self) -> str:
        return f"{self.file}, task {self.index + 1} ({self.name})"


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, list):
        return [str(v) for v in value]
    return [str(value)]


def keyword_bool(value: Any, key: str, where: str, file: str) -> bool:
    parsed = parse_bool(value)
    if parsed is not None:
        return parsed
    raise InputError(f"{where}: {key} must be a boolean (true/false, yes/no), got {value!r}", file=file)


def parse_task(raw: Any, file: str, index: int, known_modules: set[str], handler: bool = False) -> Task:
    if not isinstance(raw, dict):
        raise InputError(f"task {index + 1} is not a mapping", file=file)
    keywords = HANDLER_KEYWORDS if handler else KEYWORDS
    modules = []
    for key in raw:
        if key in keywords:
            continue
        if key == "listen":
            raise InputError(f"task {index + 1} ({raw.get('name', '?')}): `listen` is for handlers only "
                             "(handlers/main.yml); a task notifies a handler by its name or topic", file=file)
        short = key.removeprefix("ansible.builtin.")
        if short == "systemd_service":
            short = "systemd"
        if short not in known_modules and short != "meta":
            hint = difflib.get_close_matches(short, sorted(known_modules | keywords), n=1)
            did = f"; did you mean {hint[0]!r}?" if hint else ""
            raise InputError(
                f"task {index + 1} ({raw.get('name', '?')}): unknown keyword or module {key!r}{did} "
                f"(modules: {', '.join(sorted(known_modules))})",
                file=file,
            )
        modules.append((short, raw[key]))
    if len(modules) != 1:
        raise InputError(
            f"task {index + 1} ({raw.get('name', '?')}) must use exactly one module, "
            f"found {len(modules)}",
            file=file,
        )
    module, args = modules[0]
    if module == "meta" and args not in META_ACTIONS:
        raise InputError(f"task {index + 1}: meta supports only {', '.join(sorted(META_ACTIONS))}", file=file)
    if isinstance(args, str):
        if module not in FREE_FORM_MODULES:
            raise InputError(f"task {index + 1}: module {module} needs a mapping of arguments", file=file)
        args = {"cmd": args}
    elif args is None:
        args = {}
    elif not isinstance(args, dict):
        raise InputError(f"task {index + 1}: arguments of {module} must be a mapping", file=file)
    extra = raw.get("args") or {}
    if not isinstance(extra, dict):
        raise InputError(f"task {index + 1}: `args` must be a mapping", file=file)
    args = {**args, **extra}
    # as Ansible's command module: argv is command's alone, and never beside a command line
    if module == "shell" and "argv" in args:
        raise InputError(f"task {index + 1}: shell takes a command line (`cmd` or free form), not `argv`; "
                         "use command for an argument list", file=file)
    if module == "command" and args.get("cmd") and args.get("argv"):
        raise InputError(f"task {index + 1}: command takes `cmd` (or free form) or `argv`, not both", file=file)
    where = f"task {index + 1} ({raw.get('name', '?')})"
    register = raw.get("register")
    # Ansible's rule for variable names (a register is one)
    if register is not None and not (isinstance(register, str) and register.isidentifier()
                                     and register.isascii() and register not in _JINJA_NAMES):
        raise InputError(f"{where}: register {register!r} is not a valid variable name (letters, digits "
                         "and underscores, not starting with a digit)", file=file)
    become = raw.get("become")
    return Task(
        name=str(raw.get("name") or f"{module} #{index + 1}"),
        module=module,
        args=args,
        file=file,
        index=index,
        when=raw.get("when"),
        loop=raw.get("loop"),
        notify=_as_list(raw.get("notify")),
        register=register,
        become=None if become is None else keyword_bool(become, "become", where, file),
        tags=_as_list(raw.get("tags")),
        changed_when=raw.get("changed_when"),
        failed_when=raw.get("failed_when"),
        ignore_errors=keyword_bool(raw.get("ignore_errors", False), "ignore_errors", where, file),
        listen=_as_list(raw.get("listen")),
        no_log=keyword_bool(raw.get("no_log", False), "no_log", where, file),
        until=raw.get("until"),
        retries=raw.get("retries", 3),
        delay=raw.get("delay", 5),
        timeout=raw.get("timeout"),
        check_mode=None if raw.get("check_mode") is None else
        keyword_bool(raw["check_mode"], "check_mode", where, file),
    )


def parse_tasks(raw: Any, file: Path | str, known_modules: set[str], handlers: bool = False) -> list[Task]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise InputError("a task file must hold a list of tasks", file=str(file))
    return [parse_task(t, str(file), i, known_modules, handler=handlers) for i, t in enumerate(raw)]
