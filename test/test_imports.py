"""The architecture's import rules, checked on the code itself.

* The core (``skeleton_perception`` outside ``nodes/``) and ``training/`` import with every
  ROS Python package made unimportable (a subprocess with a blocking import hook).
* The import graph of both packages, every import counted (inside functions too, and string
  literals naming one of our modules: ``importlib.import_module`` arguments and lazy
  dispatch tables), has no cycle; training never imports the nodes or ROS; the core never
  imports ROS or the nodes (the ``skeleton-perception`` dispatcher, above both, aside).
"""

from __future__ import annotations

import ast
import inspect
import json
import subprocess
import sys
from pathlib import Path

import networkx as nx

REPO = Path(__file__).resolve().parents[1]
PACKAGE = "skeleton_perception"
TRAINING = f"{PACKAGE}.training"
NODES = f"{PACKAGE}.nodes"
MESSAGES = f"{PACKAGE}.msg"
DISPATCHER = f"{PACKAGE}.cli"

# Top-level names of ROS 2 Python packages (rclpy, its C extensions, generated interfaces,
# tf2, launch, ament). `rosbags` (pure Python bag reading, no ROS) is not one of them.
ROS_SUFFIXES = ("_msgs", "_interfaces")
ROS_PREFIXES = ("rclpy", "rcl_", "rmw", "rosidl", "rpyutils", "tf2", "rosbag2", "launch")
ROS_PREFIXES += ("ament_", "message_filters", "image_transport", "cv_bridge", "ros2")


def is_ros(name: str) -> bool:
    """Whether importing module ``name`` means importing ROS (our messages included)."""
    top = name.split(".")[0]
    return (
        top.endswith(ROS_SUFFIXES)
        or top.startswith(ROS_PREFIXES)
        or top == "rcl"
        or name == MESSAGES
        or name.startswith(f"{MESSAGES}.")
        or (top == PACKAGE and "rosidl" in name)
    )


# ----------------------------------------------------------------- without ROS


_IS_ROS_SOURCE = inspect.getsource(is_ros)
BLOCKED_IMPORT = f"""
import importlib.abc, json, pkgutil, sys
ROS_SUFFIXES, ROS_PREFIXES = {ROS_SUFFIXES!r}, {ROS_PREFIXES!r}
PACKAGE, MESSAGES, NODES = {PACKAGE!r}, {MESSAGES!r}, {NODES!r}
{_IS_ROS_SOURCE}

class Blocker(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if is_ros(name) or name == NODES or name.startswith(NODES + "."):
            raise ImportError(f"{{name}} is blocked: ROS is unimportable in this test")
        return None

already = sorted(m for m in sys.modules if is_ros(m))
sys.meta_path.insert(0, Blocker())
import skeleton_perception

def skip(name):
    return is_ros(name) or name == NODES or name.startswith(NODES + ".")

def fail(name):  # a package that walk_packages could not import
    if not skip(name):
        raise ImportError(f"cannot import package {{name}}")

imported = set()
for info in pkgutil.walk_packages(skeleton_perception.__path__, PACKAGE + ".", onerror=fail):
    if not skip(info.name) and info.name not in imported:
        __import__(info.name)
        imported.add(info.name)
print(json.dumps({{
    "imported": sorted(imported),
    "already": already,
    "ros_loaded": sorted(m for m in sys.modules if is_ros(m)),
}}))
"""


def test_core_and_training_import_without_ros():
    out = subprocess.run(
        [sys.executable, "-c", BLOCKED_IMPORT],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-4000:]
    result = json.loads(out.stdout.splitlines()[-1])
    imported = {PACKAGE, *result["imported"]}
    assert result["already"] == [] and result["ros_loaded"] == []
    # The walk reached the core, the dispatcher and every training module.
    expected = {name for name in source_modules() if not name.startswith(NODES)}
    assert expected - imported == set()


# ------------------------------------------------------------------ import graph


def source_modules() -> dict[str, Path]:
    """Module name -> file, for skeleton_perception/ and training/ (installed as .training)."""
    modules = {}
    for root, prefix in ((REPO / PACKAGE, PACKAGE), (REPO / "training", TRAINING)):
        for path in sorted(root.rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            modules[".".join([prefix, *parts])] = path
    return modules


def imported_names(module: str, path: Path) -> tuple[set[str], set[str]]:
    """The modules ``module`` imports anywhere in its code, and what else may name one.

    Returns:
        The imported module names (relative imports resolved), and the candidates: ``a.b``
        of every ``from a import b`` (b may be a module) and every string literal.
    """
    tree = ast.parse(path.read_text(), str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    names, candidates = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            if base != "__future__":
                names.add(base)
                candidates.update(f"{base}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            candidates.add(node.value)
    return names, candidates


def import_graph() -> tuple[nx.DiGraph, dict[str, set[str]]]:
    """The graph among our modules, and each module's imports of ROS packages."""
    modules = source_modules()
    graph = nx.DiGraph()
    graph.add_nodes_from(modules)
    ros = {}
    for module, path in modules.items():
        names, candidates = imported_names(module, path)
        ours = {n for n in names | candidates if n in modules and n != module}
        graph.add_edges_from((module, n) for n in ours)
        ros[module] = {n for n in names if is_ros(n)}
    return graph, ros


def test_import_graph_has_no_cycle():
    graph, _ = import_graph()
    assert graph.number_of_edges() > 100  # the parser sees the imports at all
    # A known lazy edge of each kind: a dispatch table entry and an import inside a function.
    assert graph.has_edge(DISPATCHER, f"{NODES}.demo")
    # (the families register themselves: sim.families imports its modules by discovery,
    # datasets imports them by name)
    assert graph.has_edge(f"{TRAINING}.sim.datasets", f"{TRAINING}.sim.families.mwhc")
    assert graph.has_edge(f"{TRAINING}.bags.predict", f"{PACKAGE}.detector") or graph.has_edge(
        f"{TRAINING}.bags.predict", PACKAGE
    )
    cycles = [c for c in nx.strongly_connected_components(graph) if len(c) > 1]
    if cycles:
        cycle = nx.find_cycle(graph.subgraph(cycles[0]))
        path = " -> ".join([a for a, _ in cycle] + [cycle[0][0]])
        raise AssertionError(f"import cycle ({len(cycles)} in all): {path}")


def test_training_and_core_stay_off_ros_and_the_nodes():
    graph, ros = import_graph()
    bad = []
    for module in graph:
        if module.startswith(NODES) or module == DISPATCHER:
            continue
        side = "training" if module.startswith(TRAINING) else "core"
        nodes = sorted(n for n in graph.successors(module) if n.startswith(NODES))
        if nodes or ros[module] or graph.has_edge(module, DISPATCHER):
            names = nodes + sorted(ros[module])
            if graph.has_edge(module, DISPATCHER):
                names.append(DISPATCHER)
            bad.append(f"{side} module {module} imports {', '.join(names)}")
    assert bad == [], "\n".join(bad)
