"""Error types for bad input: each carries one line that names the file:line or key path.

The CLI catches :class:`GpusimError` and prints ``str(err)`` on stderr with exit status 2;
anything else escaping is a bug in gpusim, not bad input.
"""

from __future__ import annotations


class GpusimError(Exception):
    """Base class for every user-facing error (bad trace, bad config, bad listing)."""


class TraceError(GpusimError):
    """Malformed or unsupported trace input.  ``where`` is ``file:line`` or ``file``."""

    def __init__(self, where: str, message: str):
        self.where = where
        self.message = message
        super().__init__(f"{where}: {message}")


class ConfigError(GpusimError):
    """Bad configuration: unknown key, bad unit, out-of-range value.  ``key_path`` like ``sm.count``."""

    def __init__(self, key_path: str, message: str, file: str | None = None):
        self.key_path = key_path
        self.file = file
        self.message = message
        prefix = f"{file}: " if file else ""
        key = f"{key_path}: " if key_path else ""   # "" for a file-level problem (bad YAML, empty file)
        super().__init__(f"{prefix}{key}{message}")


class IsaError(GpusimError):
    """An opcode missing from the opcode table, or a malformed table."""


class SassError(GpusimError):
    """A malformed SASS listing (cuobjdump -sass / nvdisasm -c -hex text)."""


class InputFileError(GpusimError):
    """A bad sweep, suite or other YAML input file; the message starts with ``file:line: key.path:``."""
