"""The door of ``jobctl dev``'s emulator. Its port is reachable by every local user and by every
web page the developer has open, and behind it is code that runs as the developer; so every
request (moto's API, the Lambda Invoke layer, ``/moto-api``) passes here first and gets through
only when it

- carries no ``Origin`` header (a browser adds one to every cross-origin POST, "simple" or not);
- names the loopback address and port the emulator listens on as its ``Host`` (a page whose
  DNS name was rebound to 127.0.0.1 sends its own name);
- is signed (AWS Signature Version 4, header or presigned query) with this session's access key:
  the signature is recomputed with botocore over the request as it arrived (method, raw path,
  query, the headers the client signed, the body's SHA-256) and compared in constant time,
  within AWS's 15 minutes of clock skew.

Anything else gets 403 with an error body in the shape the client's protocol expects (JSON or
XML), and reaches neither moto nor the runner. The body is read once (up to a limit) and handed
on intact.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import re
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, quote, unquote, urlsplit
from xml.sax.saxutils import escape

from cronplane.local.invoke_http import header

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

    from cronplane.aws.session import DevCredentials

ALGORITHM = "AWS4-HMAC-SHA256"
MAX_SKEW_S = 15 * 60  # what AWS allows between the signer's clock and its own
MAX_PRESIGN_EXPIRES_S = 7 * 24 * 3600
MAX_BODY_BYTES = 128 * 1024 * 1024  # a 50 MB function zip, base64 in JSON, fits
SCOPE = re.compile(r"^(?P<key>[^/]+)/(?P<date>\d{8})/(?P<region>[a-z0-9-]+)/(?P<service>[a-z0-9-]+)/aws4_request$")
LOOSE_SERVICE = re.compile(r"Credential=[^/,\s]+/\d{8}/[^/,\s]+/(?P<service>[^/,\s]+)/")
SIGNATURE = re.compile(r"^[0-9a-f]{64}$")
SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")
HEADER_NAME = re.compile(r"^[a-z0-9!#$%&'*+.^_`|~-]+$")
REST_JSON_SERVICES = frozenset({"lambda", "scheduler", "apigateway"})
HINT = 'sign with the key of this jobctl dev session (.cronplane/dev-credentials; eval "$(jobctl dev env)" sets it)'


class Refused(Exception):
    """Why a request does not get through; ``status`` and ``code`` as AWS would answer."""

    def __init__(self, code: str, message: str, status: int = 403) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status


@dataclass(frozen=True)
class Signed:
    """What a request claims about its signature, before it is checked."""

    key_id: str
    region: str
    service: str
    timestamp: str  # yyyymmddThhmmssZ: the time the client signed at
    signed_headers: tuple[str, ...]
    signature: str
    expires_s: int | None = None  # presigned URLs only

    @property
    def presigned(self) -> bool:
        return self.expires_s is not None


class RequestGuard:
    """WSGI layer in front of everything the emulator serves. ``listen_on`` names the address
    requests must be addressed to; until then every request is refused."""

    def __init__(
        self,
        app: WSGIApplication,
        credentials: DevCredentials,
        *,
        clock: Callable[[], float] = time.time,
        on_refused: Callable[[str], None] | None = None,
    ) -> None:
        self.app = app
        self.credentials = credentials
        self.clock = clock
        self.on_refused = on_refused
        self.hosts: frozenset[str] = frozenset()

    def listen_on(self, host: str, port: int) -> None:
        self.hosts = loopback_hosts(host, port)

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        try:
            self.admit(environ)
        except Refused as exc:
            if self.on_refused is not None:
                method, path = environ.get("REQUEST_METHOD", "?"), environ.get("PATH_INFO", "")
                self.on_refused(printable(f"{method} {path}: {exc.code}: {exc.message}"))
            return refuse(environ, start_response, exc)
        return self.app(environ, start_response)

    def admit(self, environ: WSGIEnvironment) -> None:
        """Raise ``Refused`` unless the request may go on; replaces ``wsgi.input`` with the body
        it had to read to check the signature."""
        if header(environ, "origin") is not None:
            raise Refused("AccessDeniedException", "cross-origin request refused: jobctl dev serves no web page")
        host = (header(environ, "host") or "").lower()
        if host not in self.hosts:
            raise Refused(
                "AccessDeniedException",
                f"Host {host or '(none)'!r} refused: address requests to {' or '.join(sorted(self.hosts)) or 'the emulator'}",
            )
        signed = parse_signature(environ)
        if not hmac.compare_digest(signed.key_id.encode(), self.credentials.access_key_id.encode()):
            raise Refused(
                "UnrecognizedClientException", f"access key {signed.key_id!r} is not this session's key; {HINT}"
            )
        check_time(signed, self.clock())
        body = read_body(environ)
        expected = expected_signature(environ, signed, body, self.credentials)
        if not hmac.compare_digest(expected.encode(), signed.signature.encode()):
            raise Refused("InvalidSignatureException", f"the request signature does not match; {HINT}")
        claimed = (header(environ, "x-amz-content-sha256") or "").lower()
        if SHA256_HEX.match(claimed) and not hmac.compare_digest(claimed, hashlib.sha256(body).hexdigest()):
            raise Refused("InvalidSignatureException", "the body does not match its signed X-Amz-Content-SHA256")
        environ["wsgi.input"] = io.BytesIO(body)
        environ["CONTENT_LENGTH"] = str(len(body))


def printable(text: str, limit: int = 300) -> str:
    """``text`` (partly the sender's) safe to print on the developer's terminal: control
    characters escaped, so a request cannot move the cursor or recolour the console."""
    safe = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
    return safe if len(safe) <= limit else safe[: limit - 3] + "..."


def loopback_hosts(host: str, port: int) -> frozenset[str]:
    """The ``Host`` values that name the emulator: its address and ``localhost``, with the port
    (and without it on port 80, where clients leave it out)."""
    address = f"[{host}]" if ":" in host else host
    names = {address.lower(), "localhost"}
    hosts = {f"{name}:{port}" for name in names}
    if port == 80:
        hosts |= names
    return frozenset(hosts)


def parse_signature(environ: WSGIEnvironment) -> Signed:
    """The SigV4 claims of the ``Authorization`` header, or of a presigned URL's query."""
    authorization = header(environ, "authorization")
    query = dict(parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True))
    if (authorization or "").startswith("AWS ") or "AWSAccessKeyId" in query:
        raise Refused(
            "InvalidSignatureException",
            "Signature Version 2 is not accepted, only AWS4-HMAC-SHA256 "
            "(boto3 presigns S3 URLs with it given Config(signature_version='s3v4'))",
        )
    if authorization is None and "X-Amz-Signature" not in query:
        raise Refused("MissingAuthenticationTokenException", f"the request is not signed; {HINT}")
    try:
        if authorization is not None:
            algorithm, _, rest = authorization.strip().partition(" ")
            fields = {}
            for part in rest.split(","):
                name, _, value = part.strip().partition("=")
                fields[name] = value
            credential, headers, signature = fields["Credential"], fields["SignedHeaders"], fields["Signature"]
            timestamp = _request_time(environ)
            expires = None
        else:
            algorithm, credential = query["X-Amz-Algorithm"], query["X-Amz-Credential"]
            headers, signature, timestamp = query["X-Amz-SignedHeaders"], query["X-Amz-Signature"], query["X-Amz-Date"]
            expires = int(query["X-Amz-Expires"])
    except (KeyError, ValueError) as exc:
        raise Refused("InvalidSignatureException", f"malformed signature ({exc}); {HINT}") from None
    scope = SCOPE.match(credential)
    signed_headers = tuple(headers.split(";"))
    if (
        algorithm != ALGORITHM
        or scope is None
        or not SIGNATURE.match(signature)
        or not all(HEADER_NAME.match(name) for name in signed_headers)
        or "host" not in signed_headers
        or (expires is not None and not 1 <= expires <= MAX_PRESIGN_EXPIRES_S)
        or not _is_timestamp(timestamp)
        or timestamp[:8] != scope.group("date")
    ):
        raise Refused("InvalidSignatureException", f"malformed {ALGORITHM} signature; {HINT}")
    return Signed(
        scope.group("key"), scope.group("region"), scope.group("service"), timestamp, signed_headers, signature, expires
    )


def check_time(signed: Signed, now: float) -> None:
    signed_at = datetime.strptime(signed.timestamp, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC).timestamp()
    if signed_at - now > MAX_SKEW_S:
        raise Refused("InvalidSignatureException", "signature not yet current (is this machine's clock right?)")
    valid_for = signed.expires_s if signed.expires_s is not None else MAX_SKEW_S
    if now - signed_at > valid_for:
        raise Refused("InvalidSignatureException", "signature expired (is this machine's clock right?)")


def expected_signature(environ: WSGIEnvironment, signed: Signed, body: bytes, credentials: DevCredentials) -> str:
    """The signature the request would carry had it been signed with ``credentials``: botocore's
    SigV4 over the request as it arrived, with the client's own list of signed headers."""
    from botocore.auth import UNSIGNED_PAYLOAD, SigV4Auth
    from botocore.awsrequest import AWSRequest, HTTPHeaders
    from botocore.credentials import Credentials
    from botocore.utils import normalize_url_path

    headers: dict[str, str] = {}
    for name in signed.signed_headers:
        value = _header_value(environ, name)
        if value is None:
            raise Refused("InvalidSignatureException", f"signed header {name!r} is missing from the request; {HINT}")
        headers[name] = value
    claimed_payload = header(environ, "x-amz-content-sha256")
    if claimed_payload is not None:
        headers["X-Amz-Content-SHA256"] = claimed_payload  # the client signed this as the body's hash
    request = AWSRequest(method=environ.get("REQUEST_METHOD", "GET"), url=_url(environ), headers=headers, data=body)
    request.context["timestamp"] = signed.timestamp
    payload = UNSIGNED_PAYLOAD if signed.presigned and signed.service == "s3" else hashlib.sha256(body).hexdigest()
    query = canonical_query(environ.get("QUERY_STRING", ""), drop_signature=signed.presigned)

    class IncomingRequest(SigV4Auth):
        """Canonicalises what the client sent instead of choosing for itself."""

        def headers_to_sign(self, request: AWSRequest) -> HTTPHeaders:
            chosen = HTTPHeaders()
            for name in signed.signed_headers:
                chosen[name] = request.headers[name]
            return chosen

        def canonical_query_string(self, request: AWSRequest) -> str:
            return query

        def payload(self, request: AWSRequest) -> str:
            return payload

        def _normalize_url_path(self, path: str) -> str:
            # As botocore's SigV4Auth does (S3: the path as sent); redone here, the stubs lack it.
            return path if signed.service == "s3" else quote(normalize_url_path(path), safe="/~")

    signer = IncomingRequest(Credentials(signed.key_id, credentials.secret_access_key), signed.service, signed.region)
    string_to_sign = signer.string_to_sign(request, signer.canonical_request(request))
    return str(signer.signature(string_to_sign, request))


def canonical_query(query_string: str, *, drop_signature: bool = False) -> str:
    """SigV4's canonical query: every name and value decoded, then encoded the one AWS way
    (RFC 3986 unreserved characters kept), sorted."""
    pairs = []
    for pair in query_string.split("&"):
        if not pair:
            continue
        name, _, value = pair.partition("=")
        name, value = unquote(name), unquote(value)
        if drop_signature and name == "X-Amz-Signature":
            continue
        pairs.append((quote(name, safe="-_.~"), quote(value, safe="-_.~")))
    return "&".join(f"{name}={value}" for name, value in sorted(pairs))


def read_body(environ: WSGIEnvironment) -> bytes:
    """The whole body, once (``Content-Length`` bytes, or up to the end of a chunked stream)."""
    stream = environ["wsgi.input"]
    length = (environ.get("CONTENT_LENGTH") or "").strip()
    try:
        if length:
            size = int(length)
            if size < 0:
                raise ValueError(length)
            if size > MAX_BODY_BYTES:
                raise Refused("RequestEntityTooLargeException", f"body over {MAX_BODY_BYTES} bytes", 413)
            body = bytes(stream.read(size)) if size else b""
        elif environ.get("wsgi.input_terminated"):
            body = bytes(stream.read(MAX_BODY_BYTES + 1) or b"")
            if len(body) > MAX_BODY_BYTES:
                raise Refused("RequestEntityTooLargeException", f"body over {MAX_BODY_BYTES} bytes", 413)
        else:
            body = b""
    except (ValueError, OSError) as exc:
        raise Refused("InvalidRequestContentException", f"unreadable request body ({exc})", 400) from None
    return body


def refuse(environ: WSGIEnvironment, start_response: StartResponse, refused: Refused) -> list[bytes]:
    """The refusal in the client's protocol: JSON for the JSON and REST-JSON services (botocore
    reads ``__type`` / ``x-amzn-ErrorType``), AWS's XML error document for the others."""
    request_id = str(uuid.uuid4())
    found = LOOSE_SERVICE.search(header(environ, "authorization") or "")
    service = found.group("service") if found else ""
    content_type = (environ.get("CONTENT_TYPE") or "").lower()
    as_json = (
        header(environ, "x-amz-target") is not None
        or "json" in content_type
        or service in REST_JSON_SERVICES
        or environ.get("PATH_INFO", "").startswith("/2015-03-31/")
    )
    headers = [("x-amzn-RequestId", request_id), ("x-amzn-ErrorType", refused.code)]
    message = escape(refused.message)
    if as_json:
        body = json.dumps({"__type": refused.code, "message": refused.message}).encode()
        headers.append(("Content-Type", "application/json"))
    elif service == "s3":
        body = f"<Error><Code>{refused.code}</Code><Message>{message}</Message><RequestId>{request_id}</RequestId></Error>".encode()
        headers.append(("Content-Type", "application/xml"))
    else:
        body = (
            '<ErrorResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/"><Error><Type>Sender</Type>'
            f"<Code>{refused.code}</Code><Message>{message}</Message></Error>"
            f"<RequestId>{request_id}</RequestId></ErrorResponse>"
        ).encode()
        headers.append(("Content-Type", "text/xml"))
    headers.append(("Content-Length", str(len(body))))
    reason = {400: "Bad Request", 403: "Forbidden", 413: "Request Entity Too Large"}.get(refused.status, "Forbidden")
    start_response(f"{refused.status} {reason}", headers)
    return [body]


def _request_time(environ: WSGIEnvironment) -> str:
    """``X-Amz-Date``, or the ``Date`` header in SigV4's form (botocore signs with either)."""
    amz_date = header(environ, "x-amz-date")
    if amz_date is not None:
        return amz_date.strip()
    date = header(environ, "date")
    if date is None:
        raise KeyError("X-Amz-Date")
    return parsedate_to_datetime(date).astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def _is_timestamp(value: str) -> bool:
    try:
        datetime.strptime(value, "%Y%m%dT%H%M%SZ")
    except ValueError:
        return False
    return True


def _header_value(environ: WSGIEnvironment, name: str) -> str | None:
    if name in ("content-type", "content-length"):
        value: Any = environ.get(name.upper().replace("-", "_"))
        return str(value) if value not in (None, "") else None
    return header(environ, name)


def _url(environ: WSGIEnvironment) -> str:
    """The URL with the path exactly as the client sent it (percent-encoding and all): the
    signature covers that, not the decoded ``PATH_INFO``."""
    raw = environ.get("RAW_URI") or environ.get("REQUEST_URI")
    if raw:
        path = str(raw).split("?", 1)[0]
        if path.startswith(("http://", "https://")):
            path = urlsplit(path).path
    else:
        path = quote(environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", ""), safe="/~!$&'()*+,;=:@%")
    return f"http://{header(environ, 'host') or 'localhost'}{path or '/'}"
