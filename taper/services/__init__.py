"""Use cases that touch the database. They take the acting user and plain inputs, raise
``ServiceError`` subclasses, and the top-level use case a view calls commits once (helpers
called by other services never commit): views never query or commit."""


class ServiceError(Exception):
    """A use case refused its input; ``field`` names the form field to show it beside."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class Conflict(ServiceError):
    """The object changed since the user loaded it."""
