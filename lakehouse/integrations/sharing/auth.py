"""Bearer-token authentication and share grants for the sharing server (PROTOCOL.md "REST APIs": every
call carries `Authorization: Bearer {token}`).

The server keeps only SHA-256 digests of tokens. A presented token is hashed and compared with every
recipient's digest in constant time (`hmac.compare_digest`, and no early exit), so neither timing nor the
order of recipients tells an attacker how close a guess came. Expired tokens are refused like unknown ones.
"""

from __future__ import annotations

import hmac
from datetime import datetime, timezone

from lakehouse.errors import SharingError
from lakehouse.integrations.sharing.config import Recipient, SharingConfig, sha256_hex


def unauthenticated(message: str = "missing or invalid bearer token") -> SharingError:
    """The protocol's 401."""
    return SharingError(message, status=401, error_code="UNAUTHENTICATED")


def authenticate(config: SharingConfig, authorization: str | None, *, now: datetime | None = None) -> Recipient:
    """The recipient whose token the ``Authorization`` header carries; 401 `SharingError` otherwise."""
    if not authorization:
        raise unauthenticated("the request has no Authorization header")
    scheme, _, token = authorization.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise unauthenticated("the Authorization header must be 'Bearer <token>'")
    digest = sha256_hex(token).encode()
    found: Recipient | None = None
    for r in config.recipients:
        if hmac.compare_digest(digest, r.token_sha256.encode()) and found is None:
            found = r
    if found is None:
        raise unauthenticated()
    if found.expiration is not None and (now or datetime.now(timezone.utc)) >= found.expiration:
        raise unauthenticated("the bearer token has expired")
    return found


def may_read(recipient: Recipient, share: str) -> bool:
    """Whether ``recipient`` was granted ``share`` (case-insensitive)."""
    return recipient.shares is None or share.lower() in recipient.shares
