"""``python -m simulator.study SPEC``: see ``simulator.study.cli``."""
import sys

from simulator.study.cli import main

sys.exit(main())
