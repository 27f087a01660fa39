"""Reading a node's ``<properties>`` the way the time-series compilers need them."""

from __future__ import annotations

from pmserve.errors import InvalidMarkupError, UnsupportedMarkupError
from pmserve.formats.spss._model import Node


def text(node: Node, name: str, default: str = "") -> str:
    """The text of ``properties/<name>``, stripped (``default`` when absent or empty)."""
    el = node.element.find(f"properties/{name}")
    value = (el.text or "").strip() if el is not None else ""
    return value or default


def flag(node: Node, name: str, default: bool = False) -> bool:
    value = text(node, name, "true" if default else "false")
    if value not in ("true", "false"):
        raise InvalidMarkupError(f"{node.describe()}: property {name} must be true or false, got {value!r}",
                                 element=name, node=node.display_name)
    return value == "true"


def integer(node: Node, name: str, default: int, low: int, high: int) -> int:
    value = text(node, name, str(default))
    try:
        number = int(value)
    except ValueError:
        number = low - 1
    if not low <= number <= high:
        raise InvalidMarkupError(
            f"{node.describe()}: property {name} must be an integer from {low} to {high}, got {value!r}",
            element=name, node=node.display_name)
    return number


def number(node: Node, name: str, default: float) -> float:
    value = text(node, name, repr(default))
    try:
        return float(value)
    except ValueError:
        raise InvalidMarkupError(f"{node.describe()}: property {name} must be a number, got {value!r}",
                                 element=name, node=node.display_name) from None


def build_setting(node: Node, name: str) -> str | None:
    """A ``buildSettings/propertySetting`` value of an extension nugget, or None."""
    for setting in node.element.iterfind("properties/buildSettings/propertySetting"):
        if (setting.findtext("name") or "").strip() == name:
            return (setting.findtext("value") or "").strip()
    return None


def unsupported(node: Node, what: str, element: str | None = None) -> UnsupportedMarkupError:
    return UnsupportedMarkupError(f"{node.describe()}: {what}", element=element, node=node.display_name)


def invalid(node: Node, what: str, element: str | None = None) -> InvalidMarkupError:
    return InvalidMarkupError(f"{node.describe()}: {what}", element=element, node=node.display_name)
