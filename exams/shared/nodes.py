"""Node liveness in one process (``exams.shared.ports.NodeLiveness``): the single-machine
default, where this node is the only one, so every other node id (a take recorded under an
earlier port or hostname) is dead."""

from __future__ import annotations


class SingleNode:
    def __init__(self, node: str) -> None:
        self._node = node

    @property
    def node(self) -> str:
        return self._node

    async def alive(self, node: str) -> bool:
        return node == self._node

    async def gone(self) -> list[str] | None:
        return None  # no list of other nodes: every other one is dead (see alive)
