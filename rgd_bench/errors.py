"""Exceptions that command-line tools print as one line (no traceback) before they exit:
bad input (exit code 2) and files that cannot be written (exit code 74)."""


class UsageError(ValueError):
    """The user asked for something that cannot be done; the message says what is allowed."""


class MissingDataError(UsageError):
    """A dataset's files are not where ``--data_dir`` points; the message says how to get them."""


class StorageError(UsageError):
    """A file could not be written (a full disk, a quota, a read-only file system): the
    message names the path and the system's error.  Exit code 74 (EX_IOERR)."""

    exit_code = 74

    def __init__(self, path: str, error: OSError, hint: str = ""):
        super().__init__(f"cannot write {path!r}: {error.strerror or error}." + (f" {hint}" if hint else ""))
        self.path, self.errno = path, error.errno
