"""``python -m anncli`` runs the command-line interface."""

from anncli.cli import main

if __name__ == "__main__":
    main()
