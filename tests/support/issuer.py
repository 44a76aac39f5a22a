"""A local stand-in for Entra's token issuer: its own RSA keys, a JWKS and an OpenID configuration served over HTTP on
loopback, and assertions carrying the claims Microsoft's workload identity federation document lists (aud, iss, sub,
oid, appid, tid, iat, nbf, exp, ver 2.0). It can be made to fail as a real endpoint does: down, slow, or garbage."""

from __future__ import annotations

import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa


class LocalIssuer:
    def __init__(self) -> None:
        self.tenant = str(uuid.uuid4())
        self.keys = {f"key-{n}": rsa.generate_private_key(public_exponent=65537, key_size=2048) for n in range(2)}
        self.published = set(self.keys)
        self.mode = "ok"
        """ok, down (500), slow (answers after 8 s), garbage (not JSON)"""
        self.requests: list[str] = []
        issuer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                issuer.requests.append(self.path)
                if issuer.mode == "slow":
                    time.sleep(8)
                if issuer.mode == "down":
                    self.send_error(500)
                    return
                if self.path.endswith("/.well-known/openid-configuration"):
                    body = json.dumps({"issuer": issuer.issuer, "jwks_uri": issuer.jwks_uri}).encode()
                elif self.path.endswith("/keys"):
                    body = json.dumps({"keys": [issuer.jwk(kid) for kid in sorted(issuer.published)]}).encode()
                else:
                    self.send_error(404)
                    return
                if issuer.mode == "garbage":
                    body = b"<html>not a key set</html>"
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    @property
    def issuer(self) -> str:
        return f"{self.base}/{self.tenant}/v2.0"

    @property
    def jwks_uri(self) -> str:
        return f"{self.base}/{self.tenant}/discovery/v2.0/keys"

    def public_pem(self, kid: str = "key-0") -> bytes:
        return self.keys[kid].public_key().public_bytes(serialization.Encoding.PEM,
                                                        serialization.PublicFormat.SubjectPublicKeyInfo)

    def jwk(self, kid: str) -> dict[str, Any]:
        jwk: dict[str, Any] = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.keys[kid].public_key()))
        return {**jwk, "kid": kid, "use": "sig", "alg": "RS256"}

    def claims(self, subject: str, audience: str, **overrides: Any) -> dict[str, Any]:
        now = int(time.time())
        claims = {"aud": audience, "iss": self.issuer, "sub": subject, "oid": subject, "appid": str(uuid.uuid4()),
                  "tid": self.tenant, "iat": now, "nbf": now, "exp": now + 600, "ver": "2.0"}
        claims.update(overrides)
        return {k: v for k, v in claims.items() if v is not None}

    def assertion(self, subject: str, audience: str, kid: str = "key-0", algorithm: str = "RS256",
                  **overrides: Any) -> str:
        return jwt.encode(self.claims(subject, audience, **overrides), self.keys[kid], algorithm=algorithm,
                          headers={"kid": kid})

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
