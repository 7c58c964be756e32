"""``python -m kernel`` is the same as ``huhang``."""

import sys

from kernel.cli.main import main

sys.exit(main())
