"""An EMT calculator that fails on structures marked ``poison`` in their info (label failures in the loop)."""

from ase.calculators.emt import EMT


class FailOnPoison(EMT):
    def calculate(self, atoms=None, properties=("energy",), system_changes=()):
        if atoms is not None and atoms.info.get("poison"):
            raise RuntimeError("poisoned structure")
        super().calculate(atoms, properties, system_changes)


class ScaledEMT(EMT):
    """EMT energies, forces and stress times 1.05: a "reference method" that an EMT baseline does not match."""

    def calculate(self, atoms=None, properties=("energy",), system_changes=()):
        super().calculate(atoms, properties, system_changes)
        for key in ("energy", "free_energy", "energies", "forces", "stress"):
            if key in self.results:
                self.results[key] = 1.05 * self.results[key]
