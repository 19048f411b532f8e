"""The watchdog's Lambda: ``cronplane.watchdog.entry.handler``, run every minute by its own
EventBridge rule (``build.watchdog``). Ships only in the watchdog's zip, with the modules its
check needs (``ops.watchdog`` and its stdlib-only imports) and the jobs it watches as JSON
(``config.json``, written by deploy)."""
