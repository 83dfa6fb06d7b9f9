"""SFTP host keys remembered on first use (SPEC §4, ``sftp.host_key_policy = "tofu"``)."""

from __future__ import annotations

from typing import NamedTuple

from sqlalchemy import and_, delete, insert, select
from sqlalchemy.exc import IntegrityError

from .database import Database, stamp, utcnow
from .tables import host_keys


class HostKey(NamedTuple):
    key_type: str
    key_base64: str
    fingerprint: str


class HostKeys:
    def __init__(self, db: Database):
        self.engine = db.engine

    def get(self, host: str, port: int) -> HostKey | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(host_keys.c.key_type, host_keys.c.key_base64, host_keys.c.fingerprint)
                               .where(and_(host_keys.c.host == host, host_keys.c.port == port))).first()
        return HostKey(*row) if row else None

    def remember(self, host: str, port: int, key_type: str, key_base64: str, fingerprint: str) -> None:
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(host_keys).values(host=host, port=port, key_type=key_type, key_base64=key_base64,
                                                      fingerprint=fingerprint, first_seen=stamp(utcnow())))
        except IntegrityError:
            pass  # another process remembered it first; the next check compares with that

    def forget(self, host: str, port: int) -> bool:
        with self.engine.begin() as conn:
            gone = conn.execute(delete(host_keys).where(and_(host_keys.c.host == host, host_keys.c.port == port)))
            return gone.rowcount > 0
