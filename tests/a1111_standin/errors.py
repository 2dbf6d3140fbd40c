"""A1111's own error answers: {"error": <exception class>, "detail", "body", "errors"}."""

from __future__ import annotations


class A1111Error(Exception):
    """An exception as A1111's API middleware reports it (status 500 unless it says so)."""

    def __init__(self, error: str, errors: str = "", status: int = 500, detail: str = ""):
        super().__init__(errors or detail or error)
        self.error = error
        self.errors = errors
        self.status = status
        self.detail = detail

    def body(self) -> dict:
        return {"error": self.error, "detail": self.detail, "body": "", "errors": self.errors}


def http_exception(status: int, detail: str) -> A1111Error:
    """fastapi.HTTPException raised by A1111's code (str() of it is empty)."""
    return A1111Error("HTTPException", "", status, detail)


def from_exception(exc: BaseException) -> A1111Error:
    """Any other Python exception reaching A1111's middleware."""
    if isinstance(exc, A1111Error):
        return exc
    text = str(exc)
    if isinstance(exc, KeyError) and exc.args:
        text = repr(exc.args[0])
    return A1111Error(type(exc).__name__, text)


def error_body(status: int, errors: str) -> dict:
    """The body used for injected failures."""
    if status < 500:
        return http_exception(status, errors).body()
    return A1111Error("RuntimeError", errors, status).body()
