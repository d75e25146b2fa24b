"""The nodes' parameter tables are the one home of their parameters.

Each node declares its parameters from a table in its module (``PARAMETERS``: name ->
default, description, descriptor fields; ``runner.declare_parameter_table``). The
parameter tables of docs/ros.md and the values of config/detector.yaml are copies for
users: these tests read the node tables (no node is started) and check every copy's
names, types, defaults, fixed (read-only) flags and ranges against them.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

pytest.importorskip("rclpy")

from rclpy.parameter import Parameter

from skeleton_perception.nodes import detector_node, sim_camera_node, skeleton_3d_node

ROOT = Path(__file__).resolve().parents[1]
ROS_DOC = ROOT / "docs" / "ros.md"

# docs/ros.md section -> (node module, whether the node declares every parameter read-only).
NODES = {
    "detector": (detector_node, False),
    "skeleton_3d": (skeleton_3d_node, False),
    "sim_camera": (sim_camera_node, True),
}


def _doc_table(node: str) -> dict[str, dict[str, str]]:
    """The rows of the parameter table in docs/ros.md's section ``## `<node>```."""
    text = ROS_DOC.read_text()
    start = text.index(f"\n## `{node}`\n")
    end = text.find("\n## ", start + 1)
    section = text[start : end if end > 0 else len(text)]
    lines = section.splitlines()
    head = next(i for i, line in enumerate(lines) if line.startswith("| parameter |"))
    columns = [c.strip() for c in lines[head].strip("|").split("|")]
    assert columns[:4] == ["parameter", "type", "default", "range"], (node, columns)
    rows = {}
    for line in lines[head + 2 :]:
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        name = cells[0].strip("`")
        if name.startswith("qos_overrides"):  # rclpy's standard QoS parameters
            continue
        assert re.fullmatch(r"[a-z0-9_]+", name), f"docs/ros.md, {node}: one name per row: {name}"
        assert name not in rows, f"docs/ros.md, {node}: {name} twice"
        rows[name] = dict(zip(columns, cells, strict=False))
    return rows


def _type_name(default) -> str:
    if default == Parameter.Type.DOUBLE_ARRAY:
        return "double[]"
    return {bool: "bool", int: "int", float: "double", str: "string"}[type(default)]


def _number(value: float) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _range(extra: dict, read_only: bool) -> str:
    """What the range column starts with: ``fixed`` if read-only, then ``[lo, hi]``."""
    parts = ["fixed"] if read_only or extra.get("read_only") else []
    for key in ("floating_point_range", "integer_range"):
        if extra.get(key):
            r = extra[key][0]
            parts.append(f"[{_number(r.from_value)}, {_number(r.to_value)}]")
    return ", ".join(parts)


def _doc_default(cell: str):
    """A default cell of docs/ros.md (`` `0.5` ``, `` `""` ``, ``unset``) as a Python value."""
    cell = cell.strip("`")
    if cell == "unset":
        return Parameter.Type.DOUBLE_ARRAY
    if cell == '""':
        return ""
    return yaml.safe_load(cell)


@pytest.mark.parametrize("node", sorted(NODES))
def test_docs_table_matches_the_node_declarations(node):
    module, read_only = NODES[node]
    declared = module.PARAMETERS
    if read_only:  # the table above says so: keep it true
        assert (
            "declare_parameter_table(self, PARAMETERS, read_only=True)"
            in Path(module.__file__).read_text()
        )
    documented = _doc_table(node)
    assert sorted(documented) == sorted(declared), f"docs/ros.md, {node}: names differ"
    for name, (default, _description, extra) in declared.items():
        row = documented[name]
        where = f"docs/ros.md, {node}, {name}"
        type_name = _type_name(default)
        if type_name == "double[]":
            assert row["type"].startswith("double["), where
        else:
            assert row["type"] == type_name, where
        doc_default = _doc_default(row["default"])
        assert doc_default == default and type(doc_default) is type(default), (
            f"{where}: default {row['default']}, declared {default!r}"
        )
        expected = _range(extra, read_only)
        assert row["range"].startswith(expected), (
            f"{where}: range column {row['range']!r} should start with {expected!r}"
        )
        if not expected.startswith("fixed"):
            assert "fixed" not in row["range"], f"{where}: not read-only"


def test_detector_yaml_matches_the_node_declarations():
    data = yaml.safe_load((ROOT / "config" / "detector.yaml").read_text())
    values = dict(data["/**"]["ros__parameters"])
    values.pop("qos_overrides", None)
    declared = detector_node.PARAMETERS
    assert sorted(values) == sorted(declared), "config/detector.yaml: names differ"
    for name, value in values.items():
        default = declared[name][0]
        assert value == default and type(value) is type(default), (
            f"config/detector.yaml: {name}: {value!r}, declared default {default!r}"
        )
