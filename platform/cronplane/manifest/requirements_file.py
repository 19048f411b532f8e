"""A team's ``requirements.txt``, read as data: pinned lines only, nothing pip would act on.

pip treats a requirements file as a program: ``-r /any/file`` reads (and echoes) other files,
``-e``/local paths/``--no-binary`` run build code with the caller's environment, and
``--index-url``/``--extra-index-url``/``--trusted-host``/``--find-links`` choose where code
comes from (dependency confusion). ``jobctl plan/deploy/dev`` run pip with powerful AWS
credentials around, and a team member who can edit ``jobs/<team>/`` is not trusted with them.

So the file is parsed here, by us, and only this is accepted, one requirement per logical line:

    name[extra,...]==VERSION [; environment marker] [--hash=sha256:HEX ...]

plus comments, blank lines and ``\\`` continuations. The version is a full PEP 440 version (no
``*``); hashes are sha256/384/512. Anything else is a ``FILE:LINE`` problem in ``validate``,
before pip could ever see it. pip then never reads the team's file at all: it gets
``PinnedRequirements.text``, rebuilt from the parsed values (``build/requirements.py``), so a
difference between our reading and pip's cannot smuggle an option through.

Parsing uses the ``packaging`` library (PEP 508/440, what pip itself vendors); where it is not
installed, pip's vendored copy (pip is needed to install requirements anyway).
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass

from cronplane.errors import Problem

try:
    from packaging.requirements import InvalidRequirement, Requirement
    from packaging.version import InvalidVersion, Version
except ImportError:  # pragma: no cover - only without the packaging library installed
    from pip._vendor.packaging.requirements import InvalidRequirement, Requirement  # type: ignore[assignment,no-redef,import-untyped,unused-ignore]
    from pip._vendor.packaging.version import InvalidVersion, Version  # type: ignore[assignment,no-redef,import-untyped,unused-ignore]

REQUIREMENTS_FILE = "requirements.txt"
MAX_REQUIREMENTS_BYTES = 256 * 1024  # far beyond any real pinned list; checked before reading
HASH_LENGTHS = {"sha256": 64, "sha384": 96, "sha512": 128}
_HASH_VALUE = re.compile(r"^(sha256|sha384|sha512):([0-9a-f]+)$")
_COMMENT = re.compile(r"(^|\s+)#.*$")  # pip's own rule: '#' at the start or after whitespace
_SHOWN_CHARS = 60
PINNED_EXAMPLE = "requests==2.32.3"

# Why each pip option is refused, by the option's spellings.
_SOURCE_OPTIONS = ("-i", "--index-url", "--extra-index-url", "--no-index", "--trusted-host", "-f", "--find-links")
_REFUSED_OPTIONS: tuple[tuple[tuple[str, ...], str], ...] = (
    (
        ("-r", "--requirement", "-c", "--constraint"),
        "includes another file, which is never read; copy its pinned lines into this file",
    ),
    (
        ("-e", "--editable"),
        "an editable install runs the project's build code on the deploying machine; "
        "pin a released version instead (name==X.Y)",
    ),
    (
        _SOURCE_OPTIONS,
        "chooses where packages come from; a team file may not add an index or link source "
        "(dependency confusion). Packages come from PyPI, or the index the deployer sets in "
        "CRONPLANE_PIP_INDEX_URL",
    ),
    (
        ("--no-binary", "--only-binary", "--prefer-binary"),
        "changes how packages are built; cronplane installs binary wheels only, so no build code runs",
    ),
)


@dataclass(frozen=True)
class PinnedRequirement:
    line: int
    name: str
    text: str  # rebuilt from the parsed values: what pip is given


@dataclass(frozen=True)
class PinnedRequirements:
    requirements: tuple[PinnedRequirement, ...]

    @property
    def hashed(self) -> bool:
        return any("--hash=" in r.text for r in self.requirements)

    @property
    def text(self) -> str:
        """The file pip reads: one rebuilt line per requirement, nothing else."""
        return "".join(f"{r.text}\n" for r in self.requirements)


def parse_requirements(text: str, shown: str) -> tuple[PinnedRequirements, list[Problem]]:
    """Every pinned requirement of ``text`` and a problem (``shown``:LINE) for every line that
    is anything else. Reads no other file and expands no variable."""
    pinned: list[PinnedRequirement] = []
    problems: list[Problem] = []
    for number, line in _logical_lines(text):
        try:
            pinned.append(_pinned(number, line))
        except ValueError as exc:
            problems.append(Problem(shown, number, "", str(exc)))
    with_hash = [r for r in pinned if "--hash=" in r.text]
    if with_hash and len(with_hash) < len(pinned):
        for r in pinned:
            if "--hash=" not in r.text:
                problems.append(
                    Problem(
                        shown,
                        r.line,
                        "",
                        f"{r.name} has no --hash while line {with_hash[0].line} has one; pip checks hashes "
                        "for every line or none: add --hash=sha256:... here (pip-compile --generate-hashes)",
                    )
                )
    return PinnedRequirements(tuple(pinned)), problems


def _logical_lines(text: str) -> list[tuple[int, str]]:
    """(first physical line number, line) with continuations joined and comments removed, as
    pip does; blank lines dropped."""
    out: list[tuple[int, str]] = []
    pending: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        if raw.endswith("\\") and not _COMMENT.match(raw):
            if not pending:
                start = number
            pending.append(raw[:-1])
            continue
        if pending:
            pending.append(raw)
            line, number = "".join(pending), start
            pending = []
        else:
            line = raw
        out.append((number, line))
    if pending:
        out.append((start, "".join(pending)))
    cleaned = [(number, _COMMENT.sub("", line).strip()) for number, line in out]
    return [(number, line) for number, line in cleaned if line]


def _pinned(number: int, line: str) -> PinnedRequirement:
    shown = _shorten(line)
    if "${" in line:
        raise ValueError(f"{shown!r}: ${{...}} would be filled in from the environment by pip; write the value itself")
    if line.startswith("-"):
        raise ValueError(_option_refusal(line))
    tokens = line.split()
    first_option = next((i for i, t in enumerate(tokens) if t.startswith("-")), len(tokens))
    spec, options = " ".join(tokens[:first_option]), " ".join(tokens[first_option:])
    try:
        requirement = Requirement(spec)
    except InvalidRequirement as exc:
        reason = str(exc).splitlines()[0]
        raise ValueError(
            f"{shown!r} is not a requirement ({reason}); write one pinned package per line, e.g. {PINNED_EXAMPLE}"
        ) from None
    if requirement.url:
        raise ValueError(
            f"{shown!r} installs from a URL or path, outside the package index; pin a released "
            f"version instead ({requirement.name}==X.Y)"
        )
    version = _pinned_version(requirement, shown)
    hashes = _hashes(options, shown)
    extras = f"[{','.join(sorted(requirement.extras))}]" if requirement.extras else ""
    marker = f"; {requirement.marker}" if requirement.marker is not None else ""
    hash_text = "".join(f" --hash={h}" for h in hashes)
    return PinnedRequirement(number, requirement.name, f"{requirement.name}{extras}=={version}{marker}{hash_text}")


def _pinned_version(requirement: Requirement, shown: str) -> str:
    specifiers = list(requirement.specifier)
    pinned = len(specifiers) == 1 and specifiers[0].operator == "==" and "*" not in specifiers[0].version
    if not pinned:
        raise ValueError(
            f"{shown!r} is not pinned to one version; write {requirement.name}==VERSION "
            "(pip freeze or pip-compile print the exact versions), so every deploy installs the same code"
        )
    version = specifiers[0].version
    try:
        Version(version)
    except InvalidVersion:
        raise ValueError(f"{shown!r}: {version!r} is not a valid version (PEP 440), e.g. {PINNED_EXAMPLE}") from None
    return str(version)


def _hashes(options: str, shown: str) -> list[str]:
    try:
        words = shlex.split(options)
    except ValueError as exc:
        raise ValueError(f"{shown!r}: cannot read the options after the requirement ({exc})") from None
    hashes: list[str] = []
    index = 0
    while index < len(words):
        word = words[index]
        if word == "--hash" and index + 1 < len(words):
            value, index = words[index + 1], index + 2
        elif word.startswith("--hash="):
            value, index = word[len("--hash=") :], index + 1
        else:
            raise ValueError(
                f"{shown!r}: only --hash=sha256:... may follow a requirement, not {_shorten(word)!r}; "
                "pip options are not accepted in a team's requirements.txt"
            )
        match = _HASH_VALUE.match(value)
        if match is None or len(match.group(2)) != HASH_LENGTHS[match.group(1)]:
            raise ValueError(
                f"{shown!r}: {_shorten(value)!r} is not a hash; write --hash=sha256:<64 hex digits> "
                "(as pip hash or pip-compile --generate-hashes print it)"
            )
        hashes.append(value)
    return hashes


def _option_refusal(line: str) -> str:
    option = line.split()[0].split("=", 1)[0]
    for spellings, reason in _REFUSED_OPTIONS:
        # "-rfile" and "-ihttps://..." are how optparse reads short options glued to their value.
        if option in spellings or any(len(s) == 2 and option.startswith(s) for s in spellings):
            return f"{_shorten(line)!r} {reason}"
    return (
        f"{_shorten(line)!r}: pip options are not accepted in a team's requirements.txt; "
        f"list pinned packages only, one per line (e.g. {PINNED_EXAMPLE})"
    )


def _shorten(text: str) -> str:
    return text if len(text) <= _SHOWN_CHARS else text[: _SHOWN_CHARS - 1] + "…"
