"""Typed application state: every long-lived object the app holds, by key."""

from __future__ import annotations

import socketio
from aiohttp import web

from exams.takes import TakeService
from media.hub import MediaHub
from media.writer import MuxPool
from storage.db import Database
from web.settings import Settings

SETTINGS = web.AppKey("settings", Settings)
SOCKETS = web.AppKey("sockets", socketio.AsyncServer)
DATABASE = web.AppKey("database", Database)
MUX_POOL = web.AppKey("mux_pool", MuxPool)
HUB = web.AppKey("media_hub", MediaHub)
TAKES = web.AppKey("takes", TakeService)
