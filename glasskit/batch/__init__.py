"""Getting work onto Slurm or this machine: cluster profiles, the bill, executors, the
``submit`` of the simulation stages, and ``glasskit init``."""
