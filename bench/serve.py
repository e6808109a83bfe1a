"""uvicorn serving one checkout of the platform, and recording where its code was imported from.

The benchmark can serve two checkouts side by side (this one and a baseline) from one
virtualenv, in which this checkout is also installed in editable mode: a finder that would
quietly hand a baseline process this checkout's modules if its own tree were missing from the
path. So each served process writes, once its application is loaded, the file of every module
it imported from outside the interpreter's own directories, and the run checks that list before
measuring. Everything after the first two arguments goes to uvicorn unchanged.

usage: serve.py RECORD_PATH APP [UVICORN_OPTIONS...]
"""

import json
import os
import sys
import threading
import time
from pathlib import Path


def imported_files() -> list[str]:
    """Files of the loaded modules, leaving out this script and the interpreter's own: the
    standard library and the virtualenv's packages."""
    own = tuple(
        os.path.join(os.path.realpath(p), "")
        for p in {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}
    )
    files = set()
    # A copy, taken in one step: the main thread may still be importing.
    for module in sys.modules.copy().values():
        file = getattr(module, "__file__", None)
        path = os.path.realpath(file) if file else ""
        if path and path != os.path.realpath(__file__) and not path.startswith(own):
            files.add(path)
    return sorted(files)


def record_when_loaded(record: Path, app: str) -> None:
    """Write the record once the module named in `app` has finished importing.

    uvicorn imports the application inside its own event loop; waiting for it here, rather than
    importing it ahead of uvicorn, leaves the served process exactly as uvicorn alone makes it.
    """
    module_name, _, attribute = app.partition(":")
    while not hasattr(sys.modules.get(module_name), attribute):
        time.sleep(0.05)
    partial = record.with_name(record.name + ".partial")
    partial.write_text(json.dumps({"pid": os.getpid(), "files": imported_files()}))
    partial.replace(record)


if __name__ == "__main__":
    record, app, options = Path(sys.argv[1]), sys.argv[2], sys.argv[3:]
    # The script's own directory (bench/) goes first on the path; it is no part of the
    # platform, and its modules must not shadow the checkout's (`--app-dir` names the tree).
    sys.path.pop(0)
    threading.Thread(target=record_when_loaded, args=(record, app), daemon=True).start()

    from uvicorn.main import main

    sys.argv = ["uvicorn", app, *options]
    main()
