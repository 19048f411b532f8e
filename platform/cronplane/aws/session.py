"""Where AWS calls go: region, profile and endpoint with the AWS CLI's precedence
(command-line option, then ``AWS_*`` environment variables, then the profile / config files),
plus the emulator that a running ``jobctl dev`` advertises in ``.cronplane/dev.json``.

This is the one place that builds boto3 sessions; ``cronplane.aws.client.AwsClient`` is the one
place that builds clients from them."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import boto3

DEV_FILE = Path(".cronplane") / "dev.json"


@dataclass(frozen=True)
class AwsConfig:
    region: str | None = None
    profile: str | None = None
    endpoint_url: str | None = None
    # True when the endpoint is the one a running `jobctl dev` advertised: the emulator takes
    # any credentials, so a profile in the user's shell (maybe expired or absent) is not used.
    from_dev_file: bool = False

    def with_defaults(self, region: str | None = None, root: str | os.PathLike[str] = ".") -> AwsConfig:
        """Fill what the command line left open, with the AWS CLI's precedence: option, then
        ``AWS_REGION`` / ``AWS_DEFAULT_REGION``, then the profile's ``region`` in the AWS config
        file; the manifest's region only when none of those says anything. The dev endpoint
        only while that ``jobctl dev`` process is alive and no endpoint was given some other way.

        Pointed at a running ``jobctl dev`` (its endpoint from ``.cronplane/dev.json``, or the
        same endpoint given as ``--endpoint-url`` / ``AWS_ENDPOINT_URL``), the emulator's region
        wins over the shell's: that is where it deployed the jobs, and a region exported for
        real AWS (CloudShell sets one) would find nothing there. Only ``--region`` beats it."""
        endpoint = self.endpoint_url or os.environ.get("AWS_ENDPOINT_URL")
        from_dev_file = False
        emulator = None if endpoint and self.region else dev_emulator(root)
        if not endpoint and emulator is not None:
            endpoint, from_dev_file = emulator.endpoint_url, True
        emulator_region = (
            emulator.region if emulator and endpoint and same_endpoint(endpoint, emulator.endpoint_url) else None
        )
        chosen_region = (
            self.region
            or emulator_region
            or os.environ.get("AWS_REGION")
            or os.environ.get("AWS_DEFAULT_REGION")
            or profile_region(self.profile)
            or region
        )
        return AwsConfig(region=chosen_region, profile=self.profile, endpoint_url=endpoint, from_dev_file=from_dev_file)

    def session(self) -> boto3.session.Session:
        """A new boto3 session for these settings (``AwsClient`` shares one per process)."""
        import boto3.session

        if self._emulator_credentials():
            # The local emulator accepts any credentials; do not make newcomers configure some.
            import botocore.session

            # Ignore AWS_PROFILE entirely: botocore would insist that the profile exist.
            isolated = botocore.session.Session(session_vars={"profile": (None, None, None, None)})
            return boto3.session.Session(
                aws_access_key_id="testing",
                aws_secret_access_key="testing",
                region_name=self.region or "us-east-1",
                botocore_session=isolated,
            )
        return boto3.session.Session(profile_name=self.profile, region_name=self.region)

    def _emulator_credentials(self) -> bool:
        if not self.endpoint_url or self.profile or os.environ.get("AWS_ACCESS_KEY_ID"):
            return False  # no endpoint, or credentials the user chose explicitly
        return self.from_dev_file or not os.environ.get("AWS_PROFILE")


@dataclass(frozen=True)
class DevEmulator:
    """What a running ``jobctl dev`` advertises: where its emulator answers, and the region it
    deployed the manifest into."""

    endpoint_url: str
    region: str | None


def profile_region(profile: str | None) -> str | None:
    """``region`` of the profile in use (``profile``, else ``AWS_PROFILE``, else ``default``)
    in the AWS config file; None when it sets none or the profile does not exist (creating the
    session then reports the missing profile)."""
    import botocore.session
    from botocore.exceptions import BotoCoreError

    try:
        value = botocore.session.Session(profile=profile).get_scoped_config().get("region")
    except BotoCoreError:
        return None
    return str(value) if value else None


def dev_endpoint(root: str | os.PathLike[str] = ".") -> str | None:
    emulator = dev_emulator(root)
    return emulator.endpoint_url if emulator else None


def dev_emulator(root: str | os.PathLike[str] = ".") -> DevEmulator | None:
    """The ``jobctl dev`` of the project at ``root``, while it runs; None otherwise."""
    path = Path(root) / DEV_FILE
    try:
        info = json.loads(path.read_text())
        pid = int(info["pid"])
        os.kill(pid, 0)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    endpoint = str(info.get("endpoint_url") or "")
    # A file left by a killed dev process can name a pid that lives again (reused after a
    # reboot, or a zombie nobody reaped): trust it only while its port still answers.
    if not endpoint or not _listening(endpoint):
        return None
    return DevEmulator(endpoint, str(info.get("region") or "") or None)


def same_endpoint(first: str, second: str) -> bool:
    """Whether two endpoint URLs reach the same server (``localhost`` is ``127.0.0.1``; a
    trailing slash or path does not matter)."""
    from urllib.parse import urlsplit

    def key(url: str) -> tuple[str, str, int | None]:
        parts = urlsplit(url.strip())
        host = (parts.hostname or "").lower()
        host = "127.0.0.1" if host in ("localhost", "::1") else host
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError:
            port = None
        return parts.scheme.lower(), host, port

    return key(first) == key(second)


def _listening(endpoint_url: str) -> bool:
    import socket
    from urllib.parse import urlsplit

    parts = urlsplit(endpoint_url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 80), timeout=0.5):
            return True
    except (OSError, ValueError):
        return False


def write_dev_file(root: str | os.PathLike[str], endpoint_url: str, region: str) -> Path:
    path = Path(root) / DEV_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"endpoint_url": endpoint_url, "region": region, "pid": os.getpid()}) + "\n")
    return path
