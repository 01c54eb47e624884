"""glasskit: LAMMPS glass campaigns at HPC scale.

The packages follow the pipeline: :mod:`~glasskit.util` (plumbing), :mod:`~glasskit.campaign`
(the campaign on disk and its state), :mod:`~glasskit.stages` (what runs on a node),
:mod:`~glasskit.batch` (getting it onto Slurm or this machine), :mod:`~glasskit.data` (the
paper's datasets), :mod:`~glasskit.ml` (the classifiers and their searches); :mod:`~glasskit.cli`
parses and calls them. Importing this package imports nothing heavy.
"""
__version__ = "0.1.0"
__all__ = ["open_campaign", "__version__"]


def __getattr__(name):  # the post-hoc reader at the top, imported when first asked for
    if name == "open_campaign":
        from glasskit.campaign.store import open_campaign
        return open_campaign
    raise AttributeError(f"module 'glasskit' has no attribute {name!r}")


from ._moved import install as _install_moved  # noqa: E402

_install_moved()
