/* The admin pages' small script: asks before removing, and keeps the device status cells
   live over Server-Sent Events (the server pushes a cell whenever a device's status
   changes; no polling). Everything works without it, only without the live updates. */
(function () {
  "use strict";
  document.addEventListener("submit", function (ev) {
    var f = ev.target;
    var q = f && f.getAttribute && f.getAttribute("data-confirm");
    if (q && !window.confirm(q)) { ev.preventDefault(); }
  });
  var table = document.getElementById("devices");
  if (!table || !window.EventSource) { return; }
  var es = new EventSource(table.getAttribute("data-stream"));
  es.addEventListener("status", function (ev) {
    var d;
    try { d = JSON.parse(ev.data); } catch (e) { return; }
    var cells = table.querySelectorAll("td.devstatus");
    for (var i = 0; i < cells.length; i++) {
      if (cells[i].getAttribute("data-device") === d.id) {
        cells[i].innerHTML = d.html;  // rendered (and escaped) by the server
        cells[i].setAttribute("data-warn", d.warn ? "1" : "0");
      }
    }
  });
  window.addEventListener("pagehide", function () { es.close(); });
})();
