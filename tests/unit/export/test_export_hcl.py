"""The Terraform files parse (python-hcl2) and are laid out as `terraform fmt` leaves them:
checked by `terraform fmt -check` where a terraform binary is installed, and by the layout rules
themselves everywhere."""

from __future__ import annotations

import re
import shutil
import subprocess

import hcl2
import pytest
from export_fixtures import MANIFESTS

from cronplane.aws.export.hcl import Attr, Blank, Block, Heredoc, Raw, render_file


def tf_files(exports, manifest: str):
    return sorted(exports[(manifest, "terraform")].folder.glob("*.tf"))


@pytest.mark.parametrize("manifest", MANIFESTS)
def test_terraform_files_parse(exports, manifest: str) -> None:
    parsed = {}
    for path in tf_files(exports, manifest):
        with path.open() as handle:
            parsed[path.name] = hcl2.load(handle)
    assert {"main.tf", "variables.tf", "outputs.tf", "versions.tf", "providers.tf"} == set(parsed)
    [terraform] = parsed["versions.tf"]["terraform"]
    [providers] = terraform["required_providers"]
    assert providers["aws"]["version"] == '"~> 5.70"'  # pinned to a major version
    assert {next(iter(v)) for v in parsed["variables.tf"]["variable"]} >= {
        '"region"',
        '"namespace"',
        '"tags"',
        '"kms_key_arns"',
        '"vpc_configs"',
    }
    assert {next(iter(o)) for o in parsed["outputs.tf"]["output"]} == {'"function_arns"', '"queue_arns"'}


def layout_problems(text: str) -> list[str]:
    """Where ``text`` differs from what terraform fmt writes: two-space indents matching the
    nesting, and the ``=`` of each run of one-line attributes in one column."""
    problems = []
    depth = 0
    heredoc = None
    run: list[tuple[int, int]] = []  # (line number, column of "=")

    def end_run() -> None:
        if len({column for _, column in run}) > 1:
            problems.append(f"lines {run[0][0]}-{run[-1][0]}: '=' not aligned")
        run.clear()

    for number, line in enumerate(text.split("\n"), start=1):
        if heredoc is not None:
            if line.strip() == heredoc:
                heredoc = None
            continue
        stripped = line.strip()
        if stripped.startswith("}") or stripped.startswith("]"):
            depth -= 1
        if stripped and len(line) - len(line.lstrip(" ")) != 2 * depth:
            problems.append(f"line {number}: indent {len(line) - len(line.lstrip(' '))}, expected {2 * depth}")
        if line != line.rstrip():
            problems.append(f"line {number}: trailing space")
        one_line = re.match(r'^\s*[\w":.-]+\s+= ', line) and not stripped.endswith(("{", "["))
        if one_line:
            run.append((number, line.index("= ")))
            if "<<-" in line:
                heredoc = line.split("<<-")[1].strip()
        else:
            end_run()
        if stripped.endswith("{") or stripped.endswith("["):
            depth += 1
    end_run()
    if depth != 0:
        problems.append(f"unbalanced braces: depth {depth} at the end")
    if not text.endswith("}\n") or "\n\n\n" in text:
        problems.append("one blank line between blocks, a newline at the end")
    return problems


@pytest.mark.parametrize("manifest", MANIFESTS)
def test_terraform_files_are_laid_out_as_terraform_fmt_leaves_them(exports, manifest: str) -> None:
    for path in tf_files(exports, manifest):
        assert layout_problems(path.read_text()) == [], path.name


def test_the_layout_check_finds_what_fmt_would_change() -> None:
    """Guards the test above: misaligned and misindented text is reported."""
    assert layout_problems('x "y" {\n  a = 1\n  bbb = 2\n}\n') == ["lines 2-3: '=' not aligned"]
    assert layout_problems('x "y" {\n   a = 1\n}\n') == ["line 2: indent 3, expected 2"]


def test_terraform_fmt_agrees_where_installed(exports, tmp_path) -> None:
    terraform = shutil.which("terraform")
    if terraform is None:
        pytest.skip("no terraform binary: the layout rules above are the check")
    for manifest in MANIFESTS:
        folder = exports[(manifest, "terraform")].folder
        done = subprocess.run(
            [terraform, "fmt", "-check", "-diff", "-recursive", str(folder)],
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
            env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "CHECKPOINT_DISABLE": "1"},
        )
        assert done.returncode == 0, done.stdout


def test_alignment_runs_break_where_fmt_breaks_them() -> None:
    block = Block("resource", ("t", "n"))
    block.body += [
        Attr("a", 1),
        Attr("policy", Heredoc("{}")),  # a heredoc stays in the run
        Attr("bbbb", 2),
        Attr("tags", {"k": "v"}),  # a value on several lines ends it
        Attr("c", 3),
        Blank(),
        Attr("dd", Raw("var.x")),
    ]
    assert render_file([block]) == (
        'resource "t" "n" {\n'
        "  a      = 1\n"
        "  policy = <<-EOT\n"
        "    {}\n"
        "  EOT\n"
        "  bbbb   = 2\n"
        "  tags = {\n"
        '    k = "v"\n'
        "  }\n"
        "  c = 3\n"
        "\n"
        "  dd = var.x\n"
        "}\n"
    )


def test_literal_strings_never_become_templates() -> None:
    block = Block("locals").attr("text", 'a "${b}" %{c} \\ \n')
    rendered = render_file([block])
    assert 'text = "a \\"$${b}\\" %%{c} \\\\ \\n"' in rendered
    assert hcl2.loads(rendered)["locals"][0]["text"] == '"a \\"$${b}\\" %%{c} \\\\ \\n"'
