"""Typed errors whose message is a sentence a clinician or analyst can act on.

Pages catch :class:`EngineError` and show its text; any other exception is a bug
and is allowed to propagate. Messages must never carry patient identifiers.
"""


class EngineError(Exception):
    """Base class for every error the engine raises on purpose."""


class InputError(EngineError):
    """The user's input (a file, a form value, a JSON body) is not acceptable."""


class AuthError(EngineError):
    """Authentication or authorisation failed (wrong password, locked, wrong role)."""


class NotFoundError(EngineError):
    """A requested record (patient, dataset, model version) does not exist."""


class ModelUnavailableError(EngineError):
    """A model bundle is missing, retired, or failed its integrity check."""


class IntegrityError(EngineError):
    """Stored data failed a consistency check (audit chain, checksums)."""


class StoreBusyError(EngineError):
    """The store stayed locked by other writers longer than the configured wait (nothing was changed)."""


class StoreUnavailableError(StoreBusyError):
    """The database server cannot be reached (PostgreSQL down or the connection lost); the unfinished
    transaction was not saved. A kind of busy: the same retry-later answer (the API's 503)."""
