"""Stage 2: schedule expressions (EventBridge cron / rate / at, Unix cron). The public API is
``cronplane.schedule.expression`` (``parse_schedule``, next fire times, lint); the other modules
are its stages:

- ``cron``: parse and validate the six EventBridge cron fields into a ``CronSpec``;
- ``unix``: translate Unix five-field cron and ``@daily``-style macros into the EventBridge form;
- ``search``: the days a spec fires on in a month (``L``, ``W``, ``#``) and the ordered walk
  over matching wall-clock minutes, plus the wall-clock-to-instant rules of DST;
- ``describe``: a schedule in words.

Only the standard library is imported at module level (cron-descriptor is loaded by
``describe`` when it is called), so the engine stays cheap to import.
"""
