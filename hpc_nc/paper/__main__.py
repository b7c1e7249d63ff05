"""``python -m hpc_nc.paper``: see :mod:`hpc_nc.paper.driver`."""

import sys

from hpc_nc.paper.driver import main

sys.exit(main())
