"""Base class of every input-file section.

Each stage's schema is a tree of :class:`Section` models (pydantic).  Unknown keys
are errors; values are validated strictly enough that a wrong type is reported,
not silently coerced from an unrelated type.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Section(BaseModel):
    """A strict pydantic model: unknown keys are rejected, defaults are validated."""

    model_config = ConfigDict(extra="forbid", validate_default=True, populate_by_name=True)
