"""Feedforward networks: activations, one network per species, batched evaluation.

Public names: :class:`Network`, :class:`SpeciesNetworks`, :class:`Batch`,
:data:`ACTIVATIONS`, :func:`activate`, :func:`canonical_name`.
"""

from anncli.network.activations import ACTIVATIONS, activate, canonical_name
from anncli.network.mlp import Network, init_network_params
from anncli.network.species import Batch, ForceBatch, SpeciesNetworks

__all__ = ["ACTIVATIONS", "Batch", "ForceBatch", "Network", "SpeciesNetworks", "activate", "canonical_name",
           "init_network_params"]
