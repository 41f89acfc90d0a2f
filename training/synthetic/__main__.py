"""``python -m training.synthetic``: see ``training.synthetic.cli``."""
import sys

from training.synthetic.cli import main

sys.exit(main())
