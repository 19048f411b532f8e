"""Options shared by several commands, so they read the same everywhere."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from cronplane.aws.session import AwsConfig

F = Callable[..., Any]


def manifest_option(func: F) -> F:
    return click.option(
        "-f",
        "--file",
        "manifest_path",
        default="jobs.yaml",
        show_default=True,
        type=click.Path(dir_okay=False),
        help="The manifest to read.",
    )(func)


def output_option(*choices: str, default: str | None = None) -> Callable[[F], F]:
    def decorate(func: F) -> F:
        return click.option(
            "-o",
            "--output",
            type=click.Choice(list(choices)),
            default=default or choices[0],
            show_default=True,
            help="Output format.",
        )(func)

    return decorate


def aws_options(func: F) -> F:
    """--region / --profile / --endpoint-url; each falls back to the standard AWS_* variables."""
    func = click.option("--endpoint-url", default=None, help="Send AWS calls here (e.g. the `jobctl dev` emulator).")(
        func
    )
    func = click.option("--profile", default=None, help="AWS profile (default: AWS_PROFILE).")(func)
    func = click.option("--region", default=None, help="AWS region (default: AWS_REGION, then the manifest's region).")(
        func
    )
    return func


def aws_config(
    region: str | None,
    profile: str | None,
    endpoint_url: str | None,
    manifest_region: str | None = None,
    root: str = ".",
) -> AwsConfig:
    """Where this command's AWS calls go (``AwsConfig.with_defaults``: option, environment,
    profile, a running ``jobctl dev``, the manifest's region)."""
    from cronplane.aws.session import AwsConfig

    return AwsConfig(region=region, profile=profile, endpoint_url=endpoint_url).with_defaults(manifest_region, root)
