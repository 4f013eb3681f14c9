"""Backends of one engine, named and imported only when first asked for (so importing an engine
never pulls in torch or a cloud client). Each engine keeps one `LazyBackends` table."""

from __future__ import annotations

import importlib
from typing import Any

from core.errors import InputError
from engines.capabilities import Availability


class LazyBackends:
    def __init__(self, what: str, table: dict[str, str], extra_choices: tuple[str, ...] = ()) -> None:
        # What the backends make, for messages ("speech", "music").
        self.what = what
        # name -> "module:Class"; the class is instantiated once, on first use.
        self.table = dict(table)
        # Names the caller accepts besides the table's (e.g. "auto"), listed in the unknown-name message.
        self.extra_choices = extra_choices
        self._instances: dict[str, Any] = {}

    def names(self) -> list[str]:
        return list(self.table)

    def get(self, name: str) -> Any:
        """The backend called `name` (one shared instance); unknown names are an InputError."""
        name = (name or "").strip().lower()
        if name not in self.table:
            choices = ", ".join([*self.extra_choices, *self.table])
            raise InputError(f"unknown {self.what} backend {name!r}; choose {choices}")
        if name not in self._instances:
            module, cls = self.table[name].split(":")
            self._instances[name] = getattr(importlib.import_module(module), cls)()
        return self._instances[name]

    def availability(self, name: str, settings) -> Availability:  # noqa: ANN001
        """Availability by name; a backend whose code or library is missing is unavailable."""
        try:
            return self.get(name).availability(settings)
        except ImportError as e:
            return Availability(False, f"not installed ({e.name or e})")

    def register_all(self) -> None:
        """Import every backend so its capability check is registered (cheap: no model loads)."""
        for name in self.table:
            try:
                self.get(name)
            except ImportError:
                pass
