"""Slack's installation tables, declared on the bot's schema next to its own models.

Slack's multi-workspace install keeps its rows in slack_sdk's own tables, read and written
by its AsyncSQLAlchemy{Installation,OAuthState}Store. They live here, under the adapter,
because slack_sdk builds them: storage (`councilbot.db`) never loads a platform library.
Importing this module adds them to `Base.metadata`, as importing `councilbot.db.models`
adds the bot's own, so that the migrations environment and the migrations test, which
import both, check the shape of migration 0003 against the installed slack_sdk.
"""

from __future__ import annotations

from slack_sdk.oauth.installation_store.sqlalchemy import SQLAlchemyInstallationStore
from slack_sdk.oauth.state_store.sqlalchemy import SQLAlchemyOAuthStateStore

from councilbot.db.base import Base

SLACK_INSTALLATIONS = "slack_installations"
SLACK_BOTS = "slack_bots"
SLACK_OAUTH_STATES = "slack_oauth_states"
slack_installations = SQLAlchemyInstallationStore.build_installations_table(
    Base.metadata, SLACK_INSTALLATIONS
)
slack_bots = SQLAlchemyInstallationStore.build_bots_table(Base.metadata, SLACK_BOTS)
slack_oauth_states = SQLAlchemyOAuthStateStore.build_oauth_states_table(
    Base.metadata, SLACK_OAUTH_STATES
)
