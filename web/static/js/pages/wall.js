// The proctors' wall of one exam (/console/proctor/exams/{exam_id}), for a proctor assigned
// to it or the admin of its unit: one tile per candidate (pages/wall/tiles.js), kept live
// over Socket.IO (watch_wall, then wall_tiles with only the changed tiles; watch_wall again
// after every reconnect: there is no replay), sorted and filtered on the page. Time left is
// counted down here from the ``now`` of the last message (the server's clock). Clicking a
// tile opens the spotlight (pages/wall/spotlight.js): the candidate's cameras live.
//
// <body data-view>: loading, wall, closed or wrong-role (the tests read it).

import { ApiError, api } from "../lib/api.js";
import { onLangChange, t } from "../lib/i18n.js";
import { fmtTime, handleSessionEnd, loadFailed, notice, setUpTopBar } from "../lib/staff-page.js";
import { roleProblem } from "../lib/role-problem.js";
import { $, h } from "../lib/dom.js";
import { errorText } from "../lib/errors.js";
import { ServerClock } from "../lib/clock.js";
import { SocketClient } from "../lib/socketio.js";
import { ServerError, request } from "../lib/uplink.js";
import { STATUSES, TileView, hasProblem } from "./wall/tiles.js";
import { Spotlight } from "./wall/spotlight.js";
import { ActionPanel } from "./wall/actions.js";
import { byAlerts, hasAlerts } from "./wall/incidents.js";

const WATCHERS = new Set(["proctor", "unit_admin"]);
const SORTS = ["state", "alerts", "name", "time"];
const HOMES = { proctor: "/console/proctor", unit_admin: "/console" };

const examId = decodeURIComponent(location.pathname.split("/").filter(Boolean).pop() || "");
const ui = { main: $("view"), lang: $("lang-toggle"), logOut: $("log-out"),
  who: $("account-name"), exam: $("wall-exam"), home: $("to-home") };
const page = {
  me: null, exam: null, tiles: new Map(), clock: new ServerClock(), socket: null,
  spotlight: null, sort: "state", filter: "all", link: "connecting", closed: null,
};
const parts = {}; // the wall's own elements, built once

// -- order and filter --------------------------------------------------------------------

const collator = new Intl.Collator("zh-CN");

function compare(a, b) {
  const x = a.data;
  const y = b.data;
  if (page.sort === "state") {
    const order = STATUSES.indexOf(x.status) - STATUSES.indexOf(y.status);
    if (order) return order;
    const alerts = Number(hasAlerts(y)) - Number(hasAlerts(x));
    if (alerts) return alerts;
    const problem = Number(hasProblem(y)) - Number(hasProblem(x));
    if (problem) return problem;
  } else if (page.sort === "alerts") {
    const alerts = byAlerts(x, y);
    if (alerts) return alerts;
  } else if (page.sort === "time") {
    const left = (x.deadline ?? Infinity) - (y.deadline ?? Infinity);
    if (left) return left;
  }
  return collator.compare(x.name, y.name) || x.tile_id.localeCompare(y.tile_id);
}

function wanted(view) {
  if (page.filter === "all") return true;
  if (page.filter === "problem") return hasProblem(view.data);
  if (page.filter === "alerts") return hasAlerts(view.data);
  return view.data.status === page.filter;
}

/** Put the tiles in order and show those that pass the filter; moves only what must move. */
function arrange() {
  const views = [...page.tiles.values()].sort(compare);
  const grid = parts.grid;
  let shown = 0;
  views.forEach((view, i) => {
    const show = wanted(view);
    if (view.el.hidden === show) view.el.hidden = !show;
    if (show) shown += 1;
    if (grid.children[i] !== view.el) grid.insertBefore(view.el, grid.children[i] || null);
  });
  counts(shown);
}

/** Write ``text`` unless it is there already (no needless DOM work on every update). */
function write(el, text) {
  if (el.textContent !== text) el.textContent = text;
}

function counts(shown) {
  const all = [...page.tiles.values()].map((v) => v.data);
  const by = (status) => all.filter((tile) => tile.status === status).length;
  const problems = all.filter(hasProblem).length;
  const alerts = all.filter(hasAlerts).length;
  write(parts.summary, t("wall.summary", { shown, total: all.length,
    recording: by("recording"), problems }));
  for (const option of parts.filter.options) {
    const own = { all: all.length, problem: problems, alerts };
    const n = own[option.value] ?? by(option.value);
    const label = option.value in own ? t(`wall.filter.${option.value}`)
      : t(`wall.status.${option.value}`);
    write(option, t("wall.filter.count", { label, n }));
  }
  if (parts.empty.hidden !== shown > 0) parts.empty.hidden = shown > 0;
  write(parts.empty, t(all.length ? "wall.noneShown" : "wall.noCandidates"));
}

// -- data in -----------------------------------------------------------------------------

function openSpotlight(tile) {
  page.spotlight.show(tile, page.tiles.get(tile.tile_id)?.where.textContent || "");
  page.actions.show(tile);
}

function take(tile) {
  const view = page.tiles.get(tile.tile_id);
  if (view) {
    if (view.update(tile)) page.spotlight.updateTile(tile, view.where.textContent);
  } else page.tiles.set(tile.tile_id, new TileView(tile, openSpotlight));
}

/** The whole wall (GET .../wall or the watch_wall acknowledgement). */
function wholeWall(wall) {
  page.clock.sync(wall.now);
  page.exam = wall.exam;
  const ids = new Set(wall.tiles.map((tile) => tile.tile_id));
  for (const [id, view] of page.tiles) {
    if (!ids.has(id)) {
      view.el.remove();
      page.tiles.delete(id);
    }
  }
  wall.tiles.forEach(take);
  header();
  arrange();
  tick();
}

// A new picture's JPEG comes with its tile (msg.pictures): it rides on the tile's picture,
// not enumerable (the tile's JSON, its change key, stays the data), so no fetch is needed.
function withPictures(msg) {
  const byTile = new Map(msg.tiles.map((tile) => [tile.tile_id, tile]));
  for (const sent of msg.pictures || []) {
    const picture = byTile.get(sent.tile_id)?.cameras?.[sent.camera]?.picture;
    if (picture && picture.seq === sent.seq) {
      Object.defineProperty(picture, "jpeg", { value: sent.jpeg, enumerable: false });
    }
  }
  return msg.tiles;
}

function changedTiles(msg) {
  if (msg.exam_id !== examId || page.closed) return;
  page.clock.sync(msg.now);
  withPictures(msg).forEach(take);
  arrange();
  tick();
}

function tick() {
  const now = page.clock.now();
  for (const view of page.tiles.values()) if (!view.el.hidden) view.tick(now);
}

// -- the socket --------------------------------------------------------------------------

function setLink(state) {
  page.link = state;
  if (!parts.link) return;
  parts.link.dataset.state = state;
  parts.link.textContent = t(`wall.link.${state}`);
}

async function watch() {
  try {
    wholeWall(await request(page.socket, "watch_wall", { exam_id: examId }));
    setLink("live");
  } catch (err) {
    if (err instanceof ServerError && err.code === "rate_limited") {
      setTimeout(() => page.socket.connected && watch(), 2000);
    } else if (err instanceof ServerError) {
      closeWall({ code: err.code, message: err.message });
    } else setLink("reconnecting"); // lost again meanwhile: the next "connect" watches again
  }
}

function closeWall(error) {
  page.closed = error;
  page.spotlight?.close();
  page.socket?.close();
  document.body.dataset.view = "closed";
  setLink("closed");
  const text = errorText(new ApiError(error.code === "forbidden" ? 403 : 409, error.code,
    error.message), "console");
  parts.closed.replaceChildren(notice("error", t("wall.closed", { reason: text }), "wall-closed"));
  parts.closed.hidden = false;
}

function connect() {
  const socket = new SocketClient();
  page.socket = socket;
  page.spotlight = new Spotlight(examId); // a socket of its own per candidate watched
  page.actions = new ActionPanel(socket, examId); // message, extra time, end (in the spotlight)
  page.spotlight.el.append(page.actions.el);
  socket.on("connect", () => watch());
  socket.on("disconnect", () => setLink("reconnecting"));
  socket.on("wall_tiles", changedTiles);
  socket.on("wall_closed", (msg) => {
    if (msg.exam_id === examId) closeWall(msg.error || { code: "forbidden", message: "" });
  });
  socket.on("connect_error", async (err) => {
    // Refused: the session ended (log in again, back here afterwards), or too many
    // connections of this account (say so).
    try {
      await api("GET", "/api/me");
    } catch (refused) {
      if (handleSessionEnd(refused)) return;
    }
    closeWall({ code: "refused", message: err.message });
  });
  socket.connect().catch(() => {});
  addEventListener("pagehide", () => {
    if (socket.connected) socket.call("unwatch_wall", { exam_id: examId }).catch(() => {});
  });
}

// -- the page ----------------------------------------------------------------------------

function header() {
  if (!page.exam || !parts.title) return;
  ui.exam.textContent = page.exam.title;
  document.title = `${page.exam.title} · ${t("wall.title")}`;
  parts.title.textContent = page.exam.title;
  parts.window.textContent = t("proctor.window", { opens: fmtTime(page.exam.opens_at),
    closes: fmtTime(page.exam.closes_at) });
  parts.state.textContent = t(`proctor.state.${page.exam.state}`);
  parts.state.dataset.state = page.exam.state;
}

function select(testid, label, values, text, current, onChange) {
  const el = h("select", { testid, onchange: () => onChange(el.value) },
    values.map((value) => h("option", { value, selected: value === current }, text(value))));
  return h("label", { class: "wall-control" }, h("span", { i18n: label }), el);
}

function build() {
  parts.title = h("h2", { class: "wall-title", testid: "wall-title" });
  parts.window = h("span", { class: "muted", testid: "wall-window" });
  parts.state = h("span", { class: "badge", testid: "wall-exam-state" });
  parts.summary = h("p", { class: "wall-summary", testid: "wall-summary" });
  parts.link = h("span", { class: "wall-link", testid: "wall-live", role: "status" });
  parts.empty = h("p", { class: "empty wall-empty", testid: "wall-empty", hidden: true });
  parts.closed = h("div", { testid: "wall-closed-box", hidden: true });
  parts.grid = h("div", { class: "wall-grid", testid: "wall-grid" });
  const sort = select("wall-sort", "wall.sort.label", SORTS, (v) => t(`wall.sort.${v}`),
    page.sort, (value) => {
      page.sort = value;
      arrange();
    });
  const filter = select("wall-filter", "wall.filter.label",
    ["all", "problem", "alerts", ...STATUSES],
    () => "", page.filter, (value) => {
      page.filter = value;
      arrange();
      tick();
    });
  parts.sort = sort.querySelector("select");
  parts.filter = filter.querySelector("select");
  ui.main.replaceChildren(
    h("section", { class: "panel wall-bar" },
      h("div", { class: "wall-heading" }, parts.title, parts.state, parts.window),
      h("div", { class: "wall-tools" }, parts.summary, sort, filter, parts.link)),
    parts.closed,
    page.spotlight.el,
    parts.grid,
    parts.empty);
  setLink(page.link);
}

function render() {
  if (page.me) ui.who.textContent = t("console.who", { name: page.me.name });
  document.title = t("wall.title");
  if (!page.me || !parts.grid) return;
  for (const option of parts.sort.options) option.textContent = t(`wall.sort.${option.value}`);
  header();
  for (const view of page.tiles.values()) view.render();
  const watched = page.spotlight.tile && page.tiles.get(page.spotlight.tile.tile_id);
  page.spotlight.render(watched ? watched.where.textContent : null);
  arrange();
  tick();
  setLink(page.link);
  if (page.closed) closeWall(page.closed);
}

async function main() {
  setUpTopBar(ui);
  onLangChange(render);
  let wall;
  try {
    page.me = (await api("GET", "/api/me")).account;
    ui.logOut.hidden = false;
    if (!WATCHERS.has(page.me.role)) {
      document.body.dataset.view = "wrong-role";
      ui.who.textContent = t("console.who", { name: page.me.name });
      ui.main.replaceChildren(roleProblem(page.me, "proctor"));
      return;
    }
    ui.home.href = HOMES[page.me.role];
    wall = await api("GET", `/api/proctor/exams/${encodeURIComponent(examId)}/wall`);
  } catch (err) {
    if (!loadFailed(ui.main, err)) {
      ui.main.dataset.state = "failed";
      document.body.dataset.view = "failed";
    }
    return;
  }
  connect();
  build();
  render();
  wholeWall(wall);
  document.body.dataset.view = "wall";
  ui.main.dataset.state = "ready";
  setInterval(tick, 1000);
}

main();
