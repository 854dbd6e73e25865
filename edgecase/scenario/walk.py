"""Walk a validated scenario, yielding every expression with the YAML path it came from."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pydantic import BaseModel

from edgecase.scenario.expr import Expr

YamlPath = tuple[str | int, ...]


def expressions(node: Any, path: YamlPath = ()) -> Iterator[tuple[YamlPath, Expr]]:
    """(path, expr) for each expression under `node`, in file order; paths use the YAML keys."""
    if isinstance(node, Expr):
        yield path, node
    elif isinstance(node, BaseModel):
        for name, field in type(node).model_fields.items():
            value = getattr(node, name)
            if value is not None:
                yield from expressions(value, path + (field.alias or name,))
    elif isinstance(node, dict):
        for key, value in node.items():
            yield from expressions(value, path + (key,))
    elif isinstance(node, (tuple, list)):
        for index, value in enumerate(node):
            yield from expressions(value, path + (index,))
