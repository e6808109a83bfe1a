"""The container image (Dockerfile) and the compose topology (deploy/compose.yaml, deploy/Caddyfile)
checked without Docker: each process runs what deploy/Procfile runs for its role, every variable
is a setting of .env.example, the image runs as a user other than root with no compiler, the
health checks ask paths the application serves, migrations run before anything else starts, and
the proxy forwards to the web workers with the header PROXY_TLS_HEADER makes Django trust."""

import ipaddress
import os
import re
import shlex
import subprocess
import sys
from urllib.parse import urlsplit

import httpx
import pytest
from django.test import RequestFactory, override_settings

from audit import health_view
from tests.support import deploy_files
from tests.support.deploy_files import ROOT, SHELL_VARIABLE

IMAGE = "gatehouse:latest"
# The Procfile role each service of the image plays; migrate is `make run-prod`'s first step.
ROLES = {"web": "web", "worker": "worker", "beat": "beat", "supervisor": "supervisor"}
BUILD_TOOLS = ("build-essential", "gcc", "g++", "make", "-dev ", "pkg-config")


@pytest.fixture(scope="module")
def stages():
    return deploy_files.dockerfile_stages()


@pytest.fixture(scope="module")
def topology():
    return deploy_files.compose()


@pytest.fixture(scope="module")
def gatehouse_services(topology):
    """The services that run the Gatehouse image, with the anchors merged in."""
    services = {
        name: service
        for name, service in topology["services"].items()
        if service.get("image") == IMAGE
    }
    assert set(services) == {"migrate", *ROLES}, sorted(services)
    return services


def _image_environment(stages) -> dict[str, str]:
    pairs = " ".join(stages[-1].all("ENV"))
    return dict(re.findall(r"([A-Z][A-Z0-9_]*)=(\S+)", pairs))


def _healthcheck_urls(test) -> list[str]:
    text = test if isinstance(test, str) else " ".join(test)
    return re.findall(r"https?://[^\s'\"]+", text)


# The image


def test_the_image_is_built_in_stages_from_the_lockfile(stages):
    assert len(stages) >= 2
    for stage in stages:
        version = re.fullmatch(r"python:3\.(\d+)-slim(?:-\w+)?", stage.base)
        assert version and int(version[1]) >= 11, stage.base
    build, runtime = stages[0], stages[-1]
    wheels = " ".join(build.all("RUN"))
    assert "pip wheel" in wheels and "--constraint requirements.lock" in wheels
    assert any("requirements.lock" in copied for copied in build.all("COPY"))
    # The runtime installs the build stage's wheels and nothing from an index.
    installs = [run for run in runtime.all("RUN") if "pip install" in run]
    assert installs and all("--no-index" in run for run in installs)
    assert all(f"from={build.name}" in run for run in installs)


def test_the_runtime_stage_has_no_build_tools(stages):
    runtime = stages[-1]
    for run in runtime.all("RUN"):
        assert "apt-get install" not in run, run
        assert not any(tool in run for tool in BUILD_TOOLS), run
    assert any(tool in " ".join(stages[0].all("RUN")) for tool in BUILD_TOOLS)


def test_the_image_runs_as_a_user_other_than_root(stages):
    runtime = stages[-1]
    keywords = [keyword for keyword, _ in runtime.instructions]
    user = runtime.last("USER")
    assert user not in ("root", "0") and not user.startswith(("root:", "0:"))
    # Nothing after USER switches back, and the process starts after it.
    assert keywords.index("USER") < keywords.index("CMD")
    created = " ".join(runtime.all("RUN"))
    uid = re.search(rf"useradd .*--uid (\d+)\b.* {re.escape(user)}\b", created)
    assert uid and int(uid[1]) > 0, created


def test_static_files_are_collected_at_build_as_the_runtime_user(stages):
    runtime = stages[-1]
    keywords = [keyword for keyword, _ in runtime.instructions]
    collects = [
        index
        for index, (keyword, rest) in enumerate(runtime.instructions)
        if keyword == "RUN" and "manage.py collectstatic --no-input" in rest
    ]
    assert collects and collects[0] > keywords.index("USER")
    # A key of its own: a generated one would be written into the image.
    assert "SECRET_KEY=" in runtime.instructions[collects[0]][1]


def test_collecting_static_files_as_the_image_does_writes_nothing_else(stages, tmp_path):
    run = next(rest for key, rest in stages[-1].instructions if "collectstatic" in rest)
    words = shlex.split(run)
    assignments = dict(word.split("=", 1) for word in words if re.match(r"[A-Z_]+=", word))
    command = [word for word in words if not re.match(r"[A-Z_]+=", word)]
    assert command[:2] == ["python", "manage.py"]
    # The build's environment: none of this machine's settings, the image's and the RUN's own.
    environment = {
        name: value
        for name, value in os.environ.items()
        if name not in ("SECRET_KEY", "DATABASE_URL", "REDIS_URL")
    }
    environment.update(_image_environment(stages), **assignments)
    environment["GATEHOUSE_VAR_DIR"] = str(tmp_path)
    done = subprocess.run(
        [sys.executable, *command[1:]],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr
    # No generated secret key, database or anything but the static files in the image's var dir.
    assert sorted(path.name for path in tmp_path.iterdir()) == ["static"]
    assert (tmp_path / "static" / "console").is_dir()


def test_the_image_serves_the_web_process_of_the_procfile_with_a_healthcheck(stages):
    runtime = stages[-1]
    command = deploy_files.unwrapped_command(deploy_files.exec_form(runtime.last("CMD")))
    procfile = deploy_files.procfile()
    pinned = _image_environment(stages)
    assert deploy_files.command_matches(procfile["web"], command, pinned=pinned) == ""
    port = re.search(r"--port (\d+)", command)[1]
    assert runtime.last("EXPOSE") == port

    healthcheck = runtime.last("HEALTHCHECK")
    assert "--interval=" in healthcheck and " CMD " in f" {healthcheck}"
    (url,) = _healthcheck_urls(healthcheck)
    assert urlsplit(url).path == "/healthz" and urlsplit(url).port == int(port)


def test_the_build_context_leaves_out_local_state_but_not_the_source():
    ignored = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    for local in (".env", ".git", ".venv", "var", "node_modules"):
        assert local in ignored, local
    needed = ["manage.py", "requirements.lock", "pyproject.toml", "templates", "static"]
    needed += [package.rstrip("*") for package in _packages()]
    for path in needed:
        assert (ROOT / path).exists(), path
        assert path not in ignored, f".dockerignore leaves out {path}"
    copied = " ".join(deploy_files.dockerfile_stages()[0].all("COPY"))
    for package in _packages():
        assert re.search(rf"\b{package.rstrip('*')} {package.rstrip('*')}\b", copied), package


def _packages() -> list[str]:
    text = (ROOT / "pyproject.toml").read_text()
    block = text.split("[tool.setuptools.packages.find]", 1)[1].split("]", 1)[0]
    return re.findall(r'"([a-z]+)\*"', block)


# The compose topology


def test_every_process_runs_its_procfile_command(gatehouse_services, stages):
    procfile = deploy_files.procfile()
    assert set(ROLES.values()) == set(procfile), "a Procfile role without its service"
    for service, role in ROLES.items():
        definition = gatehouse_services[service]
        pinned = {**_image_environment(stages), **definition["environment"]}
        why = deploy_files.command_matches(procfile[role], definition["command"], pinned=pinned)
        assert why == "", f"{service}: {why}"


def test_migrations_run_as_make_run_prod_runs_them(gatehouse_services):
    (migrate,) = [
        line for line in deploy_files.makefile_recipe("run-prod") if "manage.py migrate" in line
    ]
    assert gatehouse_services["migrate"]["command"] == migrate
    assert gatehouse_services["migrate"]["restart"] == "no"


def test_migrate_completes_before_any_other_process_starts(gatehouse_services, topology):
    for name, service in gatehouse_services.items():
        if name == "migrate":
            assert service["depends_on"]["postgres"]["condition"] == "service_healthy"
            continue
        condition = service["depends_on"]["migrate"]["condition"]
        assert condition == "service_completed_successfully", name
    proxy = topology["services"]["proxy"]
    assert proxy["depends_on"]["web"]["condition"] == "service_healthy"


def test_every_awaited_service_has_a_healthcheck_on_something_real(topology, stages):
    services = topology["services"]
    image_check = stages[-1].last("HEALTHCHECK")
    awaited = {
        dependency
        for service in services.values()
        for dependency, how in (service.get("depends_on") or {}).items()
        if how["condition"] == "service_healthy"
    }
    assert {"postgres", "redis", "web"} <= awaited
    for name in awaited:
        check = services[name].get("healthcheck", {})
        assert not check.get("disable"), name
        assert check.get("test") or (services[name].get("image") == IMAGE and image_check), name
    # Processes that are no web server do not inherit the image's check of port 8000.
    for name in ("worker", "beat", "supervisor"):
        test = services[name]["healthcheck"]["test"]
        assert not _healthcheck_urls(test), f"{name} would be judged by the web port"


def test_healthchecks_ask_paths_the_application_serves(topology, stages, gateway_base):
    web_port = re.search(r"--port (\d+)", topology["services"]["web"]["command"])[1]
    urls = _healthcheck_urls(stages[-1].last("HEALTHCHECK"))
    for service in topology["services"].values():
        urls += _healthcheck_urls(service.get("healthcheck", {}).get("test", ""))
    assert len(urls) >= 2
    for url in urls:
        parts = urlsplit(url)
        assert parts.path in health_view.PATHS, url
        assert str(parts.port) == web_port, url
        # The running application answers it from the health view, not Django's 404.
        answer = httpx.get(gateway_base + parts.path, timeout=10)
        assert answer.status_code in (200, 503), (url, answer.status_code)
        assert answer.headers["content-type"].startswith("text/plain")
        assert answer.text.split(":")[0].strip() in (
            "ok",
            "ready",
            "starting",
            "behind",
            "unavailable",
        )


def test_every_variable_is_a_setting_of_env_example(gatehouse_services):
    listed = deploy_files.env_example_names()
    used = {match[1] for match in SHELL_VARIABLE.finditer(deploy_files.compose_text())}
    caddyfile = (ROOT / "deploy" / "Caddyfile").read_text()
    used |= set(deploy_files.CADDY_VARIABLE.findall(caddyfile))
    for service in gatehouse_services.values():
        used |= set(service["environment"])
    assert {"SECRET_KEY", "DATABASE_URL", "PROXY_TLS_HEADER", "WEB_WORKERS"} <= used
    assert not used - listed, f".env.example lacks {sorted(used - listed)}"


def test_every_gatehouse_process_shares_the_secrets_and_the_services(gatehouse_services):
    for name, service in gatehouse_services.items():
        assert service["env_file"] == "../.env", name
        environment = service["environment"]
        # Required, not generated: a key per container would break sessions and the supervisor.
        assert re.fullmatch(r"\$\{SECRET_KEY:\?[^}]+\}", environment["SECRET_KEY"]), name
        # Interpolated as compose does: `${NAME:?message}` would read as a query string.
        database, redis = (
            urlsplit(SHELL_VARIABLE.sub("secret", environment[key]))
            for key in ("DATABASE_URL", "REDIS_URL")
        )
        assert (database.scheme, database.hostname, database.password) == (
            "postgres",
            "postgres",
            "secret",
        )
        assert (redis.scheme, redis.hostname, redis.password) == ("redis", "redis", "secret")
        assert "CELERY_TASK_ALWAYS_EAGER" not in environment


def test_the_supervisor_is_on_the_web_workers_loopback(gatehouse_services):
    supervisor = gatehouse_services["supervisor"]
    assert supervisor["network_mode"] == "service:web"
    # The web workers and the supervisor are told the same address, a loopback one.
    address = supervisor["environment"]["MANAGED_SUPERVISOR_URL"]
    assert gatehouse_services["web"]["environment"]["MANAGED_SUPERVISOR_URL"] == address
    assert ipaddress.ip_address(urlsplit(address).hostname).is_loopback
    port = urlsplit(address).port
    assert f"('127.0.0.1', {port})" in " ".join(supervisor["healthcheck"]["test"])


def test_the_proxy_forwards_to_the_web_workers(topology, gatehouse_services):
    (site,) = deploy_files.caddy_sites()
    proxies = [words for words in site.directives if words[0] == "reverse_proxy"]
    assert len(proxies) == 1 and len(proxies[0]) == 2, proxies
    host, port = proxies[0][1].split(":")
    web = gatehouse_services["web"]
    assert host == "web" and host in topology["services"]
    assert re.search(rf"--host 0\.0\.0\.0 --port {port}\b", web["command"])
    assert ["flush_interval", "-1"] in site.directives
    # The proxy is the one address the web workers believe about the client.
    proxy_address = topology["services"]["proxy"]["networks"]["default"]["ipv4_address"]
    (subnet,) = topology["networks"]["default"]["ipam"]["config"]
    assert ipaddress.ip_address(proxy_address) in ipaddress.ip_network(subnet["subnet"])
    trusted = web["environment"]["TRUSTED_PROXIES"].split(",")
    assert any(
        ipaddress.ip_address(proxy_address) in ipaddress.ip_network(entry, strict=False)
        for entry in trusted
    )


def test_the_proxy_sets_the_header_django_trusts_for_https(gatehouse_services, tmp_path):
    (site,) = deploy_files.caddy_sites()
    header = gatehouse_services["web"]["environment"]["PROXY_TLS_HEADER"]
    set_up = [words for words in site.directives if words[:2] == ["header_up", header]]
    # Set from the connection (replacing what a client sent), to "https" over TLS.
    assert set_up == [["header_up", header, "{scheme}"]]

    trusted = _secure_proxy_ssl_header(header, tmp_path)
    factory = RequestFactory()
    with override_settings(SECURE_PROXY_SSL_HEADER=trusted):
        assert factory.get("/", headers={header: "https"}).is_secure()
        assert not factory.get("/", headers={header: "http"}).is_secure()
        assert not factory.get("/", headers={"X-Forwarded-Ssl": "on"}).is_secure()


def _secure_proxy_ssl_header(header: str, var_dir) -> tuple[str, str]:
    """What config/settings.py makes of PROXY_TLS_HEADER, in a process of its own."""
    run = subprocess.run(
        [
            sys.executable,
            "-c",
            "import django; django.setup(); from django.conf import settings; "
            "print(*settings.SECURE_PROXY_SSL_HEADER)",
        ],
        cwd=ROOT,
        env={
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "GATEHOUSE_VAR_DIR": str(var_dir),
            "PROXY_TLS_HEADER": header,
        },
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    name, value = run.stdout.split()
    return name, value
