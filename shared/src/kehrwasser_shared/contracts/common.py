"""Field types shared by several contracts."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Literal

from pydantic import Field, StringConstraints

Language = Literal["de", "en"]
FocusTag = Annotated[str, StringConstraints(strip_whitespace=True, to_lower=True, min_length=1, max_length=40)]
Identifier = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
Points = Annotated[Decimal, Field(max_digits=18, decimal_places=2, description="Points with two decimal places")]
