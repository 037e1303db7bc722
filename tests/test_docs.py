"""The user's guide says what the code does: README.md and docs/*.md run as written, and they cover the tool.

Every ```python block of README.md and docs/*.md runs in a fresh interpreter from an empty folder (so a block that
needs a file it does not make, or an API that has moved, fails here); every page is in the site's navigation; every
`ganstab` command has a row in the README's command table; every example is named in the guide.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
PYTHON_BLOCK = re.compile(r"^```python\n(.*?)^```[ \t]*$", flags=re.S | re.M)


def python_blocks(path: Path) -> list[str]:
    """The ```python blocks of a markdown file, in order (fences at the start of a line only)."""
    return PYTHON_BLOCK.findall(path.read_text(encoding="utf-8"))


BLOCKS = [(page, index) for page in PAGES for index in range(len(python_blocks(page)))]


def test_the_block_parser_finds_fenced_blocks_only():
    text = "a ```python inline ``` b\n```python\nx = 1\n```\n```bash\nls\n```\n```python\ny = 2\n```\n"
    assert PYTHON_BLOCK.findall(text) == ["x = 1\n", "y = 2\n"]


def test_the_readme_has_a_python_quick_start():
    assert python_blocks(ROOT / "README.md"), "README.md lost its ```python quick start"


@pytest.mark.parametrize(("page", "index"), BLOCKS, ids=[f"{page.relative_to(ROOT)}-{index}" for page, index in BLOCKS])
def test_python_blocks_run_as_written(page, index, tmp_path):
    code = python_blocks(page)[index]
    env = {"MPLBACKEND": "Agg", "PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "OMP_NUM_THREADS": "2"}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, env=env, timeout=300
    )
    assert out.returncode == 0, f"{page.relative_to(ROOT)}, block {index}:\n{out.stderr[-2000:]}"


def nav_pages(mkdocs_yml: str) -> list[str]:
    """The .md files named in the `nav:` section of mkdocs.yml (read as text: the tests do not need PyYAML)."""
    nav = re.search(r"^nav:\n((?:[ \t]+.*\n?)*)", mkdocs_yml, flags=re.M)
    assert nav, "mkdocs.yml has no nav: section"
    return re.findall(r"([\w./-]+\.md)\s*$", nav.group(1), flags=re.M)


def test_every_docs_page_is_in_the_nav_and_every_nav_entry_exists():
    listed = nav_pages((ROOT / "mkdocs.yml").read_text(encoding="utf-8"))
    pages = sorted(p.name for p in (ROOT / "docs").glob("*.md"))
    assert sorted(set(pages) - set(listed)) == [], "docs pages missing from the nav of mkdocs.yml"
    assert sorted(set(listed) - set(pages)) == [], "nav entries of mkdocs.yml without a page in docs/"


def test_the_nav_parser_reads_nested_sections():
    text = "site_name: x\nnav:\n  - Home: index.md\n  - Guide:\n      - a.md\n      - B: sub/b.md\n"
    text += "plugins:\n  - search\n"
    assert nav_pages(text) == ["index.md", "a.md", "sub/b.md"]


def ganstab_commands() -> list[str]:
    """The commands `ganstab --help` lists (the entry points of the installed package, as a user sees them)."""
    out = subprocess.run(
        [sys.executable, "-m", "stability.cli", "--help"], capture_output=True, text=True, cwd=ROOT, timeout=120
    )
    assert out.returncode == 0, out.stderr
    choices = re.search(r"^positional arguments:\n\s+COMMAND\n(.*?)(?:\n\S|\Z)", out.stdout, flags=re.S | re.M)
    assert choices, out.stdout
    return re.findall(r"^ {4}(\S+)", choices.group(1), flags=re.M)


def readme_command_rows(readme: str) -> dict[str, str]:
    """The README's command table: command name -> the row's text."""
    start = readme.index("## Commands")
    section = readme[start : readme.find("\n## ", start + 3)]
    return {m.group(1): m.group(0) for m in re.finditer(r"^\| `ganstab ([\w-]+)` \|.*$", section, flags=re.M)}


def test_every_command_has_a_readme_row_linking_to_its_docs_page():
    commands = ganstab_commands()
    assert len(commands) >= 3, commands
    rows = readme_command_rows((ROOT / "README.md").read_text(encoding="utf-8"))
    assert sorted(set(commands) - set(rows)) == [], "ganstab commands without a row in the README's command table"
    assert sorted(set(rows) - set(commands)) == [], "README command rows for commands ganstab does not have"
    for name, row in rows.items():
        links = re.findall(r"\]\((docs/[\w-]+\.md)(?:#[\w-]+)?\)", row)
        assert links, f"the README row of {name} links to no docs page"
        for link in links:
            assert (ROOT / link).is_file(), f"the README row of {name} links to {link}, which does not exist"


def test_the_command_parsers_see_a_missing_row():
    readme = "## Commands\n\n| command | x |\n|---|---|\n| `ganstab lemmas` | y | [a](docs/index.md) |\n\n## Next\n"
    assert set(readme_command_rows(readme)) == {"lemmas"}
    assert {"lemmas", "analyze"} - set(readme_command_rows(readme)) == {"analyze"}


def test_every_example_is_named_in_the_guide():
    text = "\n".join(page.read_text(encoding="utf-8") for page in PAGES)
    examples = sorted(
        f"examples/{p.name}/" if p.is_dir() else f"examples/{p.name}"
        for p in (ROOT / "examples").iterdir()
        if not p.name.startswith((".", "__"))
    )
    assert sorted(e for e in examples if e not in text) == [], "examples the README and docs never name"


def test_local_links_of_the_readme_exist():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    targets = {t.split("#")[0] for t in re.findall(r"\]\(([^)\s]+)\)", readme) if "://" not in t}
    assert sorted(t for t in targets if t and not (ROOT / t).exists()) == []


@pytest.mark.skipif(importlib.util.find_spec("mkdocs") is None, reason="the docs extra is not installed")
def test_the_site_builds_strictly(tmp_path):
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    out = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert (tmp_path / "site" / "api" / "index.html").is_file()
