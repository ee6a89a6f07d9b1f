"""``python -m ppml_lab.fl.deploy``: see :mod:`ppml_lab.fl.deploy.cli`."""

import sys

from ppml_lab.fl.deploy.cli import main

if __name__ == "__main__":
    sys.exit(main())
