"""``python -m winwin`` and ``torchrun ... -m winwin train ...``: the ``winwin`` command."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
