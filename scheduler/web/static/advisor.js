/* The advisor tablet (scheduler/web/advisor.py): the live view over Server-Sent Events
   (event `view`: the server-rendered fragment, a one-line summary for screen readers),
   and the action forms sent with fetch (no reload). Without JavaScript every form still
   works (POST, then back to the page). Focus stays where it was across updates. */
(function () {
  "use strict";
  var cfg = JSON.parse(document.getElementById("adv-config").textContent);
  var live = document.getElementById("adv-live");
  var summary = document.getElementById("adv-summary");
  var errorBox = document.getElementById("adv-error");
  var flashBox = document.getElementById("adv-flash");
  var conn = document.getElementById("adv-conn");
  var connText = document.getElementById("adv-conn-text");
  var es = null;
  var skew = 0; // server clock - this clock, ms
  var busy = false;
  var FLASH_MS = 15000; // a success note goes once the desk has moved on
  var flashTimer = setTimeout(function () { show(flashBox, "success", ""); }, FLASH_MS);
  var key = cfg.key; // the fingerprint of the fragment shown

  function setConn(state) {
    conn.hidden = false;
    conn.setAttribute("data-conn", state);
    connText.textContent = state === "live" ? cfg.text.live : cfg.text.offline;
  }

  function show(box, cls, text) {
    box.textContent = "";
    if (!text) return;
    var div = document.createElement("div");
    div.className = cls;
    var para = document.createElement("p");
    para.textContent = text;
    div.appendChild(para);
    box.appendChild(div);
  }

  function tickWaits() {
    var now = Date.now() + skew;
    var els = live.querySelectorAll(".adv-wait[data-since]");
    for (var i = 0; i < els.length; i++) {
      var since = Date.parse(els[i].getAttribute("data-since"));
      if (isNaN(since)) continue;
      var n = Math.max(0, Math.floor((now - since) / 60000));
      var text = els[i].getAttribute("data-fmt").replace("{n}", String(n));
      if (els[i].textContent !== text) els[i].textContent = text;
    }
  }

  function swap(html) {
    var active = document.activeElement;
    var focusId = active && live.contains(active) ? active.id : null;
    var select = document.getElementById("adv-transfer-queue");
    var chosen = select ? select.value : null;
    live.innerHTML = html;
    var again = document.getElementById("adv-transfer-queue");
    if (again && chosen) again.value = chosen;
    if (focusId) {
      var el = document.getElementById(focusId) || document.getElementById("adv-cur-h");
      if (el) el.focus({ preventScroll: true });
    }
    tickWaits();
  }

  function onView(e) {
    var msg;
    try { msg = JSON.parse(e.data); } catch (err) { return; }
    setConn("live");
    if (msg.at) skew = Date.parse(msg.at) - Date.now();
    if (msg.key !== key) {
      key = msg.key;
      swap(msg.html);
    }
    if (summary.textContent !== msg.summary) summary.textContent = msg.summary;
  }

  function connect() {
    es = new EventSource(cfg.events);
    es.addEventListener("view", onView);
    es.onopen = function () { setConn("live"); };
    es.onerror = function () {
      setConn("offline");
      if (es.readyState === EventSource.CLOSED) {
        es = null;
        setTimeout(connect, 3000);
      }
    };
  }

  live.addEventListener("submit", function (ev) {
    var form = ev.target;
    if (!form.classList || !form.classList.contains("adv-act")) return;
    ev.preventDefault();
    if (busy) return;
    busy = true;
    var data = new FormData(form);
    fetch(form.action, {
      method: "POST",
      body: new URLSearchParams(data),
      credentials: "same-origin",
      headers: { "Accept": "application/json", "X-CSRF-Token": cfg.csrf },
    }).then(function (resp) {
      return resp.json().catch(function () { return { ok: false, text: "" }; });
    }).then(function (body) {
      if (body.ok) {
        show(errorBox, "alert", "");
        show(flashBox, "success", body.text);
        clearTimeout(flashTimer);
        flashTimer = setTimeout(function () { show(flashBox, "success", ""); }, FLASH_MS);
        if (!es || es.readyState !== 1) window.location.reload();
      } else {
        show(flashBox, "success", "");
        show(errorBox, "alert", body.text || cfg.text.offline);
      }
    }).catch(function () {
      show(errorBox, "alert", cfg.text.offline);
    }).then(function () { busy = false; });
  });

  document.documentElement.classList.add("js");
  connect();
  setInterval(tickWaits, 20000);
})();
