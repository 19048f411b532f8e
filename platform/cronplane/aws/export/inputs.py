"""What an export writes from: the very ``desired_state`` that ``plan`` and ``deploy`` use, built
once more with placeholders where a value differs per environment.

An exported deployment must not be tied to the account, region and namespace it was exported
for: those (and each job's KMS key and VPC) become inputs. Rather than teaching a second
generator how every name and ARN is made, the export builds the desired state with unmistakable
placeholder values (``ACCOUNT``, ``REGION``, ...) in their place; every string that contains one
is then written as a reference to the input (``${AWS::AccountId}``, ``${var.namespace}``...).
So each name, ARN, policy and environment variable comes from ``build.resources`` /
``build.iam`` exactly as ``deploy`` makes it, and an input left at its default gives back what
``deploy`` would create.

The real desired state is built first as well, for its checks: the guardrails on declared
permissions hold for the manifest's own namespace, not for a placeholder.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from enum import StrEnum

from cronplane.build.resources import DEFAULT_ACCOUNT, DesiredState, desired_state
from cronplane.manifest import names
from cronplane.manifest.models import Manifest, Vpc

ACCOUNT = "zq0account0qz"
REGION = "zq0region0qz"
PARTITION = "zq0partition0qz"
NAMESPACE = "zq0ns0qz"
_KMS = "arn:zq0kms0qz:kms:::key/"  # + job: an ARN, as build.iam wants a key ARN
_SUBNETS = "zq0subnets0qz:"  # + job: the whole subnet list of the job
_GROUPS = "zq0sgs0qz:"  # + job: the whole security-group list of the job


class Input(StrEnum):
    """Which input a placeholder stands for."""

    ACCOUNT = "account"
    REGION = "region"
    PARTITION = "partition"
    NAMESPACE = "namespace"
    KMS_KEY = "kms_key"
    SUBNETS = "subnets"
    SECURITY_GROUPS = "security_groups"


@dataclass(frozen=True)
class Placeholder:
    """An input inside a string: which one, and for which job (KMS key and VPC are per job)."""

    input: Input
    job: str | None = None


# A string split at its placeholders: literal text and the inputs between.
Part = str | Placeholder


@dataclass(frozen=True)
class ExportInputs:
    """The inputs' defaults: what makes the export equal to a ``deploy`` of the manifest."""

    namespace: str
    region: str
    kms_keys: Mapping[str, str]  # job -> key ARN, for the jobs whose manifest entry has one
    vpcs: Mapping[str, Vpc]  # job -> subnets and security groups, likewise

    def namespace_max_length(self, jobs: list[str]) -> int:
        """The longest namespace whose generated names still fit AWS's limits."""
        room = [
            name.limit - (len(name.value) - len(self.namespace))
            for job in jobs
            for name in names.job_names(self.namespace, job)
        ]
        return min([32, *room])


@dataclass(frozen=True)
class ExportState:
    desired: DesiredState  # with placeholders
    inputs: ExportInputs
    tokens: Mapping[str, Placeholder]  # each placeholder string and what it stands for

    def split(self, text: str) -> list[Part]:
        """``text`` as literal pieces and placeholders, in order (no empty pieces)."""
        if not self.tokens:
            return [text] if text else []
        pattern = "|".join(re.escape(t) for t in sorted(self.tokens, key=len, reverse=True))
        parts: list[Part] = []
        last = 0
        for match in re.finditer(pattern, text):
            if match.start() > last:
                parts.append(text[last : match.start()])
            parts.append(self.tokens[match.group(0)])
            last = match.end()
        if last < len(text):
            parts.append(text[last:])
        return parts

    def list_input(self, value: object) -> Placeholder | None:
        """The input a whole list stands for (a job's subnets), or None."""
        if isinstance(value, list | tuple) and len(value) == 1 and isinstance(value[0], str):
            token = self.tokens.get(value[0])
            if token is not None and token.input in (Input.SUBNETS, Input.SECURITY_GROUPS):
                return token
        return None


def export_state(manifest: Manifest, code: Mapping[str, tuple[str, bytes | None]]) -> ExportState:
    """The desired state with placeholders, and the inputs' defaults. Raises what
    ``desired_state`` raises for the manifest itself (guardrails, policy size)."""
    desired_state(manifest, account_id=DEFAULT_ACCOUNT, region=manifest.region, code=code)
    tokens: dict[str, Placeholder] = {
        ACCOUNT: Placeholder(Input.ACCOUNT),
        REGION: Placeholder(Input.REGION),
        PARTITION: Placeholder(Input.PARTITION),
        NAMESPACE: Placeholder(Input.NAMESPACE),
    }
    jobs = []
    kms_keys: dict[str, str] = {}
    vpcs: dict[str, Vpc] = {}
    for job in manifest.jobs:
        if job.kms_key:
            kms_keys[job.name] = job.kms_key
            job = replace(job, kms_key=_KMS + job.name)
            tokens[_KMS + job.name] = Placeholder(Input.KMS_KEY, job.name)
        if job.vpc is not None:
            vpcs[job.name] = job.vpc
            job = replace(job, vpc=Vpc((_SUBNETS + job.name,), (_GROUPS + job.name,)))
            tokens[_SUBNETS + job.name] = Placeholder(Input.SUBNETS, job.name)
            tokens[_GROUPS + job.name] = Placeholder(Input.SECURITY_GROUPS, job.name)
        jobs.append(job)
    placeheld = replace(manifest, namespace=NAMESPACE, jobs=tuple(jobs))
    desired = desired_state(placeheld, account_id=ACCOUNT, region=REGION, code=code, partition=PARTITION)
    inputs = ExportInputs(manifest.namespace, manifest.region, kms_keys, vpcs)
    return ExportState(desired, inputs, tokens)


def short_name(name: str) -> str:
    """A resource's name without the namespace: what stays the same whatever the namespace
    (``zq0ns0qz--nightly-report-exec`` -> ``nightly-report-exec``; the group, named after the
    namespace alone, is ``namespace``)."""
    name = name.removeprefix(names.LOG_GROUP_ROOT)
    for prefix in (names.job_prefix(NAMESPACE), f"{NAMESPACE}-"):
        if name.startswith(prefix):
            return name[len(prefix) :]
    return "namespace" if name == NAMESPACE else name


__all__ = ["ExportInputs", "ExportState", "Input", "Part", "Placeholder", "export_state", "short_name"]
