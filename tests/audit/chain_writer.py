"""A separate writer process for the chain tests: `python -m tests.audit.chain_writer WS N`.

It writes N calls (4 hops each) to workspace id WS, one small transaction per call, through the
same code the writer thread runs, so two of these interleave their appends to one chain.
"""

import os
import sys

import django


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    django.setup()
    from audit.log.recorder import write_entries
    from teams.models import Workspace
    from tests.support.audit_entries import call_hops

    workspace = Workspace.objects.get(pk=int(sys.argv[1]))
    for _ in range(int(sys.argv[2])):
        write_entries(call_hops(workspace))


if __name__ == "__main__":
    main()
