"""``python -m licelpush`` runs the command line."""

import sys

from licelpush.cli import main

sys.exit(main())
