"""The layout is the architecture: layering, lazy imports, one home per concept, and the README that says so."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("stability", "models", "gan_train")


def _modules() -> list[Path]:
    return sorted(p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py"))


def _imports(path: Path) -> set[str]:
    """Every module a file imports (at any depth: lazy imports inside functions count too)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def _layer(path: Path) -> str:
    parts = path.relative_to(ROOT).parts
    if parts[0] == "stability" and len(parts) > 2:
        return ".".join(parts[:2])
    if parts[:2] == ("gan_train", "spectra"):
        return "gan_train.spectra"
    return parts[0]


_STABILITY = (
    "stability.util",
    "stability.spec",
    "stability.symbolic",
    "stability.autodiff",
    "stability.analysis",
    "stability.plots",
    "stability.cli",
)
# Who may import whom: each layer reads only the layers below it in the data flow. `stability` is the bottom of the
# house and imports nothing of the trainer; the trainer builds on `stability.spec`; the bridge that reads checkpoints
# into fields (`gan_train.spectra`) sits above both. The command line finds the trainer's commands through entry
# points (pyproject.toml), never by import.
ALLOWED = {
    "stability.util": {"stability.util"},
    "stability.spec": {"stability.util", "stability.spec"},
    "stability.symbolic": {"stability.util", "stability.spec", "stability.symbolic"},
    "stability.autodiff": {"stability.util", "stability.spec", "stability.autodiff"},
    "stability.analysis": {"stability.util", "stability.spec", "stability.symbolic", "stability.autodiff",
                           "stability.analysis"},
    "stability.plots": {"stability.util", "stability.spec", "stability.symbolic", "stability.autodiff",
                        "stability.analysis", "stability.plots"},
    "stability.cli": {"stability", *_STABILITY},
    "models": {"models", "stability.util", "stability.spec"},
    "gan_train": {"gan_train", "models", "stability.spec", "stability.util"},
    "gan_train.spectra": {"gan_train", "gan_train.spectra", "models", *_STABILITY},
}  # fmt: skip


def _target_layer(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] not in PACKAGES:
        return None
    if parts[0] == "stability":
        return ".".join(parts[:2]) if len(parts) > 1 else "stability"
    if parts[:2] == ["gan_train", "spectra"]:
        return "gan_train.spectra"
    return parts[0]


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(ROOT)))
def test_each_module_imports_only_earlier_layers(path):
    layer = _layer(path)
    if path.name == "__init__.py" and path.parent.name == "stability":
        return  # the root re-exports every layer lazily
    allowed = ALLOWED[layer]
    wrong = sorted(m for m in _imports(path) if (t := _target_layer(m)) is not None and t not in allowed)
    assert not wrong, f"{path.relative_to(ROOT)} ({layer}) imports {wrong}"


def test_the_layer_test_can_fail():
    # A trainer module importing the symbolic engine would be a layering error: the check must see it.
    assert _target_layer("stability.symbolic.field") not in ALLOWED["gan_train"]
    assert _target_layer("models.mlp") not in ALLOWED["stability.spec"]
    # the analysis importing the trainer (as stability/cli and stability/runs once did), or the trainer its bridge
    for layer in _STABILITY:
        assert _target_layer("gan_train.cli") not in ALLOWED[layer]
        assert _target_layer("gan_train.spectra.field") not in ALLOWED[layer]
    assert _target_layer("gan_train.spectra.checkpoints") not in ALLOWED["gan_train"]


def test_ganstab_finds_every_command_through_entry_points():
    """The trainer's commands reach `ganstab` by the entry points pyproject.toml declares, not by an import."""
    import tomllib

    declared = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["entry-points"]
    modules = declared["ganstab.commands"]
    assert {"train", "experiment", "spectrum"} <= set(modules)
    for name, module in modules.items():
        assert (ROOT / (module.replace(".", "/") + ".py")).is_file(), f"{name}: {module} is not a module of the tree"


@pytest.mark.parametrize(
    "code",
    [
        "import gan_train.config",
        "import stability, stability.spec, stability.analysis, stability.autodiff",
        "from stability.spec.measures import MEASURES; from stability.spec.penalties import FORMS",
        "from stability.cli import build_parser; build_parser()",
    ],
)
def test_light_imports_load_neither_sympy_nor_scipy(code):
    probe = f"{code}\nimport sys\nprint(sorted(m for m in ('sympy', 'scipy', 'torch') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


def test_ganstab_help_is_light():
    probe = (
        "import sys\nfrom stability.cli import main\ntry:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "print('LOADED', sorted(m for m in ('sympy', 'scipy', 'torch') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, check=True)
    assert "LOADED []" in out.stdout and "train" in out.stdout


# The anchored measure's names may appear as data (a preset, a column to draw, a closed form keyed by measure),
# but no module outside the measure registry may branch on them.
BRANCH = re.compile(
    r"""(==|!=|\bin\b)\s*[\(\[{]?\s*["'](mu_g_anc|mu_anchor)["']|["'](mu_g_anc|mu_anchor)["']\s*(==|!=)"""
    r"""|["'](mu_anchor|mu_g_anc)["']\s*,\s*["'](mu_anchor|mu_g_anc)["']"""
)


def test_no_module_special_cases_the_anchored_measure():
    offenders = []
    for path in _modules():
        if path == ROOT / "stability" / "spec" / "measures.py":
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if BRANCH.search(line):
                offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert not offenders, "\n".join(offenders)


def test_the_special_case_pattern_catches_the_old_code():
    for line in (
        'if name in ("mu_anchor", "mu_g_anc") and not args:',
        'if measure == "mu_g_anc":',
        'args = (a,) if config.measure in ("mu_anchor", "mu_g_anc") else ()',
    ):
        assert BRANCH.search(line), line


def test_readme_layout_table_matches_the_tree():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text[text.index("## Layout") : text.index("\n## ", text.index("## Layout") + 3)]
    listed = re.findall(r"^\| `([\w/]+)/` \|", section, flags=re.M)
    assert listed, "the README has no layout table"
    for folder in listed:
        assert (ROOT / folder).is_dir(), f"README lists {folder}/, which does not exist"
    subpackages = {
        str(p.parent.relative_to(ROOT))
        for pkg in PACKAGES
        for p in (ROOT / pkg).rglob("__init__.py")
        if "__pycache__" not in p.parts and p.parent != ROOT / "stability"  # the root: its subpackages are rows
    }
    missing = sorted(subpackages - set(listed))
    assert not missing, f"packages missing from the README's layout table: {missing}"


BOUNDARY = ROOT / "stability" / "spec" / "lambdify.py"


def _lambdify_sites(path: Path) -> list[str]:
    """Where a file reaches ``lambdify`` itself: a name or attribute ``lambdify`` (``sympy.lambdify``, ``sp.lambdify``,
    a bare ``lambdify``) or an import of it. The boundary's own module path ``stability.spec.lambdify`` is allowed."""
    shown = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path.name
    sites = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Attribute) and node.attr == "lambdify":
            if ast.unparse(node) != "stability.spec.lambdify":
                sites.append(f"{shown}:{node.lineno}: {ast.unparse(node)}")
        elif isinstance(node, ast.Name) and node.id == "lambdify":
            sites.append(f"{shown}:{node.lineno}: lambdify")
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "sympy":
            if node.module.endswith(".lambdify") or any(a.name in ("lambdify", "*") for a in node.names):
                sites.append(f"{shown}:{node.lineno}: from {node.module} import ...")
        elif isinstance(node, ast.Import) and any(a.name.startswith("sympy.utilities.lambdify") for a in node.names):
            sites.append(f"{shown}:{node.lineno}: import of sympy's lambdify module")
    return sites


def test_one_lambdify_call_site():
    """sympy → numbers crosses one boundary (``stability/spec/lambdify.py``), where the kink conventions live."""
    scanned = [*_modules(), *sorted((ROOT / "benchmarks").rglob("*.py")), *sorted((ROOT / "examples").rglob("*.py"))]
    sites = [site for path in scanned if path != BOUNDARY for site in _lambdify_sites(path)]
    assert not sites, "lambdify outside stability/spec/lambdify.py (use its numeric_function):\n" + "\n".join(sites)
    assert len(_lambdify_sites(BOUNDARY)) == 1, _lambdify_sites(BOUNDARY)  # the one call, in numeric_function


@pytest.mark.parametrize(
    "code",
    [
        "import sympy\nf = sympy.lambdify(x, e, modules='numpy')",
        "import sympy as sp\ncompile_ = sp.lambdify",
        "from sympy import lambdify\n",
        "from sympy import *\n",
        "from sympy.utilities.lambdify import lambdify as compile_\n",
        "import sympy.utilities.lambdify\n",
    ],
)
def test_the_lambdify_scan_sees_a_second_site(code, tmp_path):
    planted = tmp_path / "planted.py"
    planted.write_text(code, encoding="utf-8")
    assert _lambdify_sites(planted)
    allowed = tmp_path / "allowed.py"
    allowed.write_text("from stability.spec.lambdify import numeric_function\nimport stability.spec.lambdify\n"
                       "f = stability.spec.lambdify.numeric_function", encoding="utf-8")  # fmt: skip
    assert not _lambdify_sites(allowed)


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _import_graph() -> dict[str, set[str]]:
    """Module → the modules of the tree it imports (lazy imports inside functions count: a cycle is a cycle)."""
    names = {_module_name(p): p for p in _modules()}
    graph = {}
    for name, path in names.items():
        targets = set()
        for module in _imports(path):
            # `from pkg import mod` names the package; the module itself is what the names resolve to when it exists
            while module and module not in names:
                module = module.rpartition(".")[0]
            if module and module != name and not names[module].name == "__init__.py":
                targets.add(module)
        graph[name] = targets
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan's algorithm, iterative)."""
    index, low, on_stack, stack, found, counter = {}, {}, set(), [], [], [0]

    def visit(root: str) -> None:
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter[0]
        counter[0] += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter[0]
                    counter[0] += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_two_modules_import_each_other():
    """No import cycles (graphed.py ⇄ loop.py and data/fixed.py ⇄ data/streams.py once were): what two modules
    both need lives in a module below both."""
    assert not _cycles(_import_graph()), _cycles(_import_graph())


def test_the_cycle_check_can_fail():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []
