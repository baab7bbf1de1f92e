"""An EMT calculator whose process dies on silver (for the worker-death test of anncli label)."""

import os

from ase.calculators.emt import EMT


class CrashOnSilver(EMT):
    def calculate(self, atoms=None, properties=("energy",), system_changes=()):
        if "Ag" in atoms.get_chemical_symbols():
            os._exit(3)  # no exception, no cleanup: as a segfault
        super().calculate(atoms, properties, system_changes)
