"""Loads `function_app` the way the Python worker indexes a v2 app: import the module, require exactly one
FunctionApp (any `FunctionRegister`) among its globals, and call `get_functions()` once."""

from __future__ import annotations

import importlib
import inspect
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import azure.functions as func


@dataclass(frozen=True)
class IndexedFunction:
    name: str
    trigger: dict[str, Any]
    """The trigger binding as the host receives it (raw binding JSON)."""
    bindings: list[dict[str, Any]]
    user_function: Any
    parameters: tuple[str, ...]
    settings: dict[str, Any]

    @property
    def trigger_type(self) -> str:
        return str(self.trigger["type"])


def load_app(app_dir: Path, script: str = "function_app.py") -> list[IndexedFunction]:
    if str(app_dir) not in sys.path:
        sys.path.insert(0, str(app_dir))
    module = importlib.import_module(Path(script).stem)
    registers = [v for v in vars(module).values() if isinstance(v, func.FunctionRegister)]
    if len(registers) != 1:
        raise ValueError(f"{script} must define exactly one FunctionApp; found {len(registers)}")
    indexed = []
    for function in registers[0].get_functions():
        bindings = [json.loads(raw) for raw in function.get_raw_bindings()]
        triggers = [b for b in bindings if str(b["type"]).endswith("Trigger")]
        if len(triggers) != 1:
            raise ValueError(f"function {function.get_function_name()} must have exactly one trigger")
        user_function = function.get_user_function()
        indexed.append(IndexedFunction(
            name=str(function.get_function_name()),
            trigger=triggers[0],
            bindings=bindings,
            user_function=user_function,
            parameters=tuple(inspect.signature(user_function).parameters),
            settings={"retry": function.get_settings_dict("retry_policy")},
        ))
    return indexed
