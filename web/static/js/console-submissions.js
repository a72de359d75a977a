// Submitted works of an exam (GET /api/admin/exams/{id}/submissions), by candidate: the
// chosen take of an online answer (played here, segment after segment, or downloaded),
// its materials, and the files of an offline answer.

import { api } from "./api.js";
import { t } from "./i18n.js";
import { fmtBytes, fmtDuration, fmtTime, h } from "./console-common.js";

const PLAYABLE = { video: "video", audio: "audio", image: "img" };

/** A player for ``sources`` (urls played one after another) of ``kind``. */
function player(kind, sources) {
  const tag = PLAYABLE[kind];
  if (tag === "img") return h("img", { src: sources[0], alt: "", class: "preview-image",
    testid: "player" });
  const media = h(tag, { controls: true, preload: "metadata", playsinline: true,
    class: "player", testid: "player", src: sources[0], dataset: { index: "0" } });
  media.addEventListener("ended", () => {
    const next = Number(media.dataset.index) + 1;
    if (next < sources.length) {
      media.dataset.index = String(next);
      media.src = sources[next];
      media.play().catch((err) => console.warn(err));
    }
  });
  return media;
}

/** "Play" beside a work: shows the player under ``holder`` (and hides it again). */
function playButton(kind, sources, holder) {
  const key = kind === "image" ? "console.sub.view" : "console.sub.play";
  const button = h("button", { type: "button", class: "secondary small", i18n: key,
    testid: "play" });
  button.addEventListener("click", () => {
    const open = holder.firstChild?.dataset?.src === sources.join(" ");
    holder.querySelectorAll("video, audio").forEach((m) => m.pause());
    if (open) {
      holder.replaceChildren();
      return;
    }
    const shown = player(kind, sources);
    shown.dataset.src = sources.join(" ");
    holder.replaceChildren(shown);
    if (shown.play) shown.play().catch(() => {}); // the admin pressed play: may start
  });
  return button;
}

function download(url, text) {
  return h("a", { href: url, download: "", class: "download", testid: "download" }, text);
}

function fileLine(f, holder) {
  const kind = t(`console.kind.${f.kind}`);
  return h("li", { class: "work-line", testid: "work-file" },
    h("span", {}, `${kind} · .${f.format} · ${fmtBytes(f.size)}`),
    PLAYABLE[f.kind] ? playButton(f.kind, [f.url], holder) : null,
    download(f.url, t("console.sub.download")));
}

function takeLines(take, holder) {
  if (!take) return [h("li", { class: "muted" }, t("console.sub.noTake"))];
  if (take.state !== "stored" || !take.segments.length) {
    return [h("li", { class: "muted", testid: "take-state" },
      t("console.sub.takeState", { state: take.state }))];
  }
  const seconds = take.segments.reduce((sum, s) => sum + (s.duration_s || 0), 0);
  const bytes = take.segments.reduce((sum, s) => sum + (s.size || 0), 0);
  return [h("li", { class: "work-line", testid: "work-take" },
    h("span", {}, t("console.sub.take", { duration: fmtDuration(seconds), size: fmtBytes(bytes),
      n: take.segments.length })),
    playButton("video", take.segments.map((s) => s.url), holder),
    take.segments.map((s, i) => download(s.url, take.segments.length > 1
      ? t("console.sub.downloadPart", { n: i + 1 }) : t("console.sub.download"))))];
}

function submissionBlock(s, question, n) {
  const holder = h("div", { class: "player-box" });
  const rules = Object.fromEntries((question?.materials || []).map((m) => [m.key, m]));
  const materialName = (key) => {
    const rule = rules[key];
    return rule ? rule.label || t(`console.kind.${rule.kind}`) : key;
  };
  const lines = s.mode === "online" ? takeLines(s.take, holder) : [];
  for (const m of s.materials) {
    if (m.file) {
      const line = fileLine(m.file, holder);
      line.prepend(h("span", { class: "strong" }, `${materialName(m.key)}：`));
      lines.push(line);
    } else {
      lines.push(h("li", { class: "work-line" }, h("span", { class: "strong" },
        `${materialName(m.key)}：`), h("span", { class: "material-text" }, m.text)));
    }
  }
  for (const f of s.files) lines.push(fileLine(f, holder));
  return h("article", { class: "submission", testid: "submission",
    dataset: { question: s.question_id } },
  h("header", {},
    h("span", { class: "strong" }, t("console.editor.questionN", { n })),
    h("span", {}, question?.title || s.question_id),
    h("span", { class: "badge" }, t(`console.mode.${s.mode}`)),
    h("span", { class: "muted" }, t(s.submitted_by === "auto" ? "console.sub.submittedAuto"
      : "console.sub.submitted", { time: fmtTime(s.submitted_at) }))),
  h("ul", { class: "works" }, lines), holder);
}

export async function mountSubmissions(ctx, root, exam) {
  const path = `/api/admin/exams/${encodeURIComponent(exam.id)}/submissions`;
  const data = await api("GET", path);
  const order = Object.fromEntries(exam.questions.map((q, i) => [q.id, i]));
  const byCandidate = new Map();
  for (const s of data.submissions) {
    const id = s.candidate.account_id;
    if (!byCandidate.has(id)) byCandidate.set(id, { candidate: s.candidate, items: [] });
    byCandidate.get(id).items.push(s);
  }
  const groups = [...byCandidate.values()].sort((a, b) =>
    (a.candidate.name || "").localeCompare(b.candidate.name || "", "zh"));
  const place = (s) => order[s.question_id] ?? 0;
  for (const g of groups) g.items.sort((a, b) => place(a) - place(b));

  const state = { filter: "" };
  const list = h("div", { class: "submission-list", testid: "submissions" });
  const search = h("input", { type: "search", testid: "submissions-search",
    oninput: () => {
      state.filter = search.value.trim().toLowerCase();
      renderList();
    } });
  const summary = h("p", { class: "summary-line", testid: "submissions-summary" });

  function renderList() {
    const shown = groups.filter((g) => !state.filter
      || `${g.candidate.name || ""} ${g.candidate.phone || ""}`.toLowerCase()
        .includes(state.filter));
    list.replaceChildren(...(groups.length ? shown.map((g) => h("section", {
      class: "panel candidate-works", testid: "candidate-works" },
    h("h3", {}, g.candidate.name || g.candidate.account_id, " ",
      h("span", { class: "muted mono" }, g.candidate.phone || "")),
    g.items.map((s) => submissionBlock(s, exam.questions[order[s.question_id]],
      (order[s.question_id] ?? 0) + 1))))
      : [h("p", { class: "panel empty", testid: "no-submissions",
        i18n: "console.sub.none" })]));
  }

  function render() {
    search.placeholder = t("console.progress.search");
    summary.textContent = t("console.sub.summary", { n: data.submissions.length,
      people: groups.length, time: fmtTime(data.now) });
    renderList();
  }

  root.replaceChildren(
    h("div", { class: "panel" }, h("div", { class: "panel-head" }, summary,
      h("span", { class: "tools" }, search)),
    h("p", { class: "field-hint", i18n: "console.sub.intro" })),
    list);
  render();
  return { onLang: render };
}
