"""The dev server's own pieces: what it watches, its signals and reloads. (How its run and log
lines read: tests/unit/cli/test_views_dev.py.)"""

from __future__ import annotations

import io
import os
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from cronplane.local.console import Console
from cronplane.local.devserver import Watcher


def test_watcher_sees_manifest_and_job_code_changes_but_not_bytecode(tmp_path: Path) -> None:
    manifest = tmp_path / "jobs.yaml"
    manifest.write_text("namespace: x\n")
    code = tmp_path / "jobs" / "team" / "job.py"
    code.parent.mkdir(parents=True)
    code.write_text("def handler(e, c): pass\n")
    watcher = Watcher(manifest)
    assert watcher.changed() == []
    cache = code.parent / "__pycache__"
    cache.mkdir()
    (cache / "job.cpython-311.pyc").write_bytes(b"x")
    assert watcher.changed() == []
    code.write_text("def handler(e, c): return 1\n")
    assert watcher.changed() == [str(code)]
    new = code.with_name("other.py")
    new.write_text("")
    assert watcher.changed() == [str(new)]
    os.utime(manifest, ns=(1, 1))
    assert watcher.changed() == [str(manifest)]


def test_a_stale_dev_file_is_ignored_even_when_its_pid_lives_again(tmp_path: Path) -> None:
    """A dev process killed outright leaves .cronplane/dev.json behind; its pid may be reused
    (after a reboot) or linger as a zombie. Commands must not aim at its dead port."""
    import socket

    from cronplane.aws.session import AwsConfig, dev_endpoint, write_dev_file

    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        url = f"http://127.0.0.1:{server.getsockname()[1]}"
        write_dev_file(tmp_path, url, "eu-west-1")  # pid = this (living) process
        assert dev_endpoint(tmp_path) == url
    # The port is closed now, the pid still alive: the file is stale.
    assert dev_endpoint(tmp_path) is None
    env = {k: os.environ.pop(k) for k in ("AWS_ENDPOINT_URL",) if k in os.environ}
    try:
        assert AwsConfig().with_defaults("eu-west-1", tmp_path).endpoint_url is None
    finally:
        os.environ.update(env)


def test_the_dev_process_never_reaches_for_the_users_aws_settings() -> None:
    from cronplane.cli.dev_cmds import isolate_from_aws

    environ = {
        "AWS_PROFILE": "prod-sso",
        "AWS_ENDPOINT_URL_DYNAMODB": "https://ddb.example",
        "AWS_ACCESS_KEY_ID": "AKIAREAL",
        "AWS_SESSION_TOKEN": "t",
        "AWS_REGION": "us-east-1",
        "AWS_CA_BUNDLE": "/etc/ca.pem",
        "PATH": "/bin",
    }
    isolate_from_aws(environ)
    assert environ["AWS_ACCESS_KEY_ID"] == environ["AWS_SECRET_ACCESS_KEY"] == "testing"
    assert environ["AWS_CONFIG_FILE"] == environ["AWS_SHARED_CREDENTIALS_FILE"] == os.devnull
    assert not {"AWS_PROFILE", "AWS_ENDPOINT_URL_DYNAMODB", "AWS_SESSION_TOKEN"} & set(environ)
    assert (environ["AWS_REGION"], environ["AWS_CA_BUNDLE"], environ["PATH"]) == ("us-east-1", "/etc/ca.pem", "/bin")


def test_ctrl_c_interrupts_a_slow_start_at_once_and_stops_a_ready_server_cleanly() -> None:
    import signal
    import threading
    import time

    import pytest

    from cronplane.cli.dev_cmds import _restore, _stop_on_signals

    server = SimpleNamespace(stop_event=threading.Event(), ready=threading.Event())
    previous = _stop_on_signals(server)
    try:
        with pytest.raises(KeyboardInterrupt):  # still deploying: stop now, not after the deploy
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(1)
        server.stop_event.clear()
        server.ready.set()
        os.kill(os.getpid(), signal.SIGTERM)  # ready: just end wait(), no exception
        time.sleep(0.05)
        assert server.stop_event.is_set()
    finally:
        _restore(previous)


def test_reload_refuses_a_namespace_or_region_change_and_deploys_other_changes(tmp_path: Path) -> None:
    """The scheduler follows one namespace in one region and a deploy never prunes another
    namespace, so switching either needs a restart; the old deployment keeps running."""
    from cronplane.local.devserver import DevOptions, DevServer
    from cronplane.manifest.loader import load_manifest

    code = tmp_path / "jobs" / "infra" / "tidy.py"
    code.parent.mkdir(parents=True)
    code.write_text("def handler(event, context):\n    return 1\n")
    manifest = tmp_path / "jobs.yaml"
    text = "namespace: acme-jobs\nregion: eu-west-1\njobs:\n  tidy:\n    handler: infra/tidy.py:handler\n    schedule: rate(1 hour)\n"
    manifest.write_text(text)
    deployed: list[Any] = []
    out = io.StringIO()
    server = DevServer(
        DevOptions(manifest_path=manifest, port=0),
        Console(out),
        deploy=lambda m, config: deployed.append(m),
    )
    server.manifest = load_manifest(manifest)
    server.emulator._server = SimpleNamespace(server_port=4566)  # aws_config() names the endpoint only

    for changed in (text.replace("acme-jobs", "other-jobs"), text.replace("eu-west-1", "us-east-1")):
        manifest.write_text(changed)
        assert server.reload([str(manifest)]) is False
    assert deployed == []
    assert "namespace acme-jobs -> other-jobs: restart jobctl dev" in out.getvalue()
    assert "region eu-west-1 -> us-east-1: restart jobctl dev" in out.getvalue()
    manifest.write_text(text.replace("rate(1 hour)", "rate(2 hours)"))
    assert server.reload([str(manifest)]) is True
    assert [m.jobs[0].schedule.expression for m in deployed] == ["rate(2 hours)"]
    import shutil

    shutil.rmtree(server.emulator.work_dir, ignore_errors=True)  # never started, so never stopped
