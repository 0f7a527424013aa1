"""Entry point: ``python -m berth.shim <state-dir>`` (see berth.shim.main)."""

import sys

from berth.shim.main import main

sys.exit(main())
