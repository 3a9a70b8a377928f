"""``python -m astrofm.cli``: the ``astrofm`` console script."""

import sys

from astrofm.cli import main

sys.exit(main())
