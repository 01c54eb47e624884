"""The learning half of glasskit: liquid-vs-glass classifiers on the campaign's frames.

One module per concept: :mod:`~glasskit.ml.config` (``jobs/models.toml``), :mod:`~.featurize`
(window graphs), :mod:`~.samples` (a dataset's samples and the inputs made from them at load
time), :mod:`~.cnn` and :mod:`~.dmpnn` (plain ``torch.nn.Module`` models), :mod:`~.train` (one
run, on one process or as a DDP rank), :mod:`~.launch` (submitit jobs, local or Slurm),
:mod:`~.submit` and :mod:`~.cv` (``glasskit submit train|cv``), :mod:`~.runs` (run directories and
their state), :mod:`~.inference` and :mod:`~.timing` (for analysis/ and bench/). It imports the
campaign store, never the other way round, and needs neither LAMMPS nor MPI.
"""
