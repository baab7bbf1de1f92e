"""An EMT calculator that fails on structures marked ``poison`` in their info (label failures in the loop)."""

from ase.calculators.emt import EMT


class FailOnPoison(EMT):
    def calculate(self, atoms=None, properties=("energy",), system_changes=()):
        if atoms is not None and atoms.info.get("poison"):
            raise RuntimeError("poisoned structure")
        super().calculate(atoms, properties, system_changes)
