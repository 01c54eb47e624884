"""Hyperparameter search: the TPE driver, the objective (one training run per trial), the
workers, the trial log of record, the MongoDB-wire server and hyperopt's mongoexp on pymongo 4,
and the tuner that nested cross-validation calls."""
