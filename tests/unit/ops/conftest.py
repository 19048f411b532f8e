"""Registers the ops tests' fixtures; the helpers themselves live in ``ops_fixtures``."""

from ops_fixtures import clients, deploy, table  # noqa: F401 - pytest finds fixtures by name
