"""glasskit: LAMMPS glass campaigns at HPC scale."""
__version__ = "0.1.0"
