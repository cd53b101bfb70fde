"use strict";
// fbgw technician page: the few live parts of otherwise server-rendered pages.
// Every change goes through api(), which sends the session's CSRF token; live updates come from /api/live (SSE).
(() => {
  const body = document.body;
  const M = JSON.parse(body.dataset.msgs || "{}");
  const meta = document.querySelector('meta[name="csrf-token"]');
  const csrf = meta ? meta.content : "";
  const $ = (id) => document.getElementById(id);
  const t = (key, vals) => (M[key] || key).replace(/\{(\w+)\}/g, (_, n) => (vals && n in vals ? vals[n] : ""));

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "class") node.className = v;
      else if (k.startsWith("data-")) node.setAttribute(k, v);
      else node[k] = v;
    }
    for (const c of children) node.append(c instanceof Node ? c : document.createTextNode(String(c)));
    return node;
  }

  async function api(method, url, data) {
    const opts = { method, credentials: "same-origin", headers: { "X-CSRF-Token": csrf, Accept: "application/json" } };
    if (data !== undefined) {
      opts.headers["Content-Type"] = "application/json";
      opts.body = JSON.stringify(data);
    }
    const r = await fetch(url, opts);
    let j = {};
    try { j = await r.json(); } catch (e) { /* not JSON */ }
    if (r.status === 401) { location.href = "/login"; throw new Error(j.error || "signed out"); }
    if (!r.ok) throw new Error(j.error || r.statusText);
    return j;
  }

  let flashTimer = null;
  function flash(msg, bad) {
    const f = $("flash");
    if (!f) return;
    f.textContent = msg;
    f.className = bad ? "flash bad" : "flash";
    f.hidden = false;
    clearTimeout(flashTimer);
    flashTimer = setTimeout(() => { f.hidden = true; }, bad ? 8000 : 3000);
  }
  const fail = (e) => flash(t("error") + e.message, true);

  function live(handlers) {
    const es = new EventSource("/api/live");
    for (const [kind, fn] of Object.entries(handlers)) {
      es.addEventListener(kind, (e) => { try { fn(JSON.parse(e.data)); } catch (err) { console.error(err); } });
    }
    es.addEventListener("overflow", () => location.reload());
    es.onerror = () => {
      if (es.readyState === EventSource.CLOSED) setTimeout(() => location.reload(), 3000);
    };
    return es;
  }

  const formData = (form) => Object.fromEntries(new FormData(form).entries());

  // ---------------------------------------------------------------- status
  function statusPage() {
    const fmtAge = (s) => (s == null ? "—" : s < 120 ? `${s} s` : `${Math.floor(s / 60)} min`);
    setInterval(async () => {
      try {
        const st = await api("GET", "/api/overview");
        $("st-outbox").textContent = st.outbox.rows;
        $("st-outbox-age").textContent = fmtAge(st.outbox.oldest_age_s);
        $("st-uplink").textContent = t("state." + st.uplink.state);
        $("st-uplink").className = "v " + (st.uplink.state === "online" ? "ok" : "bad");
        $("st-devices").textContent = st.devices;
        $("st-window").textContent = fmtAge(st.window.remaining_s);
      } catch (e) { /* keep the last values; the next tick retries */ }
    }, 5000);
  }

  // ---------------------------------------------------------------- devices
  function devicesPage() {
    for (const form of document.querySelectorAll("form.edit")) {
      form.addEventListener("submit", async (e) => {
        e.preventDefault();
        const d = formData(form);
        try {
          await api("PATCH", "/api/devices/" + encodeURIComponent(form.dataset.id), { name: d.name, room: d.room });
          flash(t("saved"));
          setTimeout(() => location.reload(), 600);
        } catch (err) { fail(err); }
      });
    }
    for (const btn of document.querySelectorAll("button.remove")) {
      btn.addEventListener("click", async () => {
        if (!window.confirm(btn.closest("article").querySelector(".name").textContent + "\n" + t("confirm_remove"))) {
          return;
        }
        btn.disabled = true;
        try {
          await api("DELETE", "/api/devices/" + encodeURIComponent(btn.dataset.id));
          btn.closest("article").remove();
          flash(t("removed"));
        } catch (err) { btn.disabled = false; fail(err); }
      });
    }
  }

  // ---------------------------------------------------------------- add a device
  function addPage() {
    const box = $("pairing");
    let transport = null;
    let until = 0;
    let timer = null;
    const candidates = new Map();

    function tick() {
      const left = Math.max(0, Math.round((until - Date.now()) / 1000));
      $("countdown").textContent = left > 0 ? t("countdown", { s: left }) : t("closed");
      $("countdown").className = left > 0 ? "badge ok" : "badge";
    }
    function setOpen(seconds) {
      until = Date.now() + seconds * 1000;
      tick();
    }
    function addLog(u) {
      const text = `${t("stage." + u.stage)}${u.device ? " · " + u.device : ""}${u.detail ? " · " + u.detail : ""}`;
      $("progress").append(el("li", { class: u.stage, "data-stage": u.stage, "data-device": u.device || "" }, text));
      if (u.stage === "ready" && u.device) askName(u.device, u.info && u.info.name);
    }
    function renderCandidates() {
      const list = $("candidates");
      list.replaceChildren();
      const sorted = [...candidates.values()].sort((a, b) => (b.rssi ?? -999) - (a.rssi ?? -999));
      $("candidates-box").hidden = false;
      if (!sorted.length) list.append(el("li", { class: "muted" }, t("no_candidates")));
      for (const c of sorted) {
        // a radio candidate shows its signal; a wired line (GPIO) shows its chip and line
        const where = c.line != null ? `${c.chip || ""} ${t("line")} ${c.line}` : `${t("rssi")} ${c.rssi ?? "?"} dBm`;
        const li = el("li", { "data-address": c.address },
          el("b", {}, c.name || c.address), el("span", { class: "spacer" }),
          el("span", { class: "badge" }, where));
        if (c.model) li.append(el("span", { class: "badge" }, c.model));
        if (c.needs_bindkey) li.append(el("span", { class: "badge warn" }, t("needs_key")));
        // a device the gateway cannot take (BTHome v1 firmware, a Xiaomi model it has no use for) says why
        if (c.unsupported) li.append(el("span", { class: "badge warn", title: c.unsupported }, t("unsupported")));
        li.addEventListener("click", () => pick(c, li));
        list.append(li);
      }
    }
    function pick(c, li) {
      for (const x of document.querySelectorAll("#candidates li")) x.classList.remove("picked");
      li.classList.add("picked");
      $("adopt-form").hidden = false;
      $("adopt-address").value = c.address;
      if (c.kind) $("adopt-type").value = c.kind;
      $("adopt-name").value = c.name || "";
      if (c.room) $("adopt-room").value = c.room;
      (c.needs_bindkey ? $("adopt-bindkey") : $("adopt-name")).focus();
    }
    function askName(id, name) {
      $("name-form").hidden = false;
      $("name-title").textContent = t("name_room") + " · " + id;
      if ($("new-id").value !== id) $("new-name").value = name || id;
      $("new-id").value = id;
      $("new-name").focus();
    }
    function showState(st) {
      $("progress").replaceChildren();
      candidates.clear();
      for (const c of st.candidates) candidates.set(c.address, c);
      for (const u of st.log) addLog(u);
      if (st.candidates.length) renderCandidates();
      setOpen(st.remaining_s);
    }
    async function choose(btn) {
      for (const b of document.querySelectorAll("#transports button")) b.classList.toggle("on", b === btn);
      transport = btn.dataset.transport;
      box.hidden = false;
      $("pair-transport").textContent = btn.textContent;
      $("adopt-form").hidden = btn.dataset.adopt !== "1";
      $("adopt-bindkey").closest("label").hidden = btn.dataset.keyed !== "1";
      if (btn.dataset.keyed !== "1") $("adopt-bindkey").value = "";
      $("candidates-box").hidden = true;
      $("name-form").hidden = true;
      clearInterval(timer);
      timer = setInterval(tick, 1000);
      try { showState(await api("GET", "/api/pairing/" + encodeURIComponent(transport))); } catch (e) { fail(e); }
    }
    for (const b of document.querySelectorAll("#transports button")) b.addEventListener("click", () => choose(b));

    $("pair-start").addEventListener("click", async () => {
      try {
        const r = await api("POST", `/api/pairing/${encodeURIComponent(transport)}/start`,
          { seconds: Number(box.dataset.seconds) });
        setOpen(r.state.remaining_s || r.seconds);
      } catch (e) { fail(e); }
    });
    $("pair-stop").addEventListener("click", async () => {
      try { await api("POST", `/api/pairing/${encodeURIComponent(transport)}/stop`); until = 0; tick(); }
      catch (e) { fail(e); }
    });
    $("adopt-form").addEventListener("submit", async (e) => {
      e.preventDefault();
      const d = formData(e.target);
      $("adopt-submit").disabled = true;
      try {
        const r = await api("POST", `/api/pairing/${encodeURIComponent(transport)}/adopt`, d);
        flash(t("saved") + " · " + r.device.id);
        if (candidates.delete(d.address)) renderCandidates();
        $("progress").append(el("li", { class: "ready", "data-stage": "ready", "data-device": r.device.id },
          `${t("stage.ready")} · ${r.device.id}`));
      } catch (err) { fail(err); }
      $("adopt-submit").disabled = false;
    });
    $("name-form").addEventListener("submit", async (e) => {
      e.preventDefault();
      const d = formData(e.target);
      try {
        await api("PATCH", "/api/devices/" + encodeURIComponent(d.id), { name: d.name, room: d.room });
        flash(t("saved") + " · " + d.name);
        $("name-form").hidden = true;
        $("new-name").value = "";
      } catch (err) { fail(err); }
    });
    live({
      pairing: (u) => {
        if (u.transport !== transport) return;
        if (u.stage === "open") {
          setOpen(u.remaining_s || 0);
          $("progress").replaceChildren();
          candidates.clear();
        }
        if (u.stage === "closed") { until = 0; tick(); }
        if (u.stage === "candidate") {
          const a = u.info.address || u.device;
          if (a) candidates.set(a, { ...u.info, address: a });
          renderCandidates();
          return;
        }
        addLog(u);
      },
    });
  }

  // ---------------------------------------------------------------- test mode
  function testPage() {
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
          el("b", {}, r.name || r.device || "—"), " ", r.kind,
          el("span", { class: "lat" }, `${t("to_outbox")} ${r.to_outbox_ms} ms`));
        list.prepend(li);
        while (list.children.length > 50) list.lastChild.remove();
        if (r.action && r.device && !document.querySelector(`#tested li[data-device="${CSS.escape(r.device)}"]`)) {
          $("tested").append(el("li", { class: "ok", "data-device": r.device }, el("b", {}, r.name || r.device), " ",
            r.kind));
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
    const mark = (node, ok) => { if (node) node.className = ok ? "ok" : "bad"; };
    function show(chk) {
      for (const i of chk.items) {
        const li = $("chk-" + i.key);
        if (!li) continue;
        mark(li, i.ok);
        const n = li.querySelector(".muted");
        if (n) n.textContent = `(${i.have}/${i.need})`;
      }
      mark($("chk-devices"), chk.all_tested);
      mark($("chk-uplink"), chk.uplink.ok);
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
        try { show(await api("POST", "/api/acceptance/manual", { key: form.dataset.key, note: formData(form).note })); }
        catch (err) { fail(err); }
      });
    }
    $("acc-submit").addEventListener("click", async () => {
      try {
        const r = await api("POST", "/api/acceptance/submit", {});
        $("acc-result").textContent = t("sent") + r.event;
        $("acc-result").className = r.passed ? "ok" : "bad";
      } catch (e) { fail(e); }
    });
    live({ event: refresh, delivered: refresh });
    setInterval(refresh, 10000);
  }

  const pages = { status: statusPage, devices: devicesPage, add: addPage, test: testPage, acceptance: acceptancePage };
  document.addEventListener("DOMContentLoaded", () => {
    const init = pages[body.dataset.page];
    if (init) init();
  });
})();
