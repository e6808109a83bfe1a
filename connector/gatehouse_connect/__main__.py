"""`python -m gatehouse_connect` runs the connector."""

import sys

from gatehouse_connect.cli import main

sys.exit(main())
