"""Reference calculations ("labelling") of structures with ASE calculators or external codes.

* :mod:`anncli.labelling.methods` — how one structure is computed: an ASE calculator named in
  the input (:class:`CalculatorMethod`) or a command driven by files (:class:`CommandMethod`);
* :mod:`anncli.labelling.runner` — many structures, in parallel, restartable:
  :func:`label_structures`;
* :mod:`anncli.labelling.inputs` — reading structure files as :class:`ase.Atoms` with their
  ``info`` (provenance such as ``kind`` and ``parent`` from ``anncli sample``).

``anncli label`` (:mod:`anncli.workflows.label`) is the command-line twin of
:func:`label_structures`; the active-learning loop calls the function directly.
"""

from __future__ import annotations

from anncli.labelling.methods import CalculatorMethod, CommandMethod, calculator_class, method_from_config
from anncli.labelling.runner import LabelResult, label_structures, structure_key

__all__ = ["CalculatorMethod", "CommandMethod", "calculator_class", "method_from_config", "LabelResult",
           "label_structures", "structure_key"]
