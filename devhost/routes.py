"""HTTP route templates in the ASP.NET Core syntax the Functions host uses.

Supported: literal segments (case-insensitive), `{name}`, `{name?}` (optional, trailing), `{*name}` catch-all,
and the constraints `int long bool guid alpha double decimal float datetime minlength(n) maxlength(n)
length(n) length(a,b) min(n) max(n) range(a,b) regex(expr) required`. A trailing slash is ignored.
Candidates are ordered as ASP.NET orders them: literal < constrained < plain < optional < catch-all, segment
by segment.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import unquote

_PARAM = re.compile(r"\{(\*{1,2})?([A-Za-z_][A-Za-z0-9_]*)((?::[^{}?]+(?:\([^)]*\))?)*)(\?)?\}")
_CONSTRAINT = re.compile(r":([A-Za-z]+)(?:\(([^)]*)\))?")

Check = Callable[[str], bool]


def _is_int(v: str) -> bool:
    return re.fullmatch(r"-?\d+", v) is not None


def _is_float(v: str) -> bool:
    try:
        float(v)
    except ValueError:
        return False
    return True


def _is_guid(v: str) -> bool:
    try:
        uuid.UUID(v)
    except ValueError:
        return False
    return True


def _is_datetime(v: str) -> bool:
    try:
        datetime.fromisoformat(v)
    except ValueError:
        return False
    return True


def _constraint(name: str, arg: str | None) -> Check:
    simple: dict[str, Check] = {
        "int": _is_int, "long": _is_int, "double": _is_float, "decimal": _is_float, "float": _is_float,
        "bool": lambda v: v.lower() in ("true", "false"), "guid": _is_guid, "datetime": _is_datetime,
        "alpha": lambda v: re.fullmatch(r"[A-Za-z]+", v) is not None, "required": lambda v: v != "",
    }
    if name in simple:
        return simple[name]
    if arg is None:
        raise ValueError(f"route constraint {name!r} needs an argument")
    if name == "regex":
        pattern = re.compile(arg, re.IGNORECASE)
        return lambda v: pattern.search(v) is not None
    numbers = [int(a) for a in arg.split(",")]
    if name == "minlength":
        return lambda v: len(v) >= numbers[0]
    if name == "maxlength":
        return lambda v: len(v) <= numbers[0]
    if name == "length":
        low, high = (numbers[0], numbers[0]) if len(numbers) == 1 else (numbers[0], numbers[1])
        return lambda v: low <= len(v) <= high
    if name == "min":
        return lambda v: _is_int(v) and int(v) >= numbers[0]
    if name == "max":
        return lambda v: _is_int(v) and int(v) <= numbers[0]
    if name == "range":
        return lambda v: _is_int(v) and numbers[0] <= int(v) <= numbers[1]
    raise ValueError(f"unknown route constraint {name!r}")


@dataclass(frozen=True)
class RouteTemplate:
    template: str
    regex: re.Pattern[str]
    checks: dict[str, list[Check]]
    precedence: tuple[int, ...]

    def match(self, path: str) -> dict[str, str] | None:
        """Route values (URL-decoded) when `path` (without the route prefix) matches, else None."""
        path = path.strip("/")
        found = self.regex.fullmatch(path)
        if found is None:
            return None
        values = {k: unquote(v) for k, v in found.groupdict().items() if v is not None}
        for name, checks in self.checks.items():
            if name in values and not all(check(values[name]) for check in checks):
                return None
        return values


def compile_template(template: str) -> RouteTemplate:
    segments = [s for s in template.strip("/").split("/") if s] if template.strip("/") else []
    pattern = ""
    checks: dict[str, list[Check]] = {}
    precedence: list[int] = []
    for index, segment in enumerate(segments):
        separator = "/" if index else ""
        whole = _PARAM.fullmatch(segment)
        if whole and (whole.group(4) or whole.group(1)):
            if index != len(segments) - 1:
                raise ValueError(f"optional and catch-all parameters must be last: {template!r}")
            name = whole.group(2)
            body = ".*" if whole.group(1) else "[^/]+"
            pattern += f"(?:{separator}(?P<{name}>{body}))?"
            checks[name] = [_constraint(c, a) for c, a in _CONSTRAINT.findall(whole.group(3))]
            precedence.append(4 if whole.group(1) else 3)
            continue
        piece, last, rank = "", 0, 0
        for param in _PARAM.finditer(segment):
            piece += re.escape(segment[last:param.start()])
            name = param.group(2)
            piece += f"(?P<{name}>[^/]+?)" if param.end() < len(segment) else f"(?P<{name}>[^/]+)"
            constraints = _CONSTRAINT.findall(param.group(3))
            checks[name] = [_constraint(c, a) for c, a in constraints]
            rank = max(rank, 1 if constraints else 2)
            last = param.end()
        piece += re.escape(segment[last:])
        pattern += separator + piece
        precedence.append(rank)
    return RouteTemplate(template, re.compile(pattern, re.IGNORECASE), checks, tuple(precedence))
