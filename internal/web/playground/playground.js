// The playground: correlate a picture with a kernel on this server, and
// train a kernel while its loss curve draws live from the job's events.
// Plain browser JavaScript, no libraries: the server embeds this file.
"use strict";
(function () {
  const $ = (id) => document.getElementById(id);

  const KERNELS = {
    edge: [[1, -1]],
    edgeT: [[1], [-1]],
    sobel: [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]],
    blur: [[1 / 9, 1 / 9, 1 / 9], [1 / 9, 1 / 9, 1 / 9], [1 / 9, 1 / 9, 1 / 9]],
  };
  // A dropped picture is scaled down to fit this many pixels a side, so
  // that a phone photo stays a quick request.
  const MAX_SIDE = 256;

  const state = { input: d2lImage(), output: null, job: null, stream: null, points: [] };

  // d2l's 6x8 image: white (1) with a black (0) band in the middle columns.
  function d2lImage() {
    return Array.from({ length: 6 }, () => [1, 1, 0, 0, 0, 0, 1, 1]);
  }

  // correlate is d2l's corr2d, used only to make the seed problem's target.
  function correlate(x, k) {
    const h = x.length - k.length + 1, w = x[0].length - k[0].length + 1;
    return Array.from({ length: h }, (_, i) => Array.from({ length: w }, (_, j) => {
      let s = 0;
      for (let a = 0; a < k.length; a++) for (let b = 0; b < k[0].length; b++) s += x[i + a][j + b] * k[a][b];
      return s;
    }));
  }

  function headers(extra) {
    const h = Object.assign({}, extra);
    const token = $("token").value.trim();
    if (token) h.Authorization = "Bearer " + token;
    return h;
  }

  class ProblemError extends Error {
    constructor(status, problem) {
      super(problem && problem.detail ? problem.detail : "HTTP " + status);
      this.status = status;
      this.problem = problem;
    }
  }

  async function problemOf(resp) {
    const text = await resp.text();
    try {
      return new ProblemError(resp.status, JSON.parse(text));
    } catch (_) {
      return new ProblemError(resp.status, { status: resp.status, detail: text.slice(0, 300) || resp.statusText });
    }
  }

  async function api(method, path, body) {
    const init = { method, headers: headers({ Accept: "application/json" }) };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    const resp = await fetch(path, init);
    if (!resp.ok) throw await problemOf(resp);
    return resp.status === 204 ? null : resp.json();
  }

  function showError(e) {
    const box = $("error");
    const p = e.problem;
    if (p) {
      const ptr = p.errors && p.errors[0] && p.errors[0].pointer;
      const where = ptr && !String(p.detail).includes(ptr) ? " at " + ptr : "";
      box.textContent = (p.title || "Error") + " (" + (p.status || e.status) + "): " + p.detail + where;
    } else {
      box.textContent = e.message;
    }
    box.hidden = false;
  }

  function clearError() {
    $("error").hidden = true;
    $("error").textContent = "";
  }

  // draw shows a matrix as a grayscale picture. Values of one sign run from
  // black (0) to white (the largest); signed values are centred on gray,
  // so that an edge map shows both kinds of edge.
  function draw(canvas, m) {
    const h = m.length, w = m[0].length;
    let lo = Infinity, hi = -Infinity;
    for (const row of m) for (const v of row) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
    const signed = lo < 0;
    const span = signed ? Math.max(-lo, hi) || 1 : hi || 1;
    canvas.width = w;
    canvas.height = h;
    const ctx = canvas.getContext("2d");
    const img = ctx.createImageData(w, h);
    for (let i = 0; i < h; i++) {
      for (let j = 0; j < w; j++) {
        const v = m[i][j];
        const g = Math.round(signed ? 127.5 + 127.5 * (v / span) : 255 * (v / span));
        const o = 4 * (i * w + j);
        img.data[o] = img.data[o + 1] = img.data[o + 2] = Math.max(0, Math.min(255, g));
        img.data[o + 3] = 255;
      }
    }
    ctx.putImageData(img, 0, 0);
    return { lo, hi };
  }

  function showInput() {
    draw($("input-canvas"), state.input);
    $("input-size").textContent = state.input.length + "\u00d7" + state.input[0].length;
  }

  function fmt(v) {
    return Number(v).toPrecision(4).replace(/\.?0+$/, "").replace(/\.?0+e/, "e");
  }

  function kernel() {
    const name = $("kernel").value;
    if (name !== "custom") return KERNELS[name];
    const rows = $("custom").value.trim().split(/\n+/).map((line) => line.trim().split(/[\s,;]+/).map(Number));
    if (rows.some((r) => r.some((v) => !Number.isFinite(v)))) throw new Error("The custom kernel must be numbers, one row per line.");
    return rows;
  }

  async function runCorrelate() {
    clearError();
    try {
      const res = await api("POST", "/corr2d", { input: state.input, kernel: kernel() });
      state.output = res.output;
      const { lo, hi } = draw($("output-canvas"), res.output);
      $("output-size").textContent = res.output.length + "\u00d7" + res.output[0].length;
      $("output-range").textContent = "(values " + fmt(lo) + " to " + fmt(hi) + ")";
    } catch (e) {
      showError(e);
    }
  }

  async function loadPicture(file) {
    clearError();
    try {
      const bitmap = await createImageBitmap(file);
      const scale = Math.min(1, MAX_SIDE / Math.max(bitmap.width, bitmap.height));
      const w = Math.max(1, Math.round(bitmap.width * scale)), h = Math.max(1, Math.round(bitmap.height * scale));
      const c = document.createElement("canvas");
      c.width = w;
      c.height = h;
      const ctx = c.getContext("2d");
      // Composite over white and take the luma, as the server reads a PNG.
      ctx.fillStyle = "#fff";
      ctx.fillRect(0, 0, w, h);
      ctx.drawImage(bitmap, 0, 0, w, h);
      const px = ctx.getImageData(0, 0, w, h).data;
      state.input = Array.from({ length: h }, (_, i) => Array.from({ length: w }, (_, j) => {
        const o = 4 * (i * w + j);
        return (0.299 * px[o] + 0.587 * px[o + 1] + 0.114 * px[o + 2]) / 255;
      }));
      state.output = null;
      showInput();
      await runCorrelate();
    } catch (e) {
      showError(e.problem ? e : new Error("Could not read that picture: " + e.message));
    }
  }

  // ---- training ----

  function trainRequest() {
    const steps = Number($("steps").value), lr = Number($("lr").value);
    if ($("problem").value === "seed") {
      const x = d2lImage();
      return { input: x, target: correlate(x, KERNELS.edge), kernel_size: [1, 2], lr, steps, loss: "sum", seed: 42 };
    }
    if (!state.output) throw new Error("Correlate the picture first: its output is the target.");
    const k = kernel();
    return {
      input: state.input, target: state.output, kernel_size: [k.length, k[0].length],
      lr, steps, loss: "mean", optimizer: { name: "adam" }, seed: 42,
    };
  }

  async function startTraining() {
    clearError();
    if (state.stream) state.stream.abort();
    try {
      const job = await api("POST", "/train", trainRequest());
      state.job = job;
      state.points = [];
      showJob(job.status, 0, null);
      $("job-id").textContent = job.id;
      $("job-kernel").textContent = "\u2014";
      $("cancel").disabled = false;
      drawCurve(job.steps);
      await follow(job.id, job.steps);
    } catch (e) {
      showError(e);
    } finally {
      $("cancel").disabled = true;
    }
  }

  function showJob(status, step, loss) {
    $("job-status").textContent = status;
    $("job-step").textContent = String(step);
    $("job-loss").textContent = loss == null ? "\u2014" : fmt(loss);
  }

  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

  // follow reads the job's Server-Sent Events with fetch, which, unlike
  // EventSource, can send the token. A dropped stream is resumed from the
  // last event's id, so no step is lost or drawn twice.
  async function follow(id, steps) {
    let last = "";
    for (;;) {
      const ctl = new AbortController();
      state.stream = ctl;
      // No Accept: text/event-stream here: Chromium then reports a stream
      // that ended normally as aborted. The server needs no Accept.
      const h = headers({});
      if (last) h["Last-Event-ID"] = last;
      let resp;
      try {
        resp = await fetch("/jobs/" + encodeURIComponent(id) + "/events", { headers: h, signal: ctl.signal });
      } catch (e) {
        if (ctl.signal.aborted) return;
        await sleep(1000);
        continue;
      }
      if (resp.status === 204) return;
      if (!resp.ok) throw await problemOf(resp);
      const reader = resp.body.pipeThrough(new TextDecoderStream()).getReader();
      let buf = "", ended = false;
      try {
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buf += value;
          let cut;
          while ((cut = buf.indexOf("\n\n")) >= 0) {
            const ev = parseEvent(buf.slice(0, cut));
            buf = buf.slice(cut + 2);
            if (!ev) continue;
            if (ev.id) last = ev.id;
            // After the end event the server closes the stream; read on to
            // its close rather than abort it.
            if (onEvent(ev, steps)) ended = true;
          }
        }
      } catch (e) {
        if (ctl.signal.aborted) return;
      }
      if (ended) {
        state.stream = null;
        return;
      }
      await sleep(1000);
    }
  }

  function parseEvent(block) {
    const ev = { name: "message", id: "", data: "" };
    let any = false;
    for (const line of block.split("\n")) {
      if (!line || line[0] === ":") continue;
      const at = line.indexOf(":");
      const field = at < 0 ? line : line.slice(0, at);
      const value = at < 0 ? "" : line.slice(at + 1).replace(/^ /, "");
      if (field === "event") ev.name = value;
      else if (field === "id") ev.id = value;
      else if (field === "data") { ev.data += value; any = true; }
    }
    return any ? ev : null;
  }

  // onEvent applies one event; it returns true at the end of the job.
  function onEvent(ev, steps) {
    const data = JSON.parse(ev.data);
    if (ev.name === "progress") {
      for (const p of data.losses) state.points.push(p);
      showJob(data.status, data.step, data.loss);
      drawCurve(steps);
      return false;
    }
    if (ev.name === "end") {
      showJob(data.status, data.step, data.loss);
      $("job-kernel").textContent = JSON.stringify(roundDeep(data.kernel));
      if (data.error) showError(new Error("The job " + data.status + ": " + data.error));
      drawCurve(steps);
      return true;
    }
    return false;
  }

  function roundDeep(v) {
    return Array.isArray(v) ? v.map(roundDeep) : Number(Number(v).toPrecision(5));
  }

  // drawCurve plots the losses so far against the step, on a log scale
  // when every loss is positive.
  function drawCurve(steps) {
    const c = $("loss-canvas"), ctx = c.getContext("2d");
    const W = c.width, H = c.height, L = 56, R = 12, T = 12, B = 32;
    ctx.clearRect(0, 0, W, H);
    ctx.strokeStyle = "#d0d7de";
    ctx.strokeRect(L, T, W - L - R, H - T - B);
    ctx.fillStyle = "#57606a";
    ctx.font = "12px system-ui, sans-serif";
    ctx.fillText("step", W - R - 26, H - 8);
    const pts = state.points;
    c.dataset.points = String(pts.length);
    c.dataset.lastStep = pts.length ? String(pts[pts.length - 1].step) : "0";
    if (!pts.length) return;
    const log = pts.every((p) => p.loss > 0);
    const f = log ? (v) => Math.log10(v) : (v) => v;
    let lo = Infinity, hi = -Infinity;
    for (const p of pts) { lo = Math.min(lo, f(p.loss)); hi = Math.max(hi, f(p.loss)); }
    if (hi - lo < 1e-12) { hi += 0.5; lo -= 0.5; }
    const x = (s) => L + (W - L - R) * (steps > 1 ? (s - 1) / (steps - 1) : 0.5);
    const y = (v) => T + (H - T - B) * (1 - (f(v) - lo) / (hi - lo));
    ctx.fillText(fmt(log ? 10 ** hi : hi), 4, T + 10);
    ctx.fillText(fmt(log ? 10 ** lo : lo), 4, H - B);
    ctx.fillText("1", L - 3, H - B + 16);
    ctx.fillText(String(steps), W - R - 8 * String(steps).length, H - B + 16);
    ctx.strokeStyle = "#0969da";
    ctx.lineWidth = 2;
    ctx.beginPath();
    // Thousands of steps would draw more segments than pixels: keep about
    // two per pixel column.
    const every = Math.max(1, Math.floor(pts.length / (2 * (W - L - R))));
    pts.forEach((p, i) => {
      if (i % every && i !== pts.length - 1) return;
      if (i === 0) ctx.moveTo(x(p.step), y(p.loss));
      else ctx.lineTo(x(p.step), y(p.loss));
    });
    ctx.stroke();
  }

  // ---- wiring ----

  $("kernel").addEventListener("change", () => {
    $("custom-label").hidden = $("kernel").value !== "custom";
  });
  $("run").addEventListener("click", runCorrelate);
  $("reset").addEventListener("click", () => {
    state.input = d2lImage();
    showInput();
    runCorrelate();
  });
  $("file").addEventListener("change", (e) => {
    if (e.target.files[0]) loadPicture(e.target.files[0]);
  });
  const drop = $("drop");
  drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => {
    e.preventDefault();
    drop.classList.remove("over");
    const file = e.dataTransfer && e.dataTransfer.files[0];
    if (file) loadPicture(file);
  });
  $("problem").addEventListener("change", () => {
    const seed = $("problem").value === "seed";
    $("steps").value = seed ? 10 : 200;
    $("lr").value = seed ? 0.03 : 0.05;
  });
  $("train").addEventListener("click", startTraining);
  $("cancel").addEventListener("click", async () => {
    if (!state.job) return;
    try {
      await api("POST", "/jobs/" + encodeURIComponent(state.job.id) + "/cancel");
    } catch (e) {
      showError(e);
    }
  });

  showInput();
  drawCurve(10);
  document.body.dataset.ready = "true";
})();
