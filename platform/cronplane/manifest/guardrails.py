"""Guardrails on what a job may declare for its own role: ``permissions`` and ``secrets``.

A team writes its job's ``permissions`` and ``secrets`` in ``jobs.yaml``; the deployer's
credentials turn them into the job's IAM policy. So a manifest entry is a request for rights,
checked here (by ``jobctl validate``, and again by ``build.iam`` before a policy is built):

- no action wildcards (``s3:*``, ``s3:Get*``): list the actions the job calls;
- no wildcard resources: ``*``, or an ARN whose resource part is only wildcards (``table/*``,
  ``arn:aws:s3:::*``): name the resources;
- no privilege-escalation actions (``ESCALATION_ACTIONS``, and every IAM action that writes):
  rights that let the job's code give itself (or a new identity) more rights;
- none of the platform's own resources: this namespace's history table (every job's records),
  any job's function, role, dead-letter queue, trigger, log group or alarm, the alert topic, its
  key and the watchdog (names from ``names``); nor, by the shape of their names, any other
  cronplane namespace's (a ``*-history`` table, a name holding ``--``);
- no secret of another team: ``ssm:/<team>/...`` where ``<team>`` is another team of the
  manifest (when the caller passes the teams);
- no wildcard secret references (``ssm:/*``, ``ssm:/team/*``, a secret ARN with ``*``): the
  runtime reads exactly the named secret, so a pattern only widens what the role may read.

Deny statements are not checked: they take rights away. A team that truly needs one of the
permission grants above writes ``allow_privileged: "<why, for the reviewer>"`` on the job: the
findings become ``waived`` (``jobctl plan`` shows each, with the reason) instead of errors.
Wildcard secret references are never waived: no job needs one.

Sources for the escalation list: Rhino Security Labs, "AWS IAM Privilege Escalation - Methods
and Mitigation" (https://rhinosecuritylabs.com/aws/aws-privilege-escalation-methods-mitigation/,
21 methods), Bishop Fox, "5 privesc attack vectors in AWS" (the list parliament's
privilege_escalation auditor implements), and the AWS Service Authorization Reference's
"Permissions management" access level for IAM.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from cronplane.manifest import names
from cronplane.manifest.models import Job

MIN_REASON_CHARS = 20  # allow_privileged: a sentence a reviewer can judge, not "yes"
# Said after every waivable finding: the way out, and that it is reviewed.
EXCEPTION_HINT = (
    '; if the job truly needs it, add allow_privileged: "<why, for the reviewer>" to the job (jobctl plan shows it)'
)

# Actions that let the holder raise its own (or another identity's) rights, lowercased. Every
# IAM action that is not a read is refused too (``_is_iam_write``).
ESCALATION_ACTIONS = frozenset(
    a.lower()
    for a in (
        # Use another role's rights (Rhino: AssumeRole after UpdateAssumeRolePolicy / PutRolePolicy).
        "sts:AssumeRole",
        "sts:AssumeRoleWithSAML",
        "sts:AssumeRoleWithWebIdentity",
        "sts:GetFederationToken",
        # Run code as a role: new or changed Lambda functions and their triggers (Rhino 15-18).
        "lambda:CreateFunction",
        "lambda:UpdateFunctionCode",
        "lambda:UpdateFunctionConfiguration",
        "lambda:AddPermission",
        "lambda:AddLayerVersionPermission",
        "lambda:CreateEventSourceMapping",
        "lambda:CreateFunctionUrlConfig",
        "lambda:UpdateFunctionUrlConfig",
        # Rhino 12-14, 19-21 and Bishop Fox 4-5: services that run code with a role.
        "ec2:RunInstances",
        "ec2:ModifyInstanceAttribute",
        "glue:CreateDevEndpoint",
        "glue:UpdateDevEndpoint",
        "cloudformation:CreateStack",
        "cloudformation:UpdateStack",
        "cloudformation:CreateChangeSet",
        "cloudformation:ExecuteChangeSet",
        "datapipeline:CreatePipeline",
        "datapipeline:PutPipelineDefinition",
        "codebuild:CreateProject",
        "codebuild:UpdateProject",
        "sagemaker:CreateNotebookInstance",
        "sagemaker:CreatePresignedNotebookInstanceUrl",
        "ssm:SendCommand",
        "ssm:StartSession",
        # Grant oneself decryption or a key's other uses.
        "kms:CreateGrant",
        "kms:PutKeyPolicy",
    )
)
# IAM actions that only read; every other IAM action (PassRole, Put*, Attach*, Create*,
# Update*...) is permissions management.
_IAM_READ_PREFIXES = ("get", "list", "generate", "simulate")
# Services whose ARN resource part has no resource type in front of the name.
_UNTYPED_SERVICES = frozenset({"s3", "sqs", "sns"})
_WILDCARD_ONLY = re.compile(r"^[*?]*$")


@dataclass(frozen=True)
class Finding:
    """One guardrail a job's declaration crosses. ``path`` is where it is inside the job's
    settings (``("permissions", 0, "actions", 1)``), ``grant`` a short label for the plan's
    note, ``waivable`` whether ``allow_privileged`` may accept it."""

    path: tuple[str | int, ...]
    message: str
    grant: str
    waivable: bool = True

    @property
    def refusal(self) -> str:
        """The message as an error: with the way to an exception when there is one."""
        return self.message + (EXCEPTION_HINT if self.waivable else "")


def permission_findings(namespace: str, job: str, job_names: Iterable[str], permissions: object) -> list[Finding]:
    """Every guardrail the ``permissions`` setting (as written in jobs.yaml) crosses."""
    platform: _PlatformNames | None = None  # names every job's resources: made only when needed
    found: list[Finding] = []
    for index, statement in enumerate(permissions if isinstance(permissions, list) else []):
        if not isinstance(statement, Mapping) or statement.get("effect", "Allow") != "Allow":
            continue  # a Deny takes rights away; a malformed statement is the schema's problem
        actions = _strings(statement.get("actions"))
        resources = _strings(statement.get("resources"))
        for number, action in actions:
            found.extend(_action_findings(("permissions", index, "actions", number), action))
        for number, resource in resources:
            platform = platform or _PlatformNames(namespace, job, job_names)
            found.extend(_resource_findings(("permissions", index, "resources", number), resource, platform))
    return found


def secret_findings(secrets: object, *, team: str | None = None, teams: Iterable[str] = ()) -> list[Finding]:
    """Every wildcard secret reference in the ``secrets`` setting ({ENV: "ssm:/name"}), and every
    ``ssm:/<other>/...`` reference whose first segment is another of ``teams`` (the manifest's
    teams) than the job's own ``team``: by the ``ssm:/<team>/...`` convention that is their secret."""
    others = {t for t in teams if t != team} if team is not None else set()
    found: list[Finding] = []
    for env, reference in secrets.items() if isinstance(secrets, Mapping) else ():
        if not isinstance(reference, str):
            continue
        source, _, name = reference.partition(":")
        owner = name.lstrip("/").split("/", 1)[0] if source == "ssm" and "/" in name.lstrip("/") else ""
        if owner in others:
            found.append(
                Finding(
                    ("secrets", env),
                    f"{reference!r}: secret belongs to team {owner} (parameters under /{owner}/ are theirs); "
                    f"store the value the job needs under ssm:/{team}/...",
                    reference,
                )
            )
            continue
        if any(c in name for c in "*?"):
            found.append(
                Finding(
                    ("secrets", env),
                    f"{reference!r} is a pattern: the role would be allowed to read every {source} secret it "
                    "matches, while the runtime reads exactly one; name the secret itself (e.g. "
                    f"{source}:{'/team/db-password' if source == 'ssm' else 'team/api-token'})",
                    reference,
                    waivable=False,
                )
            )
        elif source == "ssm" and (name.rstrip("/") == "" or name.endswith("/")):
            found.append(
                Finding(
                    ("secrets", env),
                    f"{reference!r} names a path, not a parameter; give the parameter's full name "
                    "(e.g. ssm:/team/db-password)",
                    reference,
                    waivable=False,
                )
            )
    return found


def job_findings(namespace: str, job: Job, job_names: Iterable[str], teams: Iterable[str] = ()) -> list[Finding]:
    """The findings of a built ``Job`` (``models.Job``): what ``build.iam`` and the plan's note
    check, from the same rules as ``validate``; ``teams``: the manifest's teams."""
    permissions = [
        {"actions": list(p.actions), "resources": list(p.resources), "effect": p.effect} for p in job.permissions
    ]
    secrets = {s.env: f"{s.source}:{s.name}" for s in job.secrets}
    return permission_findings(namespace, job.name, job_names, permissions) + secret_findings(
        secrets, team=job.team, teams=teams
    )


def is_wildcard_resource(resource: str) -> bool:
    """``*``, or an ARN whose resource part names no resource: only wildcards after its type
    (``table/*``, ``function:*``, ``arn:aws:s3:::*``, ``arn:aws:s3:::*/*``, ``...:*`` for SQS).
    Scoped patterns (``bucket/*``, ``table/orders/index/*``, ``log-group:NAME:*``) are not."""
    if _WILDCARD_ONLY.match(resource):
        return True
    parts = resource.split(":", 5)
    if len(parts) != 6 or parts[0] != "arn":
        return False
    service, tail = parts[2], parts[5]
    segments = re.split(r"[/:]", tail)
    if service not in _UNTYPED_SERVICES and len(segments) > 1:
        segments = segments[1:]  # the resource type ("table", "function", "parameter")
    # The name: the first non-empty segment ("log-group:/aws/x" has an empty one after the type).
    name = next((segment for segment in segments if segment), "")
    return bool(_WILDCARD_ONLY.match(name))


def is_escalation_action(action: str) -> bool:
    lowered = action.lower()
    service, _, name = lowered.partition(":")
    return lowered in ESCALATION_ACTIONS or (service == "iam" and not name.startswith(_IAM_READ_PREFIXES))


# --- helpers ---------------------------------------------------------------------------------


def _action_findings(path: tuple[str | int, ...], action: str) -> list[Finding]:
    if any(c in action for c in "*?"):
        return [
            Finding(
                path,
                f"{action!r} is a wildcard: it grants every action it matches, including ones AWS adds later; "
                "list the actions the job calls (e.g. s3:GetObject, s3:PutObject)",
                action,
            )
        ]
    if is_escalation_action(action):
        return [
            Finding(
                path,
                f"{action!r} lets the job's code raise its own rights (privilege escalation: pass or change "
                "a role, assume one, or run code as one); remove it",
                action,
            )
        ]
    return []


def _resource_findings(path: tuple[str | int, ...], resource: str, platform: _PlatformNames) -> list[Finding]:
    if is_wildcard_resource(resource):
        return [
            Finding(
                path,
                f"{resource!r} names every resource of its kind; name the ones the job uses "
                "(e.g. arn:aws:s3:::my-bucket/reports/*)",
                resource,
            )
        ]
    what = platform.describe(resource)
    if what is None:
        shape = _cronplane_shape(resource)
        if shape is not None:
            return [Finding(path, f"{resource!r} covers {shape}", resource)]
    if what is not None:
        return [
            Finding(
                path,
                f"{resource!r} covers {what}, which cronplane runs the jobs with; the runtime already has "
                "what the job needs of it. Remove it (or name a resource of the team's own)",
                resource,
            )
        ]
    return []


# Where the name sits in the ARN's resource part, for the kinds cronplane names with ``--``.
_SEPARATED_KINDS = {
    "lambda": "function:",
    "sqs": "",
    "events": "rule/",
    "logs": f"log-group:{names.LOG_GROUP_ROOT}",
    "cloudwatch": "alarm:",
    "iam": "role/",
}


def _cronplane_shape(resource: str) -> str | None:
    """What of *any* cronplane namespace ``resource`` looks like, by the shape of its name: a
    ``*-history`` table (and its indexes) or a function, queue, rule, log group, alarm or role
    whose name holds ``--`` (``names.SEPARATOR``: only cronplane joins namespace and job so)."""
    parts = resource.split(":", 5)
    if len(parts) != 6 or parts[0] != "arn":
        return None
    service, tail = parts[2].lower(), parts[5]
    if service == "dynamodb" and tail.startswith("table/"):
        table = tail[len("table/") :].split("/", 1)[0]
        if table.endswith(names.history_table("")) and len(table) > len(names.history_table("")):
            return (
                "another namespace's run history (cronplane names its history tables <namespace>-history; "
                "every job's records, results and tracebacks). Remove it, or rename the team's own table "
                "so that it does not end in -history"
            )
        return None
    start = _SEPARATED_KINDS.get(service)
    if start is None or not tail.startswith(start):
        return None
    name = tail[len(start) :].rsplit("/", 1)[-1].split(":", 1)[0]
    if names.SEPARATOR in name:
        return (
            f"a resource of a cronplane namespace (cronplane joins namespace and job with "
            f"{names.SEPARATOR!r}, so {name!r} is another namespace's job, watchdog or alert). Remove it, "
            f"or rename the team's own resource without {names.SEPARATOR!r}"
        )
    return None


def _strings(value: object) -> list[tuple[int, str]]:
    return [(n, v) for n, v in enumerate(value) if isinstance(v, str)] if isinstance(value, list) else []


class _PlatformNames:
    """The namespace's own resources, as (service, resource part) pairs a declared ARN must not
    match, and as prefixes a declared pattern must neither start with nor cover."""

    def __init__(self, namespace: str, job: str, job_names: Iterable[str]) -> None:
        table = names.history_table(namespace)
        group = names.schedule_group(namespace)
        history = f"the run history of namespace {namespace} (every job's records, results and tracebacks)"
        any_job = f"namespace {namespace}'s jobs"
        self.exact: list[tuple[str, str, str]] = [
            ("dynamodb", f"table/{table}", history),
            ("scheduler", f"schedule-group/{group}", f"namespace {namespace}'s Scheduler group"),
        ]
        for other in dict.fromkeys([job, *job_names]):
            whose = "this job's own" if other == job else f"job {other}'s"
            fn = names.function_name(namespace, other)
            role_path = names.role_path(namespace).lstrip("/")
            self.exact += [
                ("lambda", f"function:{fn}", f"{whose} function"),
                ("sqs", names.dlq_name(namespace, other), f"{whose} dead-letter queue"),
                ("iam", f"role/{role_path}{names.role_name(namespace, other)}", f"{whose} role"),
                ("iam", f"role/{role_path}{names.scheduler_role_name(namespace, other)}", f"{whose} Scheduler role"),
                ("events", f"rule/{names.rule_name(namespace, other)}", f"{whose} EventBridge rule"),
                ("scheduler", f"schedule/{group}/{names.schedule_name(namespace, other)}", f"{whose} schedule"),
                ("logs", f"log-group:{names.log_group_name(namespace, other)}", f"{whose} log group"),
            ]
        # Alerts: the topic jobs' alarms publish to, its key, the alarms and the watchdog. Who
        # may publish, subscribe or change an alarm's state can fake or silence every alert.
        self.exact += [
            ("sns", names.alert_topic(namespace), f"namespace {namespace}'s alert topic"),
            ("kms", names.alert_key_alias(namespace), f"namespace {namespace}'s alert topic key"),
            ("lambda", f"function:{names.watchdog_function(namespace)}", f"namespace {namespace}'s watchdog"),
            ("logs", f"log-group:{names.log_group_name(namespace, names.WATCHDOG)}", "the watchdog's log group"),
        ]
        for other in dict.fromkeys([job, *job_names]):
            whose = "this job's own" if other == job else f"job {other}'s"
            self.exact.append(("cloudwatch", f"alarm:{names.alarm_name(namespace, other)}", f"{whose} alarm"))
        prefix = names.job_prefix(namespace)
        self.prefixes: list[tuple[str, str, str]] = [
            ("dynamodb", f"table/{table}/", history),  # its indexes and stream
            ("lambda", f"function:{prefix}", f"the functions of {any_job}"),
            ("sqs", prefix, f"the dead-letter queues of {any_job}"),
            ("iam", "role/cronplane/", "the roles cronplane runs jobs with"),
            ("events", f"rule/{prefix}", f"the EventBridge rules of {any_job}"),
            ("scheduler", f"schedule/{group}/", f"the schedules of {any_job}"),
            ("logs", f"log-group:{names.log_group_name(namespace, '')}", f"the log groups of {any_job}"),
            ("cloudwatch", f"alarm:{prefix}", f"the alarms of {any_job}"),
        ]

    def describe(self, resource: str) -> str | None:
        """What of the platform ``resource`` (an ARN, maybe with wildcards) covers, or None."""
        parts = resource.split(":", 5)
        if len(parts) != 6 or parts[0] != "arn":
            return None
        service, tail = parts[2], parts[5]
        pattern = _glob(tail)
        for kind, name, what in self.exact:
            if _glob(service).match(kind) and (pattern.match(name) or pattern.match(f"{name}:x")):
                return what
        literal = re.split(r"[*?]", tail, maxsplit=1)[0]
        wild = literal != tail
        for kind, prefix, what in self.prefixes:
            if not _glob(service).match(kind):
                continue
            if literal.startswith(prefix) or (wild and prefix.startswith(literal)):
                return what
        return None


def _glob(pattern: str) -> re.Pattern[str]:
    """An IAM pattern (``*`` any run of characters, ``?`` one) as a full-match regex."""
    return re.compile("".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern) + r"\Z")
