"use strict";
// fbgw technician page: the few live parts of otherwise server-rendered pages (every page also works without it).
// Every change goes through api(), which sends the session's CSRF token; live updates come from /api/live (SSE).
// Every word comes from the page's language table (body data-msgs): errors arrive as codes, never as English.
(() => {
  const body = document.body;
  const M = JSON.parse(body.dataset.msgs || "{}");
  const meta = document.querySelector('meta[name="csrf-token"]');
  const csrf = meta ? meta.content : "";
  const $ = (id) => document.getElementById(id);
  const t = (key, vals) => (M[key] || M["err.unknown"] || "").replace(/\{(\w+)\}/g, (_, n) => (vals && n in vals ? vals[n] : ""));
  const kindName = (k) => M["kind." + k] || M["kind.other"];
  const typeName = (k) => M["type." + k] || M["kind.other"];
  const label = (r) => r.name || (M["devices.unnamed"] || "{type}").replace("{type}", typeName(r.type));
  const roomName = (r) => (r ? M["room." + r] || r : M["room.none"]);
  const fmtLeft = (s) => (s < 120 ? t("sec", { s: Math.max(0, Math.round(s)) }) : t("min", { m: Math.floor(s / 60) }));
  const clock = (ts) => new Date(ts * 1000).toLocaleTimeString(body.dataset.lang === "en" ? "en-GB" : "zh-CN");

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "class") node.className = v;
      else if (k.startsWith("data-") || k.startsWith("aria-") || k === "role") node.setAttribute(k, v);
      else node[k] = v;
    }
    for (const c of children) node.append(c instanceof Node ? c : document.createTextNode(String(c)));
    return node;
  }

  class ApiError extends Error {
    constructor(code, params, status) {
      super(code);
      this.code = code;
      this.params = params || {};
      this.status = status;
    }
  }

  async function api(method, url, data) {
    const opts = { method, credentials: "same-origin", headers: { "X-CSRF-Token": csrf, Accept: "application/json" } };
    if (data !== undefined) {
      opts.headers["Content-Type"] = "application/json";
      opts.body = JSON.stringify(data);
    }
    let r;
    try { r = await fetch(url, opts); } catch (e) { throw new ApiError("network"); }
    let j = {};
    try { j = await r.json(); } catch (e) { /* not JSON */ }
    if (r.status === 401) { windowClosed(); throw new ApiError("signed_out", {}, 401); }
    if (r.status === 403 && !j.code) throw new ApiError("csrf", {}, 403);
    if (!r.ok) throw new ApiError(j.code || "unknown", j.params, r.status);
    return j;
  }

  // An error in the page's language: the code's sentence, with the radio and reason put into words too.
  function errText(e) {
    if (!(e instanceof ApiError)) return t("err.unknown");
    const p = { ...e.params };
    if (p.radio) p.radio = M["transport." + p.radio] || p.radio;
    if (p.reason) p.reason = M[p.reason] || t("reason.unknown");
    if (p.field) p.field = p.field.split(", ").map((f) => M["field." + f.split(".")[0]] || M["field.body"]).join("、");
    return M["err." + e.code] ? t("err." + e.code, p) : t("err.unknown");
  }

  let flashTimer = null;
  function flash(msg, bad) {
    const f = $("flash");
    if (!f) return;
    f.textContent = msg;
    f.className = bad ? "flash bad" : "flash";
    f.setAttribute("role", bad ? "alert" : "status");
    f.hidden = false;
    clearTimeout(flashTimer);
    flashTimer = setTimeout(() => { f.hidden = true; }, bad ? 10000 : 4000);
  }
  const fail = (e) => flash(t("error") + errText(e), true);

  // ---------------------------------------------------------------- install window: warn at 10 and 2 minutes
  let windowDeadline = Date.now() + Number(body.dataset.windowS || 0) * 1000;
  let windowExt = Number(body.dataset.windowExt || 0);
  let windowIsClosed = false;
  function windowClosed() {
    if (windowIsClosed || !$("window-warn")) return;
    windowIsClosed = true;
    const w = $("window-warn");
    w.className = "banner urgent";
    $("window-text").textContent = t("win.closed");
    $("window-extend").hidden = true;
    $("window-signin").hidden = false;
    w.hidden = false;
    releaseWake();
  }
  function windowTick() {
    if (windowIsClosed || !$("window-warn") || !csrf) return;
    const left = (windowDeadline - Date.now()) / 1000;
    const w = $("window-warn");
    if (left <= 0) { windowClosed(); return; }
    if (left > 600) { w.hidden = true; return; }
    const urgent = left <= 120;
    w.className = "banner " + (urgent ? "urgent" : "warn");
    // in 10-second steps: the banner is an alert, and a screen reader should not hear it every second
    const text = urgent ? t("win.urgent", { s: Math.ceil(left / 10) * 10 }) : t("win.warn", { m: Math.ceil(left / 60) });
    if ($("window-text").textContent !== text) $("window-text").textContent = text;
    $("window-extend").hidden = windowExt <= left + 30;
    w.hidden = false;
  }
  function windowSet(remaining, ext) {
    windowDeadline = Date.now() + remaining * 1000;
    if (ext !== undefined) windowExt = ext;
    windowTick();
  }
  if ($("window-extend")) {
    $("window-extend").addEventListener("click", async () => {
      try {
        const r = await api("POST", "/api/window", { seconds: Number(body.dataset.windowAsk) || 3600 });
        windowSet(r.seconds, r.extendable_s);
        flash(t("win.extended", { m: Math.floor(r.seconds / 60) }));
      } catch (e) { fail(e); }
    });
    setInterval(windowTick, 1000);
    setInterval(async () => {
      try {
        const st = await api("GET", "/api/overview");
        windowSet(st.window.remaining_s, st.window.extendable_s);
        if (!st.window.open) windowClosed();
      } catch (e) { /* shown by the banner already */ }
    }, 30000);
    windowTick();
  }

  // ---------------------------------------------------------------- screen wake lock (pairing, testing)
  let wake = null;
  let wantWake = false;
  async function holdWake() {
    wantWake = true;
    if (wake || !("wakeLock" in navigator)) return;
    try {
      wake = await navigator.wakeLock.request("screen");
      body.dataset.wake = "1";
      wake.addEventListener("release", () => { wake = null; body.dataset.wake = "0"; });
    } catch (e) { /* not allowed (battery saver, not visible): the screen may dim */ }
  }
  function releaseWake() {
    wantWake = false;
    if (wake) wake.release();
    wake = null;
  }
  document.addEventListener("visibilitychange", () => {
    if (wantWake && document.visibilityState === "visible") holdWake();
  });

  // ---------------------------------------------------------------- live stream, with a "connection lost" notice
  function live(handlers) {
    const es = new EventSource("/api/live");
    for (const [kind, fn] of Object.entries(handlers)) {
      es.addEventListener(kind, (e) => { try { fn(JSON.parse(e.data)); } catch (err) { console.error(err); } });
    }
    es.addEventListener("hello", (e) => {
      const h = JSON.parse(e.data);
      if (typeof h.window_s === "number") windowSet(h.window_s);
    });
    es.addEventListener("overflow", () => location.reload());
    es.onopen = () => { if ($("offline")) $("offline").hidden = true; };
    es.onerror = () => {
      if (windowIsClosed) { es.close(); return; }
      if ($("offline")) $("offline").hidden = false;
      if (es.readyState === EventSource.CLOSED) {
        setTimeout(async () => {
          try { await api("GET", "/api/overview"); location.reload(); } catch (e) { /* banner says why */ }
        }, 3000);
      }
    };
    return es;
  }

  const formData = (form) => Object.fromEntries(new FormData(form).entries());

  // Room pickers: a list of rooms plus "other", which shows a text field; the value is a room key or the text.
  function setupRooms(root) {
    for (const sel of root.querySelectorAll("select.room-select")) {
      const other = sel.closest("label").nextElementSibling;
      const sync = () => { if (other) other.hidden = sel.value !== "__other"; };
      sel.addEventListener("change", () => { sync(); if (sel.value === "__other") other.querySelector("input").focus(); });
      sync();
    }
  }
  function roomOf(form) {
    const sel = form.querySelector("select.room-select");
    if (!sel) return undefined;
    if (sel.value !== "__other") return sel.value;
    // "other" with nothing typed changes nothing (never clears a room by accident)
    return form.querySelector(`input[name="${sel.name}_other"]`).value.trim() || undefined;
  }
  setupRooms(document);

  // ---------------------------------------------------------------- status
  function statusPage() {
    setInterval(async () => {
      try {
        const st = await api("GET", "/api/overview");
        $("st-outbox").textContent = st.outbox.rows;
        $("st-outbox-age").textContent = st.outbox.oldest_age_s == null ? "—" : fmtLeft(st.outbox.oldest_age_s);
        $("st-uplink").textContent = t("state." + st.uplink.state);
        $("st-uplink").className = "v " + (st.uplink.state === "online" ? "ok" : "bad");
        $("st-devices").textContent = st.devices;
        $("st-window").textContent = fmtLeft(st.window.remaining_s);
      } catch (e) { /* keep the last values; the next tick retries */ }
    }, 5000);
  }

  // ---------------------------------------------------------------- devices: search, live marks
  function devicesPage() {
    const search = $("dev-search");
    search.addEventListener("input", () => {
      const q = search.value.trim().toLowerCase();
      let shown = 0;
      for (const li of document.querySelectorAll("li.dev")) {
        const hit = !q || li.dataset.search.includes(q);
        li.hidden = !hit;
        shown += hit ? 1 : 0;
      }
      for (const sec of document.querySelectorAll("section.room")) {
        sec.hidden = !sec.querySelector("li.dev:not([hidden])");
      }
      $("no-match").hidden = shown > 0;
    });
    live({
      event: (r) => {
        if (!r.device) return;
        const seen = document.querySelector(`[data-seen="${CSS.escape(r.device)}"]`);
        if (seen) seen.textContent = clock(r.at);
        if (!r.action) return;
        const li = $("dev-" + r.device);
        if (li) {
          li.className = "dev ok";
          const mark = li.querySelector(".mark");
          mark.className = "mark ok";
          mark.textContent = "✔ " + t("tested");
        }
        const u = document.querySelector(`#untested-list li[data-id="${CSS.escape(r.device)}"]`);
        if (u) u.remove();
      },
    });
  }

  // ---------------------------------------------------------------- one device
  function devicePage() {
    const card = document.querySelector("article.device");
    const id = card.dataset.id;
    const url = "/api/devices/" + encodeURIComponent(id);
    let testing = false;
    // Live state, battery, signal and last seen: the server words them; take its fresh rendering of the facts.
    let factsTimer = null;
    function refreshFacts() {
      clearTimeout(factsTimer);
      factsTimer = setTimeout(async () => {
        try {
          const r = await fetch(location.pathname, { credentials: "same-origin" });
          if (!r.ok) return;
          const doc = new DOMParser().parseFromString(await r.text(), "text/html");
          const fresh = doc.getElementById("dev-facts");
          if (fresh) $("dev-facts").replaceWith(fresh);
        } catch (e) { /* the next event tries again */ }
      }, 300);
    }
    $("dev-identify").addEventListener("click", async () => {
      try { await api("POST", url + "/identify"); flash(t("identify_sent")); } catch (e) { fail(e); }
    });
    $("dev-test").addEventListener("click", () => {
      testing = true;
      holdWake();
      $("dev-test-state").className = "warn";
      $("dev-test-state").textContent = M["devices.test_hint"] || t("test_hint");
    });
    $("dev-edit").addEventListener("submit", async (e) => {
      e.preventDefault();
      const d = formData(e.target);
      try {
        const r = await api("PATCH", url, { name: d.name, room: roomOf(e.target) });
        $("dev-label").textContent = r.device.name;
        flash(t("saved"));
      } catch (err) { fail(err); }
    });
    const pressCall = $("dev-press-call");
    if (pressCall) {
      pressCall.addEventListener("change", async () => {
        const wanted = pressCall.checked;
        pressCall.disabled = true;
        try {
          const r = await api("PATCH", url, { press_is_call: wanted });
          pressCall.checked = r.device.params.press_is_call === true;
          flash(t("saved"));
        } catch (err) { pressCall.checked = !wanted; fail(err); }
        pressCall.disabled = false;
      });
    }
    $("dev-remove-form").addEventListener("submit", async (e) => {
      e.preventDefault();
      if (!$("dev-remove-confirm").checked) return;
      $("dev-remove").disabled = true;
      try {
        await api("DELETE", url);
        location.href = "/devices";
      } catch (err) { $("dev-remove").disabled = false; fail(err); }
    });
    live({
      event: (r) => {
        if (r.device !== id) return;
        const empty = $("dev-no-events");
        if (empty) empty.remove();
        $("dev-history").prepend(el("li", { "data-kind": r.kind }, el("span", { class: "muted small" }, clock(r.at)), " ",
          kindName(r.kind)));
        refreshFacts();
        if (r.action) {
          $("dev-tested").className = "mark ok";
          $("dev-tested").textContent = "✔ " + t("tested") + " · " + kindName(r.kind);
          if (testing) {
            $("dev-test-state").className = "ok";
            $("dev-test-state").textContent = t("test_ok", { kind: kindName(r.kind) });
            testing = false;
            releaseWake();
          }
        }
      },
    });
  }

  // ---------------------------------------------------------------- add a device: a card per joining device
  function addPage() {
    const box = $("pairing");
    let transport = null;
    let until = 0;
    let state = null;
    const STEPS = ["joined", "interview", "enrolled", "named"];

    function tick() {
      const left = Math.max(0, Math.round((until - Date.now()) / 1000));
      $("countdown").textContent = left > 0 ? t("countdown", { s: left }) : t("closed");
      $("countdown").className = left > 0 ? "badge ok" : "badge";
      if (left > 0) holdWake(); else releaseWake();
    }
    setInterval(tick, 1000);

    function cardFor(c, session) {
      const steps = el("ol", { class: "steps" });
      const done = new Set(c.steps);
      if (c.named) done.add("named");
      if (done.has("ready")) { done.add("joined"); done.add("interview"); done.add("enrolled"); }
      for (const s of STEPS) {
        steps.append(el("li", { class: done.has(s) ? "done" : "", "data-step": s }, t("step." + s)));
      }
      if (c.failed) steps.append(el("li", { class: "failed", "data-step": "failed" }, t("step.failed")));
      const title = c.named ? c.name : t("pairing.new_device") + (c.type ? " · " + typeName(c.type) : "");
      const node = el("article", { class: "pcard" + (c.failed ? " failed" : c.named ? " done" : ""),
        "data-device": c.device, "data-named": c.named ? "1" : "0" },
      el("div", { class: "row" }, el("b", {}, title), el("span", { class: "spacer" }),
        c.type ? el("span", { class: "badge" }, typeName(c.type)) : ""), steps);
      if (c.failed) node.append(el("p", { class: "error", role: "alert" }, M[c.failed] || t("reason.unknown")));
      if (c.named && c.room !== undefined) node.append(el("p", { class: "muted small" }, roomName(c.room)));
      if (!c.named && c.known && !c.failed) node.append(nameForm(c));
      return node;
    }
    function nameForm(c) {
      const form = el("form", { class: "name-form", "data-device": c.device });
      const name = el("input", { name: "name", maxLength: 64, required: true, value: c.name || "", class: "new-name" });
      form.append(el("label", {}, M["devices.name"] || t("card.save"), name));
      form.append($("card-room").content.cloneNode(true));
      form.append(el("button", { type: "submit", class: "primary new-save" }, t("card.save")));
      setupRooms(form);
      if (c.room) {
        const sel = form.querySelector("select.room-select");
        if ([...sel.options].some((o) => o.value === c.room)) sel.value = c.room;
      }
      form.addEventListener("submit", async (e) => {
        e.preventDefault();
        const body = { name: name.value.trim() };
        const room = roomOf(form);
        if (room) body.room = room; // an empty choice never clears a room
        try {
          await api("PATCH", "/api/devices/" + encodeURIComponent(c.device), body);
          flash(t("saved") + " · " + body.name);
          refresh();
        } catch (err) { fail(err); }
      });
      return form;
    }
    function render(st) {
      state = st;
      until = st.open ? Date.now() + st.remaining_s * 1000 : 0;
      tick();
      const cards = $("cards");
      cards.replaceChildren();
      for (const c of st.cards) cards.append(cardFor(c, st));
      $("cards-title").hidden = st.open || !st.cards.length;
      $("cards-title").textContent = t("pairing.last");
      if (st.open && !st.cards.length) cards.append(el("p", { class: "muted" }, t("pairing.waiting")));
      const failed = $("pair-failed");
      failed.hidden = !st.failed || st.open;
      if (st.failed) failed.textContent = t("err.pairing_failed", { reason: M[st.failed] || t("reason.unknown") });
      renderCandidates(st.candidates);
    }
    function renderCandidates(list) {
      const ul = $("candidates");
      ul.replaceChildren();
      if (!list.length) { $("candidates-box").hidden = true; return; }
      $("candidates-box").hidden = false;
      for (const c of list) {
        const where = c.line != null ? `${t("line")} ${c.line}` : `${t("rssi")} ${c.rssi ?? "—"} dBm`;
        const btn = el("button", { type: "button", class: "cand" },
          el("b", {}, c.kind ? typeName(c.kind) : t("pairing.new_device")), el("span", { class: "spacer" }),
          el("span", { class: "badge" }, where));
        if (c.model) btn.append(el("span", { class: "badge" }, c.model));
        if (c.needs_bindkey) btn.append(el("span", { class: "badge warn" }, t("needs_key")));
        // a device the gateway cannot take (BTHome v1 firmware, a Xiaomi model it has no use for) says so
        if (c.unsupported) btn.append(el("span", { class: "badge warn", "data-why": c.unsupported }, t("unsupported")));
        const li = el("li", { "data-address": c.address }, btn);
        btn.addEventListener("click", () => pick(c, li));
        ul.append(li);
      }
    }
    function pick(c, li) {
      for (const x of document.querySelectorAll("#candidates li")) x.classList.remove("picked");
      li.classList.add("picked");
      $("adopt-form").hidden = false;
      $("adopt-address").value = c.address;
      if (c.kind) $("adopt-type").value = c.kind;
      $("adopt-name").value = "";
      (c.needs_bindkey ? $("adopt-bindkey") : $("adopt-name")).focus();
    }
    async function refresh() {
      if (!transport) return;
      try { render(await api("GET", "/api/pairing/" + encodeURIComponent(transport))); } catch (e) { fail(e); }
    }
    async function choose(btn) {
      for (const b of document.querySelectorAll("#transports button")) {
        b.classList.toggle("on", b === btn);
        b.setAttribute("aria-pressed", b === btn ? "true" : "false");
      }
      transport = btn.dataset.transport;
      box.hidden = false;
      $("pair-transport").textContent = btn.textContent;
      for (const h of document.querySelectorAll(".howto")) h.hidden = h.dataset.for !== transport;
      $("adopt-form").hidden = btn.dataset.adopt !== "1";
      $("adopt-bindkey").closest("label").hidden = btn.dataset.keyed !== "1";
      if (btn.dataset.keyed !== "1") $("adopt-bindkey").value = "";
      $("cards").replaceChildren();
      await refresh();
    }
    for (const b of document.querySelectorAll("#transports button")) b.addEventListener("click", () => choose(b));

    $("pair-start").addEventListener("click", async () => {
      $("pair-failed").hidden = true;
      try {
        const r = await api("POST", `/api/pairing/${encodeURIComponent(transport)}/start`,
          { seconds: Number(box.dataset.seconds) });
        render(r.state);
      } catch (e) {
        until = 0;
        tick();
        $("pair-failed").textContent = errText(e);
        $("pair-failed").hidden = false;
      }
    });
    $("pair-stop").addEventListener("click", async () => {
      try { await api("POST", `/api/pairing/${encodeURIComponent(transport)}/stop`); until = 0; tick(); }
      catch (e) { fail(e); }
    });
    $("adopt-form").addEventListener("submit", async (e) => {
      e.preventDefault();
      const d = formData(e.target);
      d.room = roomOf(e.target) || "";
      delete d.room_other;
      $("adopt-submit").disabled = true;
      try {
        const r = await api("POST", `/api/pairing/${encodeURIComponent(transport)}/adopt`, d);
        flash(t("saved") + " · " + (d.name || typeName(r.device.type)));
        e.target.reset();
        setupRooms(e.target);
        refresh();
      } catch (err) { fail(err); }
      $("adopt-submit").disabled = false;
    });
    // Updates published before the stream was connected are not lost: fetch the state on (re)connect, and
    // now and then while pairing is open.
    live({ pairing: (st) => { if (st.transport === transport) render(st); }, hello: () => refresh() });
    setInterval(() => { if (until > Date.now()) refresh(); }, 5000);
  }

  // ---------------------------------------------------------------- test mode
  function testPage() {
    holdWake();
    const list = $("events");
    const mode = (r) => { $("test-mode-state").textContent = t(r.active ? "test_mode.on" : "test_mode.off"); };
    api("GET", "/api/test-mode").then(mode, () => { $("test-mode").hidden = true; });
    $("test-mode-on").addEventListener("click", async () => {
      try { mode(await api("POST", "/api/test-mode", { minutes: 30 })); } catch (e) { flash(e.message, true); }
    });
    $("test-mode-off").addEventListener("click", async () => {
      try { mode(await api("POST", "/api/test-mode", { minutes: 0 })); } catch (e) { flash(e.message, true); }
    });
    live({
      event: (r) => {
        const empty = $("events-empty");
        if (empty) empty.remove();
        const li = el("li", { id: "ev-" + r.seq, "data-device": r.device || "", "data-kind": r.kind },
          el("b", {}, label(r)), " ", kindName(r.kind),
          el("span", { class: "lat" }, `${t("to_outbox")} ${r.to_outbox_ms} ms`));
        list.prepend(li);
        while (list.children.length > 50) list.lastChild.remove();
        if (r.action && r.device && !document.querySelector(`#tested li[data-device="${CSS.escape(r.device)}"]`)) {
          $("tested").append(el("li", { class: "ok", "data-device": r.device }, "✔ ", el("b", {}, label(r)), " ",
            kindName(r.kind)));
        }
      },
      delivered: (r) => {
        const li = $("ev-" + r.seq);
        if (!li) return;
        li.classList.add("delivered");
        li.querySelector(".lat").textContent =
          `${t("to_outbox")} ${r.to_outbox_ms} ms · ${t("to_broker")} ${r.to_broker_ms} ms`;
      },
    });
  }

  // ---------------------------------------------------------------- acceptance
  function acceptancePage() {
    let last = null;
    const mark = (node, ok) => { if (node) node.className = ok ? "ok" : "bad"; };
    function show(chk) {
      last = chk;
      for (const i of chk.items) {
        const li = $("chk-" + i.key);
        if (!li) continue;
        mark(li, i.ok);
        li.querySelector(".sr").textContent = i.ok ? t("tested") : t("untested");
        li.querySelector(".count").textContent = `(${i.have}/${i.need})`;
        const ev = li.querySelector(".evidence");
        if (i.confirmed) {
          ev.textContent = (M["acc.confirmed_by"] || "{by}: {note}").replace("{by}", i.confirmed.by)
            .replace("{at}", clock(i.confirmed.at)).replace("{note}", i.confirmed.note);
        } else ev.textContent = i.names.join("、");
      }
      mark($("chk-devices"), chk.all_tested);
      mark($("chk-uplink"), chk.uplink.ok);
      const list = $("acc-devices");
      list.replaceChildren();
      for (const d of chk.devices) {
        list.append(el("li", { class: d.tested ? "ok" : "bad", "data-id": d.id },
          el("span", { class: "mark" }, d.tested ? "✔ " + t("tested") : "✘ " + t("untested")), " ", d.name, " ",
          el("span", { class: "muted" }, `${roomName(d.room)} · ${typeName(d.type)}`)));
      }
      if (chk.submitted && chk.submitted.delivered_at) delivered(chk.submitted.event, chk.submitted.delivered_at);
      const v = $("verdict");
      v.className = "verdict " + (chk.passed ? "ok" : "bad");
      v.textContent = chk.passed ? t("passed") : t("failed");
    }
    let pending = null;
    const refresh = () => {
      clearTimeout(pending);
      pending = setTimeout(async () => { try { show(await api("GET", "/api/acceptance")); } catch (e) { fail(e); } }, 150);
    };
    for (const form of document.querySelectorAll("form.manual")) {
      form.addEventListener("submit", async (e) => {
        e.preventDefault();
        const d = formData(form);
        try {
          show(await api("POST", "/api/acceptance/manual", { key: form.dataset.key, note: d.note, by: d.by }));
          flash(t("saved"));
        } catch (err) { fail(err); }
      });
    }
    $("acc-info").addEventListener("submit", async (e) => {
      e.preventDefault();
      const d = formData(e.target);
      try {
        show(await api("POST", "/api/acceptance/info", { household: d.household, installer: d.installer }));
        for (const by of document.querySelectorAll("form.manual input[name=by]")) if (!by.value) by.value = d.installer;
        flash(t("saved"));
      } catch (err) { fail(err); }
    });
    async function send() {
      $("acc-confirm").hidden = true;
      try {
        const r = await api("POST", "/api/acceptance/submit", {});
        const res = $("acc-result");
        res.dataset.event = r.event;
        res.textContent = t("sent_wait", { verdict: r.passed ? t("passed") : t("failed") });
        res.className = r.passed ? "ok" : "bad";
        if (deliveredAt[r.event]) delivered(r.event, deliveredAt[r.event]);
      } catch (e) { fail(e); }
    }
    // The platform's acknowledgement may beat the answer to the submit itself: remember it either way.
    const deliveredAt = {};
    function delivered(event, at) {
      deliveredAt[event] = at;
      const res = $("acc-result");
      if (res.dataset.event !== event) return;
      res.textContent = t("sent_ok", { time: clock(at) });
      res.dataset.delivered = "1";
    }
    $("acc-submit").addEventListener("click", async () => {
      let chk = last;
      try { chk = await api("GET", "/api/acceptance"); show(chk); } catch (e) { /* use what we have */ }
      if (chk && !chk.passed) {
        const missing = [...chk.missing];
        if (!chk.all_tested) missing.push(M["acc.devices"] || "");
        if (!chk.uplink.ok) missing.push(M["acc.uplink"] || "");
        $("acc-confirm-text").textContent = t("confirm_fail", { items: missing.filter(Boolean).join("、") });
        $("acc-confirm").hidden = false;
        $("acc-cancel").focus();
        return;
      }
      send();
    });
    $("acc-submit-anyway").addEventListener("click", send);
    $("acc-cancel").addEventListener("click", () => { $("acc-confirm").hidden = true; });
    $("acc-reset").addEventListener("click", async () => {
      if (!window.confirm(M["acc.reset_confirm"] || "")) return;
      try { show(await api("POST", "/api/acceptance/reset", {})); flash(t("reset_done")); } catch (e) { fail(e); }
    });
    live({
      event: refresh,
      delivered: refresh,
      submitted: (s) => delivered(s.event, s.delivered_at),
    });
    setInterval(refresh, 10000);
  }

  const pages = {
    status: statusPage, devices: () => ($("dev-search") ? devicesPage() : devicePage()),
    add: addPage, test: testPage, acceptance: acceptancePage,
  };
  document.addEventListener("DOMContentLoaded", () => {
    const init = pages[body.dataset.page];
    if (init) init();
  });
})();
