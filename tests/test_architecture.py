"""The package's shape: no import cycles (counting imports inside functions, which only hide
them), and no test double in the runtime package."""

import ast
from pathlib import Path

import networkx as nx
import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "curate"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path, modules: set[str]) -> set[str]:
    """The curate modules `path` imports, anywhere in it."""
    found = set()
    package = (
        module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]
    )
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(
                    [*package.split(".")[: len(package.split(".")) - node.level + 1], base]
                ).strip(".")
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                found.add(sub if sub in modules else base)
    return {m for m in found if m in modules}


def import_graph() -> nx.DiGraph:
    files = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph = nx.DiGraph()
    for name, path in files.items():
        graph.add_node(name)
        graph.add_edges_from((name, dep) for dep in imports_of(path, set(files)) if dep != name)
    return graph


def test_no_import_cycles_in_curate():
    cycles = sorted(
        sorted(c) for c in nx.strongly_connected_components(import_graph()) if len(c) > 1
    )
    assert cycles == [], f"import cycles: {cycles}"


def test_the_scan_finds_a_cycle_when_there_is_one(tmp_path, monkeypatch):
    pkg = tmp_path / "curate"
    (pkg / "a").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "a" / "__init__.py").write_text("")
    (pkg / "a" / "x.py").write_text("def f():\n    from curate.a.y import g\n")
    (pkg / "a" / "y.py").write_text("from . import x\n")
    monkeypatch.setattr(__import__(__name__), "PACKAGE", pkg)
    components = [c for c in nx.strongly_connected_components(import_graph()) if len(c) > 1]
    assert components == [{"curate.a.x", "curate.a.y"}]


@pytest.mark.parametrize("marker", ["[[fault:", "fault_rate", "FAULT="])
def test_no_fault_injection_ships_in_the_package(marker):
    hits = [str(p) for p in PACKAGE.rglob("*.py") if marker in p.read_text(encoding="utf-8")]
    assert hits == []


def test_user_errors_are_one_line_and_bugs_keep_their_traceback(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from curate.cli import cli

    spec = tmp_path / "spec.yaml"
    spec.write_text("input: {path: nowhere}\nsteps: [{langauge: {}}]\noutput: {path: out}\n")
    result = CliRunner().invoke(cli, ["filter", str(spec)])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "unknown step 'langauge'" in result.output

    def bug(*args, **kwargs):
        raise ValueError("an internal bug")

    monkeypatch.setattr("curate.pipeline.build.run_filter", bug)
    result = CliRunner().invoke(cli, ["filter", str(spec)])
    assert isinstance(result.exception, ValueError)  # not turned into a user error
