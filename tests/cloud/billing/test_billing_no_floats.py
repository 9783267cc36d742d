"""Money is integer minor units everywhere in cloud/billing: no float, no float literal, no true division."""

from __future__ import annotations

import ast
from pathlib import Path

import cloud.billing

PACKAGE = Path(cloud.billing.__file__).parent


def _float_uses(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found = []
    for node in ast.walk(tree):
        where = f"{path.name}:{getattr(node, 'lineno', '?')}"
        if isinstance(node, ast.Constant) and isinstance(node.value, float):
            found.append(f"{where} float literal {node.value!r}")
        elif isinstance(node, ast.Name) and node.id in ("float", "Decimal"):
            found.append(f"{where} {node.id}")
        elif isinstance(node, ast.BinOp | ast.AugAssign) and isinstance(node.op, ast.Div):
            found.append(f"{where} true division")
        elif isinstance(node, ast.Attribute) and node.attr in ("truediv", "fsum"):
            found.append(f"{where} {node.attr}")
    return found


def test_the_billing_package_uses_no_floats() -> None:
    modules = sorted(PACKAGE.rglob("*.py"))
    assert len(modules) >= 5
    found = [use for module in modules for use in _float_uses(module)]
    assert found == []


def test_the_check_finds_a_float(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text("price = 9.99\ntotal = float(price) / 2\n")
    assert len(_float_uses(sample)) == 3
