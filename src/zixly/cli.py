"""``zixly``: run the system locally, submit sweeps, and backtest without any service.

zixly demo                 start the embedded stack, run the example sweep, print the leaderboard, stop
zixly up                   run the embedded stack in the foreground until Ctrl-C
zixly sweep submit FILE    sign a sweep request with the configured secret and post it to ingest
zixly sweep status ID      show a sweep's progress from the dashboard API
zixly backtest …           one backtest on a data file (no services needed)
zixly sweep run …          a whole sweep on a data file, locally (no services needed)
zixly topics create        create every topic with its partition count on ZIXLY_KAFKA_BOOTSTRAP_SERVERS
zixly dlq list|show|redrive   list, inspect and re-drive dead letters
zixly replay --schema NAME    rebuild the read models from the topics into a fresh schema
zixly asyncapi [DIR]          write the AsyncAPI documents of the FastStream apps
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
import time
from pathlib import Path

import httpx

from zixly.stack import (
    WEBHOOK_SOURCE,
    RunningStack,
    StackConfig,
    database_url_file,
    running_stack,
    stack_database_url,
    webhook_secret,
)
from zixly_backtester.entrypoints.cli_options import EXIT_READER_GONE


def _local_commands(argv: list[str]) -> bool:
    return bool(argv) and (argv[0] in ("backtest", "strategies") or argv[:2] == ["sweep", "run"])


def cmd_demo(_: argparse.Namespace) -> int:
    from zixly.demo import run_demo

    config = StackConfig.from_env(ephemeral_ports=True)
    print(f"starting the embedded stack under {config.home} (logs in {config.home / 'logs'})")
    with running_stack(config) as stack:
        print(f"ready: ingest {stack.ingest_url}, dashboard {stack.dashboard_url}")
        return run_demo(stack)


class StopRequested(Exception):
    """Ctrl-C or SIGTERM: leave the foreground stack, stopping everything it started."""


def _request_stop(signum: int, frame: object) -> None:
    raise StopRequested(signal.Signals(signum).name)


#: A service that crashes more often than this within a minute is not restarted again.
MAX_RESTARTS_PER_MINUTE = 5


def supervise(stack: RunningStack) -> str:
    """Restart services that exit, as an orchestrator would; return why the stack must stop."""
    restarts: dict[str, list[float]] = {}
    while True:
        time.sleep(1.0)
        for child in list(stack.processes.children):
            if child.alive():
                continue
            if child.name == "kafka":
                return f"the broker exited with {child.process.returncode}:\n{child.tail()}"
            recent = [t for t in restarts.get(child.name, []) if time.monotonic() - t < 60]
            if len(recent) >= MAX_RESTARTS_PER_MINUTE:
                return f"{child.name} keeps exiting ({child.process.returncode}):\n{child.tail()}"
            print(f"{child.name} exited with {child.process.returncode}; restarting it")
            restarts[child.name] = [*recent, time.monotonic()]
            stack.processes.restart(child)


def cmd_up(_: argparse.Namespace) -> int:
    config = StackConfig.from_env(ephemeral_ports=False)
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, _request_stop)
    try:
        with running_stack(config) as stack:
            print(f"ingest     {stack.ingest_url}   (webhooks: POST /webhooks/{stack.webhook_source})")
            print(f"dashboard  {stack.dashboard_url}")
            print(f"kafka      {stack.bootstrap_servers}")
            print(f"database   {stack.database_url}")
            print(f"logs       {config.home / 'logs'}")
            print(
                "post a sweep with: zixly sweep submit examples/demo-sweep.json   (Ctrl-C stops everything)"
            )
            reason = supervise(stack)
            print(f"stopping: {reason}")
            return 1
    except StopRequested as signal_name:
        print(f"stopping ({signal_name})")
        return 0


def cmd_submit(args: argparse.Namespace) -> int:
    from zixly.webhooks import submit

    home = Path(os.environ.get("ZIXLY_HOME", ".zixly")).resolve()
    # Accept the webhook URL `zixly up` prints as well as the ingest base URL.
    url = args.url.split("/webhooks/")[0]
    try:
        secret = webhook_secret(home, create=False)
    except FileNotFoundError as exc:
        print(exc, file=sys.stderr)
        return 2
    try:
        response = submit(args.file, url=url, source=args.source, secret=secret, webhook_id=args.webhook_id)
    except (OSError, json.JSONDecodeError) as exc:
        print(f"cannot read {args.file}: {exc}", file=sys.stderr)
        return 2
    except httpx.HTTPError as exc:
        print(f"cannot reach ingest at {args.url}: {exc}", file=sys.stderr)
        return 1
    print(response.text)
    return 0 if response.status_code == 202 else 1


def cmd_status(args: argparse.Namespace) -> int:
    from zixly.demo import leaderboard

    try:
        response = httpx.get(f"{args.dashboard}/api/sweeps/{args.sweep_id}", timeout=5.0)
    except httpx.HTTPError as exc:
        print(f"cannot reach the dashboard at {args.dashboard}: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(response.json(), indent=2))
    if response.status_code == 200 and response.json()["status"] == "completed":
        print(leaderboard(args.dashboard, args.sweep_id))
    return 0 if response.status_code == 200 else 1


def cmd_topics(_: argparse.Namespace) -> int:
    from zixly.infrastructure import create_topics

    asyncio.run(create_topics(os.environ.get("ZIXLY_KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")))
    return 0


def _bootstrap(args: argparse.Namespace) -> str:
    return str(args.bootstrap or os.environ.get("ZIXLY_KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092"))


def cmd_dlq(args: argparse.Namespace) -> int:
    from zixly import dlq

    bootstrap = _bootstrap(args)
    topics = [args.topic if args.topic.endswith(".dlq") else f"{args.topic}.dlq"] if args.topic else None
    if args.dlq_command == "list":
        letters = asyncio.run(dlq.list_dead_letters(bootstrap, topics))
        if args.json:
            print(json.dumps([d.summary() for d in letters], indent=2))
        else:
            print(dlq.render_table(letters))
        return 0
    try:
        for ref in [args.ref] if args.dlq_command == "show" else args.refs:
            dlq.parse_ref(ref)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.dlq_command == "show":
        topic, _, _ = dlq.parse_ref(args.ref)
        letters = asyncio.run(dlq.list_dead_letters(bootstrap, [topic]))
        found = [d for d in letters if d.ref == args.ref]
        if not found:
            print(f"no dead letter {args.ref}", file=sys.stderr)
            return 1
        print(dlq.render_letter(found[0]))
        return 0
    if not args.refs and not args.all:
        print("name dead letters to re-drive (see `zixly dlq list`) or pass --all", file=sys.stderr)
        return 2
    try:
        done = asyncio.run(dlq.redrive(bootstrap, None if args.all else args.refs, topics))
    except (KeyError, ValueError) as exc:
        print(f"error: {exc.args[0]}", file=sys.stderr)
        return 1
    for ref in done:
        print(f"re-driven {ref}")
    print(f"{len(done)} dead letter(s) re-driven")
    return 0


def _stack_home() -> Path:
    return Path(os.environ.get("ZIXLY_HOME", ".zixly")).resolve()


def _database_url(given: str | None) -> tuple[str, str]:
    """The database to talk to and where that choice came from: ``--database-url``, then
    ``ZIXLY_DATABASE_URL``, then the one the local stack under ``ZIXLY_HOME`` runs with."""
    if given:
        return given, "--database-url"
    if configured := os.environ.get("ZIXLY_DATABASE_URL"):
        return configured, "ZIXLY_DATABASE_URL"
    home = _stack_home()
    if url := stack_database_url(home):
        return url, f"the local stack's, from {database_url_file(home)}"
    from zixly_aggregator.config import Settings

    return str(
        Settings.model_fields["database_url"].default
    ), "the default: no --database-url, ZIXLY_DATABASE_URL or local stack"


def _shown_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - only for display
        return "<unparseable database URL>"


def cmd_replay(args: argparse.Namespace) -> int:
    import dataclasses

    from zixly_aggregator.bootstrap import replay
    from zixly_aggregator.config import Settings

    database_url, origin = _database_url(args.database_url)
    print(f"replaying into {_shown_url(database_url)} ({origin})", file=sys.stderr)
    overrides = {"kafka_bootstrap_servers": args.bootstrap, "database_url": database_url}
    settings = Settings(**{k: v for k, v in overrides.items() if v})
    try:
        report = asyncio.run(replay(settings, args.schema, replace=args.replace))
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return 1
    print(json.dumps({"schema": args.schema, **dataclasses.asdict(report)}, indent=2))
    return 0


def cmd_asyncapi(args: argparse.Namespace) -> int:
    from zixly.asyncapi import write

    for path in write(args.directory):
        print(path)
    return 0


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(
        prog="zixly", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = root.add_subparsers(dest="command", required=True)
    sub.add_parser("demo", help="run the example sweep on the embedded stack").set_defaults(func=cmd_demo)
    sub.add_parser("up", help="run the embedded stack until Ctrl-C").set_defaults(func=cmd_up)
    sub.add_parser("topics", help="create every topic").add_argument("action", choices=["create"])
    sub.choices["topics"].set_defaults(func=cmd_topics)
    sweep = sub.add_parser("sweep", help="submit or inspect sweeps (`sweep run` runs one locally)")
    sweep_sub = sweep.add_subparsers(dest="sweep_command", required=True)
    submit = sweep_sub.add_parser("submit", help="sign a sweep request file and post it to ingest")
    submit.add_argument("file", type=Path)
    submit.add_argument("--url", default=os.environ.get("ZIXLY_INGEST_URL", "http://127.0.0.1:8080"))
    submit.add_argument("--source", default=WEBHOOK_SOURCE)
    submit.add_argument("--webhook-id", default=None, help="reuse an id to retry a delivery")
    submit.set_defaults(func=cmd_submit)
    status = sweep_sub.add_parser("status", help="show a sweep's progress")
    status.add_argument("sweep_id")
    status.add_argument("--dashboard", default=os.environ.get("ZIXLY_DASHBOARD_URL", "http://127.0.0.1:8000"))
    status.set_defaults(func=cmd_status)
    dead = sub.add_parser("dlq", help="list, inspect and re-drive dead letters")
    dead.add_argument("--bootstrap", default=None, help="default: ZIXLY_KAFKA_BOOTSTRAP_SERVERS")
    dead_sub = dead.add_subparsers(dest="dlq_command", required=True)
    dlq_list = dead_sub.add_parser("list", help="every dead letter: where from, why, how often tried")
    dlq_list.add_argument("--topic", default=None, help="one topic (e.g. backtests.tasks), default all")
    dlq_list.add_argument("--json", action="store_true")
    dlq_show = dead_sub.add_parser("show", help="one dead letter with its headers and body")
    dlq_show.add_argument("ref", help="<dlq topic>:<partition>:<offset>, as `zixly dlq list` prints it")
    dlq_show.set_defaults(topic=None)
    dlq_redrive = dead_sub.add_parser("redrive", help="publish dead letters back onto their original topic")
    dlq_redrive.add_argument("refs", nargs="*", help="<dlq topic>:<partition>:<offset> …")
    dlq_redrive.add_argument("--all", action="store_true", help="every dead letter not re-driven yet")
    dlq_redrive.add_argument("--topic", default=None, help="with --all: one topic only")
    dead.set_defaults(func=cmd_dlq)
    rebuild = sub.add_parser("replay", help="rebuild the read models from the topics into a fresh schema")
    rebuild.add_argument("--schema", required=True, help="PostgreSQL schema to build, e.g. replay_20260102")
    rebuild.add_argument("--replace", action="store_true", help="drop the schema first if it exists")
    rebuild.add_argument("--bootstrap", default=None, help="default: ZIXLY_KAFKA_BOOTSTRAP_SERVERS")
    rebuild.add_argument(
        "--database-url",
        default=None,
        help="default: ZIXLY_DATABASE_URL, else the local stack's (`zixly up`) under ZIXLY_HOME",
    )
    rebuild.set_defaults(func=cmd_replay)
    asyncapi = sub.add_parser("asyncapi", help="write the AsyncAPI documents of the FastStream apps")
    asyncapi.add_argument("directory", type=Path, nargs="?", default=Path("docs/asyncapi"))
    asyncapi.set_defaults(func=cmd_asyncapi)
    sweep_sub.add_parser("run", help="run a sweep locally on a data file (see `zixly sweep run --help`)")
    sub.add_parser("backtest", help="one backtest on a data file (see `zixly backtest --help`)")
    sub.add_parser("strategies", help="the strategy library with parameters and valid ranges")
    return root


def _run(argv: list[str]) -> int:
    if _local_commands(argv):
        from zixly_backtester.entrypoints.cli import main as backtest_main

        return backtest_main(argv, prog="zixly")
    args = parser().parse_args(argv)
    try:
        return int(args.func(args))
    except (RuntimeError, TimeoutError) as exc:  # e.g. the local stack could not start: say why
        print(f"error: {exc}", file=sys.stderr)
        return 1


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        code = _run(argv)
        sys.stdout.flush()  # inside the try: a reader gone shows up here for buffered output
        return code
    except BrokenPipeError:
        # The reader went away (`zixly … | head`): stop quietly, as Unix tools do. Output still
        # buffered would fail again when Python flushes stdout at exit, so it goes nowhere instead.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_READER_GONE


if __name__ == "__main__":
    sys.exit(main())
