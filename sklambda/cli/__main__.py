"""`python -m sklambda.cli ...`, the same as the `sklambda` console script."""

import sys

from sklambda.cli import main

sys.exit(main())
