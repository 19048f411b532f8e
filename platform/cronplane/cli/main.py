"""Entry point of ``jobctl``. Subcommands are imported only when they run (click's "complex"
example), so ``--help`` and ``validate`` never pay for boto3. This is the one place that maps
what a command returns (an ``ExitStatus``) or raises to the process's exit code, and hides
tracebacks unless ``--debug`` is given."""

from __future__ import annotations

import gc
import importlib
import sys
from typing import Any

import click

from cronplane.cli.exit_status import ExitStatus
from cronplane.errors import CronplaneError

# command name -> "module:attribute" (inside cronplane.cli), loaded on first use
COMMANDS: dict[str, tuple[str, str]] = {
    "validate": ("manifest_cmds:validate", "Check jobs.yaml and report every problem."),
    "list": ("manifest_cmds:list_jobs", "List the jobs with their schedules and next run."),
    "next": ("manifest_cmds:next_times", "Show the next fire times of a job or an expression."),
    "schema": ("manifest_cmds:schema", "Print the JSON Schema of jobs.yaml."),
    "plan": ("deploy_cmds:plan", "Show what deploy would change in AWS."),
    "deploy": ("deploy_cmds:deploy", "Create or update everything the jobs need in AWS."),
    "destroy": ("deploy_cmds:destroy", "Delete every resource of the namespace."),
    "export": ("export_cmds:export", "Write the deployment as Terraform or CloudFormation."),
    "unlock": ("lock_cmds:unlock", "Show the deploy lock and remove one left by a crash elsewhere."),
    "run-now": ("run_cmds:run_now", "Trigger a job by hand, remotely or --local."),
    "history": ("run_cmds:history", "Show the run history of one job or all jobs."),
    "dev": ("dev_cmds:dev", "Run the whole platform locally on an embedded AWS emulator."),
    "audit": ("ops_cmds:audit", "Match promised fire times with runs: missed, late, failed."),
    "report": ("report_cmds:report", "The run grid of a window (--html FILE), or a summary per job."),
    "dlq": ("ops_cmds:dlq", "List or replay a job's dead-letter messages."),
    "pause": ("ops_cmds:pause", "Disable a job's trigger without a deploy."),
    "resume": ("ops_cmds:resume", "Enable a paused job's trigger again."),
    "backfill": ("ops_cmds:backfill", "Run the missed fire times of a window."),
    "watch": ("alert_cmds:watch", "One watchdog pass: alert late, missed and lost runs (--once)."),
    "alerts": ("alert_cmds:alerts", "What is open for the jobs with alerts; `alerts test JOB` sends a test."),
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return None
        target = COMMANDS[cmd_name][0]
        module_name, attr = target.split(":")
        module = importlib.import_module(f"cronplane.cli.{module_name}")
        command: click.Command = getattr(module, attr)
        return _with_debug_option(command)

    def invoke(self, ctx: click.Context) -> Any:
        """A command returns its ExitStatus. Raise it as click's Exit, so click's own standalone
        mode (CliRunner in tests) ends with that code too; ``main()`` maps it to ``sys.exit``."""
        status = super().invoke(ctx)
        if isinstance(status, ExitStatus) and status is not ExitStatus.OK:
            ctx.exit(int(status))
        return status

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # Short help from the table above, so `jobctl --help` imports no command module.
        with formatter.section("Commands"):
            formatter.write_dl([(name, info[1]) for name, info in COMMANDS.items()])


_debug = False  # set by any --debug flag while click parses the command line


def _set_debug(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    global _debug
    _debug = _debug or bool(value)


def _debug_option() -> click.Option:
    return click.Option(
        ["--debug"],
        is_flag=True,
        expose_value=False,
        is_eager=True,
        callback=_set_debug,
        help="Show tracebacks of errors.",
    )


def _with_debug_option(command: click.Command) -> click.Command:
    """Every command (and sub-command) takes --debug, parsed by click like any flag, so a
    payload or reason that happens to read "--debug" stays a value."""
    if not any(p.name == "debug" for p in command.params):
        command.params.append(_debug_option())
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            _with_debug_option(sub)
    return command


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="cronplane")
@click.option(
    "--debug", is_flag=True, expose_value=False, is_eager=True, callback=_set_debug, help="Show tracebacks of errors."
)
def cli() -> None:
    """jobctl: scheduled jobs on AWS Lambda from one jobs.yaml.

    Add --debug to any command to see tracebacks.
    """


def main(argv: list[str] | None = None) -> None:
    """Run ``jobctl ARGV``; the only ``sys.exit`` of the command line. Returns when the command
    succeeded (exit 0), exits with its status otherwise."""
    args = list(sys.argv[1:] if argv is None else argv)
    program = argv is None  # the process itself (console script, python -m), not a test calling in
    _take_the_stop_signals()
    if program and _command_of(args) not in RUN_UNTIL_STOPPED:
        # A command builds a big heap at once (botocore's service models and clients: ~70k
        # objects the collector tracks) and leaves almost no garbage in cycles (~3 objects per
        # AWS call): Python's collector would only scan that heap again and again as it grows.
        gc.disable()
    status = _run(args)
    if program:
        # ...and once more at exit (~0.1 s of a 0.3 s deploy), though the process ends now and
        # its heap with it. Frozen objects are left out of that last collection.
        gc.freeze()
    if status is not ExitStatus.OK:
        sys.exit(int(status))


def _take_the_stop_signals() -> None:
    """Ctrl-C and SIGTERM must reach jobctl's main thread, which stops a deploy cleanly: a
    signal mask is inherited across exec, and a parent that started jobctl from a thread with
    them blocked (a supervisor, a CI runner's worker thread) would leave jobctl deaf to both."""
    import signal
    import threading

    if hasattr(signal, "pthread_sigmask") and threading.current_thread() is threading.main_thread():
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT, signal.SIGTERM})


# Commands that run until stopped keep Python's garbage collector: they allocate without end.
RUN_UNTIL_STOPPED = frozenset({"dev"})


def _command_of(args: list[str]) -> str | None:
    """The command name in ``jobctl [--debug] COMMAND ...`` (the group's options take no value)."""
    return next((arg for arg in args if not arg.startswith("-")), None)


def _run(args: list[str]) -> ExitStatus:
    """What the command returned or raised, as an exit status (--debug re-raises errors)."""
    global _debug
    _debug = False
    try:
        # standalone_mode=False: click returns the command's ExitStatus, or the code of an Exit
        # it raised (--help, --version, LazyGroup.invoke).
        return _status(cli.main(args=args, prog_name="jobctl", standalone_mode=False))
    except click.exceptions.Exit as exc:
        return _status(exc.exit_code)
    except click.Abort as exc:
        # click turns Ctrl-C into Abort (even with standalone_mode=False): keep its meaning.
        if isinstance(exc.__cause__, KeyboardInterrupt):
            click.echo("Interrupted.", err=True)
            return ExitStatus.INTERRUPTED
        click.echo("Aborted.", err=True)
        return ExitStatus.FAILURE
    except click.ClickException as exc:  # UsageError / BadParameter: USAGE; others FAILURE
        if _debug:
            raise
        exc.show()
        return _status(exc.exit_code)
    except CronplaneError as exc:
        if _debug:
            raise
        click.echo(_red(f"Error: {exc}") if sys.stderr.isatty() else f"Error: {exc}", err=True)
        return _status(exc.exit_code)
    except KeyboardInterrupt:
        click.echo("Interrupted.", err=True)
        return ExitStatus.INTERRUPTED
    except Exception as exc:  # an unexpected failure: still one line unless --debug
        # AWS failures are not here: the AWS door (cronplane.aws.client) raises them as
        # AwsError, a CronplaneError, worded once for every command.
        if _debug:
            raise
        click.echo(f"Error: {type(exc).__name__}: {exc} (run again with --debug for the traceback)", err=True)
        return ExitStatus.FAILURE


def _status(value: object) -> ExitStatus:
    """A command's return value (None: it printed and succeeded) or click's exit code."""
    if value is None:
        return ExitStatus.OK
    if isinstance(value, int) and not isinstance(value, bool):
        try:
            return ExitStatus(value)
        except ValueError:
            return ExitStatus.FAILURE  # no command exits with another number
    return ExitStatus.OK  # click hands back other return values as they are: nothing failed


def _red(text: str) -> str:
    return click.style(text, fg="red")


if __name__ == "__main__":
    main()
