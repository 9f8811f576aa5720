"""The two ways a readpath command fails, mapped to exit statuses by scripts/readpath."""


class UsageError(Exception):
    """Bad usage or bad input (a missing file, an unknown kernel): exit status 2."""

    exit_status = 2


class RunError(Exception):
    """The work itself failed (a build, a guest, a benchmark): exit status 1."""

    exit_status = 1
