"""The command line's arguments."""

from __future__ import annotations

import argparse
import difflib
import re
import shlex
import sys
from collections.abc import Iterable, Sequence
from typing import Final, NoReturn, Optional

from mcard import __version__
from mcard.exporting import FORMATS
from mcard.importing import RECORD_FORMATS

from . import labelling, querying, syncing
from .output import DEFAULT_LIMIT, fail
from .resolving import HASH_HELP

DB_HELP = "SQLite file or engine URL (default: $MCARD_DB_URL, else $MCARD_DB_PATH, else ./mcard.db)"
TIME_HELP = "ISO 8601 time or date, inclusive (UTC unless an offset is given; a date alone is the whole day)"
LISTING_FORMATS = {"nl": "print JSON Lines: one object a line", "csv": "print CSV with a header",
                   "tsv": "print tab-separated values with a header", "table": "print an aligned table (the default)"}


class Parser(argparse.ArgumentParser):
    """Usage errors are one line on stderr and exit status 2, like every other failure."""

    typed: Sequence[str] = ()
    """The arguments being parsed (``parse`` sets them): an error's hint depends on them."""

    def error(self, message: str) -> NoReturn:
        command = self.prog.split()[-1]
        typed = re.match(r"argument COMMAND: invalid choice: '([^']*)'", message)
        stray = _stray_option(Parser.typed, self) if command == "mcard" and "COMMAND" in message else None
        if stray:  # mcard --dbb c.db ls took c.db for the command; mcard --verison missed one
            name, later = stray
            message = f"unrecognized option {name} before the command" + _stray_hint(name, later, self)
        elif typed:  # a mistyped command
            message += did_you_mean(typed.group(1), _commands(self).choices)
        dashed = any(arg[:1] == "-" and arg[:2] != "--" and arg != "-" for arg in _after(Parser.typed, command))  # "-": stdin
        if "arguments are required" in message and command != "mcard" and dashed:  # a value may have begun with -
            message += "; " + (querying.AFTER_DASHES.format(command=command) if command in ("search", "find")
                               else f"a value that starts with - goes after --: mcard {command} ... -- -value")
        fail(f"{message} (see {self.prog} --help)")
        raise SystemExit(2)


def _after(argv: Sequence[str], command: str) -> list[str]:
    """The arguments typed after ``command``."""
    return list(argv[list(argv).index(command) + 1:]) if command in argv else []


def _stray_option(argv: Sequence[str], parser: argparse.ArgumentParser) -> Optional[tuple[str, Optional[str]]]:
    """(name, the command typed after it or None) of the first option typed before the
    command that ``mcard`` itself does not take, or None."""
    commands = _commands(parser).choices
    own = _option_strings(parser)
    stray = None
    args = iter(argv)
    for arg in args:
        if arg == "--":
            break
        if arg in commands:
            return (stray, arg) if stray else None
        name = arg.split("=", 1)[0]
        if name == "--db" and "=" not in arg:
            next(args, None)  # its value
        elif arg[:1] == "-" and arg != "-" and name not in own and stray is None:
            stray = name
    return (stray, None) if stray else None


def _stray_hint(name: str, command: Optional[str], parser: argparse.ArgumentParser) -> str:
    """What to say of an option typed before ``command`` that ``mcard`` itself does not take:
    the command's own goes after its name; else the closest option of either."""
    commands = _commands(parser).choices
    if command is not None and name in _option_strings(commands[command]):
        return f"; a command's own options go after its name: mcard {command} {name} ..."
    return did_you_mean(name, _options(parser) + (_options(commands[command]) if command else []))


def did_you_mean(typed: str, known: Iterable[str]) -> str:
    """``"; did you mean X?"`` with the name in ``known`` closest to ``typed`` (a typo), else nothing."""
    close = difflib.get_close_matches(typed, list(known), n=1)
    return f"; did you mean {close[0]}?" if close else ""


def elsewhere(option: str, command: str, commands: dict[str, argparse.ArgumentParser]) -> str:
    """``"; --order is an option of ls and find, not of search"`` when other commands take
    ``option`` (a close name of this command's was suggested instead: ``search --order`` gave
    "did you mean --words?"), else nothing."""
    others = [name for name, parser in commands.items() if name != command and option in _options(parser)]
    if not others:
        return ""
    named = others[0] if len(others) == 1 else f"{', '.join(others[:-1])} and {others[-1]}"
    return f"; {option} is an option of {named}, not of {command}"


def _commands(parser: argparse.ArgumentParser) -> argparse._SubParsersAction:
    """The action that holds the parser of each command."""
    (commands,) = [action for action in parser._actions if isinstance(action, argparse._SubParsersAction)]
    return commands


def _option_strings(parser: argparse.ArgumentParser) -> set[str]:
    """Every option a parser takes, short ones too."""
    return {name for action in parser._actions for name in action.option_strings}


def _options(parser: argparse.ArgumentParser) -> list[str]:
    """The long options a command's parser takes."""
    return [name for action in parser._actions for name in action.option_strings if name.startswith("--")]


def _common(command: str = "") -> argparse.ArgumentParser:
    """``--db`` and ``--json``; those ``command`` refuses (``UNUSED``) are left out of its help."""
    common = Parser(add_help=False)
    shown = {option: help for option, help in (("db", DB_HELP), ("json", "print JSON for scripts"))
             if (command, option) not in UNUSED}
    common.add_argument("--db", default=argparse.SUPPRESS, help=shown.get("db", argparse.SUPPRESS))
    common.add_argument("--json", action="store_true", default=argparse.SUPPRESS,
                        help=shown.get("json", argparse.SUPPRESS))
    return common


def _time_range(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--since", metavar="TIME", help=TIME_HELP)
    parser.add_argument("--until", metavar="TIME", help=TIME_HELP)


def _card_filters(parser: argparse.ArgumentParser) -> None:
    """``--tag``, ``--type`` and ``--name``, as ``ls`` and ``export`` take them."""
    parser.add_argument("--tag", action="append", metavar="TAG", help="only cards with this tag (repeatable: all of them)")
    parser.add_argument("--type", metavar="TYPE", help="only this content type (type/* for any subtype)")
    parser.add_argument("--name", metavar="GLOB", help="only cards seen under a name matching GLOB (*, ?, [...])")


def _listing(parser: argparse.ArgumentParser) -> None:
    """``--nl``, ``--csv``, ``--tsv`` and ``--table``, besides the common ``--json``."""
    for name, help in LISTING_FORMATS.items():
        parser.add_argument(f"--{name}", action="store_true", help=help)
    parser.add_argument("--limit", type=int, default=DEFAULT_LIMIT, help=f"at most this many (default {DEFAULT_LIMIT}; 0 for all)")


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    """The arguments; unknown options are an error except after ``lab``, which passes them on."""
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    Parser.typed = argv
    args, extra = parser.parse_known_args(argv)
    if extra and args.command != "lab":
        hint = ""
        query = getattr(args, "text", None) or getattr(args, "query", None)
        dashed = [arg for arg in extra if arg[:1] == "-" and arg[:2] != "--"]
        before = argv[:argv.index(args.command)] if args.command in argv else []
        misplaced = [arg for arg in extra if arg in before]
        if misplaced:
            stray = _stray_option(argv, parser)
            hint = _stray_hint(stray[0], args.command, parser) if stray else ""
        elif args.command in ("search", "find", "facets") and dashed:
            words = shlex.quote(" ".join(([query] if query else []) + dashed))
            options = _after(argv, args.command)
            if query in options:
                options.remove(query)
            options = [arg for arg in options if arg not in dashed]  # the options given are kept
            again = shlex.join([*before, args.command, *options, "--"])
            hint = f"; if {' '.join(dashed)} is part of the query, the query goes after --: mcard {again} {words}"
        elif args.command in ("search", "find", "facets") and query and all(arg[:1] != "-" for arg in extra):
            words = shlex.quote(" ".join([query, *extra]))
            hint = f"; a query of several words is one argument, quoted: mcard {args.command} {words}"
        command = _commands(parser).choices[args.command]  # its help lists its options
        if not hint and (typed := [arg for arg in extra if arg[:2] == "--"]):
            name = typed[0].split("=", 1)[0]
            if name in _options(command):  # read after a "--" that made the rest the query's
                hint = f"; after -- everything is the query's: {name} goes before --"
            else:
                hint = elsewhere(name, args.command, _commands(parser).choices) or did_you_mean(name, _options(command))
        command.error(f"unrecognized arguments: {' '.join(extra)}{hint}")
    args.lab_args = extra
    _refuse_unused(parser, args)
    args.db = getattr(args, "db", None)
    if args.db is not None and not args.db.strip():
        parser.error("--db is empty: give a SQLite file or an engine URL (is a variable of the script unset?)")
    args.json = getattr(args, "json", False)
    chosen = [name for name in ("json", *LISTING_FORMATS) if getattr(args, name, False)]
    if len(chosen) > 1:
        parser.error(f"choose one output format: {' or '.join('--' + name for name in chosen)}")
    args.output_format = chosen[0] if chosen else "table"
    return args


UNUSED: Final[dict[tuple[str, str], str]] = {
    ("sync", "db"): "sync takes no --db: it copies from SOURCE to DEST (mcard sync SOURCE DEST)",
    ("lab", "json"): "lab takes no --json: it prints no result, it runs JupyterLab until you stop it",
    ("show", "json"): "show takes no --json: it prints the content itself (mcard info HASH --json gives its fields)",
}
"""Common options a command has no use for: refused (status 2) rather than ignored unseen."""


def _refuse_unused(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    for (command, option), message in UNUSED.items():
        if args.command == command and hasattr(args, option):  # given: the default is SUPPRESS
            parser.error(message)


def build_parser() -> argparse.ArgumentParser:
    common = _common()
    parser = Parser(
        prog="mcard", description="A content-addressable card store.", parents=[common],
        epilog="Exit status: 0 ok, 1 not found, 2 bad usage or input, 3 storage failure, 130 interrupted, "
        "129 hung up, 143 terminated. "
        "'-' names standard input or output.",
    )
    parser.add_argument("--version", action="version", version=f"mcard {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, help: str) -> argparse.ArgumentParser:
        return commands.add_parser(name, help=help, description=help, parents=[_common(name)])

    cmd = add("import", "store files and folders (recursively) as cards; - stores standard input as one card")
    cmd.add_argument("paths", nargs="+", metavar="PATH")
    matched = "whose name, path under the folder, or a folder of theirs matches"
    cmd.add_argument("--include", action="append", default=[], metavar="GLOB", help=f"only files {matched} (repeatable)")
    cmd.add_argument("--exclude", action="append", default=[], metavar="GLOB",
                     help=f"skip files {matched}: --exclude node_modules; /drafts: only the folder's own (repeatable)")
    cmd.add_argument("--tag", action="append", default=[], metavar="TAG",
                     help="attach TAG to every card imported, new or already stored (repeatable)")
    cmd.add_argument(
        "--records", action="store_true",
        help="PATH is an export (.jsonl, .csv, .parquet; -: JSON Lines on standard input): restore its "
        "cards with their g_time, in order; a bad record stops the import with its line number, keeping "
        "every record before it, so running it again once fixed stores the rest",
    )
    cmd.add_argument("--format", choices=RECORD_FORMATS, help="with --records: the records' format (default: from the suffix)")

    cmd = add("add", "store each TEXT as a text card and print its hash; - reads standard input")
    cmd.add_argument("texts", nargs="+", metavar="TEXT")

    cmd = add("ls", "list cards, newest first (or --order), with their latest names")
    _time_range(cmd)
    _listing(cmd)
    _card_filters(cmd)
    cmd.add_argument("--offset", type=int, default=0, help="skip this many first")
    querying.order_option(cmd, "newest")

    cmd = add("show", "write a card's content, byte for byte (on a terminal: text with control characters escaped)")
    cmd.add_argument("hash", help=HASH_HELP)
    cmd.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of stdout (-: stdout, byte for byte even on a terminal)")

    querying.add_parsers(add, _listing)
    labelling.add_parsers(add)
    syncing.add_parsers(add)

    cmd = add("rm", "remove cards")
    cmd.add_argument("hashes", nargs="+", metavar="HASH", help=f"{HASH_HELP}; - reads them from standard input, one a line")

    add("stats", "count, bytes, time span and content types")
    add("upgrade", "bring a store an older mcard wrote up to date (the commands that read refuse it); a current one is left as it is")
    cmd = add("verify", "re-hash every card and report those whose content no longer matches")
    cmd.add_argument("--remove", action="store_true",
                     help="then mend the damaged cards whose content is whole, and delete the others"
                          " (by their hashes as stored, also those that are no hash)")

    cmd = add("export", "export cards to JSON Lines, CSV, Parquet or a folder of files; - writes to stdout")
    cmd.add_argument("destination")
    cmd.add_argument(
        "--format", choices=FORMATS,
        help="default: from the destination's suffix; a folder means files; - means jsonl",
    )
    cmd.add_argument(
        "--content", action=argparse.BooleanOptionalAction, default=True,
        help="include the content (the default; bytes as base64 in text formats); --no-content lists the cards only",
    )
    _time_range(cmd)
    _card_filters(cmd)

    cmd = add("lab", "open JupyterLab on the tutorials over this database (other options go to jupyter lab)")
    cmd.add_argument("--demo", action="store_true", help="first fill the database with the demo cards when it holds no card")
    cmd.add_argument(
        "--tutorials", metavar="DIR",
        help="the folder to copy the tutorials to and open (default: the user data folder, "
        "e.g. ~/.local/share/mcard/tutorials); an edited tutorial is never overwritten",
    )
    return parser
