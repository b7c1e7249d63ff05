"""hpc_nc: atomistic tight-binding of alloyed core/shell nanocrystals (ZnCuInS/ZnS).

Units everywhere: energies in eV, lengths in Angstrom (job files may give radii in lattice
constants), force constants in N/m, elastic constants in GPa.
"""

__version__ = "0.2.0"
