import sys

from glasskit.cli import main

sys.exit(main())
