// The first script of every page, a classic one (not a module), so that it runs before
// the page's modules load and can watch them. A module or a style sheet that did not
// arrive (the network changed while the page loaded: Chromium's ERR_NETWORK_CHANGED; a
// connection that dropped) leaves a page without its script: stuck on "loading" for good,
// as browsers do not fetch a failed module again. So the page is loaded again, after
// RELOAD_WAITS_MS, at most that many times in RELOAD_WINDOW_MS; past that it says so
// itself, in both languages (the catalogues are modules too), with a button to try again.
// A page whose modules all ran (its load event) forgets the count.
(() => {
  const RELOAD_WAITS_MS = [500, 1000, 2000];
  const RELOAD_WINDOW_MS = 60_000;
  const KEY = "examcast.reloads";
  let failed = false;

  function readCount() {
    try {
      const saved = JSON.parse(sessionStorage.getItem(KEY) || "null");
      if (saved && Date.now() - saved.first < RELOAD_WINDOW_MS) return saved;
    } catch {
      // no sessionStorage (a locked-down browser) or not ours: start again
    }
    return { n: 0, first: Date.now() };
  }

  function saveCount(count) {
    try {
      if (count) sessionStorage.setItem(KEY, JSON.stringify(count));
      else sessionStorage.removeItem(KEY);
      return true;
    } catch {
      return false; // not counted, so not reloaded: the notice instead
    }
  }

  function showNotice() {
    const box = document.createElement("div");
    box.className = "load-failed";
    box.setAttribute("role", "alert");
    box.dataset.testid = "load-failed";
    const text = document.createElement("p");
    text.textContent = "页面没有完整载入，可能是网络断开或切换了。"
      + " The page did not load completely: the network may have dropped or changed.";
    const button = document.createElement("button");
    button.type = "button";
    button.dataset.testid = "load-failed-reload";
    button.textContent = "重新载入 Reload";
    button.addEventListener("click", () => {
      saveCount(null);
      location.reload();
    });
    box.append(text, button);
    document.body.prepend(box);
  }

  function onFailure() {
    if (failed) return;
    failed = true;
    const count = readCount();
    const wait = RELOAD_WAITS_MS[count.n];
    if (wait === undefined || !saveCount({ n: count.n + 1, first: count.first })) {
      if (document.body) showNotice();
      else document.addEventListener("DOMContentLoaded", showNotice);
      return;
    }
    setTimeout(() => location.reload(), wait);
  }

  // A resource's error event does not bubble: seen here while it goes down to the element.
  document.addEventListener("error", (event) => {
    const el = event.target;
    const isModule = el instanceof HTMLScriptElement && el.type === "module";
    const isSheet = el instanceof HTMLLinkElement && el.rel === "stylesheet";
    if (isModule || isSheet) onFailure();
  }, true);

  window.addEventListener("load", () => {
    if (!failed) saveCount(null);
  });
})();
