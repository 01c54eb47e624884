"""Post-hoc figures of the paper from a campaign's HDF5 and its trained models, one module per
figure or table. Each is a script with a ``main(argv)`` that writes PNG, PDF and a tidy CSV:
``glasskit figure NAME [ARGS]`` (or ``python -m glasskit.analysis.NAME``, or from a checkout
``python analysis/NAME.py``) runs it from an installed wheel as from a checkout.

:data:`FIGURES` names them; :data:`LEARNING` are those that read trained models (the [ml]
extra: torch), the others need the campaign file only.
"""
FIGURES = {
    "rdf": "partial RDFs g_AA, g_AB, g_BB of a dataset's two classes (SI Figs 1-2)",
    "ise": "inherent-structure energies: statistics, histogram, E_IS(T) with T_g",
    "graph_metrics": "neighbour-graph metrics against temperature with T_g (Fig 7)",
    "fivefold": "artificial n-fold-symmetry configurations (SI Fig 4)",
    "accuracy": "accuracy and AUC per dataset, CNN vs D-MPNN (Fig 5)",
    "attention": "self-attention overlays and counts of a trained D-MPNN (Fig 6)",
    "feature_maps": "CNN feature maps of a liquid and a glass (Fig 3)",
    "nfold_verdict": "the CNN's verdict on n-fold-symmetry configurations (Fig 4)",
    "search": "hyperparameter searches: every trial, the best so far, each hyperparameter",
    "training_time": "D-MPNN training time against system size, Models I-III (Fig 8)",
    "transfer": "train on dataset i, test on dataset j: the AUC matrix",
}
LEARNING = {"accuracy", "attention", "feature_maps", "nfold_verdict", "search", "training_time", "transfer"}
