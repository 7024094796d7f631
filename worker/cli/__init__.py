"""The `neardup` command line: local jobs (scan, search, train, evaluate) and queue jobs (worker, submit, ...)."""
from __future__ import annotations

from . import local, queue  # noqa: F401  (they register their commands)
from .common import cli


def main() -> None:
    """`neardup`: a broker that is down, refuses the password or has a certificate we cannot check is one line,
    not a traceback."""
    import sys

    try:
        cli(prog_name="neardup")
    except Exception as exc:
        reason = broker_failure(exc)
        if reason is None:
            raise
        from kombu.utils.url import maybe_sanitize_url

        from neardup.config import load

        print(f"neardup: cannot use the broker at {maybe_sanitize_url(load().broker_url)}: {reason}", file=sys.stderr)
        sys.exit(1)


def broker_failure(exc: BaseException) -> str | None:
    """The one-line reason if `exc` (or what caused it) is a failure to reach, trust or log in to Redis."""
    from kombu.exceptions import OperationalError
    from redis.exceptions import AuthenticationError, ConnectionError, ResponseError

    while exc is not None:
        if isinstance(exc, AuthenticationError) or (isinstance(exc, ResponseError) and "AUTH" in str(exc).upper()):
            return f"wrong password ({exc})"
        if isinstance(exc, (ConnectionError, OperationalError)) and "CERTIFICATE_VERIFY_FAILED" in str(exc):
            return (f"{exc} (a certificate of a private CA: name the CA's file in NEARDUP_BROKER_URL, "
                    "rediss://HOST:PORT/0?ssl_ca_certs=/path/ca.pem)")
        if isinstance(exc, (ConnectionError, OperationalError)):
            return f"{exc} (is Redis running, and is NEARDUP_BROKER_URL right?)"
        exc = exc.__cause__ or exc.__context__
    return None


__all__ = ["cli", "main"]
