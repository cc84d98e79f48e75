"""The README stays short, its options block matches run_all.py --help, and no doc link is broken."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from robustness.cli import parser
from robustness.config import SuiteConfig

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = sorted((ROOT / "docs").glob("*.md"))
MAX_README_LINES = 200

LINK = re.compile(r"\]\(([^)\s]+)\)")
FLAG = re.compile(r"(?<![\w-])--[a-z][a-z0-9-]*")


def options_block() -> str:
    text = README.read_text(encoding="utf-8")
    match = re.search(r"<!-- options:start -->\s*```text\n(.*?)```\s*<!-- options:end -->", text, re.DOTALL)
    assert match, "README.md needs a ```text block between <!-- options:start --> and <!-- options:end -->"
    return match.group(1)


def parser_flags() -> set[str]:
    return {s for action in parser()._actions for s in action.option_strings
            if s.startswith("--") and s != "--help"}


def test_every_option_of_the_parser_is_in_the_readme_block():
    block_flags = set(FLAG.findall(options_block()))
    missing = sorted(parser_flags() - block_flags)
    assert not missing, f"options missing from README.md's options block: {missing}"


def test_every_flag_in_the_readme_block_exists():
    unknown = sorted(set(FLAG.findall(options_block())) - parser_flags() - {"--help"})
    assert not unknown, f"README.md's options block names flags run_all.py does not have: {unknown}"


def test_readme_is_short():
    lines = len(README.read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_README_LINES, f"README.md has {lines} lines; keep it at most {MAX_README_LINES}"


def relative_links(path: Path) -> list[str]:
    text = path.read_text(encoding="utf-8")
    links = []
    for target in LINK.findall(text):
        if re.match(r"[a-z][a-z0-9+.-]*:", target, re.IGNORECASE) or target.startswith("#"):
            continue  # http(s)://, mailto:, or an anchor in the same page
        links.append(target.split("#", 1)[0])
    return links


@pytest.mark.parametrize("page", [README, *DOCS], ids=lambda p: p.relative_to(ROOT).as_posix())
def test_relative_links_point_to_existing_files(page):
    broken = [link for link in relative_links(page) if not (page.parent / link).exists()]
    assert not broken, f"{page.relative_to(ROOT)} links to missing files: {broken}"


def test_readme_links_every_docs_page():
    linked = {(README.parent / link).resolve() for link in relative_links(README)}
    unlinked = [p.name for p in DOCS if p.resolve() not in linked]
    assert not unlinked, f"README.md does not link these docs pages: {unlinked}"


def test_every_configuration_field_is_documented():
    """docs/configuration.md lists every field of every section of the configuration."""
    text = (ROOT / "docs" / "configuration.md").read_text()
    sections = {"top level": SuiteConfig}
    sections |= {f"[{f.name}]": type(getattr(SuiteConfig(), f.name)) for f in dataclasses.fields(SuiteConfig)
                 if dataclasses.is_dataclass(getattr(SuiteConfig(), f.name))}
    for heading, section in sections.items():
        part = text.split(f"### {heading}\n", 1)[1].split("\n### ", 1)[0]
        for f in dataclasses.fields(section):
            if not dataclasses.is_dataclass(getattr(section(), f.name)):
                assert f"| `{f.name}` |" in part, f"docs/configuration.md {heading} lacks {f.name}"
