import sys

from cogito.cli import main

sys.exit(main())
