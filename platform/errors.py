"""Errors the CLI reports as one readable line (no traceback): bad input, bad config, missing files."""
from __future__ import annotations


class S2HandError(Exception):
    """Base class: a problem with the user's input or environment, explained in the message."""


class ConfigError(S2HandError):
    """A spec file or override that does not validate; the message names the key and the file."""


class DataError(S2HandError):
    """A missing, corrupt or inconsistent data file; the message names the file (and index)."""


class UnsafePickleError(S2HandError):
    """A pickle asked for a global outside the allow-list; nothing from it was executed."""
