"""The Socket.IO connections of logged-in accounts, and the limits per account.

A connection remembers the log-in session it was opened with (its token), the
account and that account's role: it acts for that live session only. The
namespace re-checks a connection's session at most every :data:`RECHECK_S` of
the injected clock and closes the connections an ended session covers.

Limits hold per account, not only per connection: at most ``max_per_account``
connections, and a message budget per connection *and* one shared by all of
an account's connections, so a flood spread over many connections (or
reconnects, which start a new connection's budget) is refused too. An
account's budget outlives its connections until it has refilled.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from exams.identity.accounts import Account, Role
from exams.identity.sessions import Ended, token_hash
from exams.shared.errors import Conflict
from exams.shared.ports import Clock
from signaling.ratelimit import TokenBucket

RECHECK_S = 5.0  # a connection's session is looked up again at most this often

# A page sends a handful of messages per take; a flood is refused.
MESSAGES_PER_SECOND, MESSAGE_BURST = 10, 30  # per connection
ACCOUNT_MESSAGES_PER_SECOND, ACCOUNT_MESSAGE_BURST = 20, 60  # all of an account's connections


@dataclass
class Connection:
    sid: str
    account_id: str
    role: Role
    token: str = field(repr=False)
    token_hash: str
    checked_at: float  # its session was last looked up (by a message or the sweep)
    touched_at: float  # ... by a message, which counts as activity on the session
    bucket: TokenBucket
    sessions: set[str] = field(default_factory=set)  # media sessions opened on it
    client: str = ""  # the client's address, for the audit
    route: str | None = None  # its URL's c=: the candidate the load balancer routed it by
    closing: bool = False  # its session ended: it acts no more and closes once settled
    in_flight: int = 0  # events being handled (their acknowledgements go out before it closes)
    settled: asyncio.Event = field(default_factory=asyncio.Event, repr=False)

    @property
    def owner(self) -> str:
        return self.account_id


class Connections:
    def __init__(self, clock: Clock, *, max_per_account: int) -> None:
        self._clock = clock
        self._max = max_per_account
        self._by_sid: dict[str, Connection] = {}
        self._by_account: dict[str, set[str]] = {}
        self._budgets: dict[str, TokenBucket] = {}

    def add(self, sid: str, account: Account, token: str) -> Connection:
        """Register a connection, or :class:`Conflict` past the account's cap.

        No ``await`` between the count and the insert: parallel connects cannot
        both pass the check.
        """
        sids = self._by_account.setdefault(account.id, set())
        if len(sids) >= self._max:
            raise Conflict(
                f"this account has {self._max} connections open already; "
                "close a page of the exam on another device or tab, then reload"
            )
        conn = Connection(
            sid,
            account.id,
            account.role,
            token,
            token_hash(token),
            self._clock(),
            self._clock(),
            TokenBucket(MESSAGES_PER_SECOND, MESSAGE_BURST, self._clock),
        )
        sids.add(sid)
        self._by_sid[sid] = conn
        self._budget(account.id)
        return conn

    def _budget(self, account_id: str) -> TokenBucket:
        budget = self._budgets.get(account_id)
        if budget is None:
            budget = self._budgets[account_id] = TokenBucket(
                ACCOUNT_MESSAGES_PER_SECOND, ACCOUNT_MESSAGE_BURST, self._clock
            )
        return budget

    def remove(self, sid: str) -> Connection | None:
        conn = self._by_sid.pop(sid, None)
        if conn is not None:
            sids = self._by_account.get(conn.account_id, set())
            sids.discard(sid)
            if not sids:
                self._by_account.pop(conn.account_id, None)
        return conn

    def get(self, sid: str) -> Connection | None:
        return self._by_sid.get(sid)

    def of_account(self, account_id: str) -> list[Connection]:
        return [self._by_sid[sid] for sid in self._by_account.get(account_id, ())]

    def spend(self, conn: Connection) -> bool:
        """Spend one message of the connection's budget and of its account's."""
        return conn.bucket.take() and self._budget(conn.account_id).take()

    def covered(self, ended: Ended) -> list[Connection]:
        return [c for c in self._by_sid.values() if ended.covers(c.account_id, c.token_hash)]

    def due(self) -> list[Connection]:
        """Connections whose session was last checked :data:`RECHECK_S` ago or more."""
        now = self._clock()
        return [c for c in self._by_sid.values() if is_due(c.checked_at, now)]

    def prune(self) -> None:
        """Forget the budgets of accounts without connections once they have refilled."""
        for account_id in [a for a in self._budgets if a not in self._by_account]:
            if self._budgets[account_id].full():
                del self._budgets[account_id]

    def __len__(self) -> int:
        return len(self._by_sid)


def is_due(checked_at: float, now: float) -> bool:
    """:data:`RECHECK_S` have passed since ``checked_at`` (or the clock went back)."""
    return not checked_at <= now < checked_at + RECHECK_S
