// The candidates' reference photos (报名照片) for the face check (issue #17), next to the
// admitted list: how many people of the list have one, who has none, and an upload of a
// zip of photos named by ID number (110101199001011234.jpg), of a folder of such photos,
// or of single photos. Each photo is stored or refused on its own; the table says which,
// and what is wrong with a refused one, in the page's language (the server sends zh + en).

import { api } from "../../lib/api.js";
import { h } from "../../lib/dom.js";
import { errorText } from "../../lib/errors.js";
import { lang, t } from "../../lib/i18n.js";
import { handleSessionEnd, messageArea } from "../../lib/staff-page.js";

const IMAGE_TYPES = ["image/jpeg", "image/png"];
const SHOWN_MISSING = 20;

function isZip(file) {
  return /\.zip$/i.test(file.name) || /zip/.test(file.type);
}

/** The panel; ``refresh()`` asks the server again (after the list is imported). */
export function referencePhotos(unitId) {
  const base = `/api/admin/units/${encodeURIComponent(unitId)}/reference-photos`;
  const state = { listing: null, results: null, busy: false };
  const message = messageArea("photos-result");
  const files = h("input", { type: "file", multiple: true, testid: "photos-file",
    accept: ".zip,application/zip,image/jpeg,image/png", onchange: () => message.clear() });
  const folder = h("input", { type: "file", multiple: true, testid: "photos-folder",
    webkitdirectory: true, onchange: () => message.clear() });
  const send = h("button", { type: "button", class: "primary", testid: "photos-upload",
    i18n: "console.photos.upload", onclick: () => upload() });
  const summary = h("div", { testid: "photos-summary" });
  const table = h("div", { testid: "photos-results-box" });

  async function refresh() {
    try {
      state.listing = await api("GET", base);
    } catch (err) {
      if (handleSessionEnd(err)) return;
      message.show("error", () => errorText(err, "console"));
    }
    render();
  }

  async function upload() {
    const chosen = [...files.files, ...folder.files];
    const zips = chosen.filter(isZip);
    const photos = chosen.filter((f) => !isZip(f) && (IMAGE_TYPES.includes(f.type)
      || /\.(jpe?g|png)$/i.test(f.name)));
    if (!zips.length && !photos.length) {
      message.show("error", () => t("console.photos.chooseFirst"));
      return;
    }
    state.busy = true;
    state.results = { stored: 0, refused: 0, photos: [] };
    render();
    const add = (result) => {
      state.results.stored += result.stored;
      state.results.refused += result.refused;
      state.results.photos.push(...result.photos);
    };
    try {
      for (const zip of zips) {
        message.show("info", () => t("console.photos.checking", { name: zip.name }));
        add(await api("POST", base, zip, "application/zip"));
        render();
      }
      for (const [n, photo] of photos.entries()) {
        message.show("info", () => t("console.photos.checkingMany", { n: n + 1,
          total: photos.length }));
        const type = photo.type === "image/png" ? "image/png" : "image/jpeg";
        add(await api("POST", `${base}/${encodeURIComponent(photo.name)}`, photo, type));
        render();
      }
      message.show(state.results.refused ? "warning" : "ok", () => t("console.photos.done", {
        stored: state.results.stored, refused: state.results.refused }));
      files.value = "";
      folder.value = "";
      state.listing = await api("GET", base);
    } catch (err) {
      if (handleSessionEnd(err)) return;
      message.show("error", () => errorText(err, "console"));
    } finally {
      state.busy = false;
      render();
    }
  }

  function renderSummary() {
    const listing = state.listing;
    if (!listing) {
      summary.replaceChildren();
      return;
    }
    const missing = listing.missing || [];
    summary.replaceChildren(...[
      h("p", { testid: "photos-count", dataset: { photos: listing.photos.length,
        missing: listing.missing_count } },
      t("console.photos.count", { n: listing.photos.length, missing: listing.missing_count })),
      missing.length
        ? h("p", { class: "muted", testid: "photos-missing" }, t("console.photos.missing", {
          names: missing.slice(0, SHOWN_MISSING).map((e) => `${e.name} (${e.id_number})`)
            .join("、") + (listing.missing_count > SHOWN_MISSING ? " …" : "") }))
        : null,
    ].filter(Boolean));
  }

  function renderResults() {
    const results = state.results;
    if (!results?.photos.length) {
      table.replaceChildren();
      return;
    }
    const cols = ["colFile", "colIdNumber", "colResult"];
    table.replaceChildren(h("table", { class: "table compact cards", testid: "photos-results" },
      h("thead", {}, h("tr", {}, cols.map((k) => h("th", { i18n: `console.photos.${k}` })))),
      h("tbody", {}, results.photos.map((p) => h("tr", { testid: "photo-result",
        dataset: { stored: String(p.stored), file: p.file,
          codes: (p.problems || []).map((x) => x.code).join(" ") } },
      h("td", { class: "mono", dataset: { label: t("console.photos.colFile") } }, p.file),
      h("td", { class: "mono", dataset: { label: t("console.photos.colIdNumber") } },
        p.id_number || "—"),
      h("td", { dataset: { label: t("console.photos.colResult") } }, p.stored
        ? t("console.photos.stored")
        : (p.problems || []).map((x) => (lang() === "en" ? x.en : x.zh)).join("；"))))),
    ));
  }

  function render() {
    send.disabled = state.busy;
    files.disabled = state.busy;
    folder.disabled = state.busy;
    renderSummary();
    renderResults();
    message.render();
  }

  const el = h("section", { class: "panel", testid: "reference-photos" },
    h("h3", { i18n: "console.photos.title" }),
    h("ul", { class: "hints" },
      h("li", { i18n: "console.photos.hintNames" }),
      h("li", { i18n: "console.photos.hintQuality" }),
      h("li", { i18n: "console.photos.hintMissing" })),
    summary,
    h("div", { class: "upload-row" },
      h("label", {}, h("span", { i18n: "console.photos.files" }), files),
      h("label", {}, h("span", { i18n: "console.photos.folder" }), folder),
      send),
    message.el, table);
  return { el, refresh, render };
}
