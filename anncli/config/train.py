"""The schema of the ``anncli train`` input file (see ``example_inputs/train.yaml``).

:class:`TrainConfig` is the single source of truth for the keys, their types, defaults and
documentation.  Cross-field checks (validation split given one way only, the network spec of
every species parses) run after the individual values are valid.
"""

from __future__ import annotations

from typing import Annotated, Literal, Optional, Union

from pydantic import Field, field_validator, model_validator

from anncli.config.base import Bool, Float, InputPath, Int, Section, SectionError, Str

__all__ = ["TrainConfig", "Committee", "NetworkSpec", "EarlyStopping", "Schedule", "LbfgsOptions",
           "AdamOptions", "SgdOptions", "EkfOptions"]

PositiveFloat = Annotated[Float, Field(gt=0)]
PositiveInt = Annotated[Int, Field(gt=0)]


class NetworkSpec(Section):
    """Hidden layers of one species' network (the input and the linear output are added)."""

    hidden: Optional[list[PositiveInt]] = Field(
        None, description="Nodes of every hidden layer, e.g. [15, 15]; [] for a linear model.")
    activation: Optional[Union[Str, list[Str]]] = Field(
        None, description="Activation of the hidden layers: one name for all, or one per layer: "
        "linear | tanh | sigmoid | mtanh | twist | relu | gelu | softplus | swish.")

    @field_validator("activation")
    @classmethod
    def _known(cls, value):
        if value is None:
            return value
        from anncli.network.activations import canonical_name

        names = [value] if isinstance(value, str) else value
        out = []
        for i, name in enumerate(names):
            try:
                out.append(canonical_name(name))
            except ValueError as exc:
                raise SectionError(str(exc), *(() if isinstance(value, str) else (i,))) from None
        return out[0] if isinstance(value, str) else out


class Schedule(Section):
    """Learning-rate schedule of Adam and SGD."""

    kind: Literal["none", "plateau", "exponential"] = Field(
        "none", description="none | plateau (reduce when the validation RMSE stalls) | "
        "exponential (lr = lr0 * decay^epoch).")
    decay: PositiveFloat = Field(0.99, description="exponential: factor per epoch.")
    factor: PositiveFloat = Field(0.5, description="plateau: factor applied to the rate.")
    patience: Annotated[Int, Field(ge=0)] = Field(
        10, description="plateau: epochs without improvement before reducing.")
    threshold: Annotated[Float, Field(ge=0)] = Field(
        1e-3, description="plateau: relative improvement that counts.")
    min_lr: Annotated[Float, Field(ge=0)] = Field(0.0, description="Lower bound of the rate.")


class LbfgsOptions(Section):
    """Batch L-BFGS (anncli's own implementation; one iteration per epoch)."""

    method: Literal["lbfgs"]
    memory: PositiveInt = Field(20, description="Correction pairs kept (ænet: 20).")


class AdamOptions(Section):
    """Adam on mini-batches of ``batch_size`` structures."""

    method: Literal["adam"]
    learning_rate: PositiveFloat = Field(1e-3, description="Initial learning rate.")
    beta1: Annotated[Float, Field(ge=0, lt=1)] = Field(0.9, description="First-moment decay.")
    beta2: Annotated[Float, Field(ge=0, lt=1)] = Field(0.999, description="Second-moment decay.")
    eps: PositiveFloat = Field(1e-8, description="Denominator guard.")
    schedule: Schedule = Field(default_factory=Schedule, description="Learning-rate schedule.")


class SgdOptions(Section):
    """Stochastic gradient descent with momentum on mini-batches."""

    method: Literal["sgd"]
    learning_rate: PositiveFloat = Field(0.01, description="Initial learning rate.")
    momentum: Annotated[Float, Field(ge=0, lt=1)] = Field(0.9, description="Momentum.")
    schedule: Schedule = Field(default_factory=Schedule, description="Learning-rate schedule.")


class EkfOptions(Section):
    """Extended Kalman filter (updates per mini-batch; batch_size 1 = per structure)."""

    method: Literal["ekf"]
    lambda_: Annotated[Float, Field(gt=0, le=1)] = Field(
        0.99, alias="lambda", description="Initial forgetting factor.")
    lambda0: Annotated[Float, Field(gt=0, le=1)] = Field(
        0.999, description="Relaxation of the forgetting factor towards 1: "
        "lambda <- lambda0*lambda + 1 - lambda0.")
    p0: PositiveFloat = Field(100.0, description="Initial error covariance P = p0 * I.")
    process_noise: Annotated[Float, Field(ge=0)] = Field(0.0, description="Added to P's diagonal.")
    block_size: Optional[PositiveInt] = Field(
        None, description="Block-diagonal P with blocks of this many weights (null: full P).")


Optimizer = Annotated[Union[LbfgsOptions, AdamOptions, SgdOptions, EkfOptions],
                      Field(discriminator="method")]


class EarlyStopping(Section):
    """Stop when the validation RMSE has not improved for ``patience`` epochs."""

    patience: Optional[PositiveInt] = Field(None, description="Epochs to wait; null: never stop early.")
    min_delta: Annotated[Float, Field(ge=0)] = Field(
        0.0, description="Improvement (meV/atom) that counts.")


class Committee(Section):
    """A committee of networks trained on the same split from different initial weights."""

    members: Annotated[Int, Field(ge=2)] = Field(5, description="Number of members (>= 2).")
    bootstrap: Bool = Field(
        False, description="Train every member on a bootstrap resample of the training split "
        "(drawn with replacement, as loss weights) instead of the whole split.")


class TrainConfig(Section):
    """``anncli train``: fit one network per species to a training set."""

    trainset: InputPath = Field(description="Training-set file written by 'anncli generate'.")
    output: InputPath = Field("model.h5", description="Model file to write (the best model by "
                              "validation RMSE).")
    output_dir: Optional[InputPath] = Field(
        None, description="Directory of learning curve, checkpoint, split and results "
        "(default: the model file's directory).")
    overwrite: Bool = Field(False, description="Replace existing outputs of a previous run.")
    seed: Int = Field(0, description="Seed of the split, the initial weights and the sampling.")
    validation_fraction: Float = Field(0.1, description="Fraction of the structures (of their parents, with Taylor copies) set aside "
                                       "for validation, in (0, 1).")
    validation_set: Optional[Union[list[Annotated[Int, Field(ge=0)]], InputPath]] = Field(
        None, description="Explicit validation set instead of a random one: a list of "
        "0-based structure indices, or a file (split.csv of a previous run, or indices).")
    networks: dict[Str, NetworkSpec] = Field(
        default_factory=lambda: {"default": NetworkSpec(hidden=[15, 15], activation="tanh")},
        description="'default' and/or per species: hidden layers and activations.")
    optimizer: Optimizer = Field(default_factory=lambda: LbfgsOptions(method="lbfgs"),
                                 description="Training method and its parameters.")
    epochs: Annotated[Int, Field(ge=0)] = Field(1000, description="Number of epochs (0: "
                                                "evaluate the initial networks only).")
    batch_size: PositiveInt = Field(32, description="Structures per update (adam, sgd, ekf).")
    sampling: Literal["sequential", "random", "error", "energy"] = Field(
        "random", description="Order of structures for adam/sgd/ekf: sequential | random | "
        "error (favour large errors) | energy (Boltzmann-weighted, favour low energies).")
    temperature: PositiveFloat = Field(300.0, description="Temperature (K) of 'energy' sampling.")
    l2: Annotated[Float, Field(ge=0)] = Field(0.0, description="L2 regularisation strength "
                                              "(on weights, not biases).")
    energy_scaling: Literal["minmax", "std"] = Field(
        "minmax", description="Target normalisation: minmax (ænet: targets in [-1, 1]) or std.")
    early_stopping: EarlyStopping = Field(default_factory=EarlyStopping,
                                          description="Early stopping.")
    checkpoint_every: Annotated[Int, Field(ge=0)] = Field(
        50, description="Write a checkpoint (and the best model) every N epochs (0: only at "
        "the end).")
    log_every: PositiveInt = Field(1, description="Log one line every N epochs.")
    memory: Literal["load", "stream"] = Field(
        "load", description="load: features in memory; stream: read them from the file "
        "in chunks (large training sets).")
    max_energy_per_atom: Optional[Float] = Field(
        None, description="Leave out structures whose cohesive energy per atom (eV) is higher.")
    structure_weights: Optional[InputPath] = Field(
        None, description="CSV file 'index,weight' of per-structure loss weights (others 1).")
    selection: Literal["auto", "energy", "forces", "loss"] = Field(
        "auto", description="Criterion of the best model, early stopping and plateau schedules: energy "
        "(validation energy RMSE), forces (validation force RMSE), loss (the validation loss training "
        "minimises, sqrt(E_rmse^2 + force_weight F_rmse^2)); auto = loss when training on forces, else energy.")
    committee: Optional[Committee] = Field(
        None, description="Train a committee (query by committee): {members, bootstrap}; the model "
        "file holds every member and predicts their mean and spread. null = one model.")
    force_weight: Annotated[Float, Field(ge=0)] = Field(
        0.0, description="Train on forces too: weight (Å²) of the mean squared force error "
        "against the per-atom energy error (0.01: 0.1 eV/Å counts like 10 meV/atom); 0 = "
        "energies only. The feature derivatives are recomputed from the positions (no "
        "'derivatives: true' needed); lbfgs, adam or sgd.")
    initial_model: Optional[InputPath] = Field(
        None, description="Start from the networks of this model file (fine-tuning) instead of random "
        "weights: same species, descriptors and Δ-learning baseline as the training set; 'networks' left out = "
        "the model's architecture; a committee run needs a model with at least as many members (member k "
        "starts from member k). The model's normalisation is converted exactly to the new training split's, "
        "so the run starts from the model's predictions. null = random initial weights.")
    force_fraction: Annotated[Float, Field(gt=0, le=1)] = Field(
        1.0, description="Share of the training structures with forces whose force errors count in "
        "each epoch, drawn anew every epoch (seeded); < 1 makes epochs cheaper on large sets.")

    @field_validator("validation_fraction")
    @classmethod
    def _fraction(cls, value: float) -> float:
        if not 0.0 < value < 1.0:
            raise SectionError(f"expected a number between 0 and 1 (exclusive), got {value:g}")
        return value

    @property
    def selection_criterion(self) -> str:
        """``selection`` with ``auto`` resolved: loss when training on forces, else energy."""
        if self.selection == "auto":
            return "loss" if self.force_weight > 0 else "energy"
        return self.selection

    @model_validator(mode="after")
    def _forces(self) -> "TrainConfig":
        if self.selection in ("forces", "loss") and self.force_weight == 0:
            raise SectionError(f"selection: {self.selection} needs force training (force_weight > 0); "
                               "use energy or auto", "selection")
        if self.force_weight > 0 and self.optimizer.method == "ekf":
            raise SectionError("force training is available with lbfgs, adam and sgd, not ekf",
                               "optimizer", "method")
        return self

    @model_validator(mode="after")
    def _networks(self) -> "TrainConfig":
        for sym, spec in self.networks.items():
            if isinstance(spec.activation, list) and spec.hidden is not None and \
                    len(spec.activation) != len(spec.hidden):
                raise SectionError(
                    f"{len(spec.hidden)} hidden layer(s) but {len(spec.activation)} "
                    "activations; give one name or one per layer", "networks", sym, "activation")
        return self

    def network_for(self, sym: str) -> tuple[list[int], list[str]]:
        """Hidden sizes and hidden activations of species ``sym`` (defaults filled in)."""
        default = self.networks.get("default", NetworkSpec())
        spec = self.networks.get(sym, NetworkSpec())
        hidden = spec.hidden if spec.hidden is not None else default.hidden
        if hidden is None:
            hidden = [15, 15]
        act = spec.activation if spec.activation is not None else default.activation
        if act is None:
            act = "tanh"
        acts = [act] * len(hidden) if isinstance(act, str) else list(act)
        if len(acts) != len(hidden):
            from anncli.exceptions import ConfigError

            raise ConfigError(f"networks.{sym}: {len(hidden)} hidden layer(s) but "
                              f"{len(acts)} activations")
        return list(hidden), acts
