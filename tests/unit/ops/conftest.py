"""Registers the ops tests' fixtures; the helpers themselves live in ``ops_fixtures`` and ``watch_fixtures``."""

from ops_fixtures import clients, deploy, table  # noqa: F401 - pytest finds fixtures by name
from watch_fixtures import both_readings, namespace  # noqa: F401 - the watchdog tests' namespace on moto
