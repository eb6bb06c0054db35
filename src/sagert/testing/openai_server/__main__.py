"""`python -m sagert.testing.openai_server --port 0 ...`: see the package docstring."""

import sys

from sagert.testing.openai_server.cli import main

sys.exit(main())
