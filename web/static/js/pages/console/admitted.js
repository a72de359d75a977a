// The unit's admitted list (准考名单): what is imported now, a CSV import that replaces
// it (all rows valid or nothing: every bad row is listed with its line and reason),
// and the list itself a page at a time. A file is previewed first: when the import would
// remove people (who then lose the unit's exams at once), the page lists them, those who
// already started first, and imports only once the admin confirms.

import { ApiError, api } from "../../lib/api.js";
import { t } from "../../lib/i18n.js";
import { fmtTime, handleSessionEnd, idTypeName, messageArea } from "../../lib/staff-page.js";
import { h } from "../../lib/dom.js";
import { errorText } from "../../lib/errors.js";
import { referencePhotos } from "./reference-photos.js";

const PAGE = 100;
const TEMPLATE = "\ufeff姓名,证件类型,证件号码\n";

// Values a bad row's reason carries that the page's own sentence needs.
const REASON_VALUES = {
  duplicate: (reason) => ({ line: /line (\d+)/.exec(reason)?.[1] || "?" }),
  columns: (reason) => {
    const m = /expected (\d+) columns, found (\d+)/.exec(reason);
    return { expected: m?.[1] || "3", found: m?.[2] || "?" };
  },
};
const CODES = ["name", "id_type", "id_number", "id_checksum", "duplicate", "columns", "header",
  "encoding", "csv", "too_many_rows"];

function problemText(error) {
  if (!CODES.includes(error.code)) return error.reason;
  return t(`console.csv.code.${error.code}`, REASON_VALUES[error.code]?.(error.reason) || {});
}

export async function mountAdmitted(ctx, root) {
  const unitId = ctx.me.unit_id;
  const base = `/api/admin/units/${encodeURIComponent(unitId)}/admitted-list`;
  const state = { listing: null, offset: 0, idTypes: {}, refusal: null, busy: false,
    preview: null };
  const message = messageArea("csv-result");

  const file = h("input", { type: "file", accept: ".csv,text/csv", testid: "csv-file",
    onchange: () => {
      state.refusal = null;
      state.preview = null;
      message.clear();
      render();
    } });
  const uploadButton = h("button", { type: "button", class: "primary", testid: "csv-upload",
    i18n: "console.csv.upload", onclick: () => upload() });
  const template = h("a", { class: "button secondary", download: "admitted-list-template.csv",
    href: URL.createObjectURL(new Blob([TEMPLATE], { type: "text/csv" })),
    i18n: "console.csv.template", testid: "csv-template" });
  const info = h("div", { class: "list-info", testid: "list-info" });
  const errors = h("div", { testid: "csv-errors-box" });
  const previewBox = h("div", { testid: "csv-preview-box" });
  const entries = h("div", { testid: "entries-box" });
  const photos = referencePhotos(unitId); // the face check's 报名照片, next to the list

  async function load(offset = state.offset) {
    state.listing = await api("GET", `${base}?offset=${offset}&limit=${PAGE}`);
    state.offset = offset;
  }

  async function upload() {
    const chosen = file.files[0];
    state.refusal = null;
    state.preview = null;
    if (!chosen) {
      message.show("error", () => t("console.csv.chooseFirst"));
      render();
      return;
    }
    await busy(() => t("console.csv.previewing", { name: chosen.name }), chosen, async () => {
      const changes = await api("POST", `${base}/preview`, chosen, "text/csv");
      if (!changes.removed) {
        await importFile(chosen);
        return;
      }
      state.preview = { name: chosen.name, file: chosen, changes };
      message.show("warning", () => t("console.csv.previewSummary", { name: chosen.name,
        ...state.preview.changes }));
    });
  }

  async function importFile(chosen) {
    message.show("info", () => t("console.csv.uploading", { name: chosen.name }));
    render();
    const imported = await api("POST", base, chosen, "text/csv");
    const changes = imported.changes || {};
    message.show("ok", () => (changes.removed
      ? t("console.csv.importedRemoved", { n: imported.entries, name: chosen.name,
        removed: changes.removed, started: changes.removed_started })
      : t("console.csv.imported", { n: imported.entries, name: chosen.name })));
    state.preview = null;
    file.value = "";
    await load(0);
    await photos.refresh(); // who on the new list has no reference photo
  }

  async function confirmImport() {
    const chosen = state.preview?.file;
    if (!chosen) return;
    await busy(() => t("console.csv.uploading", { name: chosen.name }), chosen,
      () => importFile(chosen));
  }

  function cancelImport() {
    state.preview = null;
    message.show("info", () => t("console.csv.cancelled"));
    render();
  }

  /** Run ``work`` with the buttons off; a refused file lists its bad rows. */
  async function busy(text, chosen, work) {
    state.busy = true;
    message.show("info", text);
    render();
    try {
      await work();
    } catch (err) {
      if (handleSessionEnd(err)) return;
      state.preview = null;
      if (err instanceof ApiError && err.code === "invalid_admitted_list") {
        state.refusal = { name: chosen.name, message: err.message,
          errors: err.details.errors || [] };
        message.show("error", () => (state.refusal.errors.length
          ? t("console.csv.refusedRows", { n: state.refusal.errors.length,
            name: state.refusal.name })
          : t("console.csv.refused", { message: state.refusal.message })));
      } else {
        message.show("error", () => errorText(err, "console"));
      }
    } finally {
      state.busy = false;
      render();
    }
  }

  function statusText(person) {
    if (person.submitted) return t("console.csv.status.submitted", { n: person.submitted });
    if (person.started) return t("console.csv.status.started");
    return t(person.registered ? "console.csv.status.registered"
      : "console.csv.status.unregistered");
  }

  function renderPreview() {
    const preview = state.preview;
    if (!preview) {
      previewBox.replaceChildren();
      return;
    }
    const c = preview.changes;
    const people = c.removed_people || [];
    const cols = ["colLine", "colName", "colIdType", "colIdNumber", "colStatus"];
    previewBox.replaceChildren(h("section", { class: "panel", testid: "csv-preview",
      dataset: { removed: c.removed, started: c.removed_started } },
    h("h3", { i18n: "console.csv.previewTitle" }),
    h("p", { class: "notice", dataset: { kind: c.removed_started ? "error" : "warning" },
      testid: "csv-preview-impact" },
    c.removed_started
      ? t("console.csv.previewStarted", { started: c.removed_started,
        submitted: c.removed_submitted })
      : t("console.csv.previewNoneStarted")),
    h("table", { class: "table compact cards", testid: "csv-removed" },
      h("thead", {}, h("tr", {}, cols.map((k) => h("th", { i18n: `console.csv.${k}` })))),
      h("tbody", {}, people.map((p) => h("tr", { testid: "csv-removed-person",
        dataset: { started: String(p.started), line: p.line } },
      h("td", { class: "num", dataset: { label: t("console.csv.colLine") } }, String(p.line)),
      h("td", { dataset: { label: t("console.csv.colName") } }, p.name),
      h("td", { dataset: { label: t("console.csv.colIdType") } },
        idTypeName(state.idTypes[p.id_type]) || p.id_type),
      h("td", { class: "mono", dataset: { label: t("console.csv.colIdNumber") } }, p.id_number),
      h("td", { dataset: { label: t("console.csv.colStatus") } }, statusText(p)))))),
    people.length < c.removed
      ? h("p", { class: "muted" }, t("console.csv.previewMore", { shown: people.length,
        removed: c.removed }))
      : null,
    h("div", { class: "upload-row" },
      h("button", { type: "button", class: "danger", testid: "csv-confirm",
        disabled: state.busy, onclick: () => confirmImport() },
      t("console.csv.confirm", { n: c.removed })),
      h("button", { type: "button", class: "secondary", testid: "csv-cancel",
        i18n: "console.csv.cancel", disabled: state.busy, onclick: () => cancelImport() }))));
  }

  function renderInfo() {
    const list = state.listing?.list;
    info.replaceChildren(list
      ? h("p", {}, h("strong", { testid: "list-count" },
        t("console.csv.count", { n: list.entries })), " · ",
      t("console.csv.importedAt", { time: fmtTime(list.imported_at) }))
      : h("p", { class: "notice", dataset: { kind: "warning" }, testid: "list-none",
        i18n: "console.csv.none" }));
  }

  function renderErrors() {
    const refusal = state.refusal;
    if (!refusal?.errors.length) {
      errors.replaceChildren();
      return;
    }
    errors.replaceChildren(h("table", { class: "table compact", testid: "csv-errors" },
      h("thead", {}, h("tr", {},
        h("th", { i18n: "console.csv.colLine" }), h("th", { i18n: "console.csv.colProblem" }),
        h("th", { i18n: "console.csv.colReason" }))),
      h("tbody", {}, refusal.errors.map((e) => h("tr", { testid: "csv-error",
        dataset: { line: e.line, code: e.code } },
      h("td", { class: "num" }, String(e.line)),
      h("td", {}, problemText(e)),
      h("td", { class: "muted" }, e.reason))))));
  }

  function renderEntries() {
    const listing = state.listing;
    const total = listing?.list?.entries || 0;
    if (!total) {
      entries.replaceChildren();
      return;
    }
    const from = state.offset + 1;
    const to = state.offset + listing.entries.length;
    const go = async (offset) => {
      try {
        await load(offset);
      } catch (err) {
        if (handleSessionEnd(err)) return;
        message.show("error", () => errorText(err, "console"));
      }
      render();
    };
    entries.replaceChildren(h("section", { class: "panel flush" },
      h("div", { class: "panel-head" },
        h("h3", { i18n: "console.csv.entries" }),
        h("span", { class: "muted" }, t("console.csv.range", { from, to, total })),
        h("span", { class: "pager" },
          h("button", { type: "button", class: "secondary small", i18n: "console.btn.prev",
            disabled: state.offset === 0, onclick: () => go(Math.max(0, state.offset - PAGE)) }),
          h("button", { type: "button", class: "secondary small", i18n: "console.btn.next",
            disabled: to >= total, onclick: () => go(state.offset + PAGE) }))),
      h("table", { class: "table compact cards", testid: "entries" },
        h("thead", {}, h("tr", {},
          ["colLine", "colName", "colIdType", "colIdNumber"].map((k) => h("th", {
            i18n: `console.csv.${k}` })))),
        h("tbody", {}, listing.entries.map((e) => h("tr", { testid: "entry" },
          h("td", { class: "num", dataset: { label: t("console.csv.colLine") } }, String(e.line)),
          h("td", { dataset: { label: t("console.csv.colName") } }, e.name),
          h("td", { dataset: { label: t("console.csv.colIdType") } },
            idTypeName(state.idTypes[e.id_type]) || e.id_type),
          h("td", { class: "mono", dataset: { label: t("console.csv.colIdNumber") } },
            e.id_number)))))));
  }

  function render() {
    uploadButton.disabled = state.busy;
    renderInfo();
    renderErrors();
    renderPreview();
    renderEntries();
    message.render();
  }

  const [, types] = await Promise.all([load(0), api("GET", "/api/id-types").catch(() => null)]);
  for (const type of types?.id_types || []) state.idTypes[type.code] = type;
  const unitName = state.listing.unit?.name || unitId;
  const heading = h("h2", { class: "view-title" });
  root.replaceChildren(
    heading,
    h("p", { class: "view-meta", i18n: "console.csv.intro" }),
    h("section", { class: "panel" }, h("h3", { i18n: "console.csv.current" }), info),
    h("section", { class: "panel" },
      h("h3", { i18n: "console.csv.importTitle" }),
      h("ul", { class: "hints" },
        h("li", { i18n: "console.csv.hintColumns" }),
        h("li", { i18n: "console.csv.hintTypes" }),
        h("li", { i18n: "console.csv.hintReplace" })),
      h("div", { class: "upload-row" }, file, uploadButton, template),
      message.el, errors, previewBox),
    photos.el,
    entries);
  const renderHeading = () => {
    heading.textContent = t("console.csv.title", { unit: unitName });
  };
  renderHeading();
  render();
  await photos.refresh();
  return {
    onLang() {
      renderHeading();
      render();
      photos.render();
    },
    stop() {
      URL.revokeObjectURL(template.href);
    },
  };
}
