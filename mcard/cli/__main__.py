import sys

from mcard.command import main

sys.exit(main())
