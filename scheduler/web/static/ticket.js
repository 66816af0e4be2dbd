/* The mobile ticket page: follows the ticket over Server-Sent Events (event `state`:
   the view plus its sentences, rendered by the server), and beeps and vibrates when the
   ticket is called. Sound needs a tap first (browsers allow audio only after a user
   gesture), hence the button. */
(function () {
  "use strict";
  var root = document.documentElement;
  root.classList.remove("no-js");
  root.classList.add("js");
  var body = document.body;
  var cfg = JSON.parse(document.getElementById("tk-config").textContent);
  var T = cfg.text;
  var status = cfg.status;
  var recalls = cfg.recalls;
  var audio = null;
  var es = null;
  var retryTimer = null;
  var connText = document.getElementById("conn-text");
  var button = document.getElementById("sound");

  function isFinal(s) { return cfg.final.indexOf(s) >= 0; }

  function setConn(state) {
    body.setAttribute("data-conn", state);
    connText.textContent = state === "live" ? T.live : state === "ended" ? T.ended : T.offline;
  }

  function beep() {
    if (!audio) return;
    var t = audio.currentTime;
    [0, 0.35, 0.7].forEach(function (dt, i) {
      var osc = audio.createOscillator();
      var gain = audio.createGain();
      osc.type = "sine";
      osc.frequency.value = i === 2 ? 1046.5 : 784;
      gain.gain.setValueAtTime(0.0001, t + dt);
      gain.gain.exponentialRampToValueAtTime(0.5, t + dt + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, t + dt + 0.3);
      osc.connect(gain);
      gain.connect(audio.destination);
      osc.start(t + dt);
      osc.stop(t + dt + 0.32);
    });
  }

  function vibrate() {
    if (navigator.vibrate) {
      try { navigator.vibrate([400, 150, 400, 150, 700]); } catch (e) { /* not allowed */ }
    }
  }

  function apply(msg) {
    var text = msg.text || {};
    var els = document.querySelectorAll("[data-k]");
    for (var i = 0; i < els.length; i++) {
      var k = els[i].getAttribute("data-k");
      if (Object.prototype.hasOwnProperty.call(text, k) && els[i].textContent !== text[k]) {
        els[i].textContent = text[k];
      }
    }
    if (text.title) document.title = text.title;
    var called = msg.status === "called" && (status !== "called" || msg.recalls > recalls);
    status = msg.status;
    recalls = msg.recalls;
    body.setAttribute("data-status", status);
    if (called) { beep(); vibrate(); }
    if (isFinal(status)) {
      if (es) es.close();
      setConn("ended");
    }
  }

  function connect() {
    retryTimer = null;
    es = new EventSource(cfg.events);
    es.addEventListener("state", function (e) {
      setConn("live");
      try { apply(JSON.parse(e.data)); } catch (err) { /* a bad message: keep the page */ }
    });
    es.onopen = function () { if (!isFinal(status)) setConn("live"); };
    es.onerror = function () {
      if (isFinal(status)) return;
      setConn("offline");
      // The browser retries by itself unless the server refused (e.g. restarting).
      if (es.readyState === EventSource.CLOSED && !retryTimer) {
        retryTimer = setTimeout(connect, 5000);
      }
    };
  }

  button.addEventListener("click", function () {
    var Ctx = window.AudioContext || window.webkitAudioContext;
    if (Ctx && !audio) {
      try { audio = new Ctx(); } catch (e) { audio = null; }
    }
    if (audio && audio.state === "suspended") audio.resume();
    button.setAttribute("aria-pressed", "true");
    button.textContent = T.sound_is_on;
    beep();
    vibrate();
  });

  if (isFinal(status)) {
    setConn("ended");
  } else {
    setConn("live");
    connect();
  }
})();
