"""The exit statuses of ``jobctl``, in one place. A command returns one (or raises); ``main()``
(``cli/main.py``) is the only code that turns it into the process's exit code.

Each value is documented where users read it (the commands' ``--help``, docs/): changing one
breaks a CI gate or a monitor somewhere.
"""

from __future__ import annotations

from enum import IntEnum


class ExitStatus(IntEnum):
    OK = 0
    # Something the user asked for did not happen: an error (CronplaneError), a run that did not
    # succeed (run-now --wait / --sync / --local), a replay or backfill run not accepted, an
    # invalid manifest (validate), the demo not going as promised, an abort at a prompt.
    FAILURE = 1
    # A usage error: click's UsageError / BadParameter (a bad option, an empty window ...).
    USAGE = 2
    # `plan --detailed-exitcode`: something would change. Terraform's convention (0 nothing, 1
    # error, 2 changes), so CI scripts written for `terraform plan` read it the same; it shares
    # the number with USAGE as it does in Terraform (an alias: ExitStatus(2) is USAGE).
    CHANGES_PENDING = 2
    # `audit`: a promised run was missed, failed, timed out or lost. Its own number, so a monitor
    # tells "the jobs need attention" (3) from "the audit itself failed" (1).
    ATTENTION = 3
    # Ctrl-C or SIGTERM: 128 + SIGINT, as shells report it.
    INTERRUPTED = 130
