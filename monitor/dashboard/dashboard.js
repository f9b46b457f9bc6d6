// The monitoring page: follows /admin/monitoring/stream and redraws the
// tiles, charts and tables from each sample. No library, no build step.
(function () {
  'use strict';
  var $ = function (id) { return document.getElementById(id); };
  var keep = +document.body.dataset.history || 300;
  var p95Cap = +document.body.dataset.p95Cap || 5000;
  var hist = [];
  var SVG = 'http://www.w3.org/2000/svg';

  // Figures that are not known come as -1 (or, for memory, 0): they show
  // as a dash, never as 0.
  var UNKNOWN = '\u2014';
  function known(x) { return typeof x === 'number' && x >= 0; }
  function bytes(n) {
    if (!known(n)) return UNKNOWN;
    var u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'], i = 0;
    while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
    return i ? n.toFixed(1) + ' ' + u[i] : Math.round(n) + ' B';
  }
  function num(x) { return Number.isInteger(x) ? String(x) : x.toFixed(1); }
  function pct(x) { return known(x) ? (x * 100).toFixed(1) + '%' : UNKNOWN; }
  function cnt(x) { return known(x) ? String(x) : UNKNOWN; }
  // A p95 at the latency histogram's last bound is that or more.
  function p95(x) { return x >= p95Cap ? '\u2265 ' + num(p95Cap) : num(x); }
  function dur(s) {
    s = Math.floor(s);
    var d = Math.floor(s / 86400), h = Math.floor(s % 86400 / 3600), m = Math.floor(s % 3600 / 60);
    s %= 60;
    return d ? d + 'd ' + h + 'h' : h ? h + 'h ' + m + 'm' : m ? m + 'm ' + s + 's' : s + 's';
  }
  function set(id, text) { var e = $(id); if (e) e.textContent = text; }

  var charts = [
    ['chart-rps', function (s) { return s.requests.per_second; }],
    ['chart-p95', function (s) { return s.requests.p95_ms; }],
    ['chart-errors', function (s) { return s.requests.error_rate * 100; }],
    ['chart-dbs', function (s) { return s.connections.open; }],
    ['chart-memory', function (s) { return s.process.rss_bytes / 1048576; }],
    ['chart-cpu', function (s) { return s.process.cpu_percent; }]
  ];

  function draw() {
    charts.forEach(function (c) {
      var svg = $(c[0]);
      if (!svg) return;
      var vals = hist.map(c[1]), peak = Math.max.apply(null, vals.concat([0])), top = peak || 1;
      var n = Math.max(vals.length - 1, 1);
      var pts = vals.map(function (v, i) {
        return (i * 300 / n).toFixed(1) + ',' + (78 - v / top * 74).toFixed(1);
      }).join(' ');
      var line = document.createElementNS(SVG, 'polyline');
      line.setAttribute('points', pts);
      var base = document.createElementNS(SVG, 'line');
      base.setAttribute('x1', 0); base.setAttribute('x2', 300);
      base.setAttribute('y1', 78); base.setAttribute('y2', 78);
      svg.replaceChildren(base, line);
      var label = svg.parentNode.querySelector('figcaption b');
      if (label) label.textContent = vals.length ? num(vals[vals.length - 1]) + ' (max ' + num(peak) + ')' : '';
    });
  }

  function cell(tr, text, href) {
    var td = document.createElement('td');
    if (href) {
      var a = document.createElement('a');
      a.href = href; a.textContent = text; td.appendChild(a);
    } else {
      td.textContent = text;
    }
    tr.appendChild(td);
    return tr;
  }

  function rows(table, items, empty, fill) {
    var body = document.createElement('tbody');
    if (!items.length) {
      var tr = document.createElement('tr'), td = cell(tr, empty).lastChild;
      td.colSpan = 5;
      body.appendChild(tr);
    }
    items.forEach(function (it) { var tr = document.createElement('tr'); fill(tr, it); body.appendChild(tr); });
    $(table).tBodies[0].replaceWith(body);
  }

  function tiles(s) {
    var r = s.requests, c = s.connections, t = s.tenants, p = s.process;
    document.body.dataset.totalRequests = r.total;
    $('rps').dataset.totalRequests = r.total;
    set('rps', num(r.per_second));
    set('requests-total', r.total);
    set('p95', p95(r.p95_ms));
    set('error-rate', pct(r.error_rate));
    set('client-error-rate', pct(r.client_error_rate));
    set('open-dbs', c.open + ' / ' + c.budget);
    set('dbs-in-use', c.in_use);
    set('conn-hit-ratio', pct(c.hit_ratio));
    set('cache-hit-ratio', pct(s.cache.hit_ratio));
    set('cache-entries', s.cache.entries);
    set('tenants-total', cnt(t.total));
    set('tenants-status', cnt(t.active) + ' active · ' + cnt(t.inactive) + ' inactive · ' + cnt(t.suspended) + ' suspended · ' +
      cnt(t.blocked) + ' blocked · ' + cnt(t.maintenance) + ' maintenance');
    set('rss', p.rss_bytes ? bytes(p.rss_bytes) : UNKNOWN);
    set('memory-limit', p.memory_limit_bytes ? bytes(p.memory_limit_bytes) : UNKNOWN);
    set('cpu', num(p.cpu_percent) + '%');
    set('cpus', p.cpus);
    set('cpu-max', p.cpus * 100);
    set('disk-used', !s.disk.data_dir ? UNKNOWN : known(s.disk.used_bytes) ? bytes(s.disk.used_bytes) : 'measuring');
    set('disk-free', bytes(s.disk.free_bytes));
    set('goroutines', s.runtime.goroutines);
    set('heap', bytes(s.runtime.heap_alloc_bytes));
    set('gc', s.runtime.num_gc);
    set('uptime', dur(s.uptime_seconds));
    set('node', s.node);
    rows('top-tenants', s.top_tenants || [], 'No requests yet.', function (tr, x) {
      cell(tr, x.uuid ? x.name : '(unknown)', x.uuid ? '/admin/tenants/' + encodeURIComponent(x.uuid) : '');
      cell(tr, num(x.per_second)); cell(tr, x.total); cell(tr, p95(x.p95_ms)); cell(tr, pct(x.error_rate));
    });
    if (s.alerts_active !== alertsActive) { alertsActive = s.alerts_active; loadAlerts(); }
  }

  var alertsActive = -1;
  function loadAlerts() {
    fetch('alerts', { headers: { Accept: 'application/json' }, credentials: 'same-origin' })
      .then(function (res) { return res.json(); })
      .then(function (env) {
        var a = env.data;
        set('alerts-active', a.active.length + ' active');
        rows('alerts', a.history, a.configured ? 'No alerts.' : 'Alerts are not configured.', function (tr, e) {
          tr.className = e.resolved ? 'resolved' : 'firing';
          cell(tr, new Date(e.at).toISOString().replace('T', ' ').slice(0, 19) + 'Z');
          cell(tr, e.rule); cell(tr, e.message);
          cell(tr, num(e.value) + ' / ' + num(e.threshold)); cell(tr, e.resolved ? 'resolved' : 'firing');
        });
      })
      .catch(function () {});
  }
  setInterval(loadAlerts, 10000);

  function state(text, cls) { var e = $('state'); e.textContent = text; e.className = cls; }

  var es = new EventSource('stream');
  es.onopen = function () { state('live', 'live'); };
  es.onerror = function () { state('reconnecting', 'down'); };
  es.addEventListener('history', function (e) {
    hist = JSON.parse(e.data).slice(-keep);
    if (hist.length) tiles(hist[hist.length - 1]);
    draw();
  });
  es.addEventListener('sample', function (e) {
    var s = JSON.parse(e.data);
    hist.push(s);
    if (hist.length > keep) hist.splice(0, hist.length - keep);
    tiles(s);
    draw();
  });

  $('clear-caches').addEventListener('click', function () {
    fetch('clear-caches', { method: 'DELETE', headers: { Accept: 'application/json' }, credentials: 'same-origin' })
      .then(function (res) { return res.json(); })
      .then(function (env) {
        set('clear-result', env.success ? 'Cleared: ' + env.data.cleared.join(', ') : env.message);
        if (env.success) { hist = []; draw(); }
      })
      .catch(function (err) { set('clear-result', String(err)); });
  });
})();
