"""`manage.py check --deploy` in production mode: no security warning left to fix by hand."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _deploy_check(tmp_path, **env) -> str:
    environment = {
        **os.environ,
        "GATEHOUSE_VAR_DIR": str(tmp_path),
        "SECRET_KEY": "a-production-secret-key-" + "x" * 40,
        "DEBUG": "0",
        "ALLOWED_HOSTS": "gatehouse.example.com",
        **env,
    }
    run = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy"],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return run.stdout + run.stderr


def test_production_mode_leaves_no_security_warning(tmp_path):
    output = _deploy_check(
        tmp_path,
        PUBLIC_HTTPS="1",
        PROXY_TLS_HEADER="X-Forwarded-Proto",
        # Choices for the operator to make (every subdomain on https, the browsers' preload
        # list), each with its setting.
        SECURE_HSTS_INCLUDE_SUBDOMAINS="1",
        SECURE_HSTS_PRELOAD="1",
    )
    assert "(security." not in output, output


def test_the_embedded_mode_still_names_what_production_needs(tmp_path):
    output = _deploy_check(tmp_path)
    for check in ("security.W004", "security.W008", "security.W012", "security.W016"):
        assert check in output, output


def test_a_redirect_without_the_proxy_header_or_a_mangled_header_is_refused(tmp_path):
    assert "SECURE_SSL_REDIRECT needs PROXY_TLS_HEADER" in _deploy_check(
        tmp_path, PUBLIC_HTTPS="1", SECURE_SSL_REDIRECT="1"
    )
    assert "names the header as sent" in _deploy_check(
        tmp_path, PROXY_TLS_HEADER="HTTP_X_FORWARDED_PROTO"
    )
    # PUBLIC_HTTPS alone: secure cookies and HSTS, no redirect that could loop.
    assert "security.W008" in _deploy_check(tmp_path, PUBLIC_HTTPS="1")
