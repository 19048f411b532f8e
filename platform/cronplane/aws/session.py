"""Where AWS calls go: region, profile and endpoint with the AWS CLI's precedence
(command-line option, then ``AWS_*`` environment variables, then the profile / config files),
plus the emulator that a running ``jobctl dev`` advertises in ``.cronplane/dev.json`` and the
per-session key it serves requests for (``.cronplane/dev-credentials``, readable by its owner only).

This is the one place that builds botocore sessions; ``cronplane.aws.client.AwsClient`` is the one
place that builds clients from them."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shlex
import string
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import botocore.session

DEV_FILE = Path(".cronplane") / "dev.json"
DEV_CREDENTIALS_FILE = Path(".cronplane") / "dev-credentials"
_KEY_ID_ALPHABET = string.ascii_uppercase + "234567"  # what AWS access key ids are made of


@dataclass(frozen=True)
class DevCredentials:
    """The access key of one ``jobctl dev`` session: its emulator serves only requests signed
    with it, so another local user or a web page cannot run code through the port."""

    access_key_id: str
    secret_access_key: str = field(repr=False)

    @classmethod
    def generate(cls) -> DevCredentials:
        key_id = "CPDEV" + "".join(secrets.choice(_KEY_ID_ALPHABET) for _ in range(15))
        return cls(key_id, secrets.token_urlsafe(30))  # 40 characters, all shell-safe


# The keys of the emulators this process runs (`jobctl dev --demo` runs jobctl commands in
# process, with no dev files written), by endpoint URL.
_IN_PROCESS_KEYS: dict[str, DevCredentials] = {}


def register_emulator(endpoint_url: str, credentials: DevCredentials | None) -> None:
    """Make ``credentials`` the key for ``endpoint_url`` in this process (None: forget it)."""
    if credentials is None:
        _IN_PROCESS_KEYS.pop(endpoint_url, None)
    else:
        _IN_PROCESS_KEYS[endpoint_url] = credentials


def in_process_emulator_key(endpoint_url: str) -> DevCredentials | None:
    return next((key for url, key in list(_IN_PROCESS_KEYS.items()) if same_endpoint(url, endpoint_url)), None)


@dataclass(frozen=True)
class AwsConfig:
    region: str | None = None
    profile: str | None = None
    endpoint_url: str | None = None
    # True when the endpoint is the one a running `jobctl dev` advertised: the emulator takes
    # only its own key, so a profile in the user's shell (maybe expired or absent) is not used.
    from_dev_file: bool = False
    # The session key of the `jobctl dev` at endpoint_url: the only credentials it accepts.
    credentials: DevCredentials | None = None

    def with_defaults(self, region: str | None = None, root: str | os.PathLike[str] = ".") -> AwsConfig:
        """Fill what the command line left open, with the AWS CLI's precedence: option, then
        ``AWS_REGION`` / ``AWS_DEFAULT_REGION``, then the profile's ``region`` in the AWS config
        file; the manifest's region only when none of those says anything. The dev endpoint
        only while that ``jobctl dev`` process is alive and no endpoint was given some other way.

        Pointed at a running ``jobctl dev`` (its endpoint from ``.cronplane/dev.json``, or the
        same endpoint given as ``--endpoint-url`` / ``AWS_ENDPOINT_URL``), the emulator's region
        wins over the shell's: that is where it deployed the jobs, and a region exported for
        real AWS (CloudShell sets one) would find nothing there. Only ``--region`` beats it. Its
        session key is the only one it accepts, so that is the key used, whatever the shell says."""
        endpoint = self.endpoint_url or os.environ.get("AWS_ENDPOINT_URL")
        from_dev_file = False
        emulator = dev_emulator(root)
        if not endpoint and emulator is not None:
            endpoint, from_dev_file = emulator.endpoint_url, True
        at_emulator = emulator is not None and bool(endpoint) and same_endpoint(str(endpoint), emulator.endpoint_url)
        emulator_region = emulator.region if emulator is not None and at_emulator else None
        credentials = (
            self.credentials
            or (emulator.credentials if emulator is not None and at_emulator else None)
            or (in_process_emulator_key(endpoint) if endpoint else None)
        )
        chosen_region = (
            self.region
            or emulator_region
            or os.environ.get("AWS_REGION")
            or os.environ.get("AWS_DEFAULT_REGION")
            or profile_region(self.profile)
            or region
        )
        return AwsConfig(
            region=chosen_region,
            profile=self.profile,
            endpoint_url=endpoint,
            from_dev_file=from_dev_file,
            credentials=credentials,
        )

    def session(self) -> botocore.session.Session:
        """A new botocore session for these settings (``AwsClient`` shares one per process).
        botocore's, not boto3's: cronplane uses no boto3 resources, and skipping boto3 (and
        the s3transfer it imports) takes ~25 ms off every command."""
        if self.credentials is not None:
            return self._isolated_session(self.credentials.access_key_id, self.credentials.secret_access_key)
        if self._emulator_credentials():
            # A plain local emulator (moto) accepts any credentials; do not make newcomers configure some.
            return self._isolated_session("testing", "testing")
        import botocore.session

        session = botocore.session.Session(profile=self.profile)
        if self.region:
            session.set_config_variable("region", self.region)
        return _with_model_loader(session)

    def _isolated_session(self, access_key_id: str, secret_access_key: str) -> botocore.session.Session:
        import botocore.session

        # Ignore AWS_PROFILE entirely: botocore would insist that the profile exist.
        isolated = botocore.session.Session(session_vars={"profile": (None, None, None, None)})
        isolated.set_credentials(access_key_id, secret_access_key)
        isolated.set_config_variable("region", self.region or "us-east-1")
        return _with_model_loader(isolated)

    def _emulator_credentials(self) -> bool:
        if not self.endpoint_url or self.profile or os.environ.get("AWS_ACCESS_KEY_ID"):
            return False  # no endpoint, or credentials the user chose explicitly
        return self.from_dev_file or not os.environ.get("AWS_PROFILE")


@dataclass(frozen=True)
class DevEmulator:
    """What a running ``jobctl dev`` advertises: where its emulator answers, the region it
    deployed the manifest into, and its session key (None when this user cannot read it)."""

    endpoint_url: str
    region: str | None
    credentials: DevCredentials | None = None

    def shell_lines(self) -> list[str]:
        """The lines that point boto3, the AWS CLI and Terraform at this emulator with its key,
        for ``eval "$(jobctl dev env)"``; nothing of a real AWS login (a profile, a session
        token) is left to mix in."""
        values = {"AWS_ENDPOINT_URL": self.endpoint_url}
        if self.credentials is not None:
            values["AWS_ACCESS_KEY_ID"] = self.credentials.access_key_id
            values["AWS_SECRET_ACCESS_KEY"] = self.credentials.secret_access_key
        if self.region:
            values["AWS_REGION"] = values["AWS_DEFAULT_REGION"] = self.region
        exports = " ".join(f"{name}={shlex.quote(value)}" for name, value in values.items())
        return [f"export {exports}", "unset AWS_PROFILE AWS_SESSION_TOKEN AWS_SECURITY_TOKEN"]


def _with_model_loader(session: botocore.session.Session) -> botocore.session.Session:
    """``session`` with ``ServiceModelLoader`` as its model loader (same models, found and
    parsed faster). Reading ``data_path`` also reads the profile: a missing one fails here,
    where ``AwsClient`` words it, as creating a boto3 session did."""
    from cronplane.aws.service_models import create_loader

    session.register_component("data_loader", create_loader(session.get_config_variable("data_path")))
    return session


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
    return DevEmulator(endpoint, str(info.get("region") or "") or None, read_dev_credentials(root, endpoint))


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


def write_dev_credentials(root: str | os.PathLike[str], endpoint_url: str, credentials: DevCredentials) -> Path:
    """Keep the session key beside dev.json, readable by its owner only from the first byte:
    created with O_EXCL and mode 0600 (never written through a planted file or link)."""
    from cronplane.errors import CronplaneError

    path = Path(root) / DEV_CREDENTIALS_FILE
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    text = json.dumps(
        {
            "endpoint_url": endpoint_url,
            "aws_access_key_id": credentials.access_key_id,
            "aws_secret_access_key": credentials.secret_access_key,
        }
    )
    try:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()  # left by a dev process that was killed outright
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
    except OSError as exc:
        raise CronplaneError(
            f"{path}: cannot create the dev session's key file ({exc.strerror or exc}); "
            "remove it (and check who can write to .cronplane/), then start jobctl dev again"
        ) from exc
    with os.fdopen(fd, "w") as handle:
        handle.write(text + "\n")
    return path


def read_dev_credentials(root: str | os.PathLike[str], endpoint_url: str | None = None) -> DevCredentials | None:
    """The session key of the ``jobctl dev`` at ``root`` (of the one at ``endpoint_url`` only,
    when given); None when there is none or this user may not read it."""
    try:
        info = json.loads((Path(root) / DEV_CREDENTIALS_FILE).read_text())
        credentials = DevCredentials(str(info["aws_access_key_id"]), str(info["aws_secret_access_key"]))
        written_for = str(info.get("endpoint_url") or "")
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if endpoint_url is not None and not same_endpoint(written_for, endpoint_url):
        return None
    return credentials
