"""``python -m sora2pro``: the command line."""

import sys

from sora2pro._cli import main

sys.exit(main())
