"""``python -m arwsv`` is the ``arwsv`` command."""

import sys

from arwsv.cli import main

if __name__ == "__main__":
    sys.exit(main())
