"""CouncilBot: the chat bot of the Cluster Growth Councils."""

__version__ = "0.1.0"
