// The mcard explorer's view: draws the model's state, sends the user's actions to Python.
// Card values are put in the page as text (textContent); only the detail preview's HTML,
// which Python escaped and built, is set as markup.

// Control and bidirectional characters, which make a screen show text in another order than
// it is stored, and characters that show nothing are shown as escapes, as Python's mcard.domain.shown does.
const UNSAFE = /\u{1f3f4}[\u{e0020}-\u{e007e}]+\u{e007f}|[\x00-\x1f\x7f-\x9f\xad\u034f\u061c\u180e\u200b\u200e\u200f\u2028\u2029\u202a-\u202e\u2060-\u2064\u2066-\u2069\u3164\ufeff\uffa0\ufff9-\ufffb\ud800-\udfff\u{e0000}-\u{e007f}]/gu;
const TEXT_ATTRIBUTES = new Set(["title", "aria-label", "alt"]);

function visible(text) {
  return String(text).replace(UNSAFE, (found) => {
    if ([...found].length > 1) return found; // a subdivision flag
    const code = found.codePointAt(0);
    if (code <= 0xff) return `\\x${code.toString(16).padStart(2, "0")}`;
    return code <= 0xffff ? `\\u${code.toString(16).padStart(4, "0")}` : `\\U${code.toString(16).padStart(8, "0")}`;
  });
}

function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = visible(value);
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, TEXT_ATTRIBUTES.has(key) ? visible(value) : value);
  }
  for (const child of children) if (child != null) node.append(typeof child === "string" ? visible(child) : child);
  return node;
}

async function copyText(text) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch (error) {
    const area = h("textarea", { class: "mcx-offscreen" });
    area.value = text;
    document.body.append(area);
    area.select();
    const done = document.execCommand("copy");
    area.remove();
    return done;
  }
}

function focusable(container, key) {
  return [...container.querySelectorAll("[data-focus]")].find((node) => node.dataset.focus === key && !node.disabled);
}

// A redraw replaces the elements: one that had the keyboard is found again by its data-focus
// key, else ``fallback(key)`` takes it.
function redrawKeepingFocus(container, draw, fallback = () => null) {
  const key = container.contains(document.activeElement) ? document.activeElement.dataset.focus : undefined;
  draw();
  if (key === undefined) return;
  const again = focusable(container, key) || fallback(key);
  if (again) again.focus({ preventScroll: true });
}

function copyButton(text, say, tabindex = 0) {
  return h("button", {
    class: "mcx-copy", title: "Copy the full hash", "aria-label": "Copy the full hash", type: "button", "data-focus": `copy:${text}`, tabindex,
    onclick: async (event) => {
      event.stopPropagation();
      const done = await copyText(text);
      say(done ? `copied ${text}` : "copy failed: select the hash and copy it");
    },
  }, "copy");
}

const ANSWER_WAIT_MS = 5000;
const NO_ANSWER = "No answer from the kernel: it is busy, or it was restarted (then run this cell again).";

function render({ model, el }) {
  let unanswered = null;
  const send = (message) => {
    clearTimeout(unanswered);
    unanswered = setTimeout(() => say(NO_ANSWER), ANSWER_WAIT_MS);
    model.send(message);
  };
  // Focusable itself: a click on its text or a heading keeps the keyboard in the explorer (it
  // went to JupyterLab's cell, whose keys then acted: b added a cell, Escape left the card open).
  const root = h("div", { class: "mcx", tabindex: "-1" });
  const query = h("input", {
    class: "mcx-query", type: "search", spellcheck: "false", "aria-label": "Query",
    placeholder: "Query + Enter: words \"a phrase\" -not type:image/* tag:x size:>1MB, or a hash prefix",
    title: "mcard's query syntax: words, \"a phrase\", -excluded, prefix*, type:, tag: (a glob: tag:trip-*), name:, after:, before:, size:, kind:, text: (a text inside words); 8+ hex digits open a card",
  });
  const total = h("span", { class: "mcx-total" });
  // Checks outlive queries and pages: how many there are, and how many the grid does not show,
  // stays in sight beside the way to clear them all.
  const checked = h("span", { class: "mcx-checked", "aria-live": "polite" });
  // A tag typed here goes to every checked card (Enter), or comes off them all (Untag).
  const markTag = h("input", {
    class: "mcx-marks-tag", type: "text", placeholder: "tag them (Enter)", "aria-label": "Tag or untag the checked cards", "data-focus": "mark-tag",
  });
  const tagMarked = (action) => {
    const tag = markTag.value.trim();
    if (!tag) return say(action === "tag_marked" ? "type a tag, then Enter" : "type a tag, then Untag");
    markTag.value = "";
    send({ action, tag });
  };
  markTag.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey) { event.preventDefault(); tagMarked("tag_marked"); }
  });
  const marks = h("span", { class: "mcx-marks" }, checked, markTag,
    h("button", {
      type: "button", class: "mcx-button", "data-focus": "untag-marked", title: "Remove the tag typed beside from every checked card",
      onclick: () => tagMarked("untag_marked"),
    }, "Untag"),
    h("button", {
      type: "button", class: "mcx-button", "data-focus": "uncheck", title: "Uncheck every card checked for explorer.selection, shown here or not",
      onclick: () => send({ action: "clear_marks" }),
    }, "Uncheck all"));
  // Cards another process added, tagged or removed show on the page and in the order shown
  // (Enter in the query box starts again from the first page).
  const refresh = h("button", {
    type: "button", class: "mcx-button", "data-focus": "refresh",
    title: "Read this page, the facets and the open card again: what other processes added, tagged or removed",
    onclick: () => { localStatus = null; send({ action: "refresh" }); },
  }, "Refresh");
  const status = h("div", { class: "mcx-status", role: "status" });
  // The checks' controls share the status line, which has their height already: checking a
  // first card moves no row (on a line of their own they pushed the grid down under the
  // pointer; in the query's line they squeezed the query box).
  const statusLine = h("div", { class: "mcx-status-line" }, status, marks);
  const facets = h("aside", { class: "mcx-facets", "aria-label": "Facets" });
  // In a narrow explorer the facets stand above the grid and push the cards out of view: there
  // they show on demand. Where they fit beside the grid, the stylesheet hides this button.
  const facetsToggle = h("button", {
    type: "button", class: "mcx-button mcx-facets-toggle", "aria-expanded": "false", "data-focus": "facets-toggle",
    title: "Show or hide the facets: the types, tags, times and sizes to narrow the query to",
    onclick: () => facetsToggle.setAttribute("aria-expanded", String(root.classList.toggle("mcx-facets-shown"))),
  }, "Facets");
  const grid = h("div", { class: "mcx-grid-wrap" });
  const stale = h("p", { class: "mcx-stale-note", role: "note" });
  // The pager: First and Previous, "page [N] of M" where a page number typed goes there on
  // Enter (Escape, or leaving the box, puts back the page shown), Next and Last, and how many
  // cards a page shows. The box and the choice are drawn once: a redraw keeps what is typed.
  const pageBox = h("input", {
    class: "mcx-page-box", type: "text", inputmode: "numeric", autocomplete: "off", spellcheck: "false",
    "aria-label": "Page number", "data-focus": "page-box",
  });
  const pageCount = h("span", { class: "mcx-page" });
  const pageSize = h("select", { class: "mcx-page-size", "aria-label": "Cards per page", title: "Cards per page", "data-focus": "page-size" });
  const beforePage = h("span", { class: "mcx-pager-group" });
  const afterPage = h("span", { class: "mcx-pager-group" });
  const pager = h("div", { class: "mcx-pager", role: "navigation", "aria-label": "Pages" },
    beforePage, h("label", { class: "mcx-pager-group mcx-page" }, "page", pageBox, pageCount), afterPage, pageSize);
  let pageTyping = false;
  const shownPage = () => String(model.get("page") + 1);
  pageBox.addEventListener("input", () => { pageTyping = true; });
  pageBox.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey) {
      event.preventDefault();
      pageTyping = false;
      localStatus = null;
      turningPage = true;
      send({ action: "go_to", page: pageBox.value });
    } else if (event.key === "Escape") {
      event.preventDefault();
      pageTyping = false;
      pageBox.value = shownPage();
    }
  });
  pageBox.addEventListener("blur", () => { pageTyping = false; pageBox.value = shownPage(); });
  pageSize.addEventListener("change", () => { localStatus = null; turningPage = true; send({ action: "page_size", size: Number(pageSize.value) }); });
  const detail = h("section", { class: "mcx-detail", "aria-label": "Card" });
  root.append(
    h("div", { class: "mcx-bar" }, query, total, facetsToggle, refresh),
    statusLine,
    h("div", { class: "mcx-body" }, facets, h("section", { class: "mcx-main" }, stale, grid, pager), detail),
  );
  el.append(root);
  // Plain keys are the explorer's while it has the keyboard: in JupyterLab's command mode they
  // would act on its cell (arrows move to another, D D deletes it). Keys with Ctrl, Alt or Meta
  // (save, undo), Tab and Shift+Enter (run the cell) go on to JupyterLab.
  root.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.altKey || event.metaKey || event.key === "Tab" || (event.shiftKey && event.key === "Enter")) return;
    event.stopPropagation();
    // Escape not taken by a control closes the open card, back to its row (a tag typed in the pane stays)
    if (event.key !== "Escape" || event.defaultPrevented || !shownHash) return;
    if (event.target.classList.contains("mcx-tag-input") && event.target.value) return;
    event.preventDefault();
    send({ action: "select", hash: "" });
  });

  let localStatus = null;
  const say = (text) => { localStatus = text; drawStatus(); };

  // Text typed since the last query was sent stays in the box: the kernel's echo of an earlier
  // query (a round trip later, longer on a busy kernel) must not replace it.
  let typing = false;
  query.addEventListener("input", () => { typing = true; });
  const runQuery = (text) => {
    localStatus = null;
    typing = false;
    root.dataset.asked = String(performance.now());
    send({ action: "run", query: text });
  };
  // The box's × (its "search" event; Enter's is prevented below) empties it: back to all cards,
  // not the cards of the query just cleared under an empty box.
  query.addEventListener("search", () => {
    if (query.value === "" && model.get("shown_query") !== "") runQuery("");
  });
  query.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey) {
      event.preventDefault();
      runQuery(query.value);
    } else if (event.key === "Escape") {  // back to the query whose cards are shown, not an empty box
      event.preventDefault();
      typing = false;
      query.value = model.get("shown_query");
    } else if (event.key === "ArrowDown" && !(event.altKey || event.ctrlKey || event.metaKey || event.shiftKey)) {
      const row = grid.querySelector(".mcx-row[tabindex='0']");  // down to the grid, as a list's box does
      if (row) { event.preventDefault(); row.focus(); }
    }
  });

  function drawMarks() {
    const note = model.get("marked_note");
    const had = marks.contains(document.activeElement);
    checked.textContent = note;
    marks.hidden = !note;
    if (had && !note) query.focus({ preventScroll: true });
  }

  function drawStatus() {
    const kind = localStatus ? "info" : model.get("status_kind");
    status.textContent = visible(localStatus || model.get("status"));
    // A query the status says finds cards runs from a button, not retyped ("text:ไทย").
    if (!localStatus) {
      for (const suggested of model.get("suggestions")) {
        status.append(" ", h("button", {
          type: "button", class: "mcx-suggestion", title: "Run this query", "data-focus": `suggestion:${suggested}`,
          onclick: () => { query.value = suggested; send({ action: "run", query: suggested }); },
        }, suggested));
      }
    }
    status.className = `mcx-status mcx-${kind}`;
    status.setAttribute("role", kind === "info" ? "status" : "alert");
    drawStale();
  }

  // After a query that failed, the grid holds the cards of the last one that ran (pages and
  // orders go on with it): say so. Drawn when the shown query or the status changes, not while
  // a new query is being read.
  function drawStale() {
    const shown = model.get("shown_query");
    const old = model.get("query") !== shown;
    grid.classList.toggle("mcx-stale", old);
    stale.hidden = !old;
    stale.textContent = old ? visible(`Still the cards of ${shown.trim() ? `“${shown}”` : "all cards"}: the query above did not run.`) : "";
  }

  // Column headers that sort, and the orders a click steps through (the database sorts).
  const COLUMNS = [["", []], ["time (UTC)", ["oldest", "newest"]], ["type", ["type"]],
    ["size", ["largest", "smallest"]], ["name · tags · content", ["name", "name_desc"]], ["hash", []]];
  const ARROWS = { newest: " ↓", oldest: " ↑", largest: " ↓", smallest: " ↑", type: " ↑", name: " ↑", name_desc: " ↓" };
  const ORDER_TITLES = { newest: "newest first", oldest: "oldest first", largest: "largest first",
    smallest: "smallest first", type: "A to Z", name: "A to Z", name_desc: "Z to A" };

  // A header's clicks step through its orders, then back to the query's own order (""), unless
  // that is one of them (newest first, for a query without words): time then goes back and forth.
  function header(label, orders, index) {
    if (!orders.length) return h("th", { class: `mcx-c${index}`, text: label });
    const order = model.get("order") || model.get("own_order");  // newest first shows as such
    const active = orders.includes(order);
    const steps = orders.includes(model.get("own_order")) ? orders : [...orders, ""];
    const next = active ? steps[(steps.indexOf(order) + 1) % steps.length] : orders[0];
    const button = h("button", {
      type: "button", class: active ? "mcx-sort mcx-sorted" : "mcx-sort", "data-focus": `sort:${index}`,
      title: next ? `Sort by ${label.split(" ")[0]}, ${ORDER_TITLES[next]}` : "Back to the query's own order",
      onclick: () => send({ action: "sort", order: next }),
    }, label + (active ? ARROWS[order] : ""));
    const sort = active ? (["oldest", "smallest", "type", "name"].includes(order) ? "ascending" : "descending") : "none";
    return h("th", { class: `mcx-c${index}`, "aria-sort": sort }, button);
  }

  // "2026-03-14 18:31:10" as the day and the clock, which a narrow grid leaves out.
  function dayAndClock(time) {
    const gap = time.indexOf(" ");
    return gap < 0 ? [time] : [time.slice(0, gap), h("span", { class: "mcx-clock", text: time.slice(gap) })];
  }

  // The grid is one stop for Tab: the row last focused (else the open card's, else the first)
  // takes it; arrow keys, Home and End move between rows, Enter opens the focused one and Space
  // checks it for the selection (boxes and copy buttons are for the mouse).
  const ROW_MOVES = { ArrowDown: 1, ArrowUp: -1, Home: -Infinity, End: Infinity };
  let rowStop = "";

  function rowKey(event, hash) {
    const row = event.currentTarget;
    const opens = event.key === "Enter" && !event.shiftKey;
    if (event.target !== row || !(event.key in ROW_MOVES || opens || event.key === " " || event.key === "Escape")) return;
    event.preventDefault();
    const all = [...grid.querySelectorAll(".mcx-row")];
    if (event.key === "ArrowUp" && all.indexOf(row) === 0) query.focus();  // up from the first row: the query box
    else if (event.key in ROW_MOVES) {
      const to = Math.min(all.length - 1, Math.max(0, all.indexOf(row) + ROW_MOVES[event.key]));
      all[to].focus();
    } else if (event.key === "Escape") {
      if (model.get("selected")) send({ action: "select", hash: "" });  // closes the open card
    } else send({ action: opens ? "select" : "mark", hash });
  }

  function rowFocused(event) {
    rowStop = event.currentTarget.dataset.hash;
    for (const row of grid.querySelectorAll(".mcx-row")) row.tabIndex = row === event.currentTarget ? 0 : -1;
  }

  // A row that went (its card removed, or no longer matching) hands the keyboard to the first
  // row, or to the query box when none is left.
  const firstRowOrQuery = () => grid.querySelector(".mcx-row") || query;

  function drawGrid() {
    redrawKeepingFocus(grid, fillGrid, firstRowOrQuery);
    drawPager();
  }

  function drawTotal() {
    const count = model.get("total");
    total.textContent = `${count.toLocaleString("en-US")} ${count === 1 ? "card" : "cards"}`;
  }

  function fillGrid() {
    const rows = model.get("rows");
    const marked = new Set(model.get("marked"));
    const selected = model.get("selected");
    drawTotal();
    const table = h("table", { class: "mcx-grid" });
    const widths = ["2em", "12em", "8em", "5.5em", null, "10em"];
    table.append(h("colgroup", {}, ...widths.map((w, index) => h("col", { class: `mcx-c${index}`, ...(w ? { style: `width:${w}` } : {}) }))));
    table.append(h("thead", {}, h("tr", {}, ...COLUMNS.map(([label, orders], index) => header(label, orders, index)))));
    const body = h("tbody");
    const hashes = rows.map((row) => row.hash);
    const stop = [rowStop, selected].find((hash) => hashes.includes(hash)) || hashes[0];
    for (const row of rows) {
      const check = h("input", { type: "checkbox", "aria-label": "Check for selection", title: "Check for explorer.selection", tabindex: "-1", "data-focus": `mark:${row.hash}` });
      check.checked = marked.has(row.hash);
      check.addEventListener("click", (event) => { event.stopPropagation(); send({ action: "mark", hash: row.hash }); });
      const content = h("td", { class: "mcx-content" });
      const line = h("div", { class: "mcx-line" });  // thumbnail, labels and snippet share the cell's width
      if (row.thumb) {  // in a box of one size, so the names after thumbnails of any shape line up
        line.append(h("span", { class: "mcx-thumb-box" }, h("img", {
          class: "mcx-thumb", src: row.thumb, alt: `${row.type} thumbnail`, onerror: (event) => event.currentTarget.parentElement.remove(),
        })));
      }
      // The name and tags share at most part of the cell: the snippet, where the match is, keeps the rest.
      const labels = h("span", { class: "mcx-labels" });
      // each in a box that may shrink, around one no wider than its own limit: a box's share of the
      // cut follows its width, and a name of 200 characters took it all, leaving the tags none
      const label = (kind, text) => h("span", { class: `mcx-label mcx-label-${kind}${[...text].length <= 2 ? " mcx-label-short" : ""}` },
        h("span", { class: `mcx-${kind}`, dir: "auto", text }));
      if (row.name) labels.append(label("name", row.name));
      for (const tag of row.tags) labels.append(label("tag", tag));
      const moreTags = row.tags_left_out ? `+${row.tags_left_out.toLocaleString("en-US")} more` : "";
      if (labels.childElementCount) line.append(labels);
      if (moreTags) {  // after the labels, never cut with them
        content.classList.add("mcx-crowded");
        line.append(h("span", { class: "mcx-tag mcx-more-tags", text: moreTags }));
      }
      // its direction from its first letter, the lead's too: a text cut at its end side keeps its start in view
      const snippet = h("span", { class: "mcx-snippet", dir: "auto" });
      const firstHit = row.snippet.findIndex(([, hit]) => hit);
      if (firstHit > 0) {  // the text before the first match, which a narrow cell cuts from its start
        // a space before the match kept: the end of the lead's line would drop it
        const lead = row.snippet.slice(0, firstHit).map(([text]) => text).join("").replace(/\s+$/, "\u00a0");
        snippet.append(h("span", { class: "mcx-lead" }, h("span", { text: lead })));
      }
      for (const [text, hit] of row.snippet.slice(Math.max(firstHit, 0))) snippet.append(hit ? h("mark", { text }) : visible(text));
      line.append(snippet);
      content.append(line);
      content.title = visible([row.name, [...row.tags, moreTags].filter(Boolean).join(", "), row.snippet.map(([text]) => text).join("")].filter(Boolean).join(" · "));
      const tr = h("tr", {
        class: row.hash === selected ? "mcx-row mcx-selected" : "mcx-row", tabindex: row.hash === stop ? "0" : "-1",
        "data-focus": `row:${row.hash}`, "aria-keyshortcuts": "Enter Space",
        onclick: () => send({ action: "select", hash: row.hash }),
        onkeydown: (event) => rowKey(event, row.hash),
        onfocus: rowFocused,
      },
        h("td", {}, check),
        h("td", { class: "mcx-nowrap" }, ...dayAndClock(row.time)),
        h("td", { class: "mcx-ellipsis mcx-c2", text: row.type, title: row.type }),
        h("td", { class: "mcx-number mcx-c3", text: row.size }),
        content,
        h("td", { class: "mcx-c5" }, h("div", { class: "mcx-hashcell" }, h("code", { class: "mcx-hash", text: row.hash }), copyButton(row.hash, say, -1))),
      );
      tr.dataset.hash = row.hash;
      body.append(tr);
    }
    table.append(body);
    grid.replaceChildren(rows.length ? table : h("p", { class: "mcx-empty", text: "no cards to show" }));
  }

  // A page turned from the pager under a long page shows from its start: the status line and
  // first rows were above the view, the page's end in it. A page that fits in view moves nothing.
  let turningPage = false;
  function showPageStart() {
    let scroller = root.parentElement;
    while (scroller && !(scroller.scrollHeight > scroller.clientHeight && /auto|scroll/.test(getComputedStyle(scroller).overflowY))) {
      scroller = scroller.parentElement;
    }
    const viewTop = scroller ? scroller.getBoundingClientRect().top : 0;
    if (statusLine.getBoundingClientRect().top < viewTop) statusLine.scrollIntoView({ block: "start" });
  }

  function drawPager() {
    redrawKeepingFocus(pager, fillPager, () => pager.querySelector("button:not([disabled])"));
  }

  const PAGE_SIZES = [10, 25, 50, 100, 200];

  function fillPager() {
    const size = model.get("page_size");
    const page = model.get("page");
    const pages = Math.max(1, Math.ceil(model.get("total") / size));
    const button = (key, to, label, off) => h("button", {
      type: "button", class: "mcx-button", "data-focus": key, onclick: () => { turningPage = true; send({ action: "page", page: to }); },
      ...(off ? { disabled: "" } : {}),
    }, label);
    beforePage.replaceChildren(button("first", 0, "« First", page <= 0), button("previous", page - 1, "‹ Previous", page <= 0));
    afterPage.replaceChildren(button("next", page + 1, "Next ›", page + 1 >= pages), button("last", pages - 1, "Last »", page + 1 >= pages));
    if (!pageTyping) pageBox.value = shownPage();
    pageBox.style.width = `calc(${Math.max(2, String(pages).length)}ch + 14px)`;
    pageCount.textContent = `of ${pages.toLocaleString("en-US")}`;
    pageBox.title = `Page ${(page + 1).toLocaleString("en-US")} of ${pages.toLocaleString("en-US")}: type a page number, then Enter`;
    const sizes = [...new Set([...PAGE_SIZES, size])].sort((a, b) => a - b);
    if ([...pageSize.options].map((option) => option.value).join() !== sizes.join()) {
      pageSize.replaceChildren(...sizes.map((n) => h("option", { value: String(n) }, `${n} a page`)));
    }
    pageSize.value = String(size);
  }

  const TITLES = { content_type: "Type", tag: "Tags", time: "Time", size: "Size" };
  const BAR_MOVES = { ArrowRight: 1, ArrowLeft: -1, Home: -Infinity, End: Infinity };
  const LIST_MOVES = { ArrowDown: 1, ArrowUp: -1, Home: -Infinity, End: Infinity };

  // An ISO week ("2026-W09") with the dates it runs from Monday to Sunday.
  const HOUR = /^(\d{4}-\d{2}-\d{2})T(\d{2})$/;

  function bucketTitle(value) {
    const hour = HOUR.exec(value);
    if (hour) return `${value} (${hour[1]}, ${hour[2]}:00 to ${hour[2]}:59 UTC)`;
    const week = /^(\d{4})-W(\d{2})$/.exec(value);
    if (!week) return value;
    const fourth = new Date(0).setUTCFullYear(Number(week[1]), 0, 4);  // in week 1, by definition
    const monday = fourth - (((new Date(fourth).getUTCDay() + 6) % 7) - 7 * (Number(week[2]) - 1)) * 86_400_000;
    const day = (time) => new Date(time).toISOString().slice(0, 10);
    return `${value} (${day(monday)} to ${day(Math.min(monday + 6 * 86_400_000, Date.UTC(9999, 11, 31)))})`;
  }

  // The histogram's ends, written as people write times: an hour's bucket as "2026-02-15 03:00",
  // the last one of the same day as "07:00" (both whole fit the facets' column).
  function rangeNames(ends) {
    const hours = ends.map((end) => HOUR.exec(end));
    return ends.map((end, i) => {
      const hour = hours[i];
      if (!hour) return end;
      return i && hours[0] && hours[0][1] === hour[1] ? `${hour[2]}:00` : `${hour[1]} ${hour[2]}:00`;
    });
  }

  // The histogram's bars (those with cards) and each facet's values are one stop for Tab;
  // arrow keys, Home and End move among them (a value a stop took 33 Tabs to the grid).
  function rove(event, group, selector, moves) {
    if (!(event.key in moves)) return;
    event.preventDefault();
    const live = [...group.querySelectorAll(selector)];
    const to = live[Math.min(live.length - 1, Math.max(0, live.indexOf(event.target) + moves[event.key]))];
    for (const item of live) item.tabIndex = item === to ? 0 : -1;
    to.focus();
  }

  // A value gone with the redraw (taken out of the query) hands the keyboard to the first value
  // of its facet, else the histogram.
  function drawFacets() {
    redrawKeepingFocus(facets, fillFacets, (key) => {
      const field = key.startsWith("facet:") ? key.split(":")[1] : "";
      return facets.querySelector(`[data-focus^="facet:${field}:"]`) || facets.querySelector(".mcx-bar-v[tabindex='0']");
    });
  }

  function fillFacets() {
    const all = model.get("facets");
    const parts = [];
    for (const field of ["content_type", "tag", "time", "size"]) {
      const values = all[field] || [];
      const chosen = (model.get("facets_chosen") || {})[field] || [];
      if (!values.length && !chosen.length) continue;  // a query that finds nothing keeps its choices, to undo
      const most = Math.max(...values.map(([, n]) => n));
      const section = h("div", { class: "mcx-facet" }, h("h4", { text: TITLES[field] }));
      const click = (value) => { typing = false; send({ action: "facet", field, value }); };
      if (field === "time") {
        const bars = h("div", { class: "mcx-histogram", role: "toolbar", "aria-label": "Cards over time" });
        bars.addEventListener("keydown", (event) => rove(event, bars, ".mcx-bar-v:not([disabled])", BAR_MOVES));
        let stop = true;
        for (const [value, n] of values) {
          const label = `${bucketTitle(value)}: ${n.toLocaleString("en-US")}`;
          const bar = h("button", {
            type: "button", class: "mcx-bar-v", title: label, "aria-label": label, tabindex: n && stop ? "0" : "-1", "data-focus": `bar:${value}`,
            onclick: () => click(value), ...(n ? {} : { disabled: "" }),
          }, h("span", { style: `height:${n ? Math.max(4, (100 * n) / most) : 0}%` }));
          stop = stop && !n;
          bars.append(bar);
        }
        const ends = values.length > 1 ? [values[0][0], values[values.length - 1][0]] : [values[0][0]];
        section.append(bars, h("div", { class: "mcx-range" }, ...rangeNames(ends).map((name, i) => h("span", { text: name, title: bucketTitle(ends[i]) }))));
      } else {
        const list = h("div", { role: "toolbar", "aria-orientation": "vertical", "aria-label": TITLES[field] });
        list.addEventListener("keydown", (event) => rove(event, list, ".mcx-facet-value", LIST_MOVES));
        // A type or a tag can also be left out: the − beside it (shown on hover and focus), or the - key.
        // One the query keeps or leaves out is marked, and a click (or its ×) takes it out of the
        // query: a type chosen hid every other, and a second click did nothing.
        const leavable = field === "content_type" || field === "tag";
        const leaveOut = (value) => { typing = false; send({ action: "leave_out", field, value }); };
        const unfilter = (value, leftOut) => { typing = false; send({ action: "unfilter", field, value, left_out: leftOut }); };
        const kept = new Set(chosen.filter(([, leftOut]) => !leftOut).map(([value]) => value));
        const counted = new Set(values.map(([value]) => value));
        const rows = [
          ...chosen.filter(([value, leftOut]) => !leftOut && !counted.has(value)).map(([value]) => [value, null, "kept"]),
          ...values.map(([value, n]) => [value, n, kept.has(value) ? "kept" : ""]),
          ...chosen.filter(([, leftOut]) => leftOut).map(([value]) => [value, null, "left-out"]),
        ];
        rows.forEach(([value, n, state], index) => {
          const title = state === "kept" ? `${value}: kept by the query; click ${leavable ? "or × " : ""}takes it out`
            : state === "left-out" ? `${value}: left out by the query; click or × brings these cards back`
            : leavable ? `${value}: click keeps these cards; − or the - key leaves them out` : String(value);
          const button = h("button", {
            type: "button", class: state ? `mcx-facet-value mcx-${state}` : "mcx-facet-value", title, tabindex: index ? "-1" : "0",
            "data-focus": `facet:${field}:${value}`, onclick: () => (state ? unfilter(value, state === "left-out") : click(value)),
            ...(state === "kept" ? { "aria-pressed": "true" } : {}),
          },
            h("span", { class: "mcx-fill", style: `width:${n ? (100 * n) / most : 0}%` }),
            h("span", { class: "mcx-label", text: String(value) }),
            h("span", { class: "mcx-count", text: n === null ? (state === "left-out" ? "out" : "") : n.toLocaleString("en-US") }));
          if (!leavable) {
            list.append(button);
            return;
          }
          button.addEventListener("keydown", (event) => {
            if ((event.key !== "-" && event.key !== "Subtract") || state) return;
            event.preventDefault();
            leaveOut(value);
          });
          // the keyboard goes to the value first, so that it stays there (or in its facet) once redrawn
          const side = state
            ? h("button", { type: "button", class: "mcx-leave-out mcx-unfilter", tabindex: "-1", text: "×",
                title: `Take ${value} out of the query`, "aria-label": `Take ${value} out of the query`,
                onclick: () => { button.focus({ preventScroll: true }); unfilter(value, state === "left-out"); } })
            : h("button", { type: "button", class: "mcx-leave-out", tabindex: "-1", text: "−",
                title: `Leave out ${value}`, "aria-label": `Leave out ${value}`,
                onclick: () => { button.focus({ preventScroll: true }); leaveOut(value); } });
          list.append(h("div", { class: "mcx-facet-row" }, button, side));
        });
        section.append(list);
        const more = model.get("facets_left_out")[field] || 0;
        if (more) section.append(h("div", { class: "mcx-more", text: `and ${more.toLocaleString("en-US")} more: type ${field === "tag" ? "tag:" : "type:"}… to find one` }));
      }
      parts.push(section);
    }
    facets.replaceChildren(...parts);
  }

  function drawPreview(preview) {
    const box = h("div", { class: `mcx-preview mcx-preview-${preview.kind}` });
    if (preview.kind === "image") {  // a picture the browser cannot decode says so, not a broken icon
      const unreadable = () => box.replaceChildren(h("em", { text: `${preview.label}: cannot be shown here; download it` }));
      box.append(h("img", { src: preview.url, alt: preview.label, onerror: unreadable }));
    }
    else if (preview.kind === "audio" || preview.kind === "video") {
      box.append(h(preview.kind, { controls: "", preload: "metadata", src: preview.url }));
    } else box.innerHTML = preview.html; // built and escaped by Python (previews.py)
    box.dir = "auto";
    return box;
  }

  // Below the grid (a narrow explorer) the pane is brought into view. Beside it, the pane opens
  // level with the row clicked: at the grid's top, a row far down a long page was scrolled out
  // of view to show the pane.
  function placeDetail(hash) {
    detail.style.marginTop = "";
    if (!hash) return;
    if (detail.getBoundingClientRect().left < grid.getBoundingClientRect().right) {
      detail.scrollIntoView({ block: "nearest" });
      return;
    }
    const row = grid.querySelector(`.mcx-row[data-hash="${CSS.escape(hash)}"]`);
    if (!row) return;
    const below = row.getBoundingClientRect().top - detail.getBoundingClientRect().top;
    if (below > 0) detail.style.marginTop = `${below}px`;
  }

  // A card opened with its first match below the preview's fold shows that match (a third of
  // the way down), not the text's first lines.
  function scrollToFirstMatch(box) {
    const match = box?.querySelector("mark");
    if (!match) return;
    const below = match.getBoundingClientRect().top - box.getBoundingClientRect().top;
    if (below > box.clientHeight - 2 * match.getBoundingClientRect().height) box.scrollTop += below - box.clientHeight / 3;
  }

  let shownHash = "";
  let allTagsOf = "";  // the card whose pane lists every tag, not only the first ones

  // Where the keyboard goes when the pane's control it was on is gone: Remove… asks, and
  // Cancel (not the removal) takes it; once answered, back to Remove…; a tag's × gone hands it
  // to the × now in its place, else the last one, else the tag box.
  const DETAIL_NEXT = { remove: "cancel", cancel: "remove" };
  const detailNext = (key) => focusable(detail, DETAIL_NEXT[key])
    || (key.startsWith("untag:") ? [...detail.querySelectorAll(".mcx-untag")].pop() || focusable(detail, "tag-input") : null);

  // The same card redrawn (a tag added or removed) keeps what was typed and where its list of
  // every tag was scrolled to; the × that takes the keyboard is kept in that box's view.
  function drawDetail() {
    const closing = shownHash;
    const typed = detail.querySelector(".mcx-tag-input")?.value || "";
    const scrolled = detail.querySelector(".mcx-tags-all")?.scrollTop || 0;
    redrawKeepingFocus(detail, () => {
      fillDetail();
      if (!shownHash || shownHash !== closing) return;
      detail.querySelector(".mcx-tag-input").value = typed;  // typed after an Enter
      const box = detail.querySelector(".mcx-tags-all");
      if (box) box.scrollTop = scrolled;
    }, (key) => (shownHash ? detailNext(key) : focusable(grid, `row:${closing}`) || firstRowOrQuery()));
    const box = detail.querySelector(".mcx-tags-all");
    if (box && box.contains(document.activeElement)) {
      const shown = box.getBoundingClientRect(), focused = document.activeElement.getBoundingClientRect();
      if (focused.top < shown.top) box.scrollTop -= shown.top - focused.top;
      else if (focused.bottom > shown.bottom) box.scrollTop += focused.bottom - shown.bottom;
    }
  }

  // The pane's actions name the card it shows: a click on another row may not be answered yet.
  function fillDetail() {
    const card = model.get("detail");
    root.classList.toggle("mcx-card-open", Boolean(card && card.hash));
    if (!card || !card.hash) {
      detail.replaceChildren(h("p", { class: "mcx-empty", text: "Select a card to see it here." }));
      placeDetail("");
      shownHash = "";
      return;
    }
    const tagInput = h("input", { class: "mcx-tag-input", type: "text", placeholder: "add a tag (Enter)", "aria-label": "Add a tag", "data-focus": "tag-input" });
    tagInput.addEventListener("keydown", (event) => {
      if (event.key !== "Enter" || event.shiftKey) return;
      const tag = tagInput.value.trim();
      tagInput.value = "";  // what is typed next is kept when the pane redraws
      if (tag) send({ action: "tag", tag, hash: card.hash });
      else say("type a tag, then Enter");
    });
    // The first tags, and a toggle to list them all (in a box of its own height) and back:
    // any tag can be reached and removed, and the preview stays near.
    const count = card.tags.length;
    const left = card.tags_left_out || 0;
    const all = left > 0 && allTagsOf === card.hash;
    const chips = (all ? card.tags : card.tags.slice(0, count - left)).map((tag, index) => h("span", { class: "mcx-tag" }, tag,
      h("button", { type: "button", class: "mcx-untag", title: `Remove tag ${tag}`, "aria-label": `Remove tag ${tag}`, "data-focus": `untag:${index}`,
        onclick: () => send({ action: "untag", tag, hash: card.hash }) }, "×")));
    const toggle = left > 0 ? h("button", {
      type: "button", class: "mcx-tags-toggle", "aria-expanded": String(all), "data-focus": "tags-toggle",
      onclick: () => { allTagsOf = all ? "" : card.hash; drawDetail(); },
    }, all ? `show the first ${(count - left).toLocaleString("en-US")} only`
      : `show all ${count.toLocaleString("en-US")} tags (${left.toLocaleString("en-US")} more)`) : null;
    const tags = h("div", { class: "mcx-tags" }, ...(all ? [h("div", { class: "mcx-tags-all" }, ...chips)] : chips), toggle, tagInput);
    const actions = card.confirm
      ? h("div", { class: "mcx-actions mcx-confirm" },
          h("span", { text: "Remove this card for good?" }),
          h("button", { type: "button", class: "mcx-button mcx-danger", "data-focus": "confirm", onclick: () => send({ action: "confirm", hash: card.hash }) }, "Yes, remove it"),
          h("button", { type: "button", class: "mcx-button", "data-focus": "cancel", onclick: () => send({ action: "cancel", hash: card.hash }) }, "Cancel"))
      : h("div", { class: "mcx-actions" },
          h("button", { type: "button", class: "mcx-button", "data-focus": "download", onclick: () => send({ action: "download", hash: card.hash }) }, "Download"),
          h("button", { type: "button", class: "mcx-button", "data-focus": "remove", onclick: () => send({ action: "remove", hash: card.hash }) }, "Remove…"),
          h("button", { type: "button", class: "mcx-button", "data-focus": "close", onclick: () => send({ action: "select", hash: "" }) }, "Close"));
    const seen = card.sightings.length
      ? h("ul", { class: "mcx-sightings" }, ...card.sightings.map((s) =>
          h("li", {}, h("span", { text: s.name || "(no name)" }), h("span", { class: "mcx-muted", text: ` ${s.source} · ${s.time}` }))))
      : h("p", { class: "mcx-muted", text: "never seen under a name" });
    const olderLeftOut = card.sightings_left_out ? h("p", { class: "mcx-muted mcx-more", text: card.sightings_left_out }) : null;
    detail.replaceChildren(
      h("div", { class: "mcx-facts" },
        h("div", { class: "mcx-title", title: card.name || card.type, text: card.name || card.type }),
        h("div", { class: "mcx-muted", text: [card.type, card.pixels, card.size, card.time].filter(Boolean).join(" · ") }),
        h("div", { class: "mcx-fullhash" }, h("code", { text: card.hash }), copyButton(card.hash, say))),
      actions,
      h("h4", { text: count ? `Tags (${count.toLocaleString("en-US")})` : "Tags" }), tags,
      h("h4", { text: `Names and sightings (${card.sightings_total})` }), seen, ...(olderLeftOut ? [olderLeftOut] : []),
      h("h4", { text: "Preview" }), drawPreview(card.preview),
    );
    if (card.hash !== shownHash) {
      scrollToFirstMatch(detail.querySelector(".mcx-preview"));
      placeDetail(card.hash);
    }
    shownHash = card.hash;
  }

  model.on("msg:custom", (message, buffers) => {
    if (message.kind === "refused_tag") {  // back in the box, unless another card or text is there now
      const box = detail.querySelector(".mcx-tag-input");
      if (box && shownHash === message.hash && !box.value) box.value = message.tag;
      return;
    }
    if (message.kind !== "download" || !buffers || !buffers.length) return;
    const blob = new Blob([buffers[0]], { type: message.mime || "application/octet-stream" });
    const url = URL.createObjectURL(blob);
    const link = h("a", { href: url, download: message.name, class: "mcx-offscreen" });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10_000);
  });

  model.on("change:answered", () => {
    clearTimeout(unanswered);
    if (localStatus === NO_ANSWER) { localStatus = null; drawStatus(); }
    if (!pageTyping) pageBox.value = shownPage();  // a page number typed past the last: the page shown
  });
  model.on("change:query", () => { if (!typing) query.value = model.get("query"); });
  model.on("change:rows", drawGrid);
  model.on("change:order", drawGrid);
  model.on("change:own_order", drawGrid);
  // loads changes after rows (the grid is drawn by then): the page's signal that a load is shown
  model.on("change:loads", () => {
    root.dataset.loads = String(model.get("loads"));
    if (turningPage) showPageStart();
    turningPage = false;
  });
  model.on("change:facet_loads", () => { root.dataset.facets = String(model.get("facet_loads")); });
  model.on("change:marked", drawGrid);
  model.on("change:marked_note", drawMarks);
  model.on("change:selected", drawGrid);
  model.on("change:total", () => { drawTotal(); drawPager(); });  // the same rows may have another total
  model.on("change:page", drawPager);
  model.on("change:page_size", drawPager);
  model.on("change:facets", drawFacets);
  model.on("change:facets_chosen", drawFacets);  // the same counts may hold another choice
  model.on("change:detail", drawDetail);
  model.on("change:status", () => { localStatus = null; drawStatus(); });
  model.on("change:status_kind", drawStatus);
  model.on("change:suggestions", drawStatus);
  model.on("change:shown_query", drawStale);

  query.value = model.get("query");
  root.dataset.loads = String(model.get("loads"));
  root.dataset.facets = String(model.get("facet_loads"));
  drawStatus();
  drawMarks();
  drawGrid();
  drawFacets();
  drawDetail();
}

export default { render };
