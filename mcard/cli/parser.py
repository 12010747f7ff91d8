"""The command line's arguments."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import NoReturn

from mcard.exporting import FORMATS

from .output import fail

DB_HELP = "SQLite file or engine URL (default: $MCARD_DB_URL, else $MCARD_DB_PATH, else ./mcard.db)"
TIME_HELP = "ISO 8601 time or date, inclusive (UTC unless an offset is given)"


class Parser(argparse.ArgumentParser):
    """Usage errors are one line on stderr and exit status 2, like every other failure."""

    def error(self, message: str) -> NoReturn:
        fail(f"{message} (see {self.prog} --help)")
        raise SystemExit(2)


def _common() -> argparse.ArgumentParser:
    common = Parser(add_help=False)
    common.add_argument("--db", default=argparse.SUPPRESS, help=DB_HELP)
    common.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="print JSON for scripts")
    return common


def _time_range(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--since", metavar="TIME", help=TIME_HELP)
    parser.add_argument("--until", metavar="TIME", help=TIME_HELP)


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    """The arguments; unknown options are an error except after ``lab``, which passes them on."""
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra and args.command != "lab":
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    args.lab_args = extra
    args.db = getattr(args, "db", None)
    args.json = getattr(args, "json", False)
    return args


def build_parser() -> argparse.ArgumentParser:
    common = _common()
    parser = Parser(
        prog="mcard", description="A content-addressable card store.", parents=[common]
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, help: str) -> argparse.ArgumentParser:
        return commands.add_parser(name, help=help, description=help, parents=[common])

    cmd = add("import", "store files and folders (recursively) as cards")
    cmd.add_argument("paths", nargs="+", metavar="PATH")
    cmd.add_argument("--include", action="append", default=[], metavar="GLOB", help="only matching files (repeatable)")
    cmd.add_argument("--exclude", action="append", default=[], metavar="GLOB", help="skip matching files (repeatable)")
    cmd.add_argument(
        "--records", action="store_true",
        help="PATH is an export made with --content (.jsonl, .csv, .parquet): restore its cards with "
        "their g_time, in order; a bad record stops the import with its line number, keeping every "
        "record before it, so running it again once fixed stores the rest",
    )

    cmd = add("ls", "list cards, newest first")
    _time_range(cmd)
    cmd.add_argument("--limit", type=int, default=20, help="at most this many (default 20; 0 for all)")
    cmd.add_argument("--offset", type=int, default=0)

    cmd = add("show", "write a card's content, byte for byte")
    cmd.add_argument("hash")
    cmd.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of stdout")

    cmd = add("search", "text cards containing TEXT (literal, case-sensitive)")
    cmd.add_argument("text")
    cmd.add_argument("--limit", type=int, default=20, help="at most this many (default 20; 0 for all)")

    cmd = add("rm", "remove cards")
    cmd.add_argument("hashes", nargs="+", metavar="HASH")

    add("stats", "count, bytes, time span and content types")
    add("verify", "re-hash every card and report those whose content no longer matches")

    cmd = add("export", "export cards to CSV, JSON Lines, Parquet or a folder of files")
    cmd.add_argument("destination")
    cmd.add_argument("--format", choices=FORMATS, help="default: from the destination's suffix; a folder means files")
    cmd.add_argument("--content", action="store_true", help="include the content (bytes as base64 in text formats)")
    _time_range(cmd)

    cmd = add("lab", "open JupyterLab on the tutorials over this database (other options go to jupyter lab)")
    cmd.add_argument("--demo", action="store_true", help="first fill the database with the demo cards (once)")
    return parser
