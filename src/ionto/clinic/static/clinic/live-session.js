/* The live session page: polls /api/sessions/<id>/live about twice a second and moves the
   chart (uPlot), the figures and the events list; sends Stop and "Patient reports pain".

   The session runs on its station whatever this page does: closing it, or losing the
   network, changes nothing but what is shown here. */
(function () {
  "use strict";

  var root = document.getElementById("live-session");
  if (!root || typeof uPlot === "undefined") { return; }

  var POLL_MS = 500;
  var READY_POLL_MS = 1500;
  var FINAL = { completed: 1, stopped: 1, aborted: 1, fault: 1, interrupted: 1 };

  var liveUrl = root.dataset.liveUrl;
  var pageStatus = root.dataset.status;
  var chartEl = document.getElementById("live-chart");
  var countEl = root.querySelector('[data-testid="samples-count"]');
  var stateEl = root.querySelector('[data-testid="session-state"]');
  var statusEl = root.querySelector('[data-testid="session-status"]');
  var feedbackEl = root.querySelector('[data-testid="order-feedback"]');
  var eventsEl = root.querySelector('[data-testid="events"]');

  // The trace saved so far (chunks), and the station's unsaved tail (replaced at each poll).
  var times = [], currents = [], voltages = [];
  var tail = [];
  var lastSeq = -1;
  var lastEventId = Number(eventsEl.dataset.lastEventId || 0);
  var stopped = false;

  function clock(seconds) {
    if (seconds === null || seconds === undefined || isNaN(seconds)) { return "—"; }
    var s = Math.max(0, Math.round(seconds));
    var h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
    var mm = (h ? String(m).padStart(2, "0") : String(m)) + ":" + String(r).padStart(2, "0");
    return h ? h + ":" + mm : mm;
  }

  function fixed(value, digits, unit) {
    return value === null || value === undefined ? "—" : Number(value).toFixed(digits) + " " + unit;
  }

  function setField(name, text) {
    var el = root.querySelector('[data-field="' + name + '"]');
    if (el) { el.textContent = text; }
  }

  // --- The chart -----------------------------------------------------------------------------
  function chartWidth() { return Math.max(320, chartEl.clientWidth || 800); }

  // Both y-axes put zero at the same height: current and voltage change sign together at a
  // reversal, and zeros out of line make the voltage seem to start below zero current.
  var HEADROOM = 1.08;
  var ranges = { mA: [0, 1], V: [0, 1] };

  function extent(values, least) {
    var lo = 0, hi = 0;
    for (var k = 0; k < values.length; k++) {
      var x = values[k];
      if (x === null || isNaN(x)) { continue; }
      if (x < lo) { lo = x; }
      if (x > hi) { hi = x; }
    }
    if (hi - lo < least) { hi = lo + least; }
    return [lo * HEADROOM, hi * HEADROOM];
  }

  function alignZeros(current, voltage) {
    var both = { mA: extent(current, 1), V: extent(voltage, 5) };
    // The share of the height below zero: the larger of the two, so that both fit.
    var below = 0;
    Object.keys(both).forEach(function (key) {
      var lo = both[key][0], hi = both[key][1];
      below = Math.max(below, -lo / (hi - lo));
    });
    Object.keys(both).forEach(function (key) {
      var lo = both[key][0], hi = both[key][1];
      if (below <= 0) { ranges[key] = [0, hi]; return; }
      if (below >= 1) { ranges[key] = [lo, 0]; return; }
      var span = Math.max(hi / (1 - below), -lo / below);
      ranges[key] = [-below * span, (1 - below) * span];
    });
  }

  function scaleRange(key) { return function () { return ranges[key].slice(); }; }

  // The x-axis ticks fall on whole minutes (or 30 s, 2 or 5 minutes, by the time shown).
  var TIME_STEPS = [1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600];

  // With no cursor on the chart the legend shows the latest reading, not blanks.
  var finished = root.dataset.finished === "true";
  function latest(u, sidx) {
    var column = u.data[sidx];
    return column && column.length ? column[column.length - 1] : null;
  }
  function legendNumber(digits) {
    return function (u, v, sidx, idx) {
      if (idx === null || idx === undefined) { v = latest(u, sidx); }
      if (v === null || v === undefined || isNaN(v)) { return "—"; }
      var text = Number(v).toFixed(digits);
      return Number(text) === 0 ? (0).toFixed(digits) : text;  // never "-0.0"
    };
  }
  function legendTime(u, v, sidx, idx) {
    if (idx !== null && idx !== undefined) { return clock(v); }
    v = latest(u, sidx);
    return v === null ? "—" : clock(v) + (finished ? " (end)" : " (latest)");
  }

  var chart = new uPlot({
    width: chartWidth(),
    height: 320,
    scales: {
      x: { time: false },
      mA: { auto: true, range: scaleRange("mA") },
      V: { auto: true, range: scaleRange("V") }
    },
    axes: [
      { label: "Session time (min:s)", incrs: TIME_STEPS, space: 60,
        values: function (u, splits) { return splits.map(clock); } },
      { scale: "mA", label: "Current (mA)" },
      { scale: "V", label: "Voltage (V)", side: 1, grid: { show: false } }
    ],
    series: [
      { label: "Time", value: legendTime },
      { label: "Current (mA)", scale: "mA", stroke: "#0b5a8a", width: 2, value: legendNumber(2) },
      { label: "Voltage (V)", scale: "V", stroke: "#b45309", width: 1.5, value: legendNumber(1) }
    ]
  }, [[], [], []], chartEl);

  window.addEventListener("resize", function () { chart.setSize({ width: chartWidth(), height: 320 }); });

  function draw() {
    var t = times.slice(), i = currents.slice(), v = voltages.slice();
    for (var k = 0; k < tail.length; k++) {
      t.push(Number(tail[k][0])); i.push(Number(tail[k][1])); v.push(Number(tail[k][2]));
    }
    alignZeros(i, v);
    chart.setData([t, i, v]);
    // uPlot refreshes the legend only under the cursor: without one, show the newest values.
    if (chart.cursor.idx === null || chart.cursor.idx === undefined) { chart.setLegend(); }
    countEl.textContent = String(t.length);
    chartEl.dataset.samples = String(t.length);
  }

  // --- Figures and events --------------------------------------------------------------------
  function show(d) {
    finished = Boolean(d.finished);
    stateEl.textContent = d.finished ? d.status_text : d.phase_text;
    // Once over, the status tag says it all: the words stay for screen readers only.
    stateEl.classList.toggle("visually-hidden", finished);
    statusEl.textContent = d.status_text;
    statusEl.className = "tag tag-" + d.status;
    root.dataset.state = d.phase || d.status;
    setField("elapsed", clock(d.elapsed_s));
    setField("remaining", d.finished ? "none" : d.remaining_s === null ? "—" : "about " + clock(d.remaining_s));
    setField("current", fixed(d.current_mA, 1, "mA"));
    if (d.target_mA !== null) { setField("target", fixed(d.target_mA, 1, "mA")); }
    setField("voltage", fixed(d.voltage_V, 1, "V"));
    var planned = d.dose.planned_mA_min ? " of " + d.dose.planned_mA_min.toFixed(0) : "";
    setField("dose", d.dose.total_mA_min.toFixed(1) + planned + " mA·min");
    setField("polarity-dose", d.dose.forward_mA_min.toFixed(1) + " / " + d.dose.reverse_mA_min.toFixed(1) + " mA·min");
    setField("peak", fixed(d.peak_current_mA, 1, "mA"));
    setField("pain", String(d.pain_reports));
  }

  function addEvents(events) {
    if (!events.length) { return; }
    var placeholder = eventsEl.querySelector('[data-placeholder="true"]');
    if (placeholder) { placeholder.remove(); }
    events.forEach(function (e) {
      var li = document.createElement("li");
      li.dataset.code = e.code;
      li.className = "new";
      var time = document.createElement("time");
      time.textContent = clock(e.t_s);
      li.appendChild(time);
      li.appendChild(document.createTextNode(e.text));
      eventsEl.appendChild(li);
      setTimeout(function () { li.className = ""; }, 4000);
    });
    eventsEl.scrollTop = eventsEl.scrollHeight;
  }

  // --- Polling -------------------------------------------------------------------------------
  function feedback(text, isError) {
    feedbackEl.textContent = text;
    feedbackEl.className = "live-feedback" + (isError ? " error" : "");
  }

  function schedule(ms) { if (!stopped) { setTimeout(poll, ms); } }

  function poll() {
    var url = liveUrl + "?after=" + lastSeq + "&events_after=" + lastEventId;
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) {
        if (!r.ok) { throw new Error("HTTP " + r.status); }
        return r.json();
      })
      .then(function (d) {
        d.chunks.forEach(function (chunk) {
          chunk.samples.forEach(function (s) {
            times.push(Number(s[0])); currents.push(Number(s[1])); voltages.push(Number(s[2]));
          });
        });
        lastSeq = d.last_seq;
        tail = d.tail_seq === lastSeq + 1 ? d.tail : [];
        lastEventId = d.last_event_id;
        addEvents(d.events);
        show(d);
        draw();
        if (feedbackEl.dataset.lost) { feedback("", false); delete feedbackEl.dataset.lost; }
        // The buttons and the record form are the page's: reload it when they change.
        var changed = (pageStatus === "ready" && d.status !== "ready") ||
          (!FINAL[pageStatus] && d.finished);
        if (changed) {
          stopped = true;
          setTimeout(function () { window.location.reload(); }, d.finished ? 800 : 0);
          return;
        }
        if (d.more) { schedule(0); }
        else if (!d.finished) { schedule(d.status === "ready" ? READY_POLL_MS : POLL_MS); }
      })
      .catch(function () {
        // The session goes on at the station; only this page lost sight of it.
        feedbackEl.dataset.lost = "1";
        feedback("Connection to the server lost: retrying. The session carries on at the chair.", true);
        schedule(2000);
      });
  }

  // --- Stop and pain -------------------------------------------------------------------------
  root.querySelectorAll("form.live-order").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var order = form.dataset.order;
      var button = form.querySelector("button");
      var token = form.querySelector('input[name="csrfmiddlewaretoken"]').value;
      button.disabled = true;
      fetch(root.dataset[order + "Url"], {
        method: "POST",
        credentials: "same-origin",
        headers: { "X-CSRFToken": token, Accept: "application/json" }
      })
        .then(function (r) { return r.json().then(function (body) { return { ok: r.ok, body: body }; }); })
        .then(function (answer) {
          if (answer.ok) {
            feedback(answer.body.message, false);
            if (order === "stop") {
              root.querySelectorAll("form.live-order button").forEach(function (b) { b.disabled = true; });
              return;
            }
          } else {
            var detail = answer.body.detail && answer.body.detail[0];
            feedback(detail ? detail.message : "Not done: the server refused.", true);
          }
          button.disabled = false;
        })
        .catch(function () {
          feedback("Not sent: the server cannot be reached. Use the device's own stop.", true);
          button.disabled = false;
        });
    });
  });

  poll();
})();
