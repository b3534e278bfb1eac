// The Recruiter Dashboard's own behaviour: live updates (Server-Sent Events), "Select all",
// keyboard shortcuts. Everything else is plain HTML forms and htmx attributes.
(function () {
  "use strict";
  const body = document.body;
  const pending = new Map(); // fragments whose target is not on the page yet (a response still on its way)

  function allMode() {
    const input = document.getElementById("all-input");
    return input && input.value === "1";
  }

  function settle(root) {
    // rows of a "Show more" answer go into the table
    root.querySelectorAll("template[data-append]").forEach(function (tpl) {
      const into = document.getElementById(tpl.dataset.append);
      if (into) {
        const nodes = Array.from(tpl.content.children);
        nodes.forEach(function (n) { into.appendChild(n); htmx.process(n); });
      }
      tpl.remove();
    });
    if (allMode()) {
      document.querySelectorAll("#rows input[name=id]").forEach(function (box) { box.checked = true; });
    }
    for (const [target, entry] of pending) {
      if (Date.now() - entry.at > 30000) { pending.delete(target); continue; }
      if (document.getElementById(target)) { pending.delete(target); apply(entry.payload); }
    }
  }

  function apply(payload) {
    const el = document.getElementById(payload.target);
    if (payload.mode === "replace") {
      if (!el) { pending.set(payload.target, { payload: payload, at: Date.now() }); return; }
      el.innerHTML = payload.html;
      htmx.process(el);
    } else if (payload.mode === "refresh") {
      if (el) htmx.trigger(el, "refresh");
    } else if (payload.mode === "row") {
      const holder = document.createElement("tbody");
      holder.innerHTML = payload.html.trim();
      const row = holder.firstElementChild;
      if (!row) return;
      if (el) {
        const box = el.querySelector("input[name=id]");
        const focused = el.contains(document.activeElement);
        row.querySelector("input[name=id]").checked = !!(box && box.checked);
        if (el.classList.contains("current")) row.classList.add("current");
        el.replaceWith(row);
        htmx.process(row);
        if (focused) row.focus();
        return;
      }
      const rows = document.getElementById("rows");
      const fits = payload.views.indexOf(body.dataset.view) >= 0 && (!body.dataset.job || body.dataset.job === payload.job_id);
      if (!rows || !fits || document.getElementById("load-more")) return;
      const empty = document.getElementById("empty");
      if (empty) empty.remove();
      rows.closest("table").hidden = false;
      if (allMode()) row.querySelector("input[name=id]").checked = true;
      rows.appendChild(row);
      htmx.process(row);
    }
  }

  function live() {
    const url = body.dataset.live;
    if (!url || !window.EventSource) return;
    const source = new EventSource(url);
    source.addEventListener("fragment", function (event) {
      try { apply(JSON.parse(event.data)); } catch (e) { console.error(e); }
    });
    source.addEventListener("open", function () { body.dataset.liveState = "open"; });
    source.addEventListener("error", function () { body.dataset.liveState = "reconnecting"; });
  }

  // --- Select all: the whole view, every page -------------------------------------------------
  function selection() {
    const button = document.getElementById("select-all");
    if (!button) return;
    const input = document.getElementById("all-input");
    const status = document.getElementById("selection-status");
    const viewName = button.dataset.viewLabel;
    function show() {
      const on = input.value === "1";
      button.setAttribute("aria-pressed", on ? "true" : "false");
      button.textContent = on ? "Clear selection" : "Select all";
      const ticked = document.querySelectorAll("#rows input[name=id]:checked").length;
      const count = (document.getElementById("view-count") || {}).textContent || "the";
      status.textContent = on ? "All " + count + " prospects in " + viewName + " are selected"
        : ticked ? ticked + " selected" : "";
    }
    // The view's count arrives after the list (the counts fragment): say it once it is there.
    document.addEventListener("htmx:afterSettle", show);
    button.addEventListener("click", function () {
      const on = input.value !== "1";
      input.value = on ? "1" : "";
      document.querySelectorAll("#rows input[name=id]").forEach(function (box) { box.checked = on; });
      show();
    });
    document.addEventListener("change", function (event) {
      if (event.target.matches && event.target.matches("#rows input[name=id]")) {
        if (!event.target.checked && input.value === "1") input.value = "";
        show();
      }
    });
  }

  // --- keyboard -------------------------------------------------------------------------------
  function rows() { return Array.from(document.querySelectorAll("#rows tr.row")); }
  function currentRow() {
    return (document.activeElement && document.activeElement.closest && document.activeElement.closest("#rows tr.row"))
      || document.querySelector("#rows tr.row.current");
  }
  function focusRow(row) {
    if (!row) return;
    document.querySelectorAll("#rows tr.row.current").forEach(function (r) { r.classList.remove("current"); });
    row.classList.add("current");
    row.focus();
  }
  function keys() {
    const help = document.getElementById("help");
    document.querySelectorAll("[data-help]").forEach(function (b) { b.addEventListener("click", function () { help.showModal(); }); });
    document.addEventListener("keydown", function (event) {
      if (event.ctrlKey || event.metaKey || event.altKey) return;
      const t = event.target;
      if (t && (t.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(t.tagName)) && !(t.type === "checkbox")) return;
      if (help.open) return;
      const all = rows();
      const row = currentRow();
      const i = row ? all.indexOf(row) : -1;
      let handled = true;
      switch (event.key) {
        case "?": help.showModal(); break;
        case "j": focusRow(all[Math.min(all.length - 1, i + 1)]); break;
        case "k": focusRow(all[Math.max(0, i - 1)]); break;
        case "s": case "n": case "f":
          if (row) { const b = row.querySelector("button[data-key=" + event.key + "]"); if (b) b.click(); } else handled = false;
          break;
        case "x":
          if (row) { const box = row.querySelector("input[name=id]"); box.click(); } else handled = false;
          break;
        case "Enter":
          if (row && t === row) { row.querySelector(".name a").click(); } else handled = false;
          break;
        default: handled = false;
      }
      if (handled) event.preventDefault();
    });
    // a row action replaces the row: keep the keyboard where it was
    document.addEventListener("htmx:beforeSwap", function (event) {
      const target = event.detail.target;
      if (target && target.matches && target.matches("#rows tr.row") && target.classList.contains("current")) {
        body.dataset.refocus = target.id;
      }
    });
    document.addEventListener("htmx:afterSettle", function () {
      const id = body.dataset.refocus;
      if (id) { delete body.dataset.refocus; focusRow(document.getElementById(id)); }
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.addEventListener("change", function (event) {  // delegated: the options are swapped in later
      if (event.target.matches && event.target.matches("select[data-autosubmit]")) event.target.form.submit();
    });
    document.addEventListener("click", function (event) {
      if (event.target.matches && event.target.matches("[data-dismiss]")) {
        document.getElementById("flash").innerHTML = "";
      }
      const row = event.target.closest && event.target.closest("#rows tr.row");
      if (row) { document.querySelectorAll("#rows tr.row.current").forEach(function (r) { r.classList.remove("current"); }); row.classList.add("current"); }
    });
    document.addEventListener("htmx:afterSettle", function (event) { settle(document); });
    document.addEventListener("htmx:sendError", function () {
      document.getElementById("flash").innerHTML = '<div class="flash"><strong>The dashboard is not answering</strong><p>Check your connection, or whether the dashboard is running, and try again.</p></div>';
    });
    selection();
    keys();
    live();
  });
})();
