"""Running and converting ænet's input files: generate.in, train.in, predict.in.

This module owns what the commands do with an ænet input file once it is read
(:mod:`anncli.io.aenet_inputs`, :mod:`anncli.io.aenet_run_inputs`):

* :func:`load_aenet_config` validates the translation against the stage's schema, as a YAML
  file would be;
* :func:`run_aenet_train` is ``anncli train train.in``: it converts generate.x's training set
  if only that exists, trains, and writes the ``.nn`` files NETWORKS names (as train.x does);
* :func:`convert_aenet_input` is ``anncli convert X.in``: the equivalent YAML input file with a
  comment at every key where anncli behaves differently from ænet (aenet-reference §2).
"""

from __future__ import annotations

import json
import logging
import os
import textwrap
from pathlib import Path

import yaml

from anncli.exceptions import ConfigError, DataError
from anncli.io.aenet_run_inputs import AenetInput, aenet_input_kind, read_predict_in, read_train_in

logger = logging.getLogger(__name__)

__all__ = ["load_aenet_config", "run_aenet_train", "convert_aenet_input", "read_aenet_input"]

#: keys whose values are paths (relative to the input file), per stage
_PATH_KEYS = {"trainset", "output", "structures", "aenet_networks", "model", "output_dir"}


def _generate_input(path: Path, energy_unit: str, length_unit: str) -> AenetInput:
    from anncli.io.aenet_inputs import read_generate_in

    cfg = read_generate_in(path, energy_unit=energy_unit, length_unit=length_unit)
    inp = AenetInput("generate", cfg, path=path)
    inp.note("units", "ænet has no units: those of the structure files (anncli works in eV and Å; the "
                      "setups' lengths below are converted to Å).")
    inp.note("structures", "FILES: may be written in any case (ænet loops forever unless it is upper "
                           "case). XSF files need not hold forces (generate.x aborts without them).")
    inp.note("output", "OUTPUT with suffix .h5: anncli's training set is one HDF5 file "
                       "(docs/trainset-format.md).")
    inp.note("overwrite", "generate.x refuses to overwrite its OUTPUT; so does anncli unless this is true "
                          "(or --overwrite is given).")
    inp.note("descriptors", "The setups of the .stp files. key=value parameters are matched exactly (ænet "
                            "finds 'eta' inside 'zeta'); RMIN is not needed (anncli sizes its neighbour "
                            "lists itself); Behler2011 functions are evaluated for their own species even "
                            "where ænet 2.0.4 swaps the tables (TYPES order differing from ENV order).")
    if cfg.get("derivatives"):
        inp.note("derivatives", "FORCES: the feature derivatives of every structure are stored for force "
                                "training (FORCESPERCENT is ignored; ænet's default is 1 %).")
    return inp


def read_aenet_input(path: str | Path, energy_unit: str = "eV", length_unit: str = "Angstrom") -> AenetInput:
    """Read an ænet generate.in, train.in or predict.in (the kind is told by its keywords).

    ``energy_unit`` and ``length_unit`` are those of the structure files (ænet has none):
    generate.in's setups are converted to Å and both become the ``units`` of generate and
    predict inputs.
    """
    path = Path(path)
    kind = aenet_input_kind(path)
    if kind == "generate":
        return _generate_input(path, energy_unit, length_unit)
    if kind == "train":
        return read_train_in(path)
    if kind == "predict":
        inp = read_predict_in(path)
        if (energy_unit, length_unit) != ("eV", "Angstrom"):
            inp.config["units"] = {"energy": energy_unit, "length": length_unit}
            inp.note("units", "ænet has no units: those of the structure files (anncli converts them "
                              "to eV and Å; the .nn potentials must be in the same units).")
        return inp
    raise ConfigError(f"{path}: not an ænet input file (generate.in with SETUPS, train.in with TRAININGSET, "
                      "predict.in with NETWORKS) nor an ænet training set.")


def load_aenet_config(path: str | Path, stage: str, *, overrides: dict | None = None):
    """The stage config of an ænet input file, validated like a YAML input.

    Returns
    -------
    config, AenetInput
    """
    from anncli.cli._stage import schema_of
    from anncli.config.loader import validate_config

    path = Path(path)
    inp = read_aenet_input(path)
    if inp.stage != stage:
        raise ConfigError(f"{path}: an ænet {inp.stage}.in file, not {stage}.in; run 'anncli {inp.stage} {path}'.")
    data = dict(inp.config, **(overrides or {}))
    config = validate_config(data, schema_of(stage), source=path, base_dir=path.resolve().parent)
    return config, inp


def _aenet_trainset_for(config, inp: AenetInput) -> None:
    """Convert generate.x's TRAININGSET when the .h5 it maps to does not exist."""
    from anncli.io.aenet_trainset import is_aenet_trainset
    from anncli.workflows.convert_trainset import convert_aenet_trainset

    target = Path(config.trainset)
    if target.exists() or not inp.trainingset:
        return
    cand = Path(inp.trainingset)
    cand = cand if cand.is_absolute() else inp.path.resolve().parent / cand
    if cand != target and cand.is_file() and is_aenet_trainset(cand):
        logger.warning("%s: converting ænet's training set %s to %s (anncli reads HDF5)",
                       inp.path, cand, target)
        convert_aenet_trainset(cand, target)


def run_aenet_train(path: str | Path, *, resume: bool = False, overwrite: bool = False) -> int:
    """``anncli train train.in``: train as train.x would, then write NETWORKS' .nn files.

    Returns
    -------
    int
        The exit status (0 on success).
    """
    from anncli.cli._stage import run_stage
    from anncli.parallel.mpi import world

    comm = world()  # MPI: every rank trains; rank 0 converts, checks and writes the .nn files
    path = Path(path)
    with comm.checkpoint():
        config, inp = load_aenet_config(path, "train", overrides={"overwrite": True} if overwrite else None)
        base = path.resolve().parent
        files = {s: (Path(f) if Path(f).is_absolute() else base / f) for s, f in inp.networks_files.items()}
        if comm.root:
            _aenet_trainset_for(config, inp)
            existing = [str(p) for p in files.values() if p.exists()]
            if existing and not (overwrite or resume):
                raise ConfigError(f"{path}: the network file(s) {', '.join(existing)} exist; ænet would restart "
                                  "from them, anncli trains new networks: remove them, or use --overwrite to "
                                  "replace them")
            _check_network_species(config, inp)
    code = run_stage("train", path, load=lambda _schema: config, resume=resume)
    if code != 0:
        return code
    with comm.checkpoint():
        if comm.root:
            _export_networks(Path(config.output), files)
    return 0


def _check_network_species(config, inp: AenetInput) -> None:
    """NETWORKS must name every species of the training set and no other (as train.x needs)."""
    from anncli.exceptions import AnncliError
    from anncli.io.trainset import open_trainset, read_species

    try:
        with open_trainset(config.trainset) as f:
            species = read_species(f)
    except AnncliError:
        return  # the training run reports a missing or bad file itself
    nets = list(inp.networks_files)
    missing = [s for s in species if s not in nets]
    extra = [s for s in nets if s not in species]
    if missing or extra:
        raise ConfigError(
            f"{inp.path}: NETWORKS lists {' '.join(nets)}, the training set {config.trainset} has the species "
            f"{' '.join(species)}; give one NETWORKS line for each of its species")


def _export_networks(model_path: Path, files: dict[str, Path]) -> None:
    """Write the model's networks as the ænet .nn files NETWORKS named."""
    from anncli.io.atomic import atomic_open
    from anncli.potential.aenet_nn_writer import join_records, plan_export
    from anncli.potential.model_file import load_model

    model = load_model(model_path)
    missing = [s for s in model.species if s not in files]
    if missing:
        raise ConfigError(f"NETWORKS has no line for {', '.join(missing)} of the training set")
    for sym in model.species:  # features converted from ænet that anncli cannot compute: say why
        desc = json.loads(model.descriptors[sym])
        if desc.get("kind") == "unavailable":
            raise ConfigError(f"{model_path} is trained and written, but it cannot be written as the ænet "
                              f"potentials NETWORKS names: the descriptor of {sym} cannot be computed by "
                              f"anncli: {desc.get('reason', '')}")
    try:
        plan = plan_export(model)
    except (DataError, ConfigError) as exc:
        raise type(exc)(f"{model_path} is trained and written, but it cannot be written as the ænet "
                        f"potentials NETWORKS names: {exc}") from None
    for sym in model.species:
        with atomic_open(files[sym], "wb") as fh:
            fh.write(join_records(plan.payloads[sym]))
        logger.info("wrote %s (ænet potential of %s)", files[sym], sym)
    logger.info("ænet TYPES order of these potentials: %s", " ".join(plan.types))


# ----------------------------------------------------------------------------- YAML
def _rebase(key: str, value, in_dir: Path, yaml_dir: Path):
    """Paths of the .in (relative to its directory, or absolute) made relative to the YAML's."""
    def one(p):
        if not isinstance(p, str):
            return p
        if os.path.isabs(p):  # generate.in's paths come resolved: relative again if under the .in's dir
            if not Path(p).is_relative_to(in_dir):
                return p
        elif in_dir == yaml_dir:
            return p
        return os.path.relpath(p if os.path.isabs(p) else in_dir / p, yaml_dir)

    if key == "relax" and isinstance(value, dict):
        return {**value, "output": one(value.get("output"))}
    if key not in _PATH_KEYS:
        return value
    if isinstance(value, list):
        return [one(v) for v in value]
    if isinstance(value, dict):
        return {k: one(v) for k, v in value.items()}
    return one(value)


def _comment(text: str) -> str:
    return "\n".join(textwrap.wrap(text, width=96, initial_indent="# ", subsequent_indent="# ")) + "\n"


def to_yaml(inp: AenetInput, yaml_dir: Path) -> str:
    """The YAML text of ``inp``: paths relative to ``yaml_dir``, notes as comments above their keys."""
    in_dir = inp.path.resolve().parent
    out = [f"# anncli {inp.stage} input converted by 'anncli convert' from ænet's {inp.path.name}.\n"
           "# Comments mark where anncli behaves differently from ænet 2.0.4 (docs/aenet-differences.md).\n"]
    out += [_comment(t) for t in inp.notes.get("", [])]
    for key, value in inp.config.items():
        value = _rebase(key, value, in_dir, yaml_dir)
        out.append("\n")
        out += [_comment(t) for t in inp.notes.get(key, [])]
        out.append(yaml.safe_dump({key: value}, sort_keys=False, allow_unicode=True,
                                  default_flow_style=False, width=100))
    return "".join(out)


def convert_aenet_input(path: str | Path, output: str | Path | None = None, *,
                        overwrite: bool = False, energy_unit: str = "eV",
                        length_unit: str = "Angstrom") -> tuple[Path, str]:
    """Write the anncli YAML equivalent of an ænet input file (``anncli convert X.in``).

    Parameters
    ----------
    path : path
        generate.in, train.in or predict.in.
    output : path, optional
        Default: ``path`` with suffix ``.yaml``.
    overwrite : bool
        Replace an existing output.
    energy_unit, length_unit : str
        Units of the structure files (see :func:`read_aenet_input`).

    Returns
    -------
    (Path, str)
        The file written and the stage.

    Raises
    ------
    ConfigError
        An unreadable or unsupported input (naming keyword and line), or an existing output.
    """
    from anncli.cli._stage import schema_of
    from anncli.config.loader import load_config
    from anncli.io.atomic import atomic_path

    path = Path(path)
    inp = read_aenet_input(path, energy_unit, length_unit)
    output = Path(output) if output is not None else path.with_suffix(".yaml")
    if output.resolve() == path.resolve():
        raise ConfigError(f"{output}: the output would replace the input file; give another name with -o")
    if output.exists() and not overwrite:
        raise ConfigError(f"{output}: the output file exists; remove it or use --overwrite")
    if not output.parent.is_dir():
        raise ConfigError(f"{output}: the directory {output.parent} does not exist")
    text = to_yaml(inp, output.resolve().parent)
    with atomic_path(output) as tmp:
        tmp.write_text(text, encoding="utf-8")
        try:  # the YAML must validate as the .in does; nothing is written otherwise
            load_config(tmp, schema_of(inp.stage))
        except ConfigError as exc:  # pragma: no cover - a bug in the conversion
            raise ConfigError(f"{output}: the converted input does not validate ({exc}); please "
                              "report this") from None
    return output, inp.stage
