"""A real OpenID provider on loopback for the sign-in tests: django-oidc-provider in
a virtualenv of its own (``make oidc-provider`` builds it), behind a small proxy
that can change the ID tokens its token endpoint hands out (``Provider.tamper``).

The provider's public address is the proxy's, on ``localhost``: another site than
the gateway's ``127.0.0.1`` to a browser, so the session cookie's ``SameSite`` rule
is exercised as with a real provider."""

from __future__ import annotations

import hashlib
import os
import sqlite3
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import requests

from tests.helpers.paths import ROOT
from tests.helpers.services import free_port
from tests.helpers.tamper_proxy import TamperProxy

VENV = Path(
    os.environ.get("OLLAMA_GATE_TEST_OIDC_VENV", ROOT / ".cache/oidc-provider/venv")
)
PYTHON = VENV / "bin" / "python"
MANAGE = ROOT / "tests" / "oidc_provider" / "manage.py"
CLIENT_ID, CLIENT_SECRET = "ollama-gate", "test-client-secret-not-real"
# (name, password, groups): two people in two groups, and one in none
PEOPLE = [
    ("alice", "alice-idp-password", ["research"]),
    ("bob", "bob-idp-password", ["ops", "leads"]),
    ("carol", "carol-idp-password", []),
]


def provider_missing() -> str | None:
    """Why the provider cannot run here, or None."""
    if not (VENV / ".built").is_file():
        return f"no test OpenID provider at {VENV}"
    return None


class Provider:
    """django-oidc-provider under ``runserver`` on a free port, with a fresh SQLite
    database, behind a ``TamperProxy`` whose address is the issuer's."""

    def __init__(self, tmp: Path):
        self.tmp = tmp
        self.port = free_port()
        self.proxy = TamperProxy(self.port)
        self.url = f"http://localhost:{self.proxy.port}"
        self.issuer = self.url + "/openid"
        self.env = {
            **os.environ,
            "IDP_SITE_URL": self.url,
            "IDP_DATABASE": str(tmp / "idp.db"),
            "PYTHONDONTWRITEBYTECODE": "1",
        }
        self.proc: subprocess.Popen | None = None

    def manage(self, *args: str) -> str:
        """Run one of the provider's Django commands; its output."""
        done = subprocess.run(
            [str(PYTHON), str(MANAGE), *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        if done.returncode:
            raise RuntimeError(f"manage.py {args[0]}: {done.stderr[-2000:]}")
        return done.stdout

    def start(self, redirect_uris: list[str], logout_uris: list[str]) -> Provider:
        """Create the database, register the client and the people, serve."""
        self.manage("migrate", "-v0")
        self.register(redirect_uris, logout_uris)
        log = open(self.tmp / "idp.log", "wb")
        self.proc = subprocess.Popen(
            [str(PYTHON), str(MANAGE), "runserver", f"127.0.0.1:{self.port}"]
            + ["--noreload", "--skip-checks"],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self.proxy.start()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError((self.tmp / "idp.log").read_text()[-2000:])
            try:
                requests.get(self.issuer + "/jwks", timeout=1).raise_for_status()
                return self
            except requests.RequestException:
                time.sleep(0.1)
        raise RuntimeError("the test OpenID provider did not start in 30 s")

    def register(self, redirect_uris: list[str], logout_uris: list[str]) -> None:
        """(Re-)register the client with these URIs, and the people."""
        args = ["seed", "--client-id", CLIENT_ID, "--client-secret", CLIENT_SECRET]
        args += [a for uri in redirect_uris for a in ("--redirect-uri", uri)]
        args += [a for uri in logout_uris for a in ("--logout-uri", uri)]
        for name, password, groups in PEOPLE:
            args += ["--person", f"{name}:{password}:{','.join(groups)}"]
        self.manage(*args)

    def stop(self) -> None:
        """Stop the provider and the proxy."""
        self.proxy.stop()
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)

    def signing_key(self) -> tuple[str, str]:
        """(PEM, kid) of the key the provider signs ID tokens with now."""
        with sqlite3.connect(self.env["IDP_DATABASE"]) as conn:
            (pem,) = conn.execute(
                "SELECT key FROM oidc_provider_rsakey ORDER BY id LIMIT 1"
            ).fetchone()
        return pem, hashlib.md5(pem.encode()).hexdigest()

    def rotate_key(self) -> str:
        """A new signing key replaces the old one; its kid."""
        return self.manage("rotatekey").strip()

    def tamper(self, change: Callable[[str], str] | None) -> None:
        """From now on pass each ID token through ``change`` (None: as it is)."""
        self.proxy.tamper = change

    def forge(
        self,
        id_token: str,
        key_pem: str | None = None,
        kid: str | None = None,
        **claims,
    ) -> str:
        """``id_token`` with ``claims`` changed, signed again with the provider's
        own key (or ``key_pem``, under ``kid``)."""
        from joserfc import jwt
        from joserfc.jwk import RSAKey

        token = jwt.decode(id_token, RSAKey.import_key(self.public_pem()))
        pem, own_kid = self.signing_key()
        header = {"alg": "RS256", "kid": kid or own_kid}
        payload = {**token.claims, **claims}
        return jwt.encode(header, payload, RSAKey.import_key(key_pem or pem))

    def public_pem(self) -> str:
        """The public half of the current signing key, as PEM."""
        from joserfc.jwk import RSAKey

        pem, _kid = self.signing_key()
        return RSAKey.import_key(pem).as_pem(private=False).decode()
