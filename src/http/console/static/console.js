// The console's only script: copy the webhook URL, draw the chart (uPlot, served
// by ember-sync), and follow a running sync. The page works without it.
'use strict';
(function () {
  // Colours with 3:1 contrast on white (WCAG non-text contrast), told apart by dash too.
  var COLORS = { red_flag: '#c0392b', low_score: '#0b62a4', completion: '#1e7b34', workflow: '#8e44ad', unknown: '#555555' };
  var DASH = { accepted: [], duplicate: [8, 4], quarantined: [2, 3] };

  function setupCopy() {
    var button = document.getElementById('copy-url');
    var input = document.getElementById('webhook-url');
    var status = document.getElementById('copy-status');
    if (!button || !input || !status) return;
    button.hidden = false;
    button.addEventListener('click', function () {
      function done(ok) {
        status.textContent = ok ? 'Copied to the clipboard.' : 'Could not copy: the URL is selected, press Ctrl+C (or ⌘C).';
      }
      function fallback() {
        input.focus();
        input.select();
        var ok = false;
        try {
          ok = document.execCommand('copy');
        } catch (e) {
          ok = false;
        }
        done(ok);
      }
      // The Clipboard API needs a secure context (https, or localhost); elsewhere select and copy.
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(input.value).then(function () { done(true); }, fallback);
      } else {
        fallback();
      }
    });
  }

  function drawChart() {
    var dataEl = document.getElementById('hourly-data');
    var box = document.getElementById('chart');
    if (!dataEl || !box || typeof window.uPlot !== 'function') return;
    var data = JSON.parse(dataEl.textContent || '{}');
    var xs = data.hours.map(function (h) { return Date.parse(h + ':00:00Z') / 1000; });
    var series = [{ label: 'hour (UTC)' }];
    var columns = [xs];
    data.series.forEach(function (s) {
      series.push({
        label: s.type + ' ' + s.outcome,
        stroke: COLORS[s.type] || '#555555',
        width: 2,
        dash: DASH[s.outcome] || [],
        points: { show: true, size: 5 },
        value: function (u, v) { return v == null ? '–' : String(v); },
      });
      columns.push(s.counts);
    });
    if (data.series.length === 0) {
      // An empty window still gets its axes: a flat zero line says "nothing came" better than a blank.
      series.push({ label: 'all webhooks', stroke: '#555555', width: 1, value: function (u, v) { return v == null ? '–' : String(v); } });
      columns.push(xs.map(function () { return 0; }));
    }
    var width = function () { return Math.max(280, box.clientWidth || 600); };
    var U = window.uPlot;
    var plot = new U({
      width: width(),
      height: 280,
      tzDate: function (ts) { return U.tzDate(new Date(ts * 1000), 'Etc/UTC'); },
      scales: { x: { time: true }, y: { range: function (u, min, max) { return [0, Math.max(4, max)]; } } },
      axes: [
        { stroke: '#333333', grid: { stroke: '#e3e3e3' } },
        { stroke: '#333333', grid: { stroke: '#e3e3e3' }, label: 'webhooks', values: function (u, vals) { return vals.map(function (v) { return Number.isInteger(v) ? String(v) : ''; }); } },
      ],
      series: series,
      legend: { live: true },
    }, columns, box);
    window.addEventListener('resize', function () { plot.setSize({ width: width(), height: 280 }); });
    box.dataset.drawn = 'true';
  }

  // While a sync runs, ask every 1.5 s whether it still does; when none does, refresh the targets.
  function followSyncs() {
    var home = document.body.getAttribute('data-home') || './';
    var section = document.getElementById('targets');
    if (!section || !section.querySelector('[data-running="true"]')) return;
    var status = document.getElementById('targets-status');
    if (status) status.textContent = 'A sync is running; this part of the page updates when it ends.';
    function poll() {
      fetch(home + 'console/state', { headers: { accept: 'application/json' }, cache: 'no-store', credentials: 'same-origin' })
        .then(function (res) {
          if (res.status === 401) { window.location.reload(); return undefined; }
          return res.json();
        })
        .then(function (state) {
          if (!state) return;
          var busy = Object.keys(state.targets).some(function (name) { return state.targets[name].running; });
          if (busy) { setTimeout(poll, 1500); return; }
          return fetch(home, { cache: 'no-store', credentials: 'same-origin' })
            .then(function (res) { return res.text(); })
            .then(function (text) {
              var fresh = new DOMParser().parseFromString(text, 'text/html').querySelector('#targets ul.targets');
              var list = section.querySelector('ul.targets');
              if (fresh && list) list.replaceWith(fresh);
              var now = document.getElementById('targets-status');
              if (now) now.textContent = 'The sync ended; the targets below are up to date.';
            });
        })
        .catch(function () { setTimeout(poll, 5000); });
    }
    setTimeout(poll, 1000);
  }

  setupCopy();
  drawChart();
  followSyncs();
})();
