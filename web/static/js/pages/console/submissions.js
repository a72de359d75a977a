// Submitted works of an exam (GET /api/admin/exams/{id}/submissions), by candidate: the
// chosen take of an online answer (played here, segment after segment, or downloaded),
// its materials, and the files of an offline answer. A take with a second camera
// (需二机位) plays both cameras side by side and in sync, as the candidate saw them
// (dual-playback.js); each camera's recorded length and gaps are shown and each of its
// files downloads under a name an admissions office can file. One link exports every
// work of the exam as a zip with a SHA-256 manifest.

import { api } from "../../lib/api.js";
import { has, t } from "../../lib/i18n.js";
import { fmtBytes, fmtDuration, fmtTime } from "../../lib/staff-page.js";
import "../../components/dual-playback.js";
import { playList } from "../../lib/playback.js";
import { cameraDetails, damageText, reportLines } from "../../lib/take-report.js";
import { h } from "../../lib/dom.js";

const CAMERA_KEYS = { primary: "exam.pair.camPrimary", secondary: "exam.pair.camSecondary" };

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

/** "Play" beside a work: shows what ``make()`` builds under ``holder`` (and hides it
 * again); ``key`` names the player, so a second press on the same button closes it. */
function playButton(kind, make, holder, key, label = null) {
  const text = label || (kind === "image" ? "console.sub.view" : "console.sub.play");
  const button = h("button", { type: "button", class: "secondary small", i18n: text,
    testid: "play" });
  button.addEventListener("click", () => {
    const open = holder.firstChild?.dataset?.src === key;
    holder.firstChild?.stop?.();
    holder.querySelectorAll("video, audio").forEach((m) => m.pause());
    if (open) {
      holder.replaceChildren();
      return;
    }
    const shown = make();
    shown.dataset.src = key;
    holder.replaceChildren(shown);
    shown.start?.();
  });
  return button;
}

/** "Play" for a plain player: ``sources`` played one after another. */
function single(kind, sources, holder) {
  return playButton(kind, () => {
    const shown = player(kind, sources);
    shown.start = () => shown.play?.().catch(() => {}); // the admin pressed play: may start
    return shown;
  }, holder, sources.join(" "));
}

/** Both cameras of ``take`` side by side, in sync, one control (the candidate's player). */
function dualPlayer(take) {
  const dual = h("dual-playback", { testid: "dual" });
  dual.load({ take_id: take.take_id, manifest: { segments: take.cameras.primary.segments,
    cameras: { secondary: take.cameras.secondary } } });
  dual.render();
  dual.start = () => dual.play().catch((err) => console.warn(err));
  dual.stop = () => dual.pause();
  return dual;
}

function download(url, text) {
  return h("a", { href: url, download: "", class: "download", testid: "download" }, text);
}

function fileLine(f, holder) {
  const kind = t(`console.kind.${f.kind}`);
  if (f.pending || !f.url) { // submitted while still uploading: nothing to play or download yet
    return h("li", { class: "work-line", testid: "work-file", dataset: { pending: "1" } },
      h("span", { testid: "file-name" }, f.name),
      h("span", {}, `${kind} · .${f.format} · ${fmtBytes(f.size)}`),
      h("span", { class: "file-pending", testid: "file-pending", i18n: "console.sub.pending" }));
  }
  return h("li", { class: "work-line", testid: "work-file" },
    f.name ? h("span", { testid: "file-name" }, f.name) : null,
    h("span", {}, `${kind} · .${f.format} · ${fmtBytes(f.size)}`),
    PLAYABLE[f.kind] ? single(f.kind, [f.url], holder) : null,
    download(f.url, t("console.sub.download")));
}

const mmss = (seconds) => {
  const s = Math.max(0, Math.round(Number(seconds) || 0));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
};

function gapText(g) {
  const reason = has(`console.gap.${g.reason}`) ? t(`console.gap.${g.reason}`) : g.reason;
  const end = g.end_s === null || g.end_s === undefined ? "…" : mmss(g.end_s);
  return t("console.sub.gap", { from: mmss(g.start_s), to: end, reason });
}

/** A camera's segments to play one after another, in the take's order; a fill (from the
 * candidate's local copy) from its hole on (a media fragment: ``#t=``), so no jump. */
function sourcesOf(segments) {
  const urls = new Map(segments.map((s) => [s.index, s.play_url || s.url]));
  return playList(segments).map((s) => urls.get(s.index)
    + (s.from > 0.001 ? `#t=${s.from.toFixed(3)}` : ""));
}

/** The stretches of a camera filled from the candidate's local copy, or null. */
function filledLine(cam) {
  const filled = cam.segments.filter((s) => s.reason === "fill" && s.covers);
  if (!filled.length) return null;
  const list = filled.map((s) => t("console.sub.gap", { from: mmss(s.covers[0]),
    to: mmss(s.covers[1]), reason: "" }).trim()).join(t("console.sub.gapSep"));
  return h("span", { class: "gaps muted", testid: "camera-filled" },
    t("console.sub.filled", { n: filled.length, list }));
}

/** One camera of a take: its recorded length, size, parts and gaps; its downloads. */
function cameraLine(name, cam) {
  const camera = t(CAMERA_KEYS[name]);
  const bytes = cam.segments.reduce((sum, s) => sum + (s.size || 0), 0);
  const seconds = cam.recorded_s ?? cam.segments.reduce((sum, s) => sum + (s.duration_s || 0), 0);
  const gaps = cam.gaps || [];
  const parts = cam.segments.length;
  return h("li", { class: "work-line camera-line", testid: "work-camera",
    dataset: { camera: name } },
  h("span", { class: "strong" }, t("console.sub.label", { name: camera })),
  h("span", { testid: "camera-recorded" }, t("console.sub.recorded", {
    duration: fmtDuration(seconds), size: fmtBytes(bytes) })
    + (parts > 1 ? ` · ${t("console.sub.parts", { n: parts })}` : "")),
  h("span", { class: gaps.length ? "gaps warn" : "gaps muted", testid: "camera-gaps" },
    gaps.length ? t("console.sub.gaps", { n: gaps.length,
      list: gaps.map(gapText).join(t("console.sub.gapSep")) })
      : t("console.sub.noGaps")),
  filledLine(cam),
  cam.segments.map((s, i) => download(s.url, parts > 1
    ? t("console.sub.downloadCameraPart", { camera, n: i + 1 })
    : t("console.sub.downloadCamera", { camera }))));
}

/** What the server received of one camera (issue #18), beside the player: resolution, fps,
 * lost stretches with their times, bitrate, frozen/black, audio channels and bandwidth. */
function qualityLine(name, take) {
  const part = take.quality?.cameras?.[name];
  if (!part) return null;
  const figures = cameraDetails(part).map(([key, value]) =>
    h("span", { class: "quality-figure", dataset: { figure: key.split(".").pop() } },
      `${t(key)}: ${value}`));
  const damaged = (part.video?.lost_s ?? 0) >= 0.05 || !part.audio?.present;
  return h("li", { class: `work-line quality-line${damaged ? " warn" : ""}`,
    testid: "take-quality", dataset: { camera: name } },
  h("span", { class: "strong" }, t("console.sub.label", { name: t("report.title") })), ...figures);
}

/** The plain lines, and every extra formal take the system's damage granted this answer. */
function reportSummary(take) {
  const lines = [];
  if (!take.quality) {
    lines.push(h("li", { class: "work-line muted", testid: "take-quality-none" },
      t("report.none")));
  } else {
    lines.push(h("li", { class: "work-line", testid: "take-report" },
      reportLines(take.quality).join(" · ")));
  }
  for (const r of take.retakes || []) {
    lines.push(h("li", { class: "work-line warn", testid: "take-retake",
      dataset: { takeId: r.take_id } },
    `${t("report.retakeGranted")} (${fmtTime(r.granted_at)}): `
      + (r.damage || []).map(damageText).join(t("report.and"))));
  }
  return lines;
}

function takeLines(take, holder, question) {
  if (!take) return [h("li", { class: "muted" }, t("console.sub.noTake"))];
  if (take.state !== "stored" || !take.segments.length) {
    return [h("li", { class: "muted", testid: "take-state" },
      t("console.sub.takeState", { state: take.state }))];
  }
  const cameras = take.cameras || { primary: { segments: take.segments, gaps: take.gaps || [],
    recorded_s: take.recorded_s } };
  const both = Boolean(cameras.secondary?.segments?.length);
  const primary = cameras.primary.segments;
  const seconds = cameras.primary.recorded_s
    ?? primary.reduce((sum, s) => sum + (s.duration_s || 0), 0);
  const bytes = Object.values(cameras).flatMap((c) => c.segments)
    .reduce((sum, s) => sum + (s.size || 0), 0);
  const lines = [h("li", { class: "work-line", testid: "work-take",
    dataset: { cameras: both ? "2" : "1" } },
  h("span", {}, t("console.sub.take", { duration: fmtDuration(seconds), size: fmtBytes(bytes),
    n: primary.length })),
  both
    ? playButton("video", () => dualPlayer(take), holder, `dual ${take.take_id}`,
      "console.sub.playBoth")
    : single("video", sourcesOf(primary), holder))];
  for (const name of Object.keys(CAMERA_KEYS)) {
    if (cameras[name]?.segments?.length) {
      lines.push(cameraLine(name, cameras[name]));
      const quality = qualityLine(name, take);
      if (quality) lines.push(quality);
    }
  }
  lines.push(...reportSummary(take));
  if (!both && question?.second_camera_required) {
    lines.push(h("li", { class: "work-line warn", testid: "no-second",
      i18n: "console.sub.noSecond" }));
  }
  return lines;
}

function submissionBlock(s, question, n) {
  const holder = h("div", { class: "player-box" });
  const rules = Object.fromEntries((question?.materials || []).map((m) => [m.key, m]));
  const materialName = (key) => {
    const rule = rules[key];
    return rule ? rule.label || t(`console.kind.${rule.kind}`) : key;
  };
  const lines = s.mode === "online" ? takeLines(s.take, holder, question) : [];
  for (const m of s.materials) {
    if (m.file) {
      const line = fileLine(m.file, holder);
      line.prepend(h("span", { class: "strong" },
        t("console.sub.label", { name: materialName(m.key) })));
      lines.push(line);
    } else {
      lines.push(h("li", { class: "work-line" }, h("span", { class: "strong" },
        t("console.sub.label", { name: materialName(m.key) })),
      h("span", { class: "material-text" }, m.text)));
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

  const stopPlayers = () => list.querySelectorAll(".player-box").forEach((box) => {
    box.firstChild?.stop?.();
    box.querySelectorAll("video, audio").forEach((m) => m.pause());
  });

  function renderList() {
    stopPlayers();
    const shown = groups.filter((g) => !state.filter
      || `${g.candidate.name || ""} ${g.candidate.phone || ""} ${g.candidate.id_number || ""}`
        .toLowerCase()
        .includes(state.filter));
    list.replaceChildren(...(groups.length ? shown.map((g) => h("section", {
      class: "panel candidate-works", testid: "candidate-works" },
    h("h3", {}, g.candidate.name || g.candidate.account_id, " ",
      h("span", { class: "muted mono", testid: "candidate-id" }, g.candidate.id_number || ""),
      " ", h("span", { class: "muted mono" }, g.candidate.phone || "")),
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

  // Everything at once, for filing: streamed as a zip by the server (a plain link: the
  // browser's own download, however large).
  const exportLink = h("a", { class: "button secondary", testid: "export-all",
    href: `/api/admin/exams/${encodeURIComponent(exam.id)}/export`, download: "",
    i18n: "console.sub.export", hidden: !data.submissions.length });
  root.replaceChildren(
    h("div", { class: "panel" }, h("div", { class: "panel-head" }, summary,
      h("span", { class: "tools" }, search, exportLink)),
    h("p", { class: "field-hint", i18n: "console.sub.intro" }),
    h("p", { class: "field-hint", i18n: "console.sub.exportHint" })),
    list);
  render();
  return { onLang: render, stop: stopPlayers };
}
