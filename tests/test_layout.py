"""The house: a package per concern, layered in the order of the pipeline, with no import
circle and no module reaching up to a higher layer (imports inside functions included)."""
import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parent.parent / "glasskit"
# lower layers first: a module imports only from its own layer or the ones before it
LAYERS = ["util", "campaign", "stages", "batch", "data", "ml", "analysis", "cli"]


def modules() -> dict[str, Path]:
    out = {}
    for p in PKG.rglob("*.py"):
        parts = p.relative_to(PKG.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = p
    return out


def imports(path: Path) -> set[str]:
    """Every glasskit module ``path`` imports, at the top or inside functions."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("glasskit"):
            assert node.level == 0, f"{path}: relative import"
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("glasskit"))
    mods = modules()
    return {m for m in found if m in mods}


def layer(name: str) -> int:
    parts = name.split(".")
    if len(parts) == 1 or parts[1] in ("_moved", "__main__"):
        return -1  # the package face, its alias table and python -m glasskit
    return LAYERS.index(parts[1])


def test_every_module_sits_in_a_package_of_the_pipeline():
    for name in modules():
        parts = name.split(".")
        assert len(parts) == 1 or parts[1] in LAYERS + ["_moved", "__main__", "resources"], name


def test_no_module_imports_from_a_higher_layer():
    mods = modules()
    up = [f"{m} -> {i}" for m, p in mods.items() for i in imports(p)
          if layer(m) >= 0 and layer(i) > layer(m)]
    assert not up, "\n".join(up)


def test_there_is_no_import_circle():
    mods = modules()
    graph = {m: {i for i in imports(p) if i != m and not m.startswith(i + ".") and i != "glasskit"}
             for m, p in mods.items()}
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m):
        state[m] = 1
        stack.append(m)
        for n in graph.get(m, ()):
            if state.get(n) == 1:
                pytest.fail("import circle: " + " -> ".join(stack[stack.index(n):] + [n]))
            if not state.get(n):
                visit(n)
        stack.pop()
        state[m] = 2
    for m in sorted(graph):
        if not state.get(m):
            visit(m)


def test_the_campaign_layer_knows_no_lammps_scheduler_or_torch():
    """campaign/ reads and writes the campaign on disk: it imports neither LAMMPS, torch,
    submitit nor anything that runs a process (the scheduler is asked by batch/)."""
    banned = {"lammps", "torch", "torch_geometric", "submitit", "subprocess", "mpi4py"}
    for name, p in modules().items():
        if name.startswith("glasskit.campaign"):
            for node in ast.walk(ast.parse(p.read_text())):
                names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                         else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
                assert not {n.split(".")[0] for n in names} & banned, (name, names)


def _lazy(node) -> bool:
    """An import inside a module's PEP 562 ``__getattr__``: runs when the name is first asked for."""
    return isinstance(node, ast.FunctionDef) and node.name == "__getattr__"


def test_faces_import_nothing_heavy():
    """A package's __init__ imports no glasskit module, except lazily in ``__getattr__`` (the
    top-level ``glasskit.open_campaign``); checked statically and by importing each face."""
    import subprocess
    import sys
    for name, p in modules().items():
        if p.name == "__init__.py":
            tree = ast.parse(p.read_text())
            lazy = {id(n) for f in ast.walk(tree) if _lazy(f) for n in ast.walk(f)}
            eager = [n for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom)) and id(n) not in lazy
                     and ((getattr(n, "module", None) or "").startswith("glasskit")
                          or any(a.name.startswith("glasskit") for a in n.names))
                     and getattr(n, "module", None) != "glasskit._moved" and not (n.level and n.module == "_moved")]
            assert not eager, name
            code = (f"import sys, {name}; print(sorted(m for m in sys.modules if m.startswith('glasskit') "
                    f"and m != 'glasskit._moved' and not ({name!r} + '.').startswith(m + '.')))")
            loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
            assert loaded.strip() == "[]", (name, loaded)


def test_a_pickle_naming_a_module_path_from_before_the_layout_still_loads():
    """submitit job folders and a search's domain in a MongoDB store name their classes by the
    old paths: those resolve to the new modules."""
    import pickle

    from glasskit.ml.search import objective, triallog
    assert pickle.loads(b"cglasskit.ml.triallog\nbest\n.") is triallog.best
    assert pickle.loads(b"cglasskit.ml.objective\nObjective\n.") is objective.Objective
    from glasskit.batch import submit
    assert pickle.loads(b"cglasskit.submit\nsubmit\n.") is submit.submit
