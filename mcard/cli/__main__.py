import sys

from mcard.cli import main

sys.exit(main())
