"""Hot desks: so far only the feature's declaration."""

from __future__ import annotations

from councilbot.core.features import Feature

FEATURE = Feature("desks")
