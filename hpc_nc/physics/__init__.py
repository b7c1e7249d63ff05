"""physics layer of hpc_nc (see README, Layout)."""
