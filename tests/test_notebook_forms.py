"""The widget forms, driven headlessly: set values, click buttons, read status and output."""

from __future__ import annotations

import re
from datetime import datetime, timezone

import pytest

import mcard.notebook
from mcard import AmbiguousHashError, ValidationError
from mcard.notebook import BrowseForm, CreateForm, RemoveForm, SearchForm

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16


@pytest.fixture
def cards(tmp_path):
    with mcard.notebook.open(tmp_path / "forms.db") as opened:
        yield opened


def shown(form) -> str:
    return "".join(output["data"]["text/html"] for output in form.output.outputs)


def upload(form, *files: tuple[str, bytes]) -> None:
    now = datetime.now(timezone.utc)
    form.upload.value = tuple(
        {"name": name, "type": "", "size": len(data), "content": memoryview(data), "last_modified": now}
        for name, data in files
    )


def test_create_text_then_again_then_invalid(cards):
    form = CreateForm(cards)
    form.text.value = "<script>alert(1)</script>"
    form.add_button.click()
    card = cards.list()[0]
    assert form.message == f"added {card.hash[:12]}" and not form.failed
    assert "&lt;script&gt;" in shown(form) and "<script>" not in shown(form)
    assert form.text.value == ""
    form.text.value = "<script>alert(1)</script>"
    form.add_button.click()
    assert form.message == f"already stored {card.hash[:12]}"
    form.text.value = ""
    form.add_button.click()
    assert form.failed and form.message == "error: card content must not be empty"
    assert "Traceback" not in form.status.value and 'role="alert"' in form.status.value
    assert cards.count() == 1


def test_create_from_uploaded_files(cards):
    form = CreateForm(cards)
    upload(form, ("dot.png", PNG), ("blob.bin", b"\xff\x02"))
    assert form.message.startswith("dot.png added ") and "; blob.bin added " in form.message
    assert form.upload.value == ()
    assert '<img src="data:image/png;base64,' in shown(form)
    assert {card.content for card in cards.list()} == {PNG, b"\xff\x02"}
    upload(form, ("again.png", PNG))
    assert form.message.startswith("again.png already stored")


def test_storage_error_shows_as_message(cards):
    form = CreateForm(cards)
    cards.close()
    form.text.value = "after close"
    form.add_button.click()
    assert form.failed and "not open" in form.message


def test_search_pages_forward_and_back(cards):
    cards.save_many([f"fox {i}" for i in range(7)] + ["dog"])
    form = SearchForm(cards, page_size=3)
    form.query.value = "fox"
    form.previous_button.click()  # disabled before a search: it said "search query must not be empty"
    assert form.message == "" and not form.failed
    form.query.value = "fox"
    form.search_button.click()
    assert form.message == "matches 1–3 for 'fox'"
    assert form.previous_button.disabled and not form.next_button.disabled
    assert shown(form).count("<tr>") == 4
    form.next_button.click()
    form.next_button.click()
    assert form.message == "matches 7–7 for 'fox'" and form.next_button.disabled
    assert shown(form).count("<tr>") == 2
    form.next_button.click()  # disabled: nothing changes, as in the page
    assert form.message == "matches 7–7 for 'fox'" and not form.failed
    form.previous_button.click()
    assert form.message == "matches 4–6 for 'fox'"
    assert [c.content for c in form.page] == [c.content for c in cards.search("fox", 3, 3)]
    form.query.value = "cat"
    form.search_button.click()
    assert form.message == "no cards contain 'cat'" and "no cards" in shown(form)
    form.query.value = ""
    form.search_button.click()
    assert form.failed and "must not be empty" in form.message


def test_browse_recent_cards(cards):
    form = BrowseForm(cards, page_size=2)
    assert form.message == "no cards stored"
    cards.save_many(["a", "b", "c"])
    form.refresh_button.click()
    assert form.message == "cards 1–2 of 3, newest first"
    form.next_button.click()
    assert form.message == "cards 3–3 of 3, newest first" and form.next_button.disabled


@pytest.mark.parametrize("form_class", [BrowseForm, SearchForm])
def test_a_forms_page_size_is_checked_as_the_explorers_is(cards, form_class):
    """0 and -1 showed no card of a full store and said "no more cards"."""
    cards.save_many(["a", "b", "c"])
    for bad in (0, -1, 2.5, "3", True, 201):
        with pytest.raises(ValidationError, match="page_size must be a whole number from 1 to 200"):
            form_class(cards, page_size=bad)
    assert BrowseForm(cards, page_size=1).message == "cards 1–1 of 3, newest first"


def test_remove_needs_confirmation(cards):
    card = cards.create("to remove")
    form = RemoveForm(cards)
    form.hash_text.value = card.hash
    form.remove_button.click()
    assert form.confirmation.layout.display == "flex" and "to remove" in shown(form)
    assert cards.get(card.hash) == card
    form.cancel_button.click()
    assert form.message == f"kept {card.hash[:12]}" and cards.get(card.hash) == card
    form.remove_button.click()
    form.hash_text.value = "0" * 64
    form.confirm_button.click()
    assert form.failed and cards.get(card.hash) == card
    form.hash_text.value = card.hash
    form.remove_button.click()
    form.confirm_button.click()
    assert form.message == f"removed {card.hash[:12]}" and cards.get(card.hash) is None
    assert form.confirmation.layout.display == "none"
    form.remove_button.click()
    assert form.failed and form.message == f"no card with hash {card.hash}"
    form.hash_text.value = "not a hash"
    form.remove_button.click()
    assert form.failed and form.message.startswith("error: a hash or hash prefix is at least 8 hex digits")


COLLIDING = ("collide 31899", "collide 39735")
"""Two texts whose SHA-256 digests share their first 8 hex digits (597213da)."""


def test_remove_takes_the_prefix_a_table_shows_and_lists_an_ambiguous_one(cards):
    first, second = (cards.create(text) for text in COLLIDING)
    assert first.hash[:8] == second.hash[:8] and first.hash[:9] != second.hash[:9]
    form = RemoveForm(cards)
    form.hash_text.value = first.hash[:8]
    form.remove_button.click()
    assert form.failed and form.confirmation.layout.display == "none"
    assert first.hash in form.message and second.hash in form.message and "more than one card" in form.message
    assert cards.count() == 2
    form.hash_text.value = second.hash[:12].upper()
    form.remove_button.click()
    assert not form.failed and "collide 39735" in shown(form)
    form.confirm_button.click()
    assert form.message == f"removed {second.hash[:12]}"
    assert cards.get(second.hash) is None and cards.get(first.hash) == first
    form.hash_text.value = second.hash[:12]
    form.remove_button.click()
    assert form.failed and form.message == f"no card with hash {second.hash[:12]}"


async def test_the_facade_resolves_prefixes_plainly_and_awaited(cards):
    first, second = (cards.create(text) for text in COLLIDING)
    assert cards.resolve(first.hash[:10]) == first.hash
    assert await cards.aresolve(second.hash[:10].upper()) == second.hash
    assert cards.resolve("0123456789ab") is None
    with pytest.raises(AmbiguousHashError) as raised:
        await cards.aresolve(first.hash[:8])
    assert sorted(raised.value.candidates) == sorted([first.hash, second.hash])
    with pytest.raises(ValidationError, match="at least 8 hex digits"):
        cards.resolve(first.hash[:7])


def test_explorer_combines_the_forms(cards):
    from mcard.notebook.forms import explorer as tabs

    cards.create("first")
    explorer = tabs(cards, page_size=5)
    assert explorer.tabs.titles == ("Browse", "Search", "Add", "Remove")
    assert explorer.browse.message == "cards 1–1 of 1, newest first"
    explorer.create.text.value = "second"
    explorer.create.add_button.click()
    assert explorer.browse.message == "cards 1–2 of 2, newest first"
    explorer.remove.hash_text.value = cards.search("second")[0].hash
    explorer.remove.remove_button.click()
    explorer.remove.confirm_button.click()
    assert explorer.browse.message == "cards 1–1 of 1, newest first"
    bundle = explorer._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle


def test_forms_in_a_plain_script(tmp_path):
    import subprocess
    import sys

    code = (
        "import mcard.notebook\n"
        f"cards = mcard.notebook.open({str(tmp_path / 's.db')!r})\n"
        "from mcard.notebook.forms import explorer\n"
        "ex = explorer(cards)\n"
        "ex.create.text.value = 'from a script'\n"
        "ex.create.add_button.click()\n"
        "print(ex.create.message.split()[0], ex.browse.message)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.stdout.strip() == "added cards 1–1 of 1, newest first", result.stderr


def test_browse_and_search_forms_show_names_and_tags(cards):
    card = cards.create("a card with a name", name="named.txt")
    cards.tag(card.hash, "labelled")
    browse, search = BrowseForm(cards), SearchForm(cards)
    browse.refresh_button.click()
    search.query.value = "with a name"
    search.search_button.click()
    for form in (browse, search):
        assert "named.txt" in shown(form) and "labelled" in shown(form)


def test_an_uploaded_files_name_cannot_reorder_or_hide_itself_in_the_status_line(cards):
    form = CreateForm(cards)
    upload(form, ("invoice\u202efdp.exe", b"MZ payload"), ("a\u200bb\x1b]0;t\x07.txt", b"text"))
    status = form.status.value
    assert not re.search("[\u202e\u200b\x1b\x07]", status)
    assert "invoice\\u202efdp.exe added " in status and "a\\u200bb\\x1b]0;t\\x07.txt added " in status
