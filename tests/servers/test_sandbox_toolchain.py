"""What of a command's toolchain is bound into the sandbox (servers/supervisor/toolchain.py)."""

import os
from pathlib import Path

from django.conf import settings

from servers.supervisor.toolchain import toolchain_paths


def _executable(path: Path, text: str = "#!/bin/sh\n") -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(0o755)
    return str(path)


def test_a_system_command_needs_nothing_more():
    assert toolchain_paths("/usr/bin/env") == []


def test_a_virtualenv_brings_its_base_python(tmp_path):
    base = tmp_path / "python3.12"
    interpreter = _executable(base / "bin" / "python3.12")
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    os.symlink(interpreter, venv / "bin" / "python")
    (venv / "pyvenv.cfg").write_text(f"home = {base / 'bin'}\n")
    assert toolchain_paths(str(venv / "bin" / "python")) == [str(venv), str(base)]


def test_a_script_brings_the_interpreter_of_its_shebang(tmp_path):
    node = _executable(tmp_path / "node" / "bin" / "node")
    script = _executable(tmp_path / "tools" / "bin" / "server", f"#!{node}\n")
    assert toolchain_paths(script) == [str(tmp_path / "tools"), str(tmp_path / "node")]


def test_a_command_in_the_platforms_own_tree_is_bound_alone():
    command = _executable(Path(settings.VAR_DIR) / "bin" / "server")
    inside_checkout = str(Path(settings.BASE_DIR) / "manage.py")
    assert toolchain_paths(command) == [command]
    # manage.py's `#!/usr/bin/env python` adds that Python's prefix, never the checkout itself.
    bound = toolchain_paths(inside_checkout)
    assert bound[0] == inside_checkout
    assert not any(Path(settings.BASE_DIR).is_relative_to(path) for path in bound)
