"""Attacks on the `jobctl dev` port, as another local user or a web page in the developer's
browser would make them: every one is refused with 403 and runs nothing, stores nothing.
The function code the attacker ships (or the payload it sends) writes a marker file; the
marker's absence is the proof that nothing ran. Each attack has a control next to it: the same
request, properly made, does run, so the marker would have shown a hole."""

from __future__ import annotations

import io
import json
import os
import textwrap
import time
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from cronplane.local.emulator import Emulator
from support.signing import send, send_signed

REGION = "eu-west-1"
FUNCTION = "victim"
ROLE = "arn:aws:iam::123456789012:role/demo-role"

# Writes the marker named by the event (or by the code itself) as soon as it runs.
CODE = textwrap.dedent(
    """
    import json, os

    def handler(event, context):
        with open(event["marker"], "w") as handle:
            handle.write("ran")
        return {"ran": True}
    """
)


def code_zip(source: str = CODE) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("app.py", source)
    return buffer.getvalue()


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    emu = Emulator(port=0, async_retry_delay_s=0.0)
    emu.start()
    try:
        reset(emu)  # moto's backends are process-wide: start from an empty account
        trust = {
            "Statement": [
                {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
            ]
        }
        boto3.client(
            "iam",
            region_name=REGION,
            endpoint_url=emu.endpoint_url,
            aws_access_key_id=emu.credentials.access_key_id,
            aws_secret_access_key=emu.credentials.secret_access_key,
        ).create_role(RoleName="demo-role", AssumeRolePolicyDocument=json.dumps(trust))
        yield emu
    finally:
        reset(emu)
        emu.stop()


def reset(emu: Emulator) -> None:
    key = emu.credentials
    answer = send_signed(f"{emu.endpoint_url}/moto-api/reset", key.access_key_id, key.secret_access_key)
    assert answer.status == 200, answer


def lambda_client(emu: Emulator, key_id: str, secret: str) -> Any:
    return boto3.client(
        "lambda",
        region_name=REGION,
        endpoint_url=emu.endpoint_url,
        aws_access_key_id=key_id,
        aws_secret_access_key=secret,
        config=Config(retries={"max_attempts": 1}, read_timeout=30),
    )


def session_client(emu: Emulator, service: str = "lambda") -> Any:
    """The dev tools' own door to the emulator, signing with its session key."""
    return emu.aws(REGION).service(service)


def create(client: Any, name: str = FUNCTION) -> Any:
    return client.create_function(
        FunctionName=name, Runtime="python3.12", Role=ROLE, Handler="app.handler", Code={"ZipFile": code_zip()}
    )


def function_exists(emu: Emulator, name: str = FUNCTION) -> bool:
    names = {f["FunctionName"] for f in session_client(emu).list_functions()["Functions"]}
    return name in names


def invocations_url(emu: Emulator, name: str = FUNCTION) -> str:
    return f"{emu.endpoint_url}/2015-03-31/functions/{name}/invocations"


def wait_for(path: Path, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists():
            return True
        time.sleep(0.05)
    return path.exists()


# -- (1) another key: CreateFunction + Invoke ------------------------------------------------


def test_create_and_invoke_signed_with_another_key_are_refused_and_nothing_runs(
    emulator: Emulator, tmp_path: Path
) -> None:
    marker = tmp_path / "attacker-ran"
    attacker = lambda_client(emulator, "AKIAATTACKER00000000", "attacker-secret")
    with pytest.raises(ClientError) as created:
        create(attacker)
    assert created.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert created.value.response["Error"]["Code"] == "UnrecognizedClientException"
    assert "jobctl dev env" in created.value.response["Error"]["Message"]
    assert not function_exists(emulator)  # nothing stored

    # A function the developer deployed is no easier to run with a made-up key.
    create(session_client(emulator))
    for invocation_type in ("RequestResponse", "Event"):
        with pytest.raises(ClientError) as invoked:
            attacker.invoke(
                FunctionName=FUNCTION, InvocationType=invocation_type, Payload=json.dumps({"marker": str(marker)})
            )
        assert invoked.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert not wait_for(marker, timeout=1.0)

    # Control: the session's key runs it (the marker would have caught a hole).
    session_client(emulator).invoke(FunctionName=FUNCTION, Payload=json.dumps({"marker": str(marker)}))
    assert marker.read_text() == "ran"


def test_a_made_up_signature_on_raw_http_is_refused(emulator: Emulator, tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    create(session_client(emulator))
    forged = {
        "Authorization": f"AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/{datetime.now(UTC):%Y%m%d}/eu-west-1/lambda/aws4_request, "
        "SignedHeaders=host;x-amz-date, Signature=" + "0" * 64,
        "X-Amz-Date": datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ"),
        "Content-Type": "application/json",
    }
    answer = send(invocations_url(emulator), body=json.dumps({"marker": str(marker)}).encode(), headers=forged)
    assert answer.status == 403
    assert answer.json()["__type"] == "UnrecognizedClientException"
    assert not wait_for(marker, timeout=1.0)


# -- (2) the right key id, a wrong signature -------------------------------------------------


def test_the_sessions_key_id_with_a_garbage_or_stolen_signature_is_refused(emulator: Emulator, tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    create(session_client(emulator))
    key_id = emulator.credentials.access_key_id
    url = invocations_url(emulator)
    body = json.dumps({"marker": str(marker)}).encode()

    # The key id is all the attacker knows: any secret gives a signature that does not match.
    guessed = send_signed(url, key_id, "guessed-secret", body=body)
    assert (guessed.status, guessed.json()["__type"]) == (403, "InvalidSignatureException")

    # Garbled: not hex, cut short, no Signature at all.
    for garbage in ("Signature=zz" + "0" * 62, "Signature=abc", "nothing-here"):
        headers = {
            "Authorization": f"AWS4-HMAC-SHA256 Credential={key_id}/{datetime.now(UTC):%Y%m%d}/{REGION}/lambda/"
            f"aws4_request, SignedHeaders=host;x-amz-date, {garbage}",
            "X-Amz-Date": datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ"),
        }
        answer = send(url, body=body, headers=headers)
        assert (answer.status, answer.json()["__type"]) == (403, "InvalidSignatureException"), garbage

    # A real signature over another body (a request seen once, its payload swapped).
    from support.signing import sign

    key = emulator.credentials
    headers = sign(url, key.access_key_id, key.secret_access_key, body=b'{"harmless": true}')
    swapped = send(url, body=body, headers=headers)
    assert (swapped.status, swapped.json()["__type"]) == (403, "InvalidSignatureException")
    assert not wait_for(marker, timeout=1.0)


def test_a_signature_from_outside_the_clock_skew_window_is_refused(emulator: Emulator, tmp_path: Path) -> None:
    create(session_client(emulator))
    key = emulator.credentials
    url = invocations_url(emulator)
    now = datetime.now(UTC)
    for when in (now - timedelta(minutes=20), now + timedelta(minutes=20)):
        marker = tmp_path / f"ran-{when:%H%M}"
        answer = send_signed(
            url, key.access_key_id, key.secret_access_key, body=json.dumps({"marker": str(marker)}).encode(), at=when
        )
        assert (answer.status, answer.json()["__type"]) == (403, "InvalidSignatureException")
        assert not wait_for(marker, timeout=0.5)
    # Within AWS's 15 minutes a slow clock still works.
    marker = tmp_path / "ran-skewed"
    answer = send_signed(
        url,
        key.access_key_id,
        key.secret_access_key,
        body=json.dumps({"marker": str(marker)}).encode(),
        at=now - timedelta(minutes=10),
    )
    assert answer.status == 200, answer
    assert marker.exists()


def test_a_request_without_any_signature_reaches_nothing(emulator: Emulator) -> None:
    for url, method in ((f"{emulator.endpoint_url}/moto-api/reset", "POST"), (emulator.endpoint_url + "/", "GET")):
        answer = send(url, method=method)
        assert answer.status == 403, url
    create(session_client(emulator))
    assert send(f"{emulator.endpoint_url}/moto-api/reset").status == 403
    assert function_exists(emulator)  # the unsigned reset did not wipe the account


# -- (3) a web page: cross-origin "simple" POST ----------------------------------------------


def test_a_cross_origin_simple_post_to_the_invocations_path_is_refused(emulator: Emulator, tmp_path: Path) -> None:
    """What `fetch(url, {method: "POST", mode: "no-cors", body})` from any web page sends: no
    preflight, Content-Type text/plain, the page's Origin, no signature."""
    marker = tmp_path / "page-ran"
    create(session_client(emulator))
    payload = json.dumps({"marker": str(marker)}).encode()
    page = {"Content-Type": "text/plain;charset=UTF-8", "Origin": "http://evil.example"}
    for invocation_type in ("RequestResponse", "Event"):
        answer = send(
            invocations_url(emulator), body=payload, headers={**page, "X-Amz-Invocation-Type": invocation_type}
        )
        assert answer.status == 403
        assert answer.json()["__type"] == "AccessDeniedException"
        assert "access-control-allow-origin" not in {k.lower() for k in answer.headers}
    assert not wait_for(marker, timeout=1.0)

    # An Origin is refused even on a correctly signed request: no browser context is served.
    key = emulator.credentials
    signed = send_signed(
        invocations_url(emulator),
        key.access_key_id,
        key.secret_access_key,
        body=payload,
        headers={"Origin": "http://localhost:3000"},
    )
    assert signed.status == 403
    assert not wait_for(marker, timeout=0.5)


# -- (4) DNS rebinding: a page's own host name, resolved to 127.0.0.1 ----------------------


def test_a_request_for_another_host_is_refused(emulator: Emulator, tmp_path: Path) -> None:
    marker = tmp_path / "rebound"
    create(session_client(emulator))
    key = emulator.credentials
    payload = json.dumps({"marker": str(marker)}).encode()
    for host in (f"evil.example:{emulator.port}", "127.0.0.1", f"127.0.0.1:{emulator.port + 1}"):
        plain = send(invocations_url(emulator), body=payload, headers={"Host": host})
        signed = send_signed(
            invocations_url(emulator), key.access_key_id, key.secret_access_key, body=payload, headers={"Host": host}
        )
        assert (plain.status, signed.status) == (403, 403), host
        assert signed.json()["__type"] == "AccessDeniedException"
    assert not wait_for(marker, timeout=1.0)
    # localhost:PORT is the emulator too.
    answer = send_signed(
        invocations_url(emulator).replace("127.0.0.1", "localhost"),
        key.access_key_id,
        key.secret_access_key,
        body=payload,
    )
    assert answer.status == 200, answer
    assert marker.exists()


# -- refusals in the client's own protocol -------------------------------------------------


def test_refusals_reach_every_client_as_its_protocols_error(emulator: Emulator) -> None:
    """JSON services (DynamoDB, SQS), REST-JSON (Lambda) and query/XML ones (STS, IAM) each
    parse the refusal into an error code, not a protocol error."""
    for service, call in (
        ("dynamodb", lambda c: c.list_tables()),
        ("sqs", lambda c: c.list_queues()),
        ("sts", lambda c: c.get_caller_identity()),
        ("iam", lambda c: c.list_roles()),
        ("lambda", lambda c: c.list_functions()),
    ):
        client = boto3.client(
            service,
            region_name=REGION,
            endpoint_url=emulator.endpoint_url,
            aws_access_key_id="AKIAATTACKER00000000",
            aws_secret_access_key="x",
            config=Config(retries={"max_attempts": 1}),
        )
        with pytest.raises(ClientError) as refused:
            call(client)
        assert refused.value.response["Error"]["Code"] == "UnrecognizedClientException", service
        assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_the_developer_sees_each_refusal_with_control_characters_escaped(emulator: Emulator) -> None:
    seen: list[str] = []
    emulator.refused_listeners.append(seen.append)
    send(f"{emulator.endpoint_url}/2015-03-31/functions/x%1b%5b31m/invocations", headers={"Origin": "http://a"})
    [line] = seen
    assert "cross-origin" in line and "\x1b" not in line and "\\x1b[31m" in line


# -- (5) the legitimate path -----------------------------------------------------------------


def test_the_session_key_works_for_boto3_s3_and_presigned_urls(emulator: Emulator, tmp_path: Path) -> None:
    key = emulator.credentials
    client = lambda_client(emulator, key.access_key_id, key.secret_access_key)
    create(client)
    marker = tmp_path / "ran"
    response = client.invoke(
        FunctionName=f"arn:aws:lambda:{REGION}:123456789012:function:{FUNCTION}",
        Payload=json.dumps({"marker": str(marker)}),
    )
    assert response["StatusCode"] == 200 and marker.exists()

    # S3 (its own signing rules: the path as sent, a signed body hash) and a presigned URL.
    def s3_client(key_id: str, secret: str, **config: Any) -> Any:
        return boto3.client(
            "s3",
            region_name="us-east-1",
            endpoint_url=emulator.endpoint_url,
            aws_access_key_id=key_id,
            aws_secret_access_key=secret,
            config=Config(**config),
        )

    # boto3 presigns S3 URLs with Signature Version 2 unless told s3v4; only SigV4 is served.
    s3 = s3_client(key.access_key_id, key.secret_access_key, signature_version="s3v4")
    s3.create_bucket(Bucket="dev-bucket")
    s3.put_object(Bucket="dev-bucket", Key="a b/c.txt", Body=b"hello")
    params = {"Bucket": "dev-bucket", "Key": "a b/c.txt"}
    answer = send(s3.generate_presigned_url("get_object", Params=params, ExpiresIn=60), method="GET")
    assert (answer.status, answer.body) == (200, b"hello")
    forged = s3_client("AKIAX", "x", signature_version="s3v4").generate_presigned_url("get_object", Params=params)
    assert send(forged, method="GET").status == 403
    sigv2 = s3_client(key.access_key_id, key.secret_access_key).generate_presigned_url("get_object", Params=params)
    refused = send(sigv2, method="GET")
    assert refused.status == 403 and b"Signature Version 2 is not accepted" in refused.body


def test_functions_get_the_session_key_and_none_of_the_developers_credentials(
    emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIADEVELOPERSOWNKEY")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "developers-own-secret")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "developers-own-token")
    source = textwrap.dedent(
        """
        import os, boto3

        def handler(event, context):
            names = [n for n in os.environ if n.startswith("AWS_") and n != "AWS_LAMBDA_FUNCTION_NAME"]
            tables = boto3.client("dynamodb").list_tables()["TableNames"]  # calls back, signed
            return {"env": {n: os.environ[n] for n in names}, "tables": tables}
        """
    )
    session_client(emulator).create_function(
        FunctionName="env-probe",
        Runtime="python3.12",
        Role=ROLE,
        Handler="app.handler",
        Code={"ZipFile": code_zip(source)},
    )
    response = session_client(emulator).invoke(FunctionName="env-probe", Payload=b"{}")
    result = json.loads(response["Payload"].read())
    assert "FunctionError" not in response, result
    env = result["env"]
    assert env["AWS_ACCESS_KEY_ID"] == emulator.credentials.access_key_id
    assert env["AWS_SECRET_ACCESS_KEY"] == emulator.credentials.secret_access_key
    assert env.get("AWS_SESSION_TOKEN", "") == ""
    assert not any("developers-own" in value or value == "AKIADEVELOPERSOWNKEY" for value in env.values())
    assert env["AWS_CONFIG_FILE"] == env["AWS_SHARED_CREDENTIALS_FILE"] == os.devnull
    assert result["tables"] == []


# -- the door on its own: a clock that moved on ------------------------------------------------


def test_an_expired_presigned_url_is_refused_before_anything_sees_it() -> None:
    from werkzeug.test import Client

    from cronplane.aws.session import DevCredentials
    from cronplane.local.auth import RequestGuard

    reached: list[str] = []

    def app(environ: Any, start_response: Any) -> list[bytes]:
        reached.append(environ["PATH_INFO"])
        start_response("200 OK", [])
        return [b"ok"]

    key = DevCredentials.generate()
    now = time.time()
    guard = RequestGuard(app, key, clock=lambda: now)
    guard.listen_on("127.0.0.1", 4566)
    s3 = boto3.client(
        "s3",
        region_name="us-east-1",
        endpoint_url="http://127.0.0.1:4566",
        aws_access_key_id=key.access_key_id,
        aws_secret_access_key=key.secret_access_key,
        config=Config(signature_version="s3v4"),
    )
    url = s3.generate_presigned_url("get_object", Params={"Bucket": "b", "Key": "k"}, ExpiresIn=60)
    host = {"Host": "127.0.0.1:4566"}
    assert Client(guard).get(url, headers=host).status_code == 200
    assert reached == ["/b/k"]
    now += 61 + 15 * 60  # past its expiry and any clock skew
    refused = Client(guard).get(url, headers=host)
    assert refused.status_code == 403 and b"signature expired" in refused.data
    assert reached == ["/b/k"]
