"""Shared plumbing with no physics and no scheduler: errors, logging, package data paths,
settings files, Jinja2 rendering, safe output files, the MPI world, array specs, figures."""
