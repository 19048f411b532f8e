"""Hand-made HTTP requests to a ``jobctl dev`` emulator, signed (or not) the way an attacker or
an ordinary AWS client would: SigV4 with any key, at any time, then sent as they are."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def sign(
    url: str,
    key_id: str,
    secret: str,
    *,
    method: str = "POST",
    body: bytes = b"",
    headers: dict[str, str] | None = None,
    service: str = "lambda",
    region: str = "eu-west-1",
    at: datetime | None = None,
) -> dict[str, str]:
    """The headers of ``method url`` signed with SigV4 by ``key_id`` / ``secret`` at ``at``
    (default now), as botocore signs them."""
    request = AWSRequest(method=method, url=url, data=body, headers=dict(headers or {}))
    signer = SigV4Auth(Credentials(key_id, secret), service, region)
    if at is None:
        signer.add_auth(request)
    else:  # add_auth with a chosen clock: the same steps, the timestamp set by hand
        request.context["timestamp"] = at.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
        signer._modify_request_before_signing(request)  # type: ignore[attr-defined]
        string_to_sign = signer.string_to_sign(request, signer.canonical_request(request))
        signer._inject_signature_to_request(request, signer.signature(string_to_sign, request))  # type: ignore[attr-defined]
    return dict(request.headers.items())


def send(url: str, *, method: str = "POST", body: bytes = b"", headers: dict[str, str] | None = None) -> Answer:
    """Send the request as it is (no signing, no retries); any status is an answer."""
    request = urllib.request.Request(url, data=body if method != "GET" else None, method=method)
    for name, value in (headers or {}).items():
        request.add_header(name, value)  # a Host given here replaces the URL's
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return Answer(response.status, dict(response.headers.items()), response.read())
    except urllib.error.HTTPError as exc:
        return Answer(exc.code, dict(exc.headers.items()), exc.read())


def send_signed(
    url: str, key_id: str, secret: str, *, method: str = "POST", body: bytes = b"", **sign_options: Any
) -> Answer:
    extra = sign_options.pop("headers", None)
    headers = sign(url, key_id, secret, method=method, body=body, headers=extra, **sign_options)
    return send(url, method=method, body=body, headers=headers)
