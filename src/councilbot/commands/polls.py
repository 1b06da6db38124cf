"""Polls: so far only its subscription topic, so that members can subscribe ahead."""

from __future__ import annotations

from councilbot.core.features import Feature, Topic
from councilbot.core.i18n import N_

FEATURE = Feature("polls", topic=Topic("polls", N_("polls")))
