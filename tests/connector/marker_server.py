"""A "server" that only creates the file named by its argument: proof that it ran."""

import sys
from pathlib import Path

Path(sys.argv[1]).write_text("ran")
