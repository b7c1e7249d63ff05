import sys

from hpc_nc.cli import main

sys.exit(main())
