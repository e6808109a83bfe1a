""".env.example names every setting config/settings.py reads from the environment."""

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
READERS = {"os.environ.get", "os.getenv", "env_bool", "env_list"}


def _read_by_settings() -> set[str]:
    tree = ast.parse((ROOT / "config" / "settings.py").read_text())
    return {
        node.args[0].value
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and ast.unparse(node.func) in READERS
        and node.args
        and isinstance(node.args[0], ast.Constant)
    }


def test_every_setting_is_in_env_example():
    listed = set(re.findall(r"^# ([A-Z][A-Z0-9_]*)=", (ROOT / ".env.example").read_text(), re.M))
    missing = _read_by_settings() - listed
    assert not missing, f".env.example lacks {sorted(missing)}"
    assert "DATABASE_URL" in listed
