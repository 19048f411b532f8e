"""The AWS credentials a job's code gets when it runs on this machine (``jobctl run-now
--local``): temporary ones that can do no more than the job's execution role, never the
operator's own. The operator usually holds deployer rights; team code must not run with them.

In order, through STS (``AwsClient.sts``, the one door):

1. ``AssumeRole`` of the job's deployed execution role, with the job's execution policy
   (``build.iam.execution_policy``, as the manifest says it now) as session policy when it fits,
   so the run has at most the intersection of the two. Works only where the role's trust policy
   lets the caller in (deploy makes it trust ``lambda.amazonaws.com`` alone, so usually not).
2. The caller's own identity narrowed by that policy as a session policy (the session's rights
   are the intersection of the caller's and the policy's, so the job can do no more than its
   role): ``GetFederationToken`` for an IAM user, ``AssumeRole`` of the caller's own role for a
   role session (its trust policy must allow that role to assume itself).

When neither works (no STS rights, a caller that can do neither, a policy over the 2,048
characters STS takes as a session policy, or STS packing it over its limit), ``ScopingError``
refuses the run with one line naming ``--caller-credentials``: the deliberate way to run with
the caller's own rights, which ``caller_credentials`` hands over with a warning.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from cronplane.aws.client import AwsCallError, AwsClient
from cronplane.errors import AwsError, CronplaneError
from cronplane.manifest import names
from cronplane.manifest.models import Job, Manifest

SESSION_POLICY_MAX_CHARS = 2048  # STS: inline session policy, packed JSON
MIN_SESSION_S = 900  # the shortest STS session
MAX_SESSION_S = 3600  # the longest a role session chained from another may last
SESSION_MARGIN_S = 300  # the run must not outlive its credentials: its timeout plus this
TOO_LARGE = "PackedPolicyTooLarge"
CALLER = re.compile(r"^arn:(?P<partition>[\w-]+):(?:iam|sts)::(?P<account>\d{12}):(?P<kind>[\w-]+)/?(?P<rest>.*)$")
FLAG = "--caller-credentials"


class ScopingError(CronplaneError):
    """The job's code cannot be given credentials limited to its execution policy."""


@dataclass(frozen=True)
class JobCredentials:
    access_key_id: str
    secret_access_key: str = field(repr=False)
    session_token: str = field(repr=False)  # "" for long-term keys (--caller-credentials only)
    source: str  # how they were made, for the user: "role R, limited to the job's execution policy"
    scoped: bool  # False: the caller's own rights (--caller-credentials)

    def environment(self) -> dict[str, str]:
        """The variables that hand these, and only these, to the child process."""
        return {
            "AWS_ACCESS_KEY_ID": self.access_key_id,
            "AWS_SECRET_ACCESS_KEY": self.secret_access_key,
            "AWS_SESSION_TOKEN": self.session_token,
            "AWS_SECURITY_TOKEN": self.session_token,
        }


@dataclass(frozen=True)
class Caller:
    partition: str
    account: str
    kind: str  # "user", "root", "assumed-role", "federated-user", ...
    name: str  # the user's or the role's name (no path); "" for root

    @classmethod
    def parse(cls, arn: str) -> Caller | None:
        match = CALLER.match(arn)
        if match is None:
            return None
        rest = match["rest"]
        # assumed-role/ROLE/SESSION names the role first; user/PATH/NAME the user last.
        name = rest.split("/")[0] if match["kind"] == "assumed-role" else rest.rsplit("/", 1)[-1]
        return cls(match["partition"], match["account"], match["kind"], name)


def session_policy(manifest: Manifest, job: Job, caller: Caller, region: str) -> str:
    """The job's execution policy as STS takes a session policy: compact JSON."""
    from cronplane.build.iam import execution_policy

    policy = execution_policy(manifest, job, account_id=caller.account, region=region, partition=caller.partition)
    return json.dumps(policy, separators=(",", ":"))


def session_seconds(job: Job) -> int:
    return min(MAX_SESSION_S, max(MIN_SESSION_S, job.timeout + SESSION_MARGIN_S))


def scoped_credentials(client: AwsClient, manifest: Manifest, job: Job, caller_arn: str, region: str) -> JobCredentials:
    """Temporary credentials that can do no more than ``job``'s execution role (see the module
    docstring for how); ``ScopingError`` when there is no way to make them."""
    caller = Caller.parse(caller_arn)
    if caller is None:
        raise refusal(job, f"cannot tell the account from the caller {caller_arn or '(unknown)'}")
    policy = session_policy(manifest, job, caller, region)
    fits = len(policy) <= SESSION_POLICY_MAX_CHARS
    seconds = session_seconds(job)
    role_arn = job_role_arn(manifest, job, caller)
    try:
        answer = _assume_role(client, role_arn, job, seconds, policy if fits else None)
        limit = ", limited to the job's execution policy" if fits else ""
        return _temporary(answer, f"the job's role {role_arn}{limit}")
    except AwsCallError as exc:
        job_role_refused = f"assuming the job's role: {exc.code}"
    except AwsError as exc:
        raise refusal(job, f"STS did not answer ({exc})") from exc
    if not fits:
        raise refusal(
            job,
            f"{job_role_refused}; its execution policy is {len(policy)} characters and STS takes "
            f"{SESSION_POLICY_MAX_CHARS} as a session policy",
        )
    try:
        return _narrowed_caller(client, job, caller, caller_arn, policy, seconds)
    except AwsCallError as exc:
        why = "STS packed its execution policy over the session policy limit" if exc.code == TOO_LARGE else exc.code
        raise refusal(job, f"{job_role_refused}; narrowing your own credentials: {why}") from exc
    except AwsError as exc:
        raise refusal(job, f"{job_role_refused}; STS did not answer ({exc})") from exc


def _narrowed_caller(
    client: AwsClient, job: Job, caller: Caller, caller_arn: str, policy: str, seconds: int
) -> JobCredentials:
    limit = "limited to the job's execution policy"
    if caller.kind in ("user", "root"):
        token = client.sts.get_federation_token(
            Name=_session_name(f"cp-local-{job.name}", 32), Policy=policy, DurationSeconds=seconds
        )
        return _temporary(token, f"a federation token of {caller_arn}, {limit}")
    if caller.kind == "assumed-role":
        own_role = _role_arn(client, caller)
        return _temporary(_assume_role(client, own_role, job, seconds, policy), f"your role {own_role}, {limit}")
    raise refusal(job, f"{caller_arn} can neither assume the job's role nor narrow its own credentials")


def caller_credentials(frozen: Any, caller_arn: str | None) -> JobCredentials:
    """``--caller-credentials``: the caller's own, on purpose (the CLI warns)."""
    return JobCredentials(
        frozen.access_key, frozen.secret_key, frozen.token or "", f"your own credentials ({caller_arn or '?'})", False
    )


def job_role_arn(manifest: Manifest, job: Job, caller: Caller) -> str:
    ns = manifest.namespace
    return f"arn:{caller.partition}:iam::{caller.account}:role{names.role_path(ns)}{names.role_name(ns, job.name)}"


def refusal(job: Job, why: str) -> ScopingError:
    return ScopingError(
        f"run-now --local {job.name}: cannot give the job credentials limited to its execution role ({why}). "
        f"Run it on AWS (jobctl run-now {job.name}), or with your own AWS rights on purpose: "
        f"jobctl run-now {job.name} --local {FLAG}"
    )


def _assume_role(client: AwsClient, role_arn: str, job: Job, seconds: int, policy: str | None) -> Any:
    """AssumeRole as ``cronplane-local-JOB`` (the session name CloudTrail shows), narrowed by the
    session ``policy`` when there is one."""
    session = _session_name(f"cronplane-local-{job.name}", 64)
    if policy is None:
        return client.sts.assume_role(RoleArn=role_arn, RoleSessionName=session, DurationSeconds=seconds)
    return client.sts.assume_role(RoleArn=role_arn, RoleSessionName=session, DurationSeconds=seconds, Policy=policy)


def _role_arn(client: AwsClient, caller: Caller) -> str:
    """The ARN of the caller's role, path included (an assumed-role ARN leaves the path out)."""
    try:
        return str(client.iam.get_role(RoleName=caller.name)["Role"]["Arn"])
    except AwsError:
        return f"arn:{caller.partition}:iam::{caller.account}:role/{caller.name}"


def _temporary(answer: Any, source: str) -> JobCredentials:
    creds = answer["Credentials"]
    return JobCredentials(
        str(creds["AccessKeyId"]), str(creds["SecretAccessKey"]), str(creds["SessionToken"]), source, True
    )


def _session_name(name: str, limit: int) -> str:
    return re.sub(r"[^\w+=,.@-]", "-", name)[:limit]
