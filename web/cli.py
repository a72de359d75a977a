"""``examcast`` command line: ``serve``, ``bench``, ``bench-upload``; ``unit-add`` and
``grant`` for operators."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence

from aiohttp import web

from storage.private import use_private_umask
from web import logs
from web import settings as settings_mod


def build_parser(with_bench: bool = False) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="examcast", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the server (HTTP and Socket.IO on one port)")
    settings_mod.add_arguments(serve)
    bench = commands.add_parser(
        "bench", help="measure the recording path against aiortc's MediaRecorder"
    )
    bench_upload = commands.add_parser(
        "bench-upload",
        help="measure resumable-upload throughput and server memory against the disk itself",
    )
    from web.admin_cli import add_parsers as add_admin_parsers

    add_admin_parsers(commands)
    if with_bench:  # imported only when asked for: serving never depends on the bench code
        from bench.run import add_arguments as add_bench_arguments
        from bench.upload import add_arguments as add_upload_bench_arguments

        add_bench_arguments(bench)
        add_upload_bench_arguments(bench_upload)
    return parser


# The bench is a development tool: its package sits at the top of a checkout and is not
# installed by `pip install .` nor shipped in the image (docs/bench.md).
NO_BENCH = (
    "examcast: the bench is not installed here; it runs from a checkout of the source: "
    "scripts/setup --test, then .venv/bin/examcast {command} (docs/bench.md)"
)


def _bench_installed() -> bool:
    try:
        import bench.run  # noqa: F401
    except ModuleNotFoundError as exc:
        if exc.name is not None and exc.name.split(".")[0] == "bench":
            return False
        raise
    return True


def main(argv: Sequence[str] | None = None) -> None:
    use_private_umask()  # every command may create files in the data directory
    argv = list(sys.argv[1:] if argv is None else argv)
    benching = bool(argv) and argv[0] in ("bench", "bench-upload")
    if benching and not _bench_installed():
        sys.exit(NO_BENCH.format(command=argv[0]))
    args = build_parser(with_bench=benching).parse_args(argv)
    if args.command == "bench":
        from bench.run import main as bench_main

        sys.exit(bench_main(args))
    if args.command == "bench-upload":
        from bench.upload import main as upload_bench_main

        sys.exit(upload_bench_main(args))
    from web.admin_cli import COMMANDS as ADMIN_COMMANDS

    if args.command in ADMIN_COMMANDS:
        from web.admin_cli import main as admin_main

        sys.exit(admin_main(args))
    try:
        settings = settings_mod.load(vars(args))
    except settings_mod.SettingsError as exc:
        sys.exit(f"examcast: {exc}")
    serve(settings)


def serve(settings: settings_mod.Settings) -> None:
    logs.configure(settings.log_level, settings.log_format, settings.node_name)
    if settings.event_loop == "uvloop":
        try:
            import uvloop

            asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
        except ImportError:
            logging.warning("uvloop is not installed; using the asyncio event loop")
    from web.app import create_app
    from web.slow_clients import runner_options
    from web.tls import server_context

    ssl_context = server_context(settings.tls_dir) if settings.tls == "self-signed" else None
    scheme = "https" if ssl_context else "http"
    shown = "localhost" if settings.host in ("127.0.0.1", "0.0.0.0", "::") else settings.host
    print(
        f"examcast: serving on {scheme}://{shown}:{settings.port}/ "
        f"(data in {settings.data_dir.resolve()})",
        flush=True,
    )
    app = create_app(settings)
    app.on_startup.append(_drain_on_sigterm)  # after run_app's own handlers: SIGTERM drains
    web.run_app(
        app,
        host=settings.host,
        port=settings.port,
        ssl_context=ssl_context,
        print=None,
        access_log=None,
        loop=asyncio.new_event_loop(),
        **runner_options(settings.header_timeout_s),
    )


async def _drain_on_sigterm(app: web.Application) -> None:
    from web.keys import DRAIN

    app[DRAIN].install_signals()


if __name__ == "__main__":
    main()
