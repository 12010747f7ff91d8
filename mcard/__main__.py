"""``python -m mcard``: the ``mcard`` command line."""

import sys

from mcard.command import main

sys.exit(main())
