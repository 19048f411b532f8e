"""Operating deployed jobs (the read-and-act side after ``jobctl deploy``): ``audit`` matches the
schedule's promised fire times with the run history, ``dlq`` lists and replays dead letters,
``pause`` / ``resume`` switch a trigger without a deploy, ``backfill`` runs missed fire times.
The click commands live in ``cronplane.cli.ops_cmds``; these modules hold the logic."""
