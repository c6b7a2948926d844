"""Files that are replaced whole or not at all.

Whatever holds a user's work (a model file, a predictions table, a report
page, a figure) is written to a temporary file in the destination's folder,
flushed to the disk (``fsync``) and renamed over the destination
(``os.replace``, atomic on POSIX and Windows). A write that fails, or a
process killed while writing, leaves the previous file as it was; at worst a
stray temporary file ``.<name>.<random>.tmp`` stays next to it.
"""

import os
import secrets
from contextlib import contextmanager

__all__ = ["atomic_write", "check_writable"]


@contextmanager
def atomic_write(path, mode="wb", **open_kwargs):
    """Open a temporary file that replaces ``path`` when the block succeeds.

    Parameters
    ----------
    path : str or path-like
        The destination file; its folder must exist.
    mode : {"wb", "w", "w+b"}, default="wb"
        How the temporary file is opened (binary, text, or binary read-write).
    **open_kwargs
        Passed to :func:`open` (``encoding=``, ``newline=``...).

    Yields
    ------
    file : file object
        The temporary file. When the block ends without an exception it is
        flushed, synced to the disk and renamed to ``path``; otherwise it is
        removed and ``path`` is left untouched.

    Examples
    --------
    >>> import os, tempfile
    >>> from mmensemble._atomic import atomic_write
    >>> path = os.path.join(tempfile.mkdtemp(), "notes.txt")
    >>> with atomic_write(path, "w", encoding="utf-8") as file:
    ...     _ = file.write("kept")
    >>> open(path, encoding="utf-8").read()
    'kept'
    """
    path = os.fspath(path)
    temporary, descriptor = _create_temporary(path)
    try:
        with open(descriptor, mode, **open_kwargs) as file:
            yield file
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        _remove_quietly(temporary)
        raise
    _sync_folder(os.path.dirname(os.path.abspath(path)))


def check_writable(path):
    """Raise ``OSError`` now if ``path`` could not be written later.

    Creates and removes a temporary file in the destination's folder, which
    is what :func:`atomic_write` will do, so that a long computation whose
    result goes to ``path`` can fail before it starts.

    Parameters
    ----------
    path : str or path-like
        The future destination file.

    Raises
    ------
    OSError
        With a message saying what is wrong: the folder does not exist, is
        not a folder, ``path`` is a folder, or the folder is not writable.
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.exists(folder):
        raise FileNotFoundError(
            f"the folder {os.path.dirname(path) or '.'!r} does not exist; create it "
            "first"
        )
    if not os.path.isdir(folder):
        raise NotADirectoryError(f"{os.path.dirname(path)!r} is not a folder")
    if os.path.isdir(path):
        raise IsADirectoryError(f"{path!r} is a folder, not a file name")
    temporary, descriptor = _create_temporary(path)
    os.close(descriptor)
    _remove_quietly(temporary)


def _create_temporary(path):
    """Create ``.<name>.<random>.tmp`` next to ``path``: its name and descriptor.

    The file is created with the permissions a plain ``open`` would give it
    (0o666 less the umask), not the owner-only ones of :mod:`tempfile`.
    """
    folder, name = os.path.split(os.path.abspath(path))
    while True:
        temporary = os.path.join(folder, f".{name}.{secrets.token_hex(4)}.tmp")
        try:
            flags = os.O_RDWR | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
            return temporary, os.open(temporary, flags, 0o666)
        except FileExistsError:
            continue


def _sync_folder(folder):
    """Flush the rename itself to the disk, where the platform allows it."""
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:  # e.g. Windows, where folders cannot be opened
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)


def _remove_quietly(path):
    try:
        os.remove(path)
    except OSError:
        pass
