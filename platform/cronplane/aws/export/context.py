"""What a resource kind's export methods are handed (``to_cloudformation(res, ctx)``,
``to_terraform(res, ctx)``): the export's desired state, and the one way each format writes a
value, a reference to another resource, tags, a package and a skipped check.

Values go through ``text``: a string holding a placeholder (``aws.export.inputs``) becomes a
reference to its input (``Fn::Sub`` / a Terraform template), every other value is written as
it is. ``arn`` does the same, but a value that *is* the ARN of another exported resource
becomes a reference to that resource, so the tool creates it first (a function's role, a
trigger's target): the dependency order comes from the desired state itself.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import Any

from cronplane.aws.export.hcl import Heredoc, Raw, escape_template, quote_template
from cronplane.aws.export.inputs import ExportState, Input, Part, Placeholder, short_name
from cronplane.build.resources import Resource
from cronplane.errors import CronplaneError

EXPORT_TAG = "cronplane:exported-to"  # marks what a tool other than jobctl deploys (see docs/export.md)
PACKAGE_DIR = "packages"


# A checkov check a resource fails on purpose: (check id, one-line reason[, the only format it applies to]).
Skip = tuple[str, str] | tuple[str, str, str]


class ExportError(CronplaneError):
    """The manifest cannot be exported as it is."""


class ExportContext:
    format: str = ""

    def __init__(self, state: ExportState) -> None:
        from cronplane.aws.kinds import kind_of

        self.state = state
        self.desired = state.desired
        self._by_key = {r.key: r for r in self.desired.resources}
        self._by_arn: dict[str, Resource] = {}
        for res in self.desired.resources:
            # The first resource with an ARN owns it: a function, not its invoke config.
            if kind_of(res.kind).export_word_of(res):
                self._by_arn.setdefault(res.arn, res)
        self.packages: dict[str, bytes] = {}  # file name in PACKAGE_DIR -> zip bytes

    def find(self, kind: str, name: str) -> Resource | None:
        return self._by_key.get((kind, name))

    def get(self, kind: str, name: str) -> Resource:
        res = self.find(kind, name)
        if res is None:
            raise ExportError(f"internal error: the export has no {kind} {name}")
        return res

    def resource_with_arn(self, arn: str) -> Resource | None:
        return self._by_arn.get(arn)

    def applicable(self, skips: Iterable[Skip]) -> list[tuple[str, str]]:
        """The checkov checks to skip in this format: (check, reason), or (check, reason,
        format) for a check only one format's checkov has."""
        return [(s[0], s[1]) for s in skips if len(s) == 2 or s[2] == self.format]

    def tag_values(self, res: Resource) -> dict[str, str]:
        """The resource's tags as deploy sets them, plus the mark of who deploys it."""
        return {**dict(res.tags), EXPORT_TAG: self.format}

    def package_file(self, res: Resource) -> str:
        """The package's file name (``<sha256 hex>.zip``), kept to be written beside the export."""
        if res.code is None:
            raise ExportError(f"internal error: no package built for {res.label}")
        name = f"{hashlib.sha256(res.code).hexdigest()}.zip"
        self.packages[name] = res.code
        return name

    @staticmethod
    def code_sha256(res: Resource) -> str:
        """What Lambda reports as CodeSha256 (base64 of the zip's sha256)."""
        assert res.code is not None
        return base64.b64encode(hashlib.sha256(res.code).digest()).decode("ascii")


# --- CloudFormation ---------------------------------------------------------------------------


def camel(name: str) -> str:
    """``nightly-report`` -> ``NightlyReport`` (logical ids are letters and digits only); the
    platform's own pseudo-jobs (``_watchdog``) -> ``PlatformWatchdog``."""
    if name.startswith("_"):
        return "Platform" + camel(name[1:])
    return "".join(word[:1].upper() + word[1:] for word in name.split("-"))


class CfnContext(ExportContext):
    format = "cloudformation"
    PACKAGE_BUCKET = "PackageBucket"
    NAMESPACE = "Namespace"

    def __init__(self, state: ExportState) -> None:
        super().__init__(state)
        self.parameters: dict[str, dict[str, Any]] = {}

    def logical_id(self, res: Resource, suffix: str = "") -> str:
        from cronplane.aws.kinds import kind_of

        return camel(res.job or "") + kind_of(res.kind).export_word_of(res) + suffix

    def id_of(self, kind: str, name: str, suffix: str = "") -> str:
        return self.logical_id(self.get(kind, name), suffix)

    def input_name(self, placeholder: Placeholder) -> str:
        """The template parameter (or pseudo parameter) a placeholder stands for."""
        match placeholder.input:
            case Input.ACCOUNT:
                return "AWS::AccountId"
            case Input.REGION:
                return "AWS::Region"
            case Input.PARTITION:
                return "AWS::Partition"
            case Input.NAMESPACE:
                return self.NAMESPACE
            case Input.KMS_KEY:
                return f"{camel(str(placeholder.job))}KmsKeyArn"
            case Input.SUBNETS:
                return f"{camel(str(placeholder.job))}SubnetIds"
            case Input.SECURITY_GROUPS:
                return f"{camel(str(placeholder.job))}SecurityGroupIds"
        raise AssertionError(placeholder)

    def text(self, value: Any) -> Any:
        """``value`` with every placeholder turned into its input (``Ref`` / ``Fn::Sub``)."""
        if isinstance(value, str):
            parts = self.state.split(value)
            if not any(isinstance(p, Placeholder) for p in parts):
                return value
            if len(parts) == 1:
                return {"Ref": self.input_name(parts[0])}  # type: ignore[arg-type]
            return {"Fn::Sub": "".join(self._sub_part(p) for p in parts)}
        placeholder = self.state.list_input(value)
        if placeholder is not None:
            return {"Ref": self.input_name(placeholder)}
        if isinstance(value, Mapping):
            return {k: self.text(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.text(v) for v in value]
        return value

    def _sub_part(self, part: Part) -> str:
        if isinstance(part, Placeholder):
            return "${" + self.input_name(part) + "}"
        return part.replace("${", "${!")  # a literal "${" in Fn::Sub

    def arn(self, value: str) -> Any:
        """A reference to the resource whose ARN ``value`` is, else ``text(value)``."""
        from cronplane.aws.kinds import kind_of

        res = self.resource_with_arn(value)
        if res is None:
            return self.text(value)
        return kind_of(res.kind).cfn_arn(self.logical_id(res))

    def tags(self, res: Resource) -> list[dict[str, Any]]:
        return [{"Key": k, "Value": self.text(v)} for k, v in sorted(self.tag_values(res).items())]

    def code(self, res: Resource) -> dict[str, Any]:
        return {"S3Bucket": {"Ref": self.PACKAGE_BUCKET}, "S3Key": f"{PACKAGE_DIR}/{self.package_file(res)}"}


def skipped(checks: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """Resource ``Metadata`` that skips checkov checks, each with its one-line reason."""
    skips = [{"id": check, "comment": reason} for check, reason in checks]
    return {"checkov": {"skip": skips}} if skips else {}


# --- Terraform --------------------------------------------------------------------------------


def tf_name(res: Resource) -> str:
    """A resource's Terraform name: its AWS name without the namespace, ``-`` as ``_``
    (``nightly_report_exec``); names are injective, and have no ``_``, so these are too."""
    name = short_name(res.name).replace("-", "_")
    return f"_{name}" if name[:1].isdigit() else name


class TfContext(ExportContext):
    format = "terraform"

    def address(self, res: Resource) -> str:
        from cronplane.aws.kinds import kind_of

        return f"{kind_of(res.kind).tf_type}.{tf_name(res)}"

    def address_of(self, kind: str, name: str) -> str:
        return self.address(self.get(kind, name))

    def input_expression(self, placeholder: Placeholder) -> str:
        match placeholder.input:
            case Input.ACCOUNT:
                return "data.aws_caller_identity.current.account_id"
            case Input.REGION:
                return "var.region"
            case Input.PARTITION:
                return "data.aws_partition.current.partition"
            case Input.NAMESPACE:
                return "var.namespace"
            case Input.KMS_KEY:
                return f'var.kms_key_arns["{placeholder.job}"]'
            case Input.SUBNETS:
                return f'var.vpc_configs["{placeholder.job}"].subnet_ids'
            case Input.SECURITY_GROUPS:
                return f'var.vpc_configs["{placeholder.job}"].security_group_ids'
        raise AssertionError(placeholder)

    def template(self, value: str) -> str:
        """``value`` as the inside of a string template: placeholders interpolated, the rest escaped."""
        return "".join(
            "${" + self.input_expression(p) + "}" if isinstance(p, Placeholder) else escape_template(p)
            for p in self.state.split(value)
        )

    def text(self, value: Any) -> Any:
        if isinstance(value, str):
            parts = self.state.split(value)
            if not any(isinstance(p, Placeholder) for p in parts):
                return value
            if len(parts) == 1:
                return Raw(self.input_expression(parts[0]))  # type: ignore[arg-type]
            return Raw(quote_template(self.template(value)))
        placeholder = self.state.list_input(value)
        if placeholder is not None:
            return Raw(self.input_expression(placeholder))
        if isinstance(value, Mapping):
            return {k: self.text(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.text(v) for v in value]
        return value

    def arn(self, value: str) -> Any:
        res = self.resource_with_arn(value)
        if res is None:
            return self.text(value)
        return Raw(f"{self.address(res)}.arn")

    def document(self, value: Any) -> Heredoc:
        """A JSON document (a policy) as a heredoc, keys sorted, placeholders interpolated."""
        return Heredoc(self.template(json.dumps(value, indent=2, sort_keys=True)))

    def tags(self, res: Resource) -> dict[str, Any]:
        return {k: self.text(v) for k, v in sorted(self.tag_values(res).items())}

    def code(self, res: Resource) -> tuple[Raw, str]:
        """``filename`` and ``source_code_hash`` of a function."""
        path = f"${{path.module}}/{PACKAGE_DIR}/{self.package_file(res)}"
        return Raw(f'"{path}"'), self.code_sha256(res)


def checkov_skips(checks: Iterable[tuple[str, str]]) -> tuple[str, ...]:
    """Comment lines inside a Terraform block that skip checkov checks, with their reasons."""
    return tuple(f"checkov:skip={check}:{reason}" for check, reason in checks)


__all__ = [
    "EXPORT_TAG",
    "PACKAGE_DIR",
    "CfnContext",
    "ExportContext",
    "ExportError",
    "Skip",
    "TfContext",
    "camel",
    "checkov_skips",
    "skipped",
    "tf_name",
]
