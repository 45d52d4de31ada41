"""What each backend does with each operator kind.

Every backend registers one entry per :class:`~gpusim.ops.kinds.OperatorKind`: its handler (whatever the
backend dispatches on: a function producing kernel launches, a cycle model, a lowering rule) or an
explicit :class:`Unsupported` with the reason it cannot run that kind (the reason is what reports show
under ``not_simulated``).  ``tests/test_ops_registry.py`` fails when a registered backend lacks an entry
for a kind, so a new kind cannot be added without each backend saying what it does with it.

Backends (registered by their modules): ``gpu`` (serving steps and ``--op``: :mod:`gpusim.llm.launch`),
``gpu-train`` (train steps: :mod:`gpusim.llm.train`), ``systolic`` (:mod:`gpusim.accel.systolic.llm`),
``rdu`` (:mod:`gpusim.accel.rdu.lower`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from gpusim.errors import GpusimError
from gpusim.ops.kinds import OperatorKind, operator_kind


class BackendError(GpusimError):
    """A backend asked about an operator kind it has no entry for, or a malformed registration."""


@dataclass(frozen=True)
class Unsupported:
    """A backend cannot run this operator kind; ``reason`` says why (shown in reports)."""
    reason: str

    def __post_init__(self) -> None:
        if not self.reason or not self.reason.strip():
            raise BackendError("Unsupported needs a reason")


class Backend:
    """One backend's entries by operator kind."""

    def __init__(self, name: str, entries: Mapping[str, object], description: str = "") -> None:
        self.name = name
        self.description = description
        table: dict[OperatorKind, object] = {}
        for k, v in entries.items():
            try:
                kind = operator_kind(k)
            except ValueError as e:
                raise BackendError(f"backend {name}: {e}") from None
            if v is None:
                raise BackendError(f"backend {name}: kind '{kind}' maps to None (give a handler or Unsupported)")
            table[kind] = v
        self.entries = table

    def entry(self, kind: str) -> object:
        """The handler or :class:`Unsupported` of ``kind``; BackendError when the backend has no entry."""
        try:
            return self.entries[operator_kind(kind)]
        except (KeyError, ValueError):
            raise BackendError(f"backend {self.name}: no entry for operator kind '{kind}' "
                               f"(a handler or Unsupported(reason) in its registration)") from None

    def handler(self, kind: str):
        """The handler of ``kind``, or None where the backend declares it unsupported."""
        e = self.entry(kind)
        return None if isinstance(e, Unsupported) else e

    def reason(self, kind: str) -> str | None:
        """Why ``kind`` is unsupported, or None where the backend has a handler."""
        e = self.entry(kind)
        return e.reason if isinstance(e, Unsupported) else None

    def missing(self) -> list[OperatorKind]:
        """Operator kinds this backend has no entry for (must be empty)."""
        return [k for k in OperatorKind if k not in self.entries]

    def supported(self) -> list[OperatorKind]:
        return [k for k in OperatorKind if k in self.entries and not isinstance(self.entries[k], Unsupported)]

    def __repr__(self) -> str:
        return f"Backend({self.name!r}, {len(self.supported())} of {len(OperatorKind)} kinds supported)"


#: Registered backends by name.
BACKENDS: dict[str, Backend] = {}


def register_backend(name: str, entries: Mapping[str, object], description: str = "") -> Backend:
    """Register (or replace) backend ``name`` with one entry per operator kind; returns it."""
    b = Backend(name, entries, description)
    BACKENDS[name] = b
    return b


__all__ = ["Backend", "BackendError", "BACKENDS", "Unsupported", "register_backend"]
