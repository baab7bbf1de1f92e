"""Training of per-species networks: data, normalisation, split, optimisers, epoch loop.

Public names: :class:`TrainingData`, :func:`load_training_data`, :class:`Normalization`,
:func:`compute_normalization`, :class:`TrainingInterrupted`.  The workflow that assembles a
run from an input file is :func:`anncli.workflows.train.run`.
"""

from anncli.training.data import Normalization, TrainingData, load_training_data
from anncli.training.normalization import compute_normalization
from anncli.training.trainer import TrainingInterrupted

__all__ = ["Normalization", "TrainingData", "TrainingInterrupted", "compute_normalization",
           "load_training_data"]
