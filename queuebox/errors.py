"""The exceptions of queuebox: one base class, subclasses that also inherit the builtin they resemble."""

from __future__ import annotations


class QueueboxError(Exception):
    """Base class of every error raised by queuebox."""


class ConfigError(QueueboxError, ValueError):
    """The configuration file is missing, unreadable or invalid; `problems` lists every finding."""

    def __init__(self, problems: list[str], source: str = "configuration") -> None:
        self.problems = list(problems)
        self.source = source
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"{source}: {len(self.problems)} problem(s)\n{lines}")


class SchemaTooNewError(QueueboxError, RuntimeError):
    """The database was written by a newer queuebox whose schema this version does not know."""


class CommandRejected(QueueboxError, ValueError):
    """A command cannot be applied; `code` is the protocol error code, the message says why."""

    def __init__(self, code: str, message: str) -> None:
        self.code = code
        self.message = message
        super().__init__(f"{code}: {message}")
