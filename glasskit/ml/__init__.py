"""The learning half of glasskit: liquid-vs-glass classifiers on the campaign's frames.

:mod:`~glasskit.ml.config` (``jobs/models.toml``), :mod:`~.samples` (a dataset's samples and the
inputs made from them at load time), :mod:`~.nets` (the CNN, the D-MPNN and the window graphs
they read), :mod:`~.train` (one run, on one process or as a DDP rank), :mod:`~.launch` (submitit
jobs, local or Slurm), :mod:`~.submit` (one training run's submission), :mod:`~.cv`, :mod:`~.command`
(``glasskit submit train|cv|search``), :mod:`~.status` (its lines of ``glasskit status``),
:mod:`~.runs` (run directories and their state), :mod:`~.files` (run files written whole),
:mod:`~.search` (TPE searches),
:mod:`~.inference` and :mod:`~.timing` (for analysis/ and bench/). It reads the campaign file
(:mod:`glasskit.campaign.store`), never the other way round, and needs neither LAMMPS nor MPI.
"""
