// Browser tests of the pages: Debian's chromium, driven by puppeteer-core,
// against a running server ($CORR2D_URL). Screenshots go to $BROWSER_OUT
// (default: ./out). Any console error fails a test, except the one a test
// provokes on purpose.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import puppeteer from "puppeteer-core";

const here = path.dirname(fileURLToPath(import.meta.url));
const base = (process.env.CORR2D_URL || "http://127.0.0.1:8080").replace(/\/$/, "");
const out = process.env.BROWSER_OUT || path.join(here, "out");
const chromium = process.env.CHROMIUM || "/usr/bin/chromium";

let browser;
let profile;

before(async () => {
  mkdirSync(out, { recursive: true });
  profile = mkdtempSync(path.join(tmpdir(), "corr2d-chromium-"));
  browser = await puppeteer.launch({
    executablePath: chromium,
    headless: true,
    userDataDir: profile,
    // A browser that stops answering fails the run within a minute instead
    // of holding it (puppeteer's own default waits three).
    timeout: 60000,
    protocolTimeout: 60000,
    dumpio: process.env.CHROMIUM_DUMPIO === "1",
    args: [
      "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--disable-background-networking",
      "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
    ],
  });
});

// A clean close can wedge on a browser that crashed or hung; after ten
// seconds the process is killed so that node, and the run, can end.
after(async () => {
  if (browser) {
    const proc = browser.process();
    const closed = browser.close().then(() => true, () => false);
    const inTime = await Promise.race([closed, new Promise((r) => setTimeout(() => r(false), 10000).unref())]);
    if (!inTime) proc?.kill("SIGKILL");
  }
  rmSync(profile, { recursive: true, force: true });
});

// open gives a page that records console errors, page errors and failed
// requests; check() fails the test on any of them.
async function open(t, width = 1280, height = 900) {
  const page = await browser.newPage();
  await page.setViewport({ width, height });
  const problems = [];
  page.on("console", (m) => { if (m.type() === "error") problems.push("console: " + m.text()); });
  page.on("pageerror", (e) => problems.push("page error: " + e.message));
  page.on("requestfailed", (r) => {
    // Chromium's DevTools report a text/event-stream response that the
    // server ended normally as aborted; the page itself sees a clean end
    // (the tests check what it drew from the stream).
    const streamEnd = /\/events$/.test(new URL(r.url()).pathname) && r.failure()?.errorText === "net::ERR_ABORTED";
    if (!streamEnd) problems.push("request failed: " + r.url() + " " + r.failure()?.errorText);
  });
  t.after(() => page.close());
  return {
    page,
    problems,
    check(allowed = []) {
      const left = problems.filter((p) => !allowed.some((re) => re.test(p)));
      assert.deepEqual(left, [], "the page reported errors");
    },
  };
}

const text = (page, sel) => page.$eval(sel, (el) => el.textContent.trim());

// pixels returns a canvas's gray levels as rows.
function pixels(page, sel) {
  return page.$eval(sel, (c) => {
    const d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
    return Array.from({ length: c.height }, (_, i) => Array.from({ length: c.width }, (_, j) => d[4 * (i * c.width + j)]));
  });
}

test("the API reference renders every operation and explains problem types", async (t) => {
  const { page, check } = await open(t);
  const spec = await (await fetch(base + "/openapi.yaml", { signal: AbortSignal.timeout(30000) })).text();
  const operations = spec.match(/^\s+operationId:/gm).length;
  await page.goto(base + "/docs", { waitUntil: "load" });
  await page.waitForSelector("body[data-ready]", { timeout: 30000 });
  await page.waitForSelector(".opblock");
  const blocks = await page.$$eval(".opblock", (els) => els.length);
  assert.equal(blocks, operations, "one block per operation of /openapi.yaml");
  await page.screenshot({ path: path.join(out, "docs.png") });

  // A problem's type URI leads to its explanation on the same page.
  await page.goto(base + "/problems/too-large", { waitUntil: "load" });
  await page.waitForSelector("body[data-ready]", { timeout: 30000 });
  assert.equal(new URL(page.url()).hash, "#problem-too-large");
  await page.waitForSelector("#problem-too-large.target");
  const visible = await page.$eval("#problem-too-large", (el) => {
    const r = el.getBoundingClientRect();
    return r.top >= 0 && r.top < window.innerHeight;
  });
  assert.ok(visible, "the explanation is scrolled into view");
  assert.match(await text(page, "#problem-too-large"), /max_elements/);
  await page.screenshot({ path: path.join(out, "docs-problem.png") });
  check();
});

test("the playground finds d2l's edges and a dropped picture's", async (t) => {
  const { page, check } = await open(t);
  await page.goto(base + "/", { waitUntil: "load" });
  await page.waitForSelector("body[data-ready]");
  await page.click("#run");
  await page.waitForFunction(() => document.getElementById("output-size").textContent === "6\u00d77");
  // [[1, -1]] on d2l's image: 1 (white) at column 1, -1 (black) at column 5,
  // 0 (gray) elsewhere, on every row.
  const edge = await pixels(page, "#output-canvas");
  assert.equal(edge.length, 6);
  for (const row of edge) assert.deepEqual(row, [128, 255, 128, 128, 128, 0, 128]);

  // Drop a 40x30 picture, white above and black below; the transposed
  // kernel finds the one horizontal edge, where white turns black.
  await page.select("#kernel", "edgeT");
  await page.evaluate(async () => {
    const c = document.createElement("canvas");
    c.width = 40;
    c.height = 30;
    const ctx = c.getContext("2d");
    ctx.fillStyle = "#fff";
    ctx.fillRect(0, 0, 40, 15);
    ctx.fillStyle = "#000";
    ctx.fillRect(0, 15, 40, 15);
    const blob = await new Promise((r) => c.toBlob(r, "image/png"));
    const dt = new DataTransfer();
    dt.items.add(new File([blob], "half.png", { type: "image/png" }));
    document.getElementById("drop").dispatchEvent(new DragEvent("drop", { dataTransfer: dt, bubbles: true, cancelable: true }));
  });
  await page.waitForFunction(() => document.getElementById("output-size").textContent === "29\u00d740");
  assert.equal(await text(page, "#input-size"), "30\u00d740");
  const found = await pixels(page, "#output-canvas");
  const rowLevels = found.map((row) => {
    assert.ok(row.every((v) => v === row[0]), "each row is uniform");
    return row[0];
  });
  assert.equal(rowLevels[14], 255, "the edge row is the brightest");
  assert.ok(rowLevels.every((v, i) => i === 14 || v < 255 && v === rowLevels[0]), "every other row is the same, darker level");
  await page.screenshot({ path: path.join(out, "playground-edges.png"), fullPage: true });
  check();
});

test("the playground trains and draws the loss curve to the last step", async (t) => {
  const { page, check } = await open(t);
  await page.goto(base + "/", { waitUntil: "load" });
  await page.waitForSelector("body[data-ready]");
  // d2l's problem: learn [[1, -1]] back, ten steps at lr 0.03 from seed 42.
  await page.click("#train");
  await page.waitForFunction(() => document.getElementById("job-status").textContent === "succeeded", { timeout: 60000 });
  const curve = await page.$eval("#loss-canvas", (c) => ({ ...c.dataset }));
  assert.equal(curve.lastStep, "10");
  assert.equal(curve.points, "10");
  assert.equal(await text(page, "#job-step"), "10");
  assert.equal(Number(await text(page, "#job-loss")).toFixed(3), "0.348");
  assert.deepEqual(JSON.parse(await text(page, "#job-kernel")), [[1.0487, -0.92767]]);

  // A longer run on a picture and its blurred self: the curve reaches the
  // last of 300 steps, drawn as the events arrive.
  await page.select("#kernel", "blur");
  await page.click("#run");
  await page.waitForFunction(() => document.getElementById("output-size").textContent === "4\u00d76");
  await page.select("#problem", "picture");
  await page.$eval("#steps", (el) => { el.value = "300"; });
  const first = await text(page, "#job-id");
  await page.click("#train");
  await page.waitForFunction((first) => document.getElementById("job-id").textContent !== first &&
    document.getElementById("job-status").textContent === "succeeded", { timeout: 120000 }, first);
  const long = await page.$eval("#loss-canvas", (c) => ({ ...c.dataset }));
  assert.equal(long.lastStep, "300");
  assert.equal(long.points, "300");
  await page.screenshot({ path: path.join(out, "playground-training.png"), fullPage: true });
  check();
});

test("the playground shows a problem's detail", async (t) => {
  const { page, check } = await open(t);
  await page.goto(base + "/", { waitUntil: "load" });
  await page.waitForSelector("body[data-ready]");
  await page.select("#kernel", "custom");
  await page.$eval("#custom", (el) => { el.value = "1 2 3 4 5 6 7 8 9"; });
  await page.click("#run");
  await page.waitForSelector("#error:not([hidden])");
  const shown = await text(page, "#error");
  assert.match(shown, /422/);
  assert.match(shown, /kernel/i);
  await page.screenshot({ path: path.join(out, "playground-error.png"), fullPage: true });
  // The browser logs the 422 it was made to provoke; nothing else.
  check([/status of 422/]);
});
