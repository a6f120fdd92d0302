"""The one exception hierarchy: the CLI turns these into one clear line and a non-zero exit."""

from __future__ import annotations


class MediawatchError(Exception):
    """Base class for errors a user can act on (bad input, bad config, unreachable database)."""

    exit_code = 1


class ConfigError(MediawatchError):
    """A configuration file or option is invalid."""

    exit_code = 2


class DatabaseError(MediawatchError):
    """The archive database is unreachable, unusable or at an unknown schema revision."""

    exit_code = 3


class SchemaTooNewError(DatabaseError):
    """The database was migrated by a newer mediawatch than this one."""


class NotFoundError(MediawatchError):
    """A URL, version or other archive object does not exist."""

    exit_code = 4


class InputError(MediawatchError):
    """An input file or argument cannot be used."""

    exit_code = 2


class NotificationFailed(MediawatchError):
    """``report --notify`` could not deliver to every target (the others were still posted)."""

    exit_code = 7


class AlreadyRunning(MediawatchError):
    """Another run (or scheduler) holds the exclusive lock; nothing was done.

    75 is EX_TEMPFAIL from sysexits.h: "try again later", which is exactly what cron and the
    scheduler should do.
    """

    exit_code = 75


class Interrupted(BaseException):
    """The run was stopped by SIGTERM or SIGINT; what was committed stays, nothing is partial.

    A BaseException, like KeyboardInterrupt: raised from a signal handler it can surface inside
    any library code, and an ``except Exception`` there (a fallback import, a parser's retry) must
    not swallow the stop and let the run carry on.
    """

    exit_code = 143
