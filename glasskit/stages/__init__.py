"""What runs on a node: the LAMMPS engine, the cooling runs (simulate), the inherent
structures (minimize) and the array-task runner that writes their shards."""
