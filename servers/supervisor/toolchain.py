"""The directories a managed server's command needs, bound read-only into its sandbox.

A command under /usr (or the /bin, /lib of merged-usr systems) needs nothing more. Otherwise
the prefix it lives in is bound: the directory above its `bin` (a virtualenv, a Node or Python
install, a `node_modules` above `.bin`), the interpreter its `#!` line names, and the base
Python a virtualenv points at. A prefix that would contain the platform's own checkout or var
dir is never bound whole: then only the executable itself is.
"""

import os
import shutil
from pathlib import Path

from django.conf import settings

SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
_BIN_DIRS = {"bin", ".bin", "sbin"}


def find_executable(command: str, *, path: str | None = None) -> str | None:
    """The absolute path of `command` on the supervisor's PATH (as written, links not followed)."""
    found = shutil.which(command, path=path)
    return os.path.abspath(found) if found else None


def is_system_path(path: str) -> bool:
    return any(path == root or path.startswith(root + "/") for root in SYSTEM_DIRS)


def _protected() -> list[Path]:
    return [Path(settings.BASE_DIR).resolve(), Path(settings.VAR_DIR).resolve()]


def _shebang_interpreter(executable: str) -> str | None:
    try:
        with open(executable, "rb") as file:
            first = file.readline(256)
    except OSError:
        return None
    if not first.startswith(b"#!"):
        return None
    words = first[2:].decode(errors="replace").split()
    if not words:
        return None
    if os.path.basename(words[0]) == "env":
        program = next((w for w in words[1:] if not w.startswith("-")), None)
        return find_executable(program) if program else None
    return words[0]


def _venv_home(prefix: str) -> str | None:
    try:
        lines = Path(prefix, "pyvenv.cfg").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        key, _, value = line.partition("=")
        if key.strip() == "home" and value.strip():
            return value.strip()
    return None


def _binding(executable: str) -> str | None:
    """What to bind for one executable: its prefix, the file alone, or nothing (a system path)."""
    if is_system_path(executable):
        return None
    directory = os.path.dirname(executable)
    prefix = os.path.dirname(directory) if os.path.basename(directory) in _BIN_DIRS else directory
    resolved = Path(prefix).resolve()
    if prefix == "/" or any(p == resolved or resolved in p.parents for p in _protected()):
        return executable
    return prefix


def toolchain_paths(executable: str) -> list[str]:
    """Paths (as the command sees them) to bind read-only so that `executable` runs."""
    candidates = [executable, os.path.realpath(executable)]
    interpreter = _shebang_interpreter(candidates[1])
    if interpreter:
        candidates += [interpreter, os.path.realpath(interpreter)]
    paths: list[str] = []
    for candidate in candidates:
        binding = _binding(candidate)
        if binding is None or binding in paths:
            continue
        paths.append(binding)
        home = _venv_home(binding) if os.path.isdir(binding) else None
        if home:
            base = _binding(os.path.join(os.path.realpath(home), "python"))
            if base and base not in paths:
                paths.append(base)
    return paths
