"""JSON responses that stay inert even if a browser were to read them as HTML."""

from __future__ import annotations

from typing import Any

from flask.json.provider import DefaultJSONProvider

_ESCAPES = str.maketrans({"<": "\\u003c", ">": "\\u003e", "&": "\\u0026",
                          "\u2028": "\\u2028", "\u2029": "\\u2029"})


class SafeJSONProvider(DefaultJSONProvider):
    """Flask's JSON with <, >, & and the Unicode line separators written as \\u escapes."""

    def dumps(self, obj: Any, **kwargs: Any) -> str:
        return super().dumps(obj, **kwargs).translate(_ESCAPES)
