"""``python -m anncli.lammps SCRIPT MODEL --types ...``: the same as ``anncli lammps``."""

import sys

from anncli.cli import main, set_openmp_wait_policy

if __name__ == "__main__":
    set_openmp_wait_policy()
    sys.exit(main(["lammps", *sys.argv[1:]]))
