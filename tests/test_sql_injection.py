"""No SQL is built from user input: every statement an engine runs is a constant.

The check walks the syntax tree of every module of the persistence layer and looks at each call
that sends SQL (``execute``, ``executemany``, ``executescript``, ``fetch``, ``fetchrow``,
``fetchval``, ``prepare``, ``cursor``). Its statement must be built only from constants: string
literals, module-level constants, f-strings and ``+`` over those, ``"?" * n`` placeholders, a
``", ".join(...)`` of constants, a lookup in a module-level table of constant statements, or a
local variable every assignment of which is itself such an expression (also through a helper
of the same module that returns one). Values travel only as bound parameters.

Identifiers from the configuration (PostgreSQL schema and table) are the one exception: they
reach SQL only through a parameter annotated with a type of ``TRUSTED_IDENTIFIERS``, whose
names the configuration validates as plain identifiers (checked below with hypothesis) and
quotes. A call to a function named ``quote_identifier`` counts as safe as well, and so does
``int(...)`` (decimal digits only, for the PRAGMAs that take no bound parameter).

A method that only passes a statement on to the driver takes it as a parameter annotated
``Statement``; such methods must themselves be named like SQL calls, so that every caller's
statement is checked here in turn.
"""

from __future__ import annotations

import ast
import re
from dataclasses import replace
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

import mcard

PERSISTENCE = Path(mcard.__file__).parent / "infrastructure" / "persistence"
SQL_CALLS = {"execute", "executemany", "executescript", "fetch", "fetch_snapshot", "fetchrow", "fetchval", "prepare", "cursor"}
SAFE_CALLS = {"quote_identifier", "len", "int"}
BUILDERS = {"where", "also", "joined", "check", "matched", "left_out", "_chosen", "_page_query", "chosen_flag", "folded_texts",
            "_matching", "step_statement", "_holding", "holds", "matches", "ranking_statement",
            "mark", "paging", "walked_cards", "loop_walk", "hits_up_to", "threshold_alone", "walk_statement", "ordering", "_required", "folded_bytes",
            "plain_holding", "passing", "texts_holding", "bytes_holding", "grouping_statement", "plain_rows",
            "count_statement", "lead_statement", "every_card_statement", "orderings", "_from_the_offset",
            "deep_walk_statement", "probe_statement", "counts_statement", "part_statement",
            "named_statement", "unnamed_statement", "named_count_statement", "_from_the_size"}
"""Functions that put filters and searches together as SQL from constants, placeholders and
configured identifiers; ``test_builders_never_put_values_in_sql`` checks each of them with
hostile values, which must reach only the parameters."""
REPLAYED_SCHEMA = "db.execute(stored_schema_sql)"
"""The one statement that is not a constant: when the SQLite upgrade rebuilds the ``card``
table, the indexes and triggers another tool put on it are made again from the SQL the file
itself holds for them (its schema, not values)."""
TRUSTED_IDENTIFIERS = {"Tables", "Statement"}
"""Types holding quoted identifiers that ``PostgresConfig`` validated (``Tables.named``), and
statements a caller passes on (``Statement``: checked at the call, see the module docstring)."""


class Module:
    def __init__(self, tree: ast.Module, path: Path | None = None) -> None:
        self.tree = tree
        self.globals: dict[str, list[ast.expr]] = {}
        self.functions: dict[str, ast.FunctionDef | ast.AsyncFunctionDef] = {}
        self.imported: dict[str, tuple[Path, str]] = {}
        self.modules: dict[str, Path] = {}
        for node in tree.body:
            if isinstance(node, ast.ImportFrom) and node.level and path is not None:
                folder = path.parents[node.level - 1]
                for alias in node.names:
                    if node.module:
                        source = folder.joinpath(*node.module.split(".")).with_suffix(".py")
                        self.imported[alias.asname or alias.name] = (source, alias.name)
                    else:  # from . import module as name
                        self.modules[alias.asname or alias.name] = folder / f"{alias.name}.py"
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                self.functions[node.name] = node
            for target, value in _assignments(node):
                self.globals.setdefault(target, []).append(value)

    def safe(self, node: ast.expr | None, scope: ast.AST | None, seen: frozenset[str] = frozenset()) -> bool:
        ok = lambda child: self.safe(child, scope, seen)  # noqa: E731
        if isinstance(node, ast.Constant):
            return isinstance(node.value, (str, int)) and not isinstance(node.value, bool)
        if isinstance(node, ast.JoinedStr):
            return all(ok(part.value) if isinstance(part, ast.FormattedValue) else ok(part) for part in node.values)
        if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Sub)):
            return ok(node.left) and ok(node.right)
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mult):
            return (isinstance(node.left, ast.Constant) and isinstance(node.left.value, str)) or (
                isinstance(node.right, ast.Constant) and isinstance(node.right.value, str))
        if isinstance(node, ast.IfExp):
            return ok(node.body) and ok(node.orelse)
        if isinstance(node, (ast.Tuple, ast.List)):
            return all(ok(element) for element in node.elts)
        if isinstance(node, (ast.GeneratorExp, ast.ListComp)):
            return ok(node.elt) or self._from_constant_loop(node, node.elt)
        if isinstance(node, ast.Subscript):
            return isinstance(node.value, ast.Name) and self._constant_table(node.value.id)
        if isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Attribute) and func.attr == "join" and ok(func.value):
                return len(node.args) == 1 and (ok(node.args[0]) or self._safe_list(node.args[0], scope, seen))
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            return name in SAFE_CALLS or name in BUILDERS
        if isinstance(node, ast.Name):
            return self._trusted(node.id, scope) or self._safe_name(node.id, scope, seen)
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in self.modules:
            source = self.modules[node.value.id]
            return source.exists() and Module(ast.parse(source.read_text()), source)._safe_name(node.attr, None, frozenset())
        if isinstance(node, ast.Attribute):
            return isinstance(node.value, ast.Name) and self._trusted(node.value.id, scope)
        if isinstance(node, ast.Starred) and isinstance(node.value, ast.Call):
            return self._safe_returned(node.value, 0, seen)
        return False

    @staticmethod
    def _trusted(name: str, scope: ast.AST | None) -> bool:
        """A parameter of ``scope`` annotated with a type of ``TRUSTED_IDENTIFIERS``."""
        args = getattr(scope, "args", None)
        if args is None:
            return False
        for arg in [*args.posonlyargs, *args.args, *args.kwonlyargs]:
            if arg.arg == name and arg.annotation is not None:
                return ast.unparse(arg.annotation).strip("'\"") in TRUSTED_IDENTIFIERS
        return False

    def _safe_name(self, name: str, scope: ast.AST | None, seen: frozenset[str]) -> bool:
        if name in seen:  # ``where = where + ...``: safe when every other source is
            return True
        seen = seen | {name}
        local = [] if scope is None else [v for t, v in _assignments_in(scope) if t == name]
        if local:
            return all(self._safe_value(value, name, scope, seen) for value in local)
        if name in self.globals:
            return all(self.safe(value, None, seen) for value in self.globals[name])
        if name in self.imported:
            source, original = self.imported[name]
            return source.exists() and Module(ast.parse(source.read_text()), source)._safe_name(original, None, frozenset())
        return False

    def _safe_value(self, value: ast.expr, name: str, scope: ast.AST, seen: frozenset[str]) -> bool:
        if isinstance(value, _Unpacked):
            func = value.call.func
            builder = (func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")) in BUILDERS
            return (builder and value.index == 0) or self._safe_returned(value.call, value.index, seen)
        if isinstance(value, _Listed):
            return all(self.safe(item, scope, seen) for item in value.items)
        return self.safe(value, scope, seen)

    def _safe_returned(self, call: ast.Call, index: int, seen: frozenset[str]) -> bool:
        """A helper of this module whose every ``return`` has a safe element at ``index``."""
        function = self.functions.get(getattr(call.func, "id", ""))
        if function is None:
            return False
        returns = [node.value for node in ast.walk(function) if isinstance(node, ast.Return)]
        return bool(returns) and all(
            isinstance(value, ast.Tuple) and len(value.elts) > index and self.safe(value.elts[index], function, seen)
            for value in returns
        )

    def _safe_list(self, node: ast.expr, scope: ast.AST | None, seen: frozenset[str]) -> bool:
        return isinstance(node, ast.Name) and self._safe_name(node.id, scope, seen)

    def _constant_table(self, name: str) -> bool:
        if name not in self.globals and name in self.imported:  # a table of another module
            source, original = self.imported[name]
            return source.exists() and Module(ast.parse(source.read_text()), source)._constant_table(original)
        values = self.globals.get(name, [])
        return bool(values) and all(
            (isinstance(v, ast.Dict) and all(self.safe(x, None) for x in v.values))
            or (isinstance(v, ast.DictComp) and (self.safe(v.value, None) or self._from_constant_loop(v, v.value)))
            for v in values
        )

    def _from_constant_loop(self, comprehension: ast.AST, element: ast.expr) -> bool:
        """An element built from loop variables that run over constant tuples only."""
        loop_names: set[str] = set()
        for generator in getattr(comprehension, "generators", []):
            if not (isinstance(generator.target, ast.Name) and self.safe(generator.iter, None)):
                return False
            loop_names.add(generator.target.id)
        return self._safe_with(element, loop_names)

    def _safe_with(self, node: ast.expr, names: set[str]) -> bool:
        if isinstance(node, ast.Name) and node.id in names:
            return True
        if isinstance(node, ast.JoinedStr):
            return all(self._safe_with(p.value, names) if isinstance(p, ast.FormattedValue) else True for p in node.values)
        return self.safe(node, None)


class _Unpacked(ast.expr):
    def __init__(self, call: ast.Call, index: int) -> None:
        super().__init__()
        self.call, self.index = call, index


class _Listed(ast.expr):
    def __init__(self, items: list[ast.expr]) -> None:
        super().__init__()
        self.items = items


def _assignments(node: ast.AST) -> list[tuple[str, ast.expr]]:
    """(name, value) for every way ``node`` binds a name directly (not inside nested scopes)."""
    found: list[tuple[str, ast.expr]] = []
    if isinstance(node, ast.Assign):
        for target in node.targets:
            if isinstance(target, ast.Name):
                found.append((target.id, node.value))
            elif isinstance(target, ast.Tuple):
                for index, element in enumerate(target.elts):
                    if isinstance(element, ast.Name):
                        value = node.value
                        item = value.elts[index] if isinstance(value, ast.Tuple) and len(value.elts) > index else (
                            _Unpacked(value, index) if isinstance(value, ast.Call) else ast.Name(id="<unknown>"))
                        found.append((element.id, item))
    elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.value is not None:
        found.append((node.target.id, node.value))
    elif isinstance(node, ast.AugAssign) and isinstance(node.target, ast.Name):
        found.append((node.target.id, node.value))
    elif isinstance(node, (ast.For, ast.AsyncFor, ast.With, ast.AsyncWith, ast.NamedExpr)):
        targets = [node.target] if isinstance(node, (ast.For, ast.AsyncFor, ast.NamedExpr)) else [
            item.optional_vars for item in node.items if item.optional_vars is not None]
        for target in targets:
            for name in ast.walk(target):
                if isinstance(name, ast.Name):
                    found.append((name.id, ast.Name(id="<unknown>")))
    return found


def _assignments_in(function: ast.AST) -> list[tuple[str, ast.expr]]:
    found: list[tuple[str, ast.expr]] = []
    params = function.args if isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)) else None
    if params is not None:
        for arg in [*params.posonlyargs, *params.args, *params.kwonlyargs, params.vararg, params.kwarg]:
            if arg is not None:
                found.append((arg.arg, ast.Name(id="<parameter>")))
    appended: dict[str, list[ast.expr]] = {}
    for node in ast.walk(function):
        found.extend(_assignments(node))
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in ("append", "extend")
                and isinstance(node.func.value, ast.Name)):
            appended.setdefault(node.func.value.id, []).extend(node.args)
    for index, (name, value) in enumerate(found):
        if name in appended and isinstance(value, ast.List):
            found[index] = (name, _Listed([*value.elts, *appended[name]]))
    return found


def unsafe_sql_calls(source: str, filename: str = "<source>") -> list[str]:
    """Every call sending SQL whose statement is not provably built from constants."""
    tree = ast.parse(source, filename)
    module = Module(tree, Path(filename) if filename != "<source>" else None)
    problems = []
    scopes = [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))]
    for scope in [tree, *scopes]:
        for node in ast.walk(scope):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in SQL_CALLS):
                continue
            innermost = min((s for s in scopes if _contains(s, node)), key=lambda s: _size(s), default=None)
            if innermost is not scope and scope is not tree:
                continue
            if scope is tree and innermost is not None:
                continue
            statement = node.args[0] if node.args else next(
                (k.value for k in node.keywords if k.arg in ("sql", "query", "statement")), None)
            if statement is None and node.func.attr == "cursor":
                continue
            if not module.safe(statement, innermost if not isinstance(innermost, ast.Lambda) else None):
                problems.append(f"{filename}:{node.lineno}: {ast.unparse(node)[:120]}")
    return problems


def _contains(outer: ast.AST, inner: ast.AST) -> bool:
    return any(child is inner for child in ast.walk(outer))


def _size(node: ast.AST) -> int:
    return getattr(node, "end_lineno", 0) - getattr(node, "lineno", 0)


def test_statements_are_passed_on_only_by_methods_named_like_sql_calls():
    """A ``Statement`` parameter is trusted because its callers' statements are checked: that
    holds only when the method taking it is itself one of the calls the check looks at."""
    passing_on = []
    for path in sorted(PERSISTENCE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                arguments = [*node.args.posonlyargs, *node.args.args, *node.args.kwonlyargs]
                if any(a.annotation is not None and ast.unparse(a.annotation).strip("'\"") == "Statement" for a in arguments):
                    passing_on.append((path.name, node.name))
    assert passing_on, "the check found no method passing statements on"
    assert all(name in SQL_CALLS for _, name in passing_on), passing_on


def test_every_engine_statement_is_built_from_constants():
    files = sorted(PERSISTENCE.rglob("*.py"))
    assert any(path.name == "sqlite_sql.py" for path in files)
    problems = [problem for path in files for problem in unsafe_sql_calls(path.read_text(), str(path))]
    problems = [problem for problem in problems if not problem.endswith(REPLAYED_SCHEMA)]
    assert not problems, "SQL built from non-constant values:\n" + "\n".join(problems)


def test_the_check_catches_statements_built_from_input():
    bad = '''
def get(db, key, order):
    db.execute(f"SELECT * FROM card WHERE hash = '{key}'")
    db.execute("SELECT * FROM card WHERE hash = '%s'" % key)
    db.execute("SELECT * FROM card ORDER BY {}".format(order))
    db.execute("SELECT * FROM card WHERE hash = '" + key + "'")
    where = " WHERE hash = " + key
    db.execute(f"SELECT * FROM card{where}")
    clauses = ["a = ?"]
    clauses.append(key)
    db.execute(" AND ".join(clauses))
    db.execute(sql=key)
    async def inner(conn):
        await conn.fetch(f"SELECT {order}")
'''
    assert len(unsafe_sql_calls(bad)) == 8, unsafe_sql_calls(bad)
    good = '''
COLUMNS = "hash, content"
TABLE = {m: f"PRAGMA synchronous={m}" for m in ("OFF", "FULL")}
def _filter(flag):
    clauses = []
    if flag:
        clauses.append("g_time >= ?")
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), []
def get(db, keys, flag, mode):
    where, params = _filter(flag)
    marks = ", ".join("?" * len(keys))
    statement = "INSERT" if flag else "DELETE"
    db.execute(f"SELECT {COLUMNS} FROM card{where} AND hash IN ({marks})", [*params, *keys])
    db.execute(statement)
    db.execute(TABLE[mode])
'''
    assert unsafe_sql_calls(good) == []


@settings(max_examples=300, deadline=None)
@given(name=st.one_of(st.text(max_size=60), st.sampled_from(['a"b', 'x"; DROP TABLE card; --', "a b", "a.b", "", "1a", "a" * 49])))
def test_configured_identifiers_cannot_carry_sql(name):
    """What ``Tables`` trusts: ``PostgresConfig`` accepts only plain identifiers as schema/table."""
    from mcard import ConfigurationError, PostgresConfig

    plain = re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,47}", name) is not None
    for field in ("schema", "table"):
        try:
            PostgresConfig(**{field: name})
        except ConfigurationError:
            assert not plain
        else:
            assert plain, f"{field}={name!r} was accepted"


def test_trusted_identifiers_must_come_through_an_annotated_parameter():
    source = '''
def good(conn, tables: Tables, key):
    conn.execute(f"SELECT * FROM {tables.card} WHERE hash = $1", key)
def bad(conn, tables, other: Tables, key: str):
    conn.execute(f"SELECT * FROM {tables.card}")
    conn.execute(f"SELECT * FROM {other.card} WHERE hash = '{key}'")
'''
    assert [line.split(":")[1] for line in unsafe_sql_calls(source)] == ["5", "6"]


HOSTILE = "XQX'; DROP TABLE card; --\"XQX"
"""Every value below carries ``XQX``: it must never appear in the text of a statement."""


@settings(max_examples=200, deadline=None)
@given(
    tag=st.just(HOSTILE) | st.text(min_size=1, max_size=10).map(lambda t: "XQX" + t.strip() + "XQX"),
    name=st.text(min_size=0, max_size=10).map(lambda t: "XQX" + t + "*[XQX]"),
    content_type=st.sampled_from(["xqxtype/xqx*", "image/*", "text/xqx"]),
    mode=st.sampled_from(["substring", "words", "regex"]),
    case_sensitive=st.booleans(),
    query=st.text(min_size=1, max_size=12).map(lambda t: "XQX" + t + " XQXword"),
)
def test_builders_never_put_values_in_sql(tag, name, content_type, mode, case_sensitive, query):
    from mcard.domain.models.exceptions import ValidationError
    from mcard.domain.query import Filters, SearchSpec, casefold, parse_find
    from mcard.domain.query.ranking import WordStats, phrases
    from mcard.infrastructure.persistence.engine import (
        postgres_facets, postgres_filter_walks, postgres_name_order, postgres_orders, postgres_ranking, postgres_search, postgres_sql, postgres_words, sql_filters,
        sqlite_facets, sqlite_filter_walks, sqlite_name_order, sqlite_search, sqlite_sql, sqlite_type_order,
    )
    from mcard.domain.query.order import ORDERS

    try:
        filters = Filters.of(tag=tag.strip() or "XQX", name=name, content_type=content_type,
                             min_size=1, max_size=2, start_time=None)
        globbed = parse_find(f'tag:"XQX*{tag.replace(chr(34), "")}" -tag:"*XQX?" -tag:XQX[*]').filters
        filters = replace(filters, tag_globs=globbed.tag_globs, excluded_tag_globs=globbed.excluded_tag_globs)
        spec = SearchSpec.of(query, mode, case_sensitive)
        left_out = parse_find('-"' + query.replace('"', "") + '" -xqx*').left_out  # a query of exclusions alone
    except ValidationError:
        return
    statements: list[str] = []
    params: list[object] = []
    statements.append(sqlite_search.where(filters, params, (1, HOSTILE)))
    statements.append(sqlite_search.matched(spec, filters, params))
    statements.append(sqlite_search.also(filters, params))
    statements.append(sqlite_search.paging(7, 3, params))
    statements += [sqlite_sql._from_the_offset(filters, params, 3, order, (1, HOSTILE))
                   for order in sqlite_search.WALK_ORDERS]
    statements += [sqlite_search.walked_cards(("card_words", '"xqx"', 11), filters, params, order)
                   for order in sqlite_search.WALK_ORDERS]
    if mode == "substring":
        statements.append(sqlite_search.loop_walk(spec, filters, 5, 7, params))
    statements.append(sqlite_facets._chosen(filters, spec, None, params))
    parts = sqlite_filter_walks.choosing(filters)
    statements.append(sqlite_filter_walks.count_statement(parts, params) or "")
    statements.append(sqlite_filter_walks.lead_statement(parts, params) or "")
    statements += [sqlite_filter_walks.where(filters, lead, params, (1, HOSTILE)) for lead in parts]
    statements += [sqlite_facets._chosen(filters, None, None, params, lead) for lead in parts]
    statements.append(sqlite_facets.every_card_statement(replace(filters, tags=(), names=(), tag_globs=(), excluded_tag_globs=()),
                                                         params))
    statements += [sqlite_filter_walks.walk_statement(filters, sqlite_search.SORTED_CARD, params, 11, 7, 3, order, (1, HOSTILE))
                   for order in sqlite_search.WALK_ORDERS]
    statements += [sqlite_filter_walks.deep_walk_statement(filters, sqlite_search.SORTED_CARD, params, 7, 3, order, (1, HOSTILE))
                   for order in sqlite_search.WALK_ORDERS]
    statements += [sqlite_filter_walks.probe_statement(filters, params, order, (1, HOSTILE))
                   for order in sqlite_search.WALK_ORDERS]
    statements += [sqlite_sql._from_the_size(order, sqlite_sql.HEADS, params, 7, 3) for order in sqlite_sql.SIZE_SKIPS]
    statements.append(sqlite_type_order.counts_statement(filters, params))
    statements += [sqlite_type_order.part_statement(sqlite_type_order.TypeRun(key, 9, null, empty), filters,
                                                    sqlite_search.SORTED_CARD, params, 7, 3)
                   for key, null, empty in ((HOSTILE.encode(), False, False), (b"", True, True), (b"", True, False), (b"", False, True))]
    statements += [sqlite_name_order.named_statement(filters, sqlite_search.SORTED_CARD, order, params, 7, 3)
                   for order in ("name", "name_desc")]
    statements.append(sqlite_name_order.unnamed_statement(filters, sqlite_sql.HEADS, [5, 5], params, 7, 3))
    statements.append(sqlite_search.left_out(left_out, filters, params))
    statements.append(sqlite_facets._chosen(filters, None, left_out, params))
    tables = postgres_sql.Tables.named("public", "card")
    statements.append(postgres_sql._where(tables, filters, (1, HOSTILE))[0])
    statements.append(postgres_sql._page_query(tables, filters, 5, 3, (1, HOSTILE))[0])
    clauses = sql_filters.where(filters, postgres_sql.dialect(tables), params, (1, HOSTILE), table="c")
    statements += [postgres_sql._from_the_offset(tables, clauses, params, 3, order)
                   for order in postgres_filter_walks.WALK_ORDERS]
    statements.append(postgres_filter_walks.count_statement(tables, postgres_sql.dialect(tables), filters, params) or "")
    statements += [postgres_filter_walks.walk_statement(tables, postgres_sql.dialect(tables), filters, postgres_sql.COLUMNS,
                                                        params, 11, 7, 3, order, (1, HOSTILE))
                   for order in postgres_filter_walks.WALK_ORDERS]
    statements += [postgres_orders.ordering(tables, order) for order in ORDERS]
    pg_dialect = postgres_sql.dialect(tables)
    statements += [postgres_name_order.named_statement(tables, pg_dialect, filters, postgres_sql.SELECTED["heads"], params, 7, 3, order)
                   for order in ("name", "name_desc")]
    statements.append(postgres_name_order.named_count_statement(tables, pg_dialect, filters, params))
    statements.append(postgres_name_order.unnamed_statement(tables, pg_dialect, filters, postgres_sql.COLUMNS, params, 7, 3))
    statements += [postgres_words.plain_rows(tables, postgres_ranking.Values([]), 5, order) for order in (*ORDERS, None)]
    clauses = sql_filters.where(filters, postgres_sql.dialect(tables), params, table=tables.card)
    statements.append(postgres_facets.grouping_statement(["content_type", "size"], f"FROM {tables.card}{sql_filters.joined(clauses)}"))
    for dialect in (sqlite_search.DIALECT, postgres_sql.dialect(tables)):
        statements.append(sql_filters.joined(sql_filters.where(filters, dialect, params)))
    chosen, chosen_params = postgres_words.chosen_flag(tables, filters, postgres_sql.dialect(tables))
    statements.append(chosen)
    params += chosen_params
    alternatives = postgres_search.alternative_patterns(spec.folded_alternatives()) if mode != "words" else []
    sizes = [len(patterns) for patterns in alternatives]
    plain = postgres_search.plain_holding(casefold(query), params) if mode == "substring" else ""
    plain += postgres_search.passing(tables, filters, postgres_sql.dialect(tables), params)
    statements += [postgres_search.folded_texts(tables, sizes, True, plain), postgres_search._matching(sizes),
                   postgres_search.folded_bytes(tables, sizes, True, plain), plain,
                   postgres_search.texts_holding(tables, True, 9, plain), postgres_search.bytes_holding(tables, True, plain)]
    statements.append(postgres_words.step_statement(tables))
    literal = query.encode("utf-8") if mode == "substring" and case_sensitive else None
    tests = postgres_search.walk_tests(literal, alternatives)
    if tests is not None:
        statements.append(postgres_search.hits_up_to(tables, tests.index_test, 3))
        walk, walk_params = postgres_sql.walk_statement(tables, filters, tests, True, 5)
        statements.append(walk)
        params += walk_params
    if mode == "words":  # what a word search sends: patterns of the query's words go as values only
        values = postgres_ranking.Values([])
        query_words = spec.words
        exact = {clause: postgres_ranking.occurrences(clause) for clause in (*phrases(query_words), *query_words.excluded)}
        known = WordStats(9, 99, (1,) * len(phrases(query_words)))
        statements += [postgres_ranking.matches(query_words, exact, values)]
        statements += [postgres_ranking.ranking_statement(tables.card, "true", chosen, query_words, exact, known, values,
                                                          wanted, major) for wanted in (None, 5) for major in (14, 15)]
        narrowed = postgres_words.narrowing(query_words, True)
        if narrowed is not None:
            statements += [postgres_words._holding(narrowed, values), postgres_words._required(query_words, narrowed, values)]
        assert values.list and not [v for v in values.list if isinstance(v, str) and "'" in v]
        params += values.list
    assert not [s for s in statements if "xqx" in s.lower()], statements
    assert any("xqx" in str(value).lower() for value in params)
