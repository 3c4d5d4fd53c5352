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

  var chart = new uPlot({
    width: chartWidth(),
    height: 320,
    scales: { x: { time: false }, mA: { auto: true }, V: { auto: true } },
    axes: [
      { label: "Session time (min:s)", values: function (u, splits) { return splits.map(clock); } },
      { scale: "mA", label: "Current (mA)" },
      { scale: "V", label: "Voltage (V)", side: 1, grid: { show: false } }
    ],
    series: [
      { label: "Time", value: function (u, v) { return clock(v); } },
      { label: "Current (mA)", scale: "mA", stroke: "#0b5a8a", width: 2,
        value: function (u, v) { return v === null || v === undefined ? "—" : v.toFixed(2); } },
      { label: "Voltage (V)", scale: "V", stroke: "#b45309", width: 1.5,
        value: function (u, v) { return v === null || v === undefined ? "—" : v.toFixed(1); } }
    ]
  }, [[], [], []], chartEl);

  window.addEventListener("resize", function () { chart.setSize({ width: chartWidth(), height: 320 }); });

  function draw() {
    var t = times.slice(), i = currents.slice(), v = voltages.slice();
    for (var k = 0; k < tail.length; k++) {
      t.push(Number(tail[k][0])); i.push(Number(tail[k][1])); v.push(Number(tail[k][2]));
    }
    chart.setData([t, i, v]);
    countEl.textContent = String(t.length);
    chartEl.dataset.samples = String(t.length);
  }

  // --- Figures and events --------------------------------------------------------------------
  function show(d) {
    stateEl.textContent = d.finished ? d.status_text : d.phase_text;
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
