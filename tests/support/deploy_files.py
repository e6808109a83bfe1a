"""Readers of the deployment files (Dockerfile, deploy/Procfile, deploy/compose.yaml,
deploy/Caddyfile) for tests that check them without Docker: each returns plain data."""

import json
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
# `${NAME}`, `${NAME:-default}`, `${NAME:?message}`, and Caddy's `{$NAME}`/`{$NAME:default}`.
SHELL_VARIABLE = re.compile(r"\$\{([A-Z][A-Z0-9_]*)(?:(:?[-?])([^}]*))?\}")
CADDY_VARIABLE = re.compile(r"\{\$([A-Z][A-Z0-9_]*)(?::[^}]*)?\}")


@dataclass
class Stage:
    base: str
    name: str
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        return [rest for key, rest in self.instructions if key == keyword]

    def last(self, keyword: str) -> str:
        found = self.all(keyword)
        assert found, f"stage {self.name or self.base} has no {keyword}"
        return found[-1]


def dockerfile_stages(path: Path = ROOT / "Dockerfile") -> list[Stage]:
    """The stages in order, each with its instructions (continuations joined, comments out)."""
    logical, pending = [], ""
    for line in path.read_text().splitlines():
        stripped = line.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        logical.append(pending + stripped)
        pending = ""
    stages: list[Stage] = []
    for instruction in logical:
        keyword, _, rest = instruction.partition(" ")
        keyword, rest = keyword.upper(), rest.strip()
        if keyword == "FROM":
            base, _, name = rest.partition(" AS ")
            stages.append(Stage(base=base.strip(), name=name.strip()))
        else:
            stages[-1].instructions.append((keyword, rest))
    return stages


def exec_form(rest: str) -> list[str]:
    """An instruction's argument list: its JSON (exec) form, else the words of its shell form."""
    if rest.startswith("["):
        return json.loads(rest)
    return shlex.split(rest)


def unwrapped_command(argv: list[str]) -> str:
    """`sh -c "exec CMD"` is CMD: the shell only expands variables and hands over to it."""
    if argv[:2] == ["sh", "-c"]:
        return argv[2].removeprefix("exec ")
    return shlex.join(argv)


def procfile(path: Path = ROOT / "deploy" / "Procfile") -> dict[str, str]:
    processes = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            role, _, command = line.partition(":")
            processes[role.strip()] = command.strip()
    return processes


def makefile_recipe(target: str, path: Path = ROOT / "Makefile") -> list[str]:
    """The recipe lines of one Makefile target, with `$(BIN)/` taken off the commands."""
    lines, inside = [], False
    for line in path.read_text().splitlines():
        if line.startswith(f"{target}:"):
            inside = True
        elif inside and line.startswith("\t"):
            lines.append(line.strip().replace("$(BIN)/", ""))
        elif inside:
            break
    return lines


def compose(path: Path = ROOT / "deploy" / "compose.yaml") -> dict:
    return yaml.safe_load(path.read_text())


def compose_text(path: Path = ROOT / "deploy" / "compose.yaml") -> str:
    return path.read_text()


def env_example_names(path: Path = ROOT / ".env.example") -> set[str]:
    return set(re.findall(r"^# ([A-Z][A-Z0-9_]*)=", path.read_text(), re.M))


def command_matches(template: str, command: str, *, pinned: dict[str, str]) -> str:
    """Why `command` is not the process `template` describes ("" when it is).

    Each `${NAME:-default}` of the template stands for a value the deployment chooses; where
    `pinned` fixes NAME for that deployment (the container's environment), the value must be
    the pinned one or a reference to NAME itself. Every other word must be the same."""
    expected, actual = shlex.split(template), shlex.split(command)
    if len(expected) != len(actual):
        return f"{command!r} has {len(actual)} words, {template!r} {len(expected)}"
    for want, got in zip(expected, actual, strict=True):
        names = [match[1] for match in SHELL_VARIABLE.finditer(want)]
        pattern = "".join(
            f"(?P<{part}>\\S+)" if index % 4 == 1 else re.escape(part)
            for index, part in enumerate(SHELL_VARIABLE.split(want))
            if index % 4 in (0, 1)
        )
        found = re.fullmatch(pattern, got)
        if found is None:
            return f"{got!r} where {template!r} has {want!r}"
        for name in names:
            value = found[name]
            refers = re.fullmatch(rf"\$\{{{name}(?::?[-?][^}}]*)?\}}|\${name}", value)
            if name in pinned and not refers and value != pinned[name]:
                return f"{name} is {pinned[name]!r} in the container, the command says {value!r}"
    return ""


@dataclass
class CaddySite:
    address: str
    directives: list[list[str]]  # every line inside the site block, split into words


def caddy_sites(path: Path = ROOT / "deploy" / "Caddyfile") -> list[CaddySite]:
    """The site blocks of a Caddyfile, each with the words of every line nested in it."""
    sites: list[CaddySite] = []
    depth = 0
    for raw in path.read_text().splitlines():
        line = raw.split("#", 1)[0].strip() if not raw.strip().startswith("#") else ""
        if not line:
            continue
        words = line.split()
        if words == ["}"]:
            depth -= 1
            continue
        if depth == 0:
            assert words[-1] == "{", f"a site address without its block: {line!r}"
            sites.append(CaddySite(address=" ".join(words[:-1]), directives=[]))
        else:
            sites[-1].directives.append([w for w in words if w != "{"])
        if words[-1] == "{":
            depth += 1
    assert depth == 0, "unbalanced braces in the Caddyfile"
    return sites
