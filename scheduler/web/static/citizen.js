// Vuoro booking pages: optional niceties; every page works without this script.
// The details page: count down the time the chosen slot is held.
(function () {
  "use strict";
  var hold = document.getElementById("hold");
  if (hold) {
    var box = hold.querySelector(".countdown");
    var left = hold.querySelector(".left");
    var end = Date.now() + 1000 * parseInt(hold.getAttribute("data-left") || "0", 10);
    box.hidden = false;
    var tick = function () {
      var s = Math.max(0, Math.round((end - Date.now()) / 1000));
      left.textContent = Math.floor(s / 60) + ":" + String(s % 60).padStart(2, "0");
      if (s <= 0) {
        hold.classList.add("gone");
        box.textContent = hold.getAttribute("data-gone");
        clearInterval(timer);
      }
    };
    var timer = setInterval(tick, 1000);
    tick();
  }
  // Move the focus to an error message, so screen readers read it first.
  var err = document.getElementById("error");
  if (err) { err.focus(); }
})();
