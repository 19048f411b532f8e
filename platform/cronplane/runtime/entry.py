"""Lambda's entry point: the function's handler setting is ``cronplane.runtime.entry.handler``.

Cold start (module import, outside the handler, as Lambda recommends): read the settings from
the environment, create the boto3 clients, resolve the job's secrets into ``os.environ`` and
import the team's handler. A failure there is not raised as an opaque init error: the first
invocation records it as the run's failure (with its DLQ message) and the next invocation tries
the cold start again. Without ``CRONPLANE_JOB`` in the environment (tests, tools importing this
module) nothing is built until the first call.
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
from collections.abc import Callable
from typing import Any

import boto3
from botocore.config import Config

from cronplane.runtime.context import JobContext
from cronplane.runtime.dispatch import Dispatcher
from cronplane.runtime.exceptions import RuntimeSetupError
from cronplane.runtime.failure_alert import AlertConfig, FailureAlerts
from cronplane.runtime.secrets import Scrubber, ScrubbingStream, ScrubFilter, resolve_secrets
from cronplane.runtime.settings import JOB, RuntimeSettings
from cronplane.runtime.store import DynamoRunStore, RunStore
from cronplane.runtime.wrapper import Clock, JobFunction, Wrapper

# The wrapper's own writes (history, DLQ, continuation invoke) must fit the time left, down to
# the safety margin after a soft deadline: one short try per botocore call, and the retries are
# the store's / dispatcher's, which shrink them to the time left (botocore's own backoff would
# not). PutItem / SendMessage / an async Invoke answer in milliseconds when healthy.
HISTORY_CONFIG = Config(retries={"mode": "standard", "total_max_attempts": 1}, connect_timeout=1, read_timeout=2)
MESSAGE_CONFIG = Config(retries={"mode": "standard", "total_max_attempts": 1}, connect_timeout=1, read_timeout=3)
# Cold start only (secrets): botocore's usual retries.
DEFAULT_CONFIG = Config(retries={"mode": "standard"}, connect_timeout=3, read_timeout=10)
# SNS: the alert of a failed run, sent in the time left after its record and DLQ message.
CONFIGS = {"dynamodb": HISTORY_CONFIG, "sqs": MESSAGE_CONFIG, "lambda": MESSAGE_CONFIG, "sns": MESSAGE_CONFIG}


class Clients:
    """One boto3 session per execution environment; each client created once."""

    def __init__(self, session: Any = None) -> None:
        self.session: Any = session or boto3.session.Session()  # Any: services are named at run time
        self._clients: dict[str, Any] = {}

    def __call__(self, service: str) -> Any:
        if service not in self._clients:
            config = CONFIGS.get(service, DEFAULT_CONFIG)
            self._clients[service] = self.session.client(service, config=config)
        return self._clients[service]


def load_handler(spec: str) -> JobFunction:
    """``"billing.nightly_report:handler"`` -> the function. Import errors become setup errors
    that name the module and say what to check."""
    module_name, _, function_name = spec.partition(":")
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:
        raise RuntimeSetupError(
            f"could not import the job module {module_name!r} (handler {spec!r}): {type(exc).__name__}: {exc}"
        ) from exc
    function = getattr(module, function_name or "handler", None)
    if not callable(function):
        raise RuntimeSetupError(f"module {module_name!r} has no function {function_name!r} (handler {spec!r})")
    return function  # type: ignore[no-any-return]


def build(
    settings: RuntimeSettings | None = None,
    clients: Callable[[str], Any] | None = None,
    *,
    clock: Clock | None = None,
    store: RunStore | None = None,
    emit: Callable[[str], None] | None = None,
) -> Wrapper:
    """Everything a cold start prepares. Arguments replace the real thing (tests, local runner)."""
    settings = settings or RuntimeSettings.from_env()
    clients = clients or Clients()
    clock = clock or Clock()
    if store is None:
        if settings.history_table:
            store = DynamoRunStore(
                clients("dynamodb"), settings.history_table, sleep=clock.sleep, monotonic=clock.monotonic
            )
        else:
            # Imported here: a deployed Lambda always has a table, so its cold start skips it.
            from cronplane.runtime.memory_store import MemoryRunStore

            store = MemoryRunStore()
    dispatcher = Dispatcher(clients, settings.dlq_url, sleep=clock.sleep, monotonic=clock.monotonic)
    if settings.dlq_url:
        clients("sqs")
    clients("lambda")
    scrubber = Scrubber()
    setup_error: RuntimeSetupError | None = None
    try:
        scrubber.add(resolve_secrets(settings.secrets, clients))
        job_function = load_handler(settings.handler)
    except RuntimeSetupError as exc:
        setup_error = exc
        job_function = _raiser(exc)
    _install_log_scrubber(scrubber)
    wrapper = Wrapper(settings, job_function, store, dispatcher, clock=clock, scrubber=scrubber, emit=emit)
    wrapper.setup_error = setup_error
    alert_config = AlertConfig.from_env()
    if alert_config is not None:
        # Its SNS client is made on the first failure only: a successful run creates nothing.
        wrapper.alerts = FailureAlerts(
            alert_config,
            job=settings.job,
            namespace=settings.namespace,
            clients=clients,
            scrubber=scrubber,
            log=wrapper.log,
        )
    return wrapper


def _raiser(error: RuntimeSetupError) -> JobFunction:
    def fail(event: Any, context: JobContext) -> Any:
        raise error

    return fail


def _install_log_scrubber(scrubber: Scrubber) -> None:
    root = logging.getLogger()
    if not root.handlers:
        # Outside Lambda (local runs): the team's log lines still reach the terminal.
        logging.basicConfig(level=logging.INFO, stream=sys.stdout, format="%(levelname)s %(name)s: %(message)s")
    in_lambda = bool(os.environ.get("AWS_LAMBDA_FUNCTION_NAME"))
    if in_lambda and "AWS_LAMBDA_LOG_LEVEL" not in os.environ and root.level > logging.INFO:
        # Lambda's root logger drops INFO; job authors' log.info lines are part of the run's story.
        root.setLevel(logging.INFO)
    for handler in root.handlers:
        for old in [f for f in handler.filters if isinstance(f, ScrubFilter)]:
            handler.removeFilter(old)
        if scrubber:
            handler.addFilter(ScrubFilter(scrubber))
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name)
        if isinstance(stream, ScrubbingStream):
            stream.scrubber = scrubber  # a new cold start in this process: its secrets now
        elif scrubber:
            setattr(sys, name, ScrubbingStream(stream, scrubber))


_wrapper: Wrapper | None = None
_boot_error: BaseException | None = None


def _boot() -> None:
    global _wrapper, _boot_error
    try:
        _wrapper, _boot_error = build(), None
    except Exception as exc:
        _wrapper, _boot_error = None, exc


def handler(event: Any, context: Any) -> dict[str, Any]:
    """Lambda calls this for every invocation. A run that ended ``failed`` or ``timed_out``
    raises ``RunFailed`` once recorded (see ``Wrapper.handle_for_lambda``)."""
    return _ready().handle_for_lambda(event, context)


def record_handler(event: Any, context: Any) -> dict[str, Any]:
    """For tools that run a job's function outside Lambda and show its run (``jobctl run-now
    --local``): the run's record, whatever its end. There is no Lambda there to count an error,
    and the record (attempts, errors) is what the tool prints."""
    return _ready().handle(event, context)


def _ready() -> Wrapper:
    if _wrapper is None or _wrapper.setup_error is not None:
        _boot()  # cold start failed or was deferred: try again now
    if _wrapper is None:
        assert _boot_error is not None
        raise _boot_error
    return _wrapper


if os.environ.get(JOB):
    _boot()
