"""Module paths before the packages of 0.1 (``glasskit.submit``, ``glasskit.ml.objective``...).

Pickles name the module of their class: submitit job folders (a requeued training run, a search
worker) and a search's domain in a MongoDB store written before the move. This finder maps an
old name to its new module when something imports it, so those pickles load; nothing is
imported until then. New code never uses the old names.
"""
from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys

MOVED = {
    "glasskit.errors": "glasskit.util.errors", "glasskit.log": "glasskit.util.log",
    "glasskit.paths": "glasskit.util.paths", "glasskit.tomlfile": "glasskit.util.tomlfile",
    "glasskit.render": "glasskit.util.render", "glasskit.outputs": "glasskit.util.outputs",
    "glasskit.mpi": "glasskit.util.mpi", "glasskit.arrayspec": "glasskit.util.arrayspec",
    "glasskit.plotting": "glasskit.util.plotting", "glasskit.spec": "glasskit.campaign.spec",
    "glasskit.seeds": "glasskit.campaign.seeds", "glasskit.shard": "glasskit.campaign.shard",
    "glasskit.sharding": "glasskit.campaign.sharding", "glasskit.status": "glasskit.campaign.status",
    "glasskit.store": "glasskit.campaign.store", "glasskit.verify": "glasskit.campaign.verify",
    "glasskit.engine": "glasskit.stages.engine", "glasskit.simulate": "glasskit.stages.simulate",
    "glasskit.minimize": "glasskit.stages.minimize", "glasskit.run": "glasskit.stages.task",
    "glasskit.taskcli": "glasskit.stages.taskcli", "glasskit.cluster": "glasskit.batch.cluster",
    "glasskit.bill": "glasskit.batch.bill", "glasskit.executors": "glasskit.batch.executors",
    "glasskit.submit": "glasskit.batch.submit", "glasskit.project": "glasskit.batch.project",
    "glasskit.datasets": "glasskit.data.datasets", "glasskit.images": "glasskit.data.images",
    "glasskit.graphs": "glasskit.data.graphs", "glasskit.structure": "glasskit.data.structure",
    "glasskit.artificial": "glasskit.data.artificial",
    "glasskit.ml.cnn": "glasskit.ml.nets.cnn", "glasskit.ml.dmpnn": "glasskit.ml.nets.dmpnn",
    "glasskit.ml.featurize": "glasskit.ml.nets.featurize",
    "glasskit.ml.objective": "glasskit.ml.search.objective", "glasskit.ml.worker": "glasskit.ml.search.worker",
    "glasskit.ml.triallog": "glasskit.ml.search.triallog",
    "glasskit.ml.mongoserver": "glasskit.ml.search.mongoserver",
    "glasskit.ml.mongoexp4": "glasskit.ml.search.mongoexp4", "glasskit.ml.tune": "glasskit.ml.search.tune",
}
# glasskit.campaign (the old module of class Campaign) and glasskit.ml.search (the old driver
# module) are packages now: their faces stay light, so a pickle of those two is not mapped


class _Alias(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, name, path=None, target=None):
        if name in MOVED:
            return importlib.util.spec_from_loader(name, self)
        return None

    def create_module(self, spec):
        return importlib.import_module(MOVED[spec.name])

    def exec_module(self, module):
        pass  # the new module is already executed; the import system files it under the old name too


def install() -> None:
    if not any(isinstance(f, _Alias) for f in sys.meta_path):
        sys.meta_path.append(_Alias())
