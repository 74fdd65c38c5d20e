// The editor page: while a preview is being made, ask the server every 1.5 s and show it once it is done.
(function () {
  "use strict";
  var panel = document.getElementById("preview");
  if (!panel || panel.dataset.pending !== "true") return;
  var url = panel.dataset.stateUrl;
  var tries = 0;
  function poll() {
    tries += 1;
    fetch(url, {credentials: "same-origin", headers: {"Accept": "application/json"}})
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (state) {
        if (state && !state.pending) {
          window.location.reload();
        } else if (tries < 120) {
          window.setTimeout(poll, 1500);
        }
      })
      .catch(function () { if (tries < 120) window.setTimeout(poll, 3000); });
  }
  window.setTimeout(poll, 1000);
})();
