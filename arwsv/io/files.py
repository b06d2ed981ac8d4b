"""Writing outputs so that a crash or a bad input never leaves a half-written file behind."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from arwsv.errors import InputError

__all__ = ["atomic_write", "check_writable", "write_if_changed"]


def check_writable(path) -> None:
    """Fail early, before any work, if ``path`` cannot be written (missing folder, a directory)."""
    path = Path(path)
    if path.is_dir():
        raise InputError("is a directory; give a file name", path)
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise InputError(f"cannot write: folder {str(parent)!r} does not exist", path)
    if not os.access(parent, os.W_OK):
        raise InputError(f"cannot write: folder {str(parent)!r} is not writable", path)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_write(path, mode: str = "w", **kwargs):
    """Open a temporary file next to ``path``; on success rename it onto ``path``.

    The rename is atomic on POSIX, so readers see the old file or the new one, never a mix,
    and an exception inside the block leaves the old file untouched.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent or ".")
    try:
        with os.fdopen(fd, mode, **kwargs) as handle:
            yield handle
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the usual permissions
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_if_changed(path, data: bytes) -> bool:
    """Write ``data`` to ``path`` atomically unless the file already holds exactly these bytes.

    Returns True when the file was (re)written. Re-running a preparation step therefore leaves
    unchanged outputs untouched (same mtime), so downstream tools see nothing new.
    """
    path = Path(path)
    try:
        if path.stat().st_size == len(data) and path.read_bytes() == data:
            return False
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(path, mode="wb") as handle:
        handle.write(data)
    return True
