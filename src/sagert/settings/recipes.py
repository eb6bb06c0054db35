"""Training recipes: named presets and defaults by model size (pure data, no torch).

A learning rate chosen for a 7B model barely moves a 135M one, so each of a training's learning
rate, beta, epochs, max length and SimPO gamma comes from the first of: the explicit `train:`
field, the named `train.preset`, the base model's size class (its parameter count, read from
the files without loading weights), the method's fallback (the size is unknown). Which one
gave each value is kept (`ResolvedRecipe.sources`) and written beside the trained model.
The under-1B values are provisional: the sweep that should back them (benchmarks/recipe_sweep.py)
has not finished yet (docs/training.md).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Method = Literal["dpo", "simpo"]
RECIPE_FIELDS = ("learning_rate", "beta", "epochs", "max_length", "simpo_gamma")


class Recipe(BaseModel):
    """The values a preset or a size class gives (simpo_gamma is used by SimPO only)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    learning_rate: float = Field(gt=0)
    beta: float = Field(gt=0)
    epochs: float = Field(gt=0)
    max_length: int = Field(ge=16)
    simpo_gamma: float = Field(default=0.8, ge=0)


class Preset(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    method: Method
    recipe: Recipe
    about: str


class SizeClass(BaseModel):
    """Models with fewer than `below` parameters (None: no upper bound)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    below: int | None
    recipes: dict[Method, Recipe]
    measured: bool = False


# The SAGE authors' SimPO recipe (../shared/DESIGN.md: TRL's CPO trainer, loss_type=simpo,
# cpo_alpha=0, beta 5, gamma 0.8, lr 1.8e-6), used on Mistral-7B-Instruct.
SAGE_SIMPO = Recipe(learning_rate=1.8e-6, beta=5.0, epochs=1.0, max_length=256, simpo_gamma=0.8)
# DPO at the usual 7B values (beta 0.1, lr 5e-7): sagert's DPO default before size classes.
DPO_7B = Recipe(learning_rate=5e-7, beta=0.1, epochs=1.0, max_length=256)
# Provisional for SmolLM2-135M-Instruct: 10x the 7B learning rate, more epochs; the sweep that
# should confirm them has not finished (docs/training.md).
SMALL_SIMPO = Recipe(learning_rate=5e-6, beta=5.0, epochs=3.0, max_length=384, simpo_gamma=0.8)
SMALL_DPO = Recipe(learning_rate=5e-6, beta=0.1, epochs=3.0, max_length=384)

PRESETS: dict[str, Preset] = {
    "sage-simpo": Preset(
        method="simpo", recipe=SAGE_SIMPO, about="the SAGE authors' SimPO recipe (7B models)"
    ),
    "small-simpo": Preset(
        method="simpo", recipe=SMALL_SIMPO, about="SimPO for models under 1B (provisional)"
    ),
    "small-dpo": Preset(
        method="dpo", recipe=SMALL_DPO, about="DPO for models under 1B (provisional)"
    ),
}

SIZE_CLASSES: tuple[SizeClass, ...] = (
    SizeClass(
        name="under 1B",
        below=1_000_000_000,
        recipes={"simpo": SMALL_SIMPO, "dpo": SMALL_DPO},
        measured=True,
    ),
    SizeClass(
        name="1B-4B",
        below=4_000_000_000,
        recipes={
            "simpo": SAGE_SIMPO.model_copy(update={"learning_rate": 3e-6, "max_length": 512}),
            "dpo": DPO_7B.model_copy(update={"learning_rate": 1e-6, "max_length": 512}),
        },
    ),
    SizeClass(
        name="4B-15B",
        below=15_000_000_000,
        recipes={
            "simpo": SAGE_SIMPO.model_copy(update={"max_length": 1024}),
            "dpo": DPO_7B.model_copy(update={"max_length": 1024}),
        },
    ),
    SizeClass(
        name="15B and more",
        below=None,
        recipes={
            "simpo": SAGE_SIMPO.model_copy(update={"learning_rate": 1e-6, "max_length": 1024}),
            "dpo": DPO_7B.model_copy(update={"learning_rate": 2e-7, "max_length": 1024}),
        },
    ),
)

# When the size is unknown: the recipes the defaults were before size classes.
FALLBACK: dict[Method, Recipe] = {"simpo": SAGE_SIMPO, "dpo": DPO_7B}
SIMPO_DEFAULTS = {"beta": SAGE_SIMPO.beta, "learning_rate": SAGE_SIMPO.learning_rate}
DPO_DEFAULTS = {"beta": DPO_7B.beta, "learning_rate": DPO_7B.learning_rate}


class ResolvedRecipe(BaseModel):
    """The values a training uses, and where each came from."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    learning_rate: float
    beta: float
    epochs: float
    max_length: int
    simpo_gamma: float
    parameters: int | None
    sources: dict[str, str]

    def describe(self) -> str:
        """One line: `learning_rate 5e-06 (size under 1B), beta 5.0 (train.beta), ...`."""
        values = self.model_dump(include=set(RECIPE_FIELDS))
        return ", ".join(f"{k} {values[k]:g} ({self.sources[k]})" for k in RECIPE_FIELDS)


def size_class(parameters: int) -> SizeClass:
    for size in SIZE_CLASSES:
        if size.below is None or parameters < size.below:
            return size
    raise AssertionError("the last size class has no upper bound")


def preset_names() -> list[str]:
    return sorted(PRESETS)


def resolve_recipe(
    method: Method,
    explicit: dict[str, float | int | None],
    preset: str | None,
    parameters: int | None,
) -> ResolvedRecipe:
    """Each field from the explicit value, else the preset, else the size class, else fallback."""
    if preset is not None:
        layer, source = PRESETS[preset].recipe, f"preset {preset}"
    elif parameters is not None:
        size = size_class(parameters)
        layer, source = size.recipes[method], f"size {size.name}"
    else:
        layer, source = FALLBACK[method], "size unknown"
    values: dict[str, float | int] = {}
    sources: dict[str, str] = {}
    for name in RECIPE_FIELDS:
        given = explicit.get(name)
        if given is not None:
            values[name], sources[name] = given, f"train.{name}"
        else:
            values[name], sources[name] = getattr(layer, name), source
    return ResolvedRecipe.model_validate({**values, "parameters": parameters, "sources": sources})
