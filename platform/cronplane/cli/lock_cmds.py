"""``jobctl unlock``: show who holds the namespace's deploy lock and remove it, after a deploy
crashed on another machine (one on this machine that died is taken over by the next deploy by
itself). Thin: ``cronplane.aws.lock`` reads and removes, ``cli/views/lock.py`` prints."""

from __future__ import annotations

import sys
import time

import click

from cronplane.cli.exit_status import ExitStatus
from cronplane.cli.options import aws_config, aws_options, manifest_option
from cronplane.errors import CronplaneError


@click.command()
@manifest_option
@click.option("-y", "--yes", is_flag=True, help="Remove the lock without asking.")
@aws_options
def unlock(
    manifest_path: str,
    yes: bool,
    region: str | None,
    profile: str | None,
    endpoint_url: str | None,
) -> ExitStatus:
    """Show the namespace's deploy lock and remove it (asks first; --yes does not)."""
    from cronplane.aws.client import AwsClient
    from cronplane.aws.lock import current_lock, remove_lock
    from cronplane.aws.lock_holder import machine_id
    from cronplane.cli.views import lock as view
    from cronplane.manifest import names
    from cronplane.manifest.loader import AS_OF_EPOCH, load_manifest

    manifest = load_manifest(manifest_path, now=AS_OF_EPOCH)
    client = AwsClient(aws_config(region, profile, endpoint_url, manifest.region, manifest.root))
    table = names.history_table(manifest.namespace)
    held = current_lock(client, table)
    if held is None:
        click.echo(view.no_lock_line(table))
        return ExitStatus.OK
    click.echo("\n".join(view.lock_lines(held, table, now=time.time(), this_machine=machine_id())))
    if not yes:
        if not sys.stdin.isatty():
            raise CronplaneError(
                "removing the deploy lock needs confirmation, and there is no terminal to ask: pass --yes"
            )
        if not click.confirm(view.confirm_prompt(), default=False):
            click.echo(view.kept_line())
            return ExitStatus.OK
    remove_lock(client, table, held)  # only if it is still the lock shown above
    click.echo(view.removed_line(held))
    return ExitStatus.OK
