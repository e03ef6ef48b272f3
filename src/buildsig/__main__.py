"""``python -m buildsig``: the same as the ``buildsig`` command."""

import sys

from buildsig.cli import main

sys.exit(main())
