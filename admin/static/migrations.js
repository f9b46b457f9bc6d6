// Keeps a fleet migration run's page live from its event stream
// (Server-Sent Events); without JavaScript the page shows the counts as of
// its last load.
(function () {
  "use strict";
  var run = document.getElementById("run");
  if (!run || run.dataset.state !== "running" || !window.EventSource) {
    return;
  }
  var hint = run.querySelector(".no-js");
  if (hint) {
    hint.hidden = true;
  }
  var bar = document.getElementById("migrate-progress");
  function set(id, v) {
    var el = document.getElementById(id);
    if (el) {
      el.textContent = String(v);
    }
  }
  function show(p) {
    if (p.total > 0) {
      bar.max = p.total;
      set("migrate-total", p.total);
    }
    bar.value = p.done;
    bar.textContent = p.done + "/" + p.total;
    set("migrate-done", p.done);
    set("migrate-succeeded", p.succeeded);
    set("migrate-failed", p.failed);
  }
  var es = new EventSource(run.dataset.events);
  es.addEventListener("progress", function (e) {
    show(JSON.parse(e.data));
  });
  es.addEventListener("done", function (e) {
    es.close();
    var s = JSON.parse(e.data);
    show(s);
    set("migrate-total", s.total);
    set("migrate-state", s.error ? "Stopped with an error: " + s.error : "Finished in " + s.duration_ms + " ms.");
    // The finished page lists the failed tenants.
    if (s.failed > 0 || s.error) {
      window.location.reload();
    }
  });
  es.onopen = function () {
    set("migrate-state", "Running…");
  };
  es.onerror = function () {
    set("migrate-state", "Lost the live updates; refresh the page to see the latest counts.");
  };
})();
