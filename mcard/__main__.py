"""``python -m mcard``: the ``mcard`` command line."""

import sys

from mcard.cli import main

sys.exit(main())
