"""One error type that carries its HTTP status, rendered as HTML or JSON."""

from __future__ import annotations

from typing import Any, Callable


class GeomapError(Exception):
    """An error whose message is safe to show to the user."""

    status = 500
    code = "internal_error"

    def __init__(self, message: str, *, details: Any = None, status: int | None = None,
                 code: str | None = None, translatable: tuple[str, dict] | None = None):
        super().__init__(message)
        self.message = message
        self.details = details
        # The message as a catalogue id and its values (a value may itself be such a pair),
        # for `localised`; None: the message is said in English only.
        self.translatable = translatable
        if status is not None:
            self.status = status
        if code is not None:
            self.code = code

    def localised(self, gettext: Callable[[str], str]) -> str:
        """Return the message in the language ``gettext`` translates to (English when it
        was not marked translatable)."""
        if self.translatable is None:
            return self.message

        def say(part: Any) -> Any:
            if isinstance(part, tuple):
                msgid, values = part
                return gettext(msgid) % {k: say(v) for k, v in values.items()}
            return part

        return say(self.translatable)

    def to_dict(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message, "details": self.details}}


class BadRequest(GeomapError):
    status = 400
    code = "bad_request"


class Unauthorized(GeomapError):
    status = 401
    code = "unauthorized"


class Forbidden(GeomapError):
    status = 403
    code = "forbidden"


class NotFound(GeomapError):
    status = 404
    code = "not_found"


class Conflict(GeomapError):
    status = 409
    code = "conflict"


class TooLarge(GeomapError):
    status = 413
    code = "too_large"


class UnsupportedMediaType(GeomapError):
    status = 415
    code = "unsupported_media_type"


class Unprocessable(GeomapError):
    status = 422
    code = "unprocessable"


class TooManyRequests(GeomapError):
    status = 429
    code = "too_many_requests"


class Unavailable(GeomapError):
    """Something the answer needs (a data file, a layer) is missing on this server."""

    status = 503
    code = "unavailable"


class ConfigError(GeomapError):
    """A setting has a value the service cannot use."""

    code = "config_error"
