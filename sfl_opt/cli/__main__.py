"""``python -m sfl_opt.cli ...`` is ``sfl-opt ...``."""

import sys

from .main import main

sys.exit(main())
