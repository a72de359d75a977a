"""The one table of settings: name, type, default and help.

The CLI (``examcast serve --help``), environment variables (``EXAMCAST_<NAME>``)
and ``docs/settings.md`` are all generated from :class:`Settings`.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import socket
import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ENV_PREFIX = "EXAMCAST_"


class SettingsError(ValueError):
    """A setting has a value the server cannot use."""


def _setting(
    default: Any, help: str, *, choices: Sequence[str] | None = None, secret: bool = False
) -> Any:
    """``secret``: left out of the settings' repr (a log line or traceback never shows it)."""
    metadata: dict[str, Any] = {"help": help}
    if choices is not None:
        metadata["choices"] = tuple(choices)
    return field(default=default, metadata=metadata, repr=not secret)


@dataclass(frozen=True)
class Settings:
    host: str = _setting("127.0.0.1", "Address to listen on (HTTP and Socket.IO share it).")
    port: int = _setting(8080, "TCP port to listen on.")
    data_dir: Path = _setting(
        Path("examcast-data"), "Directory for the database, recordings and certificates."
    )
    tls: str = _setting(
        "off",
        "'off', or 'self-signed' to generate (once) and serve a certificate so phones on "
        "the LAN get a secure context for their camera.",
        choices=("off", "self-signed"),
    )
    ice_servers: tuple[str, ...] = _setting(
        (),
        "STUN/TURN URLs offered to peers, comma separated (e.g. turn:turn.example.edu:3478). "
        "None by default: no public server is ever contacted.",
    )
    ice_username: str = _setting("", "Username for the TURN servers in ice_servers.")
    ice_credential: str = _setting("", "Credential for the TURN servers in ice_servers.")
    ice_host_addresses: tuple[str, ...] = _setting(
        (),
        "Extra host addresses the server offers as ICE candidates, comma separated "
        "(e.g. 127.0.0.1 for clients on this machine; aioice never offers loopback itself).",
    )
    ice_host_addresses_only: bool = _setting(
        False,
        "Offer only ice_host_addresses as ICE host candidates, not the addresses of the "
        "machine's interfaces: for a host with networks no client reaches (Docker bridges, "
        "VPN tunnels) or interfaces that come and go.",
    )
    udp_ports: str = _setting(
        "",
        "UDP ports the server's media (ICE) sockets use, FIRST-LAST (e.g. 40000-40199), so a "
        "firewall or container can open exactly those; one port per peer connection and "
        "address offered. Empty: any port the kernel picks.",
    )
    turn_urls: tuple[str, ...] = _setting(
        (),
        "TURN (and STUN) URLs of coturn servers given to the pages, comma separated (e.g. "
        "turn:turn.example.edu:3478?transport=udp,turns:turn.example.edu:5349), with "
        "credentials made from turn_secret.",
    )
    turn_secret: str = _setting(
        "",
        "coturn's static-auth-secret (use-auth-secret): each page gets time-limited TURN "
        "credentials made with it (username expiry:account, password HMAC-SHA1).",
        secret=True,
    )
    turn_ttl_s: int = _setting(
        12 * 3600,
        "Seconds a page's TURN credentials are valid (longer than the longest exam: a peer "
        "connection set up before expiry keeps working only while coturn accepts refreshes).",
    )
    max_sdp_bytes: int = _setting(65536, "Largest SDP offer accepted, in bytes.")
    max_message_bytes: int = _setting(
        256 * 1024,
        "Largest Socket.IO message the transport takes; a larger one closes the connection. "
        "Within it, every field is checked and a bad one gets an error acknowledgement.",
    )
    start_bitrate_kbps: int = _setting(
        1500,
        "Video bitrate Chromium starts at (x-google-start-bitrate in the answer); without it "
        "a take's first seconds are recorded at low resolution. 0 leaves the browser's default.",
    )
    udp_receive_buffer_kb: int = _setting(
        1024,
        "Receive buffer asked of the kernel for each camera's UDP socket, in KiB (capped by "
        "net.core.rmem_max: a warning names it). It holds the packets that come while the "
        "event loop is held up; the kernel's default holds under a second of a camera's. "
        "0 keeps the default.",
    )
    keyframe_interval_ms: int = _setting(
        500, "How often the recorder repeats its keyframe request (RTCP PLI) until one arrives."
    )
    recorder_queue_bytes: int = _setting(
        16 * 1024 * 1024,
        "Bytes of encoded media a take may have waiting for the disk. Past it the recorder "
        "drops media until the next keyframe and records the gap in the manifest.",
    )
    reconnect_grace_s: int = _setting(
        60,
        "Seconds a media session waits for its client to come back after a disconnect, or for "
        "its media after 2 s without any, before it is closed and the take it was recording "
        "is stopped and stored. With redis_url also how long the take of a node that is gone "
        "waits for its candidate to continue it on another node before a surviving node "
        "finishes it.",
    )
    max_sockets_per_account: int = _setting(
        8,
        "Socket.IO connections one account may hold at once (its exam pages and phones); "
        "past it a new connection is refused.",
    )
    max_media_sessions_per_account: int = _setting(
        4,
        "Media sessions (cameras) one account may hold, connected or waiting out "
        "reconnect_grace_s; past it a new one is refused.",
    )
    max_cameras: int = _setting(
        0,
        "Cameras (media sessions of candidates new to this node) it takes at most; one more "
        "is refused with busy and its page retries, so the cameras here keep every frame. "
        "Size it from examcast bench --capacity (docs/deploy.md). 0: no cap.",
    )
    camera_refuse_lag_ms: int = _setting(
        500,
        "New cameras are refused (busy; their pages retry) while the event loop runs this "
        "late on average over 2 s: past its capacity a node loses every camera's media. "
        "0: never.",
    )
    max_viewers_per_account: int = _setting(
        4,
        "Live views (viewer sessions: a proctor or unit admin watching one candidate's "
        "cameras) one account may hold at once; past it a new one is refused.",
    )
    device_check_limit_s: int = _setting(
        120, "Longest device-check recording; the server stops it at this limit."
    )
    pairing_ttl_s: int = _setting(
        120,
        "Seconds a second-camera QR code (二机位) can be scanned; each code works once.",
    )
    public_url: str = _setting(
        "",
        "The address phones reach this server at, used in the second camera's QR code (e.g. "
        "https://192.168.1.20:8443). Empty: the address the first device loaded its page from.",
    )
    writer_threads: int = _setting(2, "Worker threads that mux and write recordings.")
    viewer_shed_lag_ms: int = _setting(
        100,
        "Load shedding (the recording first): when the event loop runs this late (ms) on "
        "average over 2 s, live viewers get keyframes only; twice as late, new viewer "
        "sessions are refused (busy); both end when the average is under half of it. "
        "0: never shed.",
    )
    wall_picture_interval_ms: int = _setting(
        2500,
        "How often (2000-3000 ms) the proctors' wall takes a fresh picture of each watched "
        "camera: only a keyframe is decoded into a JPEG, one that arrived on its own or, "
        "when none did within the interval, one asked for (PLI).",
    )
    wall_picture_threads: int = _setting(
        2, "Worker threads that decode the wall's keyframes into small JPEG pictures."
    )
    wall_preview_fps: int = _setting(
        5,
        "Ask cameras to also send their picture scaled to fit 320x240 at this many frames a "
        "second (1-15), whose keyframes the wall decodes instead of the camera's own: about "
        "half the wall's CPU, for 7-10 percent more per camera received (docs/decisions/0031). "
        "0: ask for none (the wall decodes the cameras' own keyframes).",
    )
    wall_preview_kbps: int = _setting(
        150, "The preview's bitrate ceiling (kbit/s, 30-1000), on top of the camera's."
    )
    session_idle_s: int = _setting(
        4 * 3600,
        "A log-in session ends after this many seconds without a request (never sooner; at "
        "most a tenth of it, or a minute, later).",
    )
    session_max_s: int = _setting(
        24 * 3600, "A log-in session ends this many seconds after log-in, however busy."
    )
    password_hash_memory_kib: int = _setting(
        64 * 1024,
        "Memory of one Argon2id password hash, in KiB (RFC 9106's second choice: 65536, "
        "3 passes). Two hashes run at a time.",
    )
    sms_gateway: str = _setting(
        "log",
        "How SMS verification codes are sent. 'log': written to the server log (and kept in "
        "memory for tests) instead of being sent; no gateway is built in yet.",
        choices=("log",),
    )
    database_url: str = _setting(
        "",
        "Where the records are kept. Empty: SQLite in data_dir (one machine). "
        "postgresql://USER:PASSWORD@HOST:PORT/NAME: PostgreSQL, shared by several nodes "
        "(its schema is brought up to date at start).",
    )
    storage_url: str = _setting(
        "",
        "Where finished recordings, fills and answer files are kept besides this node's disk. "
        "Empty: local disk only (data_dir). s3://BUCKET[/PREFIX]?endpoint=http://HOST:PORT"
        "&region=REGION: an S3-compatible object store (keys in storage_access_key and "
        "storage_secret_key): each file goes up checked against its SHA-256 and is served "
        "from there; a segment being recorded goes up in pieces every storage_piece_ms.",
    )
    storage_access_key: str = _setting("", "Access key of the object store in storage_url.")
    storage_secret_key: str = _setting(
        "", "Secret key of the object store in storage_url.", secret=True
    )
    storage_piece_ms: int = _setting(
        2000,
        "With storage_url: how often the bytes a recording segment gained go up as a piece, "
        "so a node that dies loses at most about this much of what it recorded.",
    )
    storage_keep_local: bool = _setting(
        False,
        "With storage_url: keep each file on this node's disk after its object is verified "
        "in the store. Off: it is deleted then (the disk holds only what is being recorded "
        "or not yet stored), and everything is read from the store.",
    )
    storage_threads: int = _setting(
        4, "With storage_url: threads that talk to the object store (uploads, reads)."
    )
    redis_url: str = _setting(
        "",
        "Redis for what several server processes (nodes) share: rate limits, locks, deadline "
        "ownership, pairings, playback windows, upload locks and Socket.IO events between "
        "nodes (e.g. redis://127.0.0.1:6379/0). Empty: kept in this process's memory.",
    )
    redis_prefix: str = _setting(
        "examcast:",
        "Prefix of every Redis key (and of the Socket.IO channel): nodes of one deployment "
        "share it, another deployment on the same Redis uses its own.",
    )
    node_id: str = _setting(
        "",
        "This node's name in ownership keys (locks, deadlines), on the takes it records and "
        "in the log. Empty: hostname:port. Unique among the nodes that share a Redis; keep "
        "it when a node restarts (a restart finishes only its own node's unfinished takes).",
    )
    node_lease_s: int = _setting(
        5,
        "With redis_url: seconds a node's locks and deadlines stay its own after it stops "
        "renewing them (it renews every third of this); then another node takes its "
        "deadlines over (and its takes, after reconnect_grace_s).",
    )
    trusted_proxies: tuple[str, ...] = _setting(
        (),
        "Addresses of reverse proxies whose X-Forwarded-For header names the client, comma "
        "separated. Rate limits and the audit log use the client address. From these only, "
        "X-Forwarded-Proto: https means the browser used HTTPS (Secure __Host- cookie, HSTS) "
        "and X-Forwarded-Host is the host it asked for (origin checks).",
    )
    sms_per_address_per_hour: int = _setting(
        30,
        "SMS codes one client address may ask for in an hour (raise it for an exam hall "
        "behind one NAT address).",
    )
    sms_resend_s: int = _setting(
        60, "Seconds before the same phone may be sent another SMS code (one at a time)."
    )
    vendor_url: str = _setting(
        "",
        "HTTPS endpoint of a commercial real-person verification service (实人认证) the "
        "'vendor' verifier posts each answer to (HMAC-signed JSON: name, ID number, reference "
        "photo, liveness frames; see storage/face_vendor.py).",
    )
    vendor_key: str = _setting(
        "",
        "Secret key the vendor gave for vendor_url: requests are signed with it (it is never "
        "sent nor logged). Set it by env EXAMCAST_VENDOR_KEY rather than on the command line.",
        secret=True,
    )
    vendor_name: str = _setting(
        "vendor", "Short name of the vendor, stored with each result as vendor:<name>."
    )
    vendor_timeout_s: int = _setting(
        10,
        "Seconds to wait for the vendor's answer; past that the candidate is told the service "
        "did not answer (not counted as a failed try) and may try again at once.",
    )
    vendor_threshold: int = _setting(
        0,
        "Similarity score (0-100) from which the vendor's answer counts as a pass; 0: the "
        "vendor's own pass/fail.",
    )
    face_check_interval_s: int = _setting(
        90,
        "During a take, how often the candidate's camera picture is compared with their "
        "reference photo (the first at the take's first picture; ~0.1 s of CPU each, so "
        "90 s is ~0.11-0.14 percent of a core per candidate: docs/detection.md); two "
        "mismatches in a row, or a second face, raise a face_not_recognised incident for a "
        "proctor. 0: off.",
    )
    staff_two_factor: str = _setting(
        "required",
        "Two-step log-in (TOTP authenticator app) for staff accounts (unit admins, proctors, "
        "reviewers). 'required': a staff account without one sets it up at its next log-in; "
        "'optional': offered on the account page. Candidates log in with phone and password.",
        choices=("required", "optional"),
    )
    review_photo_max_bytes: int = _setting(
        8 * 1024 * 1024,
        "Largest photo (JPEG or PNG) a candidate may upload for manual identity review.",
    )
    admitted_list_max_bytes: int = _setting(
        16 * 1024 * 1024, "Largest admitted-list CSV file a unit admin may import."
    )
    verifier: str = _setting(
        "face",
        "Real-person verification: 'face' (the built-in offline face check: a liveness "
        "challenge and a match with the unit's reference photo; a candidate without one goes "
        "to manual review), 'vendor' (a commercial service: vendor_url, vendor_key), or "
        "'id_suffix' (the last 6 characters of the ID number: a stand-in for trials and demos).",
        choices=("face", "vendor", "id_suffix"),
    )
    face_match_threshold: float = _setting(
        0.0,
        "Largest face distance that counts as the same person (verifier 'face'); 0: the "
        "engine's measured default (docs/faces.md). Lower is stricter.",
    )
    face_challenge: str = _setting(
        "",
        "Liveness steps asked of every candidate, comma separated, of turn_left, turn_right "
        "and blink (e.g. 'blink'); empty: both turns in a random order and a blink at a random "
        "place, per attempt (the default; a fixed challenge is easier to replay).",
    )
    reference_photo_max_bytes: int = _setting(
        4 * 1024 * 1024, "Largest reference photo (报名照片) a unit admin may upload."
    )
    reference_photos_zip_max_bytes: int = _setting(
        512 * 1024 * 1024, "Largest zip of reference photos a unit admin may upload at once."
    )
    verification_evidence_days: float = _setting(
        30.0,
        "Days the camera frames kept as evidence of a verification are kept; then they are "
        "deleted (the result, its score and model stay).",
    )
    upload_max_bytes: int = _setting(
        4 * 1024 * 1024 * 1024,
        "Largest resumable upload (tus Tus-Max-Size) of any answer file; each question's "
        "own size limit applies within it.",
    )
    upload_idle_s: int = _setting(
        30,
        "Seconds without bytes after which an upload shows as interrupted (中断) in the list "
        "of unfinished uploads, and a PATCH whose body stopped arriving is ended (what arrived "
        "is kept).",
    )
    upload_sweep_s: int = _setting(
        300,
        "How often expired uploads are deleted and uploads a crash left whole are completed.",
    )
    header_timeout_s: int = _setting(
        20,
        "Seconds a connection has to send a request's complete headers, counted from when it "
        "opens or its previous response ended (an idle keep-alive connection closes then too).",
    )
    body_grace_s: int = _setting(
        20,
        "Seconds a request body may take before the minimum rate applies (as Apache's "
        "mod_reqtimeout: body=20,MinRate=500).",
    )
    body_min_rate: int = _setting(
        500,
        "Bytes per second a request body must average after body_grace_s; a slower one is "
        "ended (what an upload received is kept, and it can resume).",
    )
    demo: bool = _setting(
        False,
        "Seed a demo unit, exam, candidate and unit admin (once) and print how to sign in.",
    )
    event_loop: str = _setting(
        "uvloop", "Event loop implementation.", choices=("uvloop", "asyncio")
    )
    log_level: str = _setting(
        "info", "Logging level.", choices=("debug", "info", "warning", "error")
    )
    log_format: str = _setting(
        "text",
        "'text': a line per event; 'json': one JSON object a line (time, level, logger, "
        "message, node, request_id, take_id) for a log collector.",
        choices=("text", "json"),
    )
    metrics_token: str = _setting(
        "",
        "Bearer token Prometheus sends to GET /metrics (Authorization: Bearer TOKEN; set it "
        "by env EXAMCAST_METRICS_TOKEN rather than on the command line). Empty: /metrics is "
        "off (404).",
        secret=True,
    )
    drain_timeout_s: int = _setting(
        900,
        "On SIGTERM the node drains: /readyz answers 503, no new media sessions, the takes "
        "recording finish; then it stops. It stops anyway after this many seconds (a second "
        "SIGTERM: at once). 0: SIGTERM stops at once, as SIGINT does.",
    )

    # -- derived paths -------------------------------------------------------------------

    @property
    def node_name(self) -> str:
        """``node_id``, or hostname:port."""
        return self.node_id or f"{socket.gethostname()}:{self.port}"

    @property
    def database_path(self) -> Path:
        return self.data_dir / "examcast.sqlite3"

    @property
    def recordings_dir(self) -> Path:
        return self.data_dir / "recordings"

    @property
    def tls_dir(self) -> Path:
        return self.data_dir / "tls"

    @property
    def secrets_dir(self) -> Path:
        return self.data_dir / "secrets"

    @property
    def reviews_dir(self) -> Path:
        return self.data_dir / "reviews"

    @property
    def uploads_dir(self) -> Path:
        """Finished answer files, one folder per answer."""
        return self.data_dir / "uploads"

    @property
    def tus_dir(self) -> Path:
        """Resumable uploads still arriving (on the same disk as ``uploads_dir``)."""
        return self.data_dir / "tus"

    def validate(self) -> Settings:
        if not 0 < self.port < 65536:
            raise SettingsError(f"port must be between 1 and 65535, not {self.port}")
        for f in dataclasses.fields(self):
            choices = f.metadata.get("choices")
            if choices and getattr(self, f.name) not in choices:
                raise SettingsError(
                    f"{f.name} must be one of {', '.join(choices)}, not {getattr(self, f.name)!r}"
                )
        for name in ("max_sdp_bytes", "max_message_bytes", "recorder_queue_bytes"):
            if getattr(self, name) < 1024:
                raise SettingsError(f"{name} must be at least 1024")
        if self.max_message_bytes < 2 * self.max_sdp_bytes:
            raise SettingsError("max_message_bytes must be at least twice max_sdp_bytes")
        if self.ice_host_addresses_only and not self.ice_host_addresses:
            raise SettingsError("ice_host_addresses_only needs ice_host_addresses")
        if self.writer_threads < 1:
            raise SettingsError("writer_threads must be at least 1")
        if self.max_cameras < 0 or self.camera_refuse_lag_ms < 0:
            raise SettingsError("max_cameras and camera_refuse_lag_ms must be at least 0")
        if self.max_viewers_per_account < 1:
            raise SettingsError("max_viewers_per_account must be at least 1")
        if self.viewer_shed_lag_ms < 0:
            raise SettingsError("viewer_shed_lag_ms must be at least 0 (0: never shed)")
        if not 2000 <= self.wall_picture_interval_ms <= 3000 or self.wall_picture_threads < 1:
            raise SettingsError(
                "wall_picture_interval_ms must be between 2000 and 3000; "
                "wall_picture_threads at least 1"
            )
        if not 0 <= self.wall_preview_fps <= 15 or not 30 <= self.wall_preview_kbps <= 1000:
            raise SettingsError(
                "wall_preview_fps must be between 0 and 15; wall_preview_kbps between 30 and 1000"
            )
        if self.reconnect_grace_s < 1 or self.device_check_limit_s < 1:
            raise SettingsError("reconnect_grace_s and device_check_limit_s must be at least 1")
        if self.max_sockets_per_account < 1 or self.max_media_sessions_per_account < 2:
            raise SettingsError(
                "max_sockets_per_account must be at least 1; max_media_sessions_per_account, 2"
            )
        if self.pairing_ttl_s < 1:
            raise SettingsError("pairing_ttl_s must be at least 1")
        if self.public_url and not self.public_url.startswith(("http://", "https://")):
            raise SettingsError("public_url must be an http:// or https:// address")
        if self.keyframe_interval_ms < 50:
            raise SettingsError("keyframe_interval_ms must be at least 50")
        if self.session_idle_s < 60 or self.session_max_s < self.session_idle_s:
            raise SettingsError("session_idle_s must be at least 60 and at most session_max_s")
        if self.password_hash_memory_kib < 8:
            raise SettingsError("password_hash_memory_kib must be at least 8")
        if self.review_photo_max_bytes < 64 * 1024 or self.admitted_list_max_bytes < 1024:
            raise SettingsError(
                "review_photo_max_bytes must be at least 65536, admitted_list_max_bytes 1024"
            )
        if self.upload_max_bytes < 1024 or self.upload_idle_s < 1 or self.upload_sweep_s < 1:
            raise SettingsError(
                "upload_max_bytes must be at least 1024; upload_idle_s and upload_sweep_s, 1"
            )
        if self.sms_resend_s < 1:
            raise SettingsError("sms_resend_s must be at least 1")
        self._validate_vendor()
        self._validate_faces()
        if self.header_timeout_s < 1 or self.body_grace_s < 1 or self.body_min_rate < 1:
            raise SettingsError(
                "header_timeout_s, body_grace_s and body_min_rate must be at least 1"
            )
        if self.database_url and not self.database_url.startswith(("postgresql://", "postgres://")):
            raise SettingsError("database_url must be empty (SQLite) or a postgresql:// URL")
        if self.redis_url and not self.redis_url.startswith(("redis://", "rediss://", "unix://")):
            raise SettingsError("redis_url must be a redis://, rediss:// or unix:// URL")
        self._validate_storage()
        if self.node_lease_s < 1 or not self.redis_prefix:
            raise SettingsError("node_lease_s must be at least 1; redis_prefix not empty")
        if self.drain_timeout_s < 0:
            raise SettingsError("drain_timeout_s must be at least 0 (0: SIGTERM stops at once)")
        if self.metrics_token and len(self.metrics_token) < 16:
            raise SettingsError("metrics_token must be at least 16 characters (or empty: off)")
        for url in self.ice_servers:
            if not url.startswith(("stun:", "turn:", "turns:")):
                raise SettingsError(f"ice_servers: {url!r} is not a stun:, turn: or turns: URL")
        self._validate_turn()
        return self

    def _validate_faces(self) -> None:
        if self.verifier == "vendor" and not self.vendor_url:
            raise SettingsError("verifier is 'vendor': set vendor_url (and vendor_key)")
        if not 0 <= self.face_match_threshold <= 2:
            raise SettingsError("face_match_threshold must be from 0 to 2 (0: the default)")
        if self.reference_photo_max_bytes < 64 * 1024 or self.verification_evidence_days < 0:
            raise SettingsError(
                "reference_photo_max_bytes must be at least 65536; "
                "verification_evidence_days at least 0"
            )
        if self.reference_photos_zip_max_bytes < self.reference_photo_max_bytes:
            raise SettingsError(
                "reference_photos_zip_max_bytes must be at least reference_photo_max_bytes"
            )
        steps = [s for s in self.face_challenge.split(",") if s.strip()]
        known = ("turn_left", "turn_right", "blink")  # exams.identity.liveness.CHALLENGE_STEPS
        if any(s.strip() not in known for s in steps):
            raise SettingsError(f"face_challenge: steps are {', '.join(known)}")

    def _validate_vendor(self) -> None:
        if self.vendor_url and not self.vendor_url.startswith(("http://", "https://")):
            raise SettingsError("vendor_url must be an https:// (or http://) address")
        if self.vendor_url and not self.vendor_key:
            raise SettingsError("vendor_url is set: set vendor_key too (EXAMCAST_VENDOR_KEY)")
        if self.vendor_timeout_s < 1 or not 0 <= self.vendor_threshold <= 100:
            raise SettingsError(
                "vendor_timeout_s must be at least 1; vendor_threshold from 0 to 100"
            )
        if self.face_check_interval_s < 0:
            raise SettingsError("face_check_interval_s must be at least 0 (0: off)")

    def _validate_storage(self) -> None:
        if self.storage_url:
            from storage.objects import StorageUrl  # the one parser of the URL

            try:
                StorageUrl.parse(self.storage_url)
            except ValueError as exc:
                raise SettingsError(str(exc)) from exc
        if self.storage_piece_ms < 200 or self.storage_threads < 1:
            raise SettingsError("storage_piece_ms must be at least 200; storage_threads at least 1")

    def _validate_turn(self) -> None:
        for url in self.turn_urls:
            if not url.startswith(("stun:", "turn:", "turns:")):
                raise SettingsError(f"turn_urls: {url!r} is not a stun:, turn: or turns: URL")
        if any(u.startswith("turn") for u in self.turn_urls) and not self.turn_secret:
            raise SettingsError("turn_urls has a TURN server: set turn_secret (coturn's too)")
        if self.turn_ttl_s < 60:
            raise SettingsError("turn_ttl_s must be at least 60")
        if self.udp_ports:
            low, sep, high = self.udp_ports.partition("-")
            if not (sep and low.isdigit() and high.isdigit()) or not (
                1024 <= int(low) <= int(high) <= 65535
            ):
                raise SettingsError(
                    f"udp_ports must be FIRST-LAST within 1024-65535 (e.g. 40000-40199), "
                    f"not {self.udp_ports!r}"
                )


def _field_type(f: dataclasses.Field[Any]) -> Any:
    hints = typing.get_type_hints(Settings)
    return hints[f.name]


def _convert(f: dataclasses.Field[Any], raw: str) -> Any:
    kind = _field_type(f)
    try:
        if kind is bool:
            if raw.lower() in ("1", "true", "yes", "on"):
                return True
            if raw.lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError(raw)
        if kind is int:
            return int(raw)
        if kind is float:
            return float(raw)
        if kind is Path:
            return Path(raw)
        if typing.get_origin(kind) is tuple:
            return tuple(part.strip() for part in raw.split(",") if part.strip())
        if isinstance(kind, types.UnionType):
            return raw or None
        return raw
    except ValueError as exc:
        raise SettingsError(f"{f.name}: cannot read {raw!r} as {kind}") from exc


def fields() -> tuple[dataclasses.Field[Any], ...]:
    return dataclasses.fields(Settings)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add one ``--option`` per setting; defaults stay unset so env vars can apply."""
    for f in fields():
        flag = "--" + f.name.replace("_", "-")
        default = f.default
        shown = ",".join(default) if isinstance(default, tuple) else default
        help_text = f"{f.metadata['help']} (default: {shown!r}; env {ENV_PREFIX}{f.name.upper()})"
        if isinstance(f.default, bool):
            parser.add_argument(
                flag, dest=f.name, default=None, action="store_const", const="true", help=help_text
            )
            continue
        parser.add_argument(
            flag,
            dest=f.name,
            default=None,
            metavar=f.name.upper(),
            choices=f.metadata.get("choices"),
            help=help_text,
        )


def load(cli: Mapping[str, Any] | None = None, env: Mapping[str, str] | None = None) -> Settings:
    """Settings from defaults, then environment, then command line; validated."""
    env = os.environ if env is None else env
    cli = cli or {}
    values: dict[str, Any] = {}
    for f in fields():
        raw = cli.get(f.name)
        if raw is None:
            raw = env.get(ENV_PREFIX + f.name.upper())
        if raw is not None:
            values[f.name] = _convert(f, str(raw))
    return Settings(**values).validate()


def markdown_table() -> str:
    """The settings as a Markdown table, for docs/settings.md."""
    rows = ["| setting | environment | default | meaning |", "| --- | --- | --- | --- |"]
    for f in fields():
        default = f.default
        shown = ",".join(default) if isinstance(default, tuple) else str(default)
        rows.append(
            f"| `--{f.name.replace('_', '-')}` | `{ENV_PREFIX}{f.name.upper()}` "
            f"| `{shown}` | {f.metadata['help']} |"
        )
    return "\n".join(rows) + "\n"
