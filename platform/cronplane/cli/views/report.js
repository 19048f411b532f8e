
(function () {
  "use strict";
  var PITCH = 16, CW = 13, CH = 20, TOP = 14, BOTTOM = 12, HEIGHT = TOP + CH + BOTTOM;
  var KINDS = ["", "M", "R", "B", "D"];
  var KIND_NAMES = ["scheduled", "manual run", "retry", "backfill", "duplicate delivery"];
  var SVGNS = "http://www.w3.org/2000/svg";
  var data = JSON.parse(document.getElementById("report-data").textContent);
  var state = { team: "", query: "", active: null };
  var grid = document.getElementById("grid");
  var tip = document.getElementById("tip");
  var dialog = document.getElementById("detail");
  var formatters = {};

  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }
  function svg(tag, attrs) {
    var node = document.createElementNS(SVGNS, tag);
    for (var name in attrs) node.setAttribute(name, String(attrs[name]));
    return node;
  }
  function fmtTime(iso, tz) {
    if (!iso) return "-";
    var key = tz || "UTC";
    if (!formatters[key]) {
      var opts = { weekday: "short", day: "2-digit", month: "short", hour: "2-digit", minute: "2-digit",
        second: "2-digit", hour12: false, timeZoneName: "short" };
      try { formatters[key] = new Intl.DateTimeFormat("en-GB", Object.assign({ timeZone: key }, opts)); }
      catch (e) { formatters[key] = new Intl.DateTimeFormat("en-GB", Object.assign({ timeZone: "UTC" }, opts)); }
    }
    var date = new Date(iso);
    return isNaN(date) ? String(iso) : formatters[key].format(date);
  }
  function fmtMs(ms) {
    if (typeof ms !== "number") return "-";
    if (ms < 1000) return Math.round(ms) + " ms";
    if (ms < 60000) return (ms / 1000).toFixed(1) + " s";
    var s = Math.floor(ms / 1000);
    return Math.floor(s / 60) + "m " + String(s % 60).padStart(2, "0") + "s";
  }
  function quote(word) {  // as Python's shlex.quote
    word = String(word);
    return /^[A-Za-z0-9_@%+=:,.\/-]+$/.test(word) ? word : "'" + word.replace(/'/g, "'\"'\"'") + "'";
  }
  function sameAsError(info) {  // audit's note of a failed fire time is the run's error, cut
    return !!(info.run && info.run.error && info.run.error.slice(0, info.note.length) === info.note);
  }

  // -- the model of one cell: what the tooltip and the detail read ----------------------------
  // Cells are [status, run, note, kind] with trailing defaults left out; their times are
  // seconds after the previous cell (``dt``). Runs are [id, status, trigger, scheduled_for,
  // started_at, finished_at - started_at, duration_ms, attempts, request_id, rare fields], times
  // in seconds after ``data.base``; an id "-x" is the scheduled time's key followed by "-x".
  function prepare() {
    data.jobs.forEach(function (job) {
      var t = data.base;
      job.at = job.dt.map(function (d) { t += d; return t; });
    });
  }
  function isoAt(seconds) { return new Date(seconds * 1000).toISOString().replace(".000Z", "Z"); }
  function decodeRun(job, r) {
    var pick = function (i) { return r[i] === undefined ? null : r[i]; };
    var scheduled = pick(3) === null ? null : data.base + r[3];
    var started = pick(4) === null ? null : (scheduled === null ? data.base : scheduled) + r[4];
    var sf = scheduled === null ? null : isoAt(scheduled), sa = started === null ? null : isoAt(started);
    var id = String(r[0]);
    if (id.charAt(0) === "-" && sf) id = sf.replace(/[-:]/g, "") + id;
    var run = { run_id: id, status: data.run_statuses[r[1]], trigger: data.triggers[r[2]] || null,
      scheduled_for: sf, started_at: sa, finished_at: started !== null && pick(5) !== null ? isoAt(started + r[5]) : null,
      duration_ms: pick(6), attempt_count: pick(7) === null ? 0 : r[7], request_id: pick(8) };
    var rare = r[9] || {};
    for (var k in rare) run[k] = rare[k];
    run.brief = !!job.brief && run.status === "succeeded" && run.request_id === null;
    return run;
  }
  function cellInfo(jobIndex, cellIndex) {
    var job = data.jobs[jobIndex], c = job.cells[cellIndex];
    var run = c[1] !== undefined && c[1] >= 0 ? decodeRun(job, job.runs[c[1]]) : null;
    return { job: job, status: data.statuses[c[0]], at: isoAt(job.at[cellIndex]), run: run,
      note: data.notes[c[2] || 0] || "", kind: c[3] || 0 };
  }

  // -- drawing --------------------------------------------------------------------------------
  function sparkline(job) {
    var w = 150, h = 28, s = job.spark, box = svg("svg", { width: w, height: h, "class": "spark",
      role: "img", "aria-label": "duration per run; dashed line p50, orange line p95" });
    if (s && s.points.length) box.appendChild(svg("title", {})).textContent =
      "duration per run (" + s.points.length + " points); p50 " + fmtMs(s.p50) + ", p95 " + fmtMs(s.p95) + ", longest " + fmtMs(s.max);
    if (!s || !s.points.length) return box;
    // The scale stops at twice p95: one timeout must not flatten every other run (taller
    // spikes touch the top).
    var max = Math.max(Math.min(s.max, 2 * s.p95), 1), n = s.points.length, step = n > 1 ? (w - 2) / (n - 1) : 0;
    var y = function (v) { return (h - 2 - (Math.min(v, max) / max) * (h - 5)).toFixed(1); };
    box.appendChild(svg("rect", { x: 0, y: 0, width: w, height: h, fill: "#f6f7f9" }));
    var pts = s.points.map(function (v, i) { return (1 + i * step).toFixed(1) + "," + y(v); }).join(" ");
    box.appendChild(svg("polyline", { points: pts, fill: "none", stroke: "#4a5663", "stroke-width": 1.2 }));
    box.appendChild(svg("line", { x1: 0, x2: w, y1: y(s.p50), y2: y(s.p50), stroke: "#111", "stroke-width": 1,
      "stroke-dasharray": "3 2", "class": "p50" }));
    box.appendChild(svg("line", { x1: 0, x2: w, y1: y(s.p95), y2: y(s.p95), stroke: "#D55E00", "stroke-width": 1.2,
      "class": "p95" }));
    return box;
  }

  function rowInfo(job) {
    var info = el("div", "info"), sum = job.summary;
    info.appendChild(el("div", "job", job.name));
    info.appendChild(el("div", "sub", [job.owner || "no owner", job.schedule].join(" \u00b7 ")));
    var stats = el("div", "stats"), rate = sum.rate === null ? "-" : (sum.rate * 100).toFixed(1) + "%";
    // [before, the figure (bold), after]
    [["", sum.runs, sum.runs === 1 ? " run" : " runs"], ["", rate, " ok"], ["p50 ", fmtMs(sum.p50), ""],
      ["p95 ", fmtMs(sum.p95), ""]].forEach(function (part, i) {
      if (i) stats.appendChild(document.createTextNode(" \u00b7 "));
      stats.appendChild(document.createTextNode(part[0]));
      stats.appendChild(el("b", "", part[1]));
      stats.appendChild(document.createTextNode(part[2]));
    });
    if (sum.missed) { stats.appendChild(document.createTextNode(" \u00b7 ")); stats.appendChild(el("span", "bad", sum.missed + " missed")); }
    info.appendChild(stats);
    if (sum.last_failure) {
      var lf = sum.last_failure;
      var line = el("div", "sub", "last failure " + fmtTime(lf.at, job.tz) + ": " + (lf.error || lf.status));
      line.title = lf.error || lf.status;
      info.appendChild(line);
    }
    if (job.note) info.appendChild(el("div", "note", job.note));
    info.appendChild(sparkline(job));
    return info;
  }

  function rowCells(job, jobIndex) {
    var n = job.cells.length, width = Math.max(n * PITCH + 6, 40);
    var box = svg("svg", { width: width, height: HEIGHT, "class": "cells", role: "group",
      "aria-label": job.name + ": " + n + " cells" });
    var labelEnd = -1e9;
    job.days.forEach(function (d, k) {
      // A separator at every local midnight; its label in full where the day has room for it,
      // as the day of the month where it has less, none where even that would overlap.
      var g = svg("g", { "class": "day" }), x = d[0] * PITCH - 1.5;
      var room = (k + 1 < job.days.length ? job.days[k + 1][0] * PITCH - 1.5 : width) - x;
      g.appendChild(svg("line", { x1: x, x2: x, y1: 0, y2: HEIGHT }));
      var text = room >= 62 ? d[1] : room >= 15 ? d[1].split(" ")[1] : "";
      if (text && x > labelEnd) {
        var label = svg("text", { x: x + 2, y: 10 });
        label.textContent = text;
        g.appendChild(label);
        labelEnd = x + 2 + text.length * 5.6;
      }
      box.appendChild(g);
    });
    for (var i = 0; i < n; i++) {
      var c = job.cells[i], key = data.statuses[c[0]].key;
      var rect = svg("rect", { x: i * PITCH + 1, y: TOP, width: CW, height: CH, fill: "url(#p-" + key + ")",
        "class": "cell s-" + key, "data-j": jobIndex, "data-c": i, tabindex: i === n - 1 ? 0 : -1,
        "aria-describedby": "tip" });
      if (c[3]) {
        rect.setAttribute("rx", 5);
        rect.classList.add("extra");
        var mark = svg("text", { x: i * PITCH + 1 + CW / 2, y: TOP + CH + 10, "class": "mark" });
        mark.textContent = KINDS[c[3]];
        box.appendChild(mark);
      }
      box.appendChild(rect);
    }
    return box;
  }

  function render() {
    var scroll = {};
    grid.querySelectorAll(".row").forEach(function (row) { scroll[row.dataset.job] = row.querySelector(".strip").scrollLeft; });
    grid.textContent = "";
    var byTeam = {};
    data.jobs.forEach(function (job, j) { (byTeam[job.team] = byTeam[job.team] || []).push(j); });
    data.teams.forEach(function (team) {
      var section = el("section", "team");
      section.dataset.team = team;
      var h2 = el("h2", "", team + " ");
      h2.appendChild(el("span", "n", byTeam[team].length + " job" + (byTeam[team].length === 1 ? "" : "s")));
      section.appendChild(h2);
      byTeam[team].forEach(function (j) {
        var job = data.jobs[j], row = el("div", "row");
        row.dataset.job = job.name;
        row.dataset.team = team;
        row.appendChild(rowInfo(job));
        var strip = el("div", "strip");
        strip.appendChild(rowCells(job, j));
        row.appendChild(strip);
        section.appendChild(row);
      });
      grid.appendChild(section);
    });
    if (!data.jobs.length) grid.appendChild(el("p", "empty", "No jobs match."));
    grid.querySelectorAll(".row").forEach(function (row) {
      var strip = row.querySelector(".strip");
      strip.scrollLeft = row.dataset.job in scroll ? scroll[row.dataset.job] : strip.scrollWidth;
    });
    applyFilters();
  }

  function updateCounts() {
    document.querySelectorAll(".chip").forEach(function (chip) {
      var n = data.counts[chip.dataset.status] || 0;
      chip.querySelector(".n").textContent = String(n);
      chip.classList.toggle("zero", !n);
    });
    document.getElementById("generated").textContent = data.generated;
  }

  // -- filters --------------------------------------------------------------------------------
  function applyFilters() {
    var shown = 0, query = state.query.trim().toLowerCase(), active = state.active;
    grid.querySelectorAll("section.team").forEach(function (section) {
      var any = false;
      section.querySelectorAll(".row").forEach(function (row) {
        var visible = (!state.team || row.dataset.team === state.team) &&
          (!query || row.dataset.job.toLowerCase().indexOf(query) >= 0);
        var cells = row.querySelectorAll(".cell");
        if (visible && active) {
          var matching = 0;
          cells.forEach(function (cell) {
            var on = active.has(cell.classList[1].slice(2));
            cell.classList.toggle("dim", !on);
            if (on) matching++;
          });
          visible = matching > 0;
        } else if (!active) {
          cells.forEach(function (cell) { cell.classList.remove("dim"); });
        }
        row.hidden = !visible;
        if (visible) { any = true; shown++; }
      });
      section.hidden = !any;
    });
    document.getElementById("shown").textContent = shown + " of " + data.jobs.length + " jobs shown";
    document.querySelectorAll(".chip").forEach(function (chip) {
      chip.setAttribute("aria-pressed", String(!active || active.has(chip.dataset.status)));
    });
  }
  document.getElementById("team").addEventListener("change", function (e) { state.team = e.target.value; applyFilters(); });
  document.getElementById("search").addEventListener("input", function (e) { state.query = e.target.value; applyFilters(); });
  document.querySelectorAll(".chip").forEach(function (chip) {
    chip.addEventListener("click", function (e) {
      var key = chip.dataset.status, active = state.active;
      if (e.ctrlKey || e.metaKey || e.shiftKey) {
        active = new Set(active || data.statuses.map(function (s) { return s.key; }));
        if (active.has(key)) active.delete(key); else active.add(key);
        state.active = active.size === data.statuses.length || !active.size ? null : active;
      } else {
        state.active = active && active.size === 1 && active.has(key) ? null : new Set([key]);
      }
      applyFilters();
    });
  });
  document.getElementById("reset").addEventListener("click", function () {
    state = { team: "", query: "", active: null };
    document.getElementById("team").value = "";
    document.getElementById("search").value = "";
    applyFilters();
  });

  // -- tooltip --------------------------------------------------------------------------------
  function tipLine(key, value, cls) {
    var line = el("div");
    line.appendChild(el("span", "k", key));
    line.appendChild(el("span", cls || "", value));
    tip.appendChild(line);
  }
  function showTip(rect) {
    var info = cellInfo(+rect.dataset.j, +rect.dataset.c), run = info.run, tz = info.job.tz;
    tip.textContent = "";
    tip.appendChild(el("div", "h", info.job.name + " \u2014 " + info.status.label +
      (info.kind ? " (" + KIND_NAMES[info.kind] + ")" : "")));
    tipLine(info.kind ? "started" : "fire time", fmtTime(info.at, tz));
    if (run) {
      tipLine("run id", run.run_id);
      if (info.kind === 0) tipLine("start", fmtTime(run.started_at, tz));
      tipLine("duration", fmtMs(run.duration_ms));
      tipLine("attempts", String(run.attempt_count));
      if (run.error) tipLine("error", run.error.length > 300 ? run.error.slice(0, 300) + "\u2026" : run.error, "err");
    }
    if (info.note && !sameAsError(info)) tipLine("note", info.note);
    tip.hidden = false;
    var box = rect.getBoundingClientRect(), width = tip.offsetWidth, height = tip.offsetHeight;
    var left = Math.min(Math.max(4, box.left + box.width / 2 - width / 2), window.innerWidth - width - 4);
    var top = box.bottom + 8 + height > window.innerHeight ? box.top - height - 8 : box.bottom + 8;
    tip.style.left = left + "px";
    tip.style.top = Math.max(4, top) + "px";
  }
  function hideTip() { tip.hidden = true; }
  grid.addEventListener("mouseover", function (e) { if (e.target.classList.contains("cell")) showTip(e.target); });
  grid.addEventListener("mouseout", function (e) { if (e.target.classList.contains("cell")) hideTip(); });
  grid.addEventListener("focusin", function (e) {
    if (!e.target.classList.contains("cell")) return;
    grid.querySelectorAll(".cell.current").forEach(function (c) { c.classList.remove("current"); });
    e.target.classList.add("current");
    showTip(e.target);
  });
  grid.addEventListener("focusout", hideTip);

  // -- keyboard: one tab stop per row, arrows move -----------------------------------------------
  function moveTo(from, to) {
    if (!to) return;
    from.setAttribute("tabindex", -1);
    to.setAttribute("tabindex", 0);
    to.focus();
  }
  grid.addEventListener("keydown", function (e) {
    var cell = e.target;
    if (!cell.classList || !cell.classList.contains("cell")) return;
    var cells = Array.prototype.slice.call(cell.parentNode.querySelectorAll(".cell")), i = cells.indexOf(cell);
    if (e.key === "ArrowRight" || e.key === "ArrowLeft") {
      moveTo(cell, cells[i + (e.key === "ArrowRight" ? 1 : -1)]);
    } else if (e.key === "Home" || e.key === "End") {
      moveTo(cell, e.key === "Home" ? cells[0] : cells[cells.length - 1]);
    } else if (e.key === "ArrowDown" || e.key === "ArrowUp") {
      var rows = Array.prototype.slice.call(grid.querySelectorAll(".row")).filter(function (r) { return !r.hidden; });
      var row = rows[rows.indexOf(cell.closest(".row")) + (e.key === "ArrowDown" ? 1 : -1)];
      if (row) {
        var others = row.querySelectorAll(".cell"), at = data.jobs[+cell.dataset.j].at[+cell.dataset.c], best = null;
        others.forEach(function (o) {
          var gap = Math.abs(data.jobs[+o.dataset.j].at[+o.dataset.c] - at);
          if (best === null || gap < best[0]) best = [gap, o];
        });
        if (best) moveTo(cell, best[1]);
      }
    } else if (e.key === "Enter" || e.key === " ") {
      openDetail(cell);
    } else if (e.key === "Escape") {
      hideTip();
      return;
    } else {
      return;
    }
    e.preventDefault();
  });

  // -- detail -----------------------------------------------------------------------------------
  function field(dl, key, value, pre) {
    if (value === undefined || value === null || value === "") return;
    dl.appendChild(el("dt", "", key));
    var dd = el("dd");
    if (pre) dd.appendChild(el("pre", "", value)); else dd.textContent = String(value);
    dl.appendChild(dd);
  }
  function command(body, text) {
    var line = el("div", "cmd"), input = el("input"), button = el("button", "small", "Copy");
    input.readOnly = true;
    input.value = text;
    input.setAttribute("aria-label", "command");
    button.type = "button";
    button.addEventListener("click", function () {
      input.select();
      var done = function () { button.textContent = "Copied"; };
      if (navigator.clipboard && navigator.clipboard.writeText) {
        navigator.clipboard.writeText(text).then(done, function () { document.execCommand("copy"); done(); });
      } else { document.execCommand("copy"); done(); }
    });
    line.appendChild(input);
    line.appendChild(button);
    body.appendChild(line);
  }
  function openDetail(rect) {
    var info = cellInfo(+rect.dataset.j, +rect.dataset.c), run = info.run, tz = info.job.tz, job = info.job.name;
    hideTip();
    dialog.querySelector("h3").textContent = job + " \u2014 " + info.status.label +
      (info.kind ? " (" + KIND_NAMES[info.kind] + ")" : "");
    var body = dialog.querySelector(".body");
    body.textContent = "";
    var dl = el("dl");
    field(dl, info.kind ? "started" : "fire time", fmtTime(info.at, tz) + "  (" + info.at + ")");
    if (!sameAsError(info)) field(dl, "note", info.note);
    if (run) {
      field(dl, "run id", run.run_id);
      field(dl, "status", run.status + (run.stored_status ? " (stored: " + run.stored_status + ")" : ""));
      field(dl, "trigger", run.trigger);
      field(dl, "scheduled for", run.scheduled_for);
      field(dl, "started", run.started_at);
      field(dl, "finished", run.finished_at);
      field(dl, "duration", fmtMs(run.duration_ms));
      field(dl, "attempts", run.attempt_count);
      field(dl, "request id", run.request_id);
      field(dl, "triggered by", run.triggered_by);
      field(dl, "retry of", run.retry_of);
      field(dl, "yielded to", run.yielded_to);
      field(dl, "duplicate of", run.duplicate_of);
      field(dl, "error", run.error, true);
      field(dl, "result", run.result, true);
      if (run.brief) field(dl, "more", "request id and result are left out of this report for busy jobs: the history command below prints them");
    }
    body.appendChild(dl);
    if (run && run.attempts && run.attempts.length) {
      body.appendChild(el("h4", "", "Attempts"));
      run.attempts.forEach(function (a) {
        var box = el("div", "att" + (a.error_type ? " bad" : ""));
        box.appendChild(el("div", "", "#" + a.attempt + " \u00b7 " + (a.started_at || "-") + " \u00b7 " + fmtMs(a.duration_ms) +
          (a.request_id ? " \u00b7 " + a.request_id : "")));
        if (a.error_type || a.error_message) box.appendChild(el("div", "", (a.error_type || "") + ": " + (a.error_message || "")));
        if (a.traceback) box.appendChild(el("pre", "", a.traceback));
        body.appendChild(box);
      });
    }
    body.appendChild(el("h4", "", "Commands"));
    if (run) command(body, "jobctl history " + quote(job) + " --run " + quote(run.run_id));
    if (run && ["failed", "timed_out", "lost"].indexOf(run.status) >= 0) {
      command(body, "jobctl dlq replay " + quote(job) + " --run " + quote(run.run_id));
    }
    if (info.status.key === "missed") command(body, "jobctl backfill " + quote(job) + " --from " + info.at + " --to " + info.at);
    command(body, "jobctl audit " + quote(job) + " --since " + data.since + " --until " + data.until);
    if (!dialog.open) dialog.showModal();
  }
  grid.addEventListener("click", function (e) { if (e.target.classList.contains("cell")) openDetail(e.target); });
  document.getElementById("close").addEventListener("click", function () { dialog.close(); });

  // -- live (jobctl dev): poll the data, redraw when it changed ---------------------------------
  if (data.live) {
    var badge = document.getElementById("live");
    setInterval(function () {
      fetch(data.live.url, { cache: "no-store", credentials: "same-origin" }).then(function (response) {
        if (!response.ok) throw new Error("HTTP " + response.status);
        return response.json();
      }).then(function (fresh) {
        badge.className = "live";
        badge.textContent = "live \u00b7 updated " + fmtTime(fresh.generated, "UTC");
        if (fresh.version !== data.version) {
          fresh.live = data.live;
          data = fresh;
          prepare();
          updateCounts();
          render();
        }
      }).catch(function () { badge.className = "live stale"; badge.textContent = "live \u00b7 not updating"; });
    }, data.live.interval);
  }
  prepare();
  render();
  document.body.dataset.ready = "1";
})();
