"""``python -m skfairmask``: the same as the ``skfairmask`` command."""

import sys

from .cli import main

sys.exit(main())
