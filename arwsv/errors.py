"""The one exception type for bad user input.

Commands raise :class:`InputError` for anything wrong with what the user gave (files, columns,
values, flags); ``arwsv.cli`` prints it as one line and exits with status 2, no traceback.
"""

from __future__ import annotations

__all__ = ["InputError", "TrainingError"]


class InputError(Exception):
    """Bad user input, located as precisely as known.

    Parameters
    ----------
    message : str
        What is wrong, in words the user can act on.
    path : str, optional
        The file at fault.
    line : int, optional
        1-based line number in ``path``.
    """

    def __init__(self, message: str, path=None, line: int | None = None):
        self.message = message
        self.path = None if path is None else str(path)
        self.line = line
        super().__init__(str(self))

    def __str__(self) -> str:
        where = ""
        if self.path is not None:
            where = f"{self.path}:{self.line}: " if self.line is not None else f"{self.path}: "
        return where + self.message


class TrainingError(RuntimeError):
    """A run cannot go on (e.g. a non-finite loss); ``arwsv.cli`` prints it and exits with status 3.

    The message says which step failed and which checkpoint is intact.
    """
