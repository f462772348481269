"""Refuse and record every network connection that is not to the loopback interface.

Used two ways: imported by tests/conftest.py (guards the test process), and as a launcher
for the app under test (`python tests/netguard.py LOGFILE -m streamlit run app.py ...`),
which appends each refused attempt to LOGFILE so the browser tests can assert it stays empty.
"""

from __future__ import annotations

import ipaddress
import socket
import sys

LOCAL_NAMES = {"localhost", "127.0.0.1", "::1", "", None}
violations: list[str] = []
_log_path: str | None = None


class NetworkBlocked(OSError):
    pass


def is_local(host) -> bool:
    if host in LOCAL_NAMES:
        return True
    try:
        return ipaddress.ip_address(str(host).split("%")[0]).is_loopback
    except ValueError:
        return False


def _refuse(what: str) -> None:
    violations.append(what)
    if _log_path:
        with open(_log_path, "a", encoding="utf-8") as log:
            log.write(what + "\n")
    raise NetworkBlocked(f"network access blocked in Crossroads tests: {what}")


def audit(event: str, args) -> None:
    if event == "socket.connect":
        sock, address = args
        if getattr(sock, "family", None) in (socket.AF_INET, socket.AF_INET6) and not is_local(address[0]):
            _refuse(f"connect {address!r}")
    elif event == "socket.getaddrinfo":
        if not is_local(args[0]):
            _refuse(f"resolve {args[0]!r}")


def install(log_path: str | None = None) -> None:
    global _log_path
    _log_path = log_path
    sys.addaudithook(audit)


if __name__ == "__main__":
    import runpy

    install(sys.argv[1])
    if sys.argv[2] != "-m":
        raise SystemExit("usage: netguard.py LOGFILE -m MODULE ARGS...")
    sys.argv = [sys.argv[3], *sys.argv[4:]]
    runpy.run_module(sys.argv[0], run_name="__main__", alter_sys=True)
