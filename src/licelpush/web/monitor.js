// licelpush monitor page: polls /api/live twice a second and /api/curtain every few
// seconds; draws each channel's latest profile (log scale) and its curtain. Read-only.
"use strict";
const LIVE_MS = 500, CURTAIN_MS = 5000;
const VIRIDIS = [[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]];
let lastSeq = -1, lastLive = null, lastCurtains = null;
const $ = (id) => document.getElementById(id);

function colour(t) {  // 0..1 -> viridis-like rgb
  const x = Math.min(Math.max(t, 0), 1) * (VIRIDIS.length - 1), i = Math.min(Math.floor(x), VIRIDIS.length - 2);
  const f = x - i, a = VIRIDIS[i], b = VIRIDIS[i + 1];
  return [0, 1, 2].map((k) => Math.round(a[k] + f * (b[k] - a[k])));
}

function keyId(key) { return "ch-" + key.join("-").replace(/[^A-Za-z0-9-]/g, "_"); }

function card(ch) {
  const id = keyId(ch.key);
  let el = $(id);
  if (el) return el;
  el = document.createElement("div");
  el.className = "channel"; el.id = id;
  el.innerHTML = '<h2 class="channel-label"></h2><div class="meta"></div><div class="plots">' +
    '<canvas class="profile" width="200" height="260"></canvas>' +
    '<canvas class="curtain" width="340" height="260"></canvas></div>';
  el.querySelector("h2").textContent = `${ch.wavelength_nm}.${ch.polarisation} ${ch.type} TR${ch.recorder ?? "?"}`;
  el.dataset.label = ch.label;
  $("channels").appendChild(el);
  return el;
}

function fmtBytes(n) {
  if (n === null || n === undefined) return "–";
  const units = ["B", "kB", "MB", "GB", "TB"]; let i = 0;
  while (n >= 1000 && i < units.length - 1) { n /= 1000; i++; }
  return n.toFixed(i ? 1 : 0) + " " + units[i];
}

function fmtClipping(c) {
  // the journal counts clipped records; status.json counts them per channel
  if (c === null || c === undefined) return "–";
  if (typeof c !== "object") return String(c);
  const parts = Object.entries(c).map(([channel, n]) => `${channel}: ${n}`);
  return parts.length ? parts.join(", ") : "0";
}

function showHealth(h) {
  const state = $("h-state");
  state.textContent = h.state + (h.reason ? ` (${h.reason})` : "") + (h.next_window_utc ? ` until ${h.next_window_utc}` : "");
  state.className = "state-" + h.state;
  $("h-age").textContent = h.last_record_age_s === null || h.last_record_age_s === undefined ? "–" : h.last_record_age_s + " s ago";
  $("h-rate").textContent = h.rate_hz ? h.rate_hz.toFixed(2) + " Hz" : "–";
  $("h-acq").textContent = h.acquisitions ?? "–";
  $("h-reconnects").textContent = h.reconnects ?? "–";
  $("h-quarantine").textContent = fmtBytes(h.quarantined_bytes);
  $("h-clipping").textContent = fmtClipping(h.clipping);
  $("h-free").textContent = fmtBytes(h.free_bytes) + (h.time_to_full_s ? ` (full in ${(h.time_to_full_s / 3600).toFixed(1)} h)` : "");
  $("h-more").textContent = `health from ${h.source}` + (h.run_id ? `, run ${h.run_id}` : "") +
    (h.controller ? `, controller ${h.controller}` : "") + (h.dark ? ", dark measurement" : "");
  const ul = $("h-warnings"); ul.textContent = "";
  for (const w of h.warnings || []) { const li = document.createElement("li"); li.textContent = w; ul.appendChild(li); }
}

function drawProfile(el, ch) {
  const cv = el.querySelector("canvas.profile"), g = cv.getContext("2d"), W = cv.width, H = cv.height;
  const rcs = $("rcs").checked, pts = [];
  ch.values.forEach((v, i) => {
    const r = ch.range_km[i];
    if (v === null || r === null) return;
    const y = rcs ? (r < 0 ? null : v * r * r) : v;
    if (y !== null && y > 0) pts.push([y, r]);
  });
  g.fillStyle = "white"; g.fillRect(0, 0, W, H);
  const top = ch.range_km[ch.range_km.length - 1] || 1;
  el.querySelector(".meta").textContent = `${ch.device_id}, laser ${ch.laser}, ${ch.shots} shots, ` +
    `unit ${ch.unit}${rcs ? " km²" : ""}, bin shift ${ch.bin_shift}` + (ch.clipped_rows.length ? ", CLIPPED" : "");
  if (!pts.length) return;
  let lo = Math.min(...pts.map((p) => p[0])), hi = Math.max(...pts.map((p) => p[0]));
  lo = Math.log10(lo); hi = Math.log10(hi); if (hi - lo < 1) lo = hi - 1;
  const x = (v) => 30 + (Math.log10(v) - lo) / (hi - lo) * (W - 36), y = (r) => H - 16 - r / top * (H - 24);
  g.strokeStyle = "#999"; g.strokeRect(30, 8, W - 36, H - 24);
  g.fillStyle = "#444"; g.font = "10px sans-serif";
  g.fillText(top.toFixed(0) + " km", 0, 14); g.fillText("0", 18, H - 16);
  g.fillText("1e" + lo.toFixed(0), 30, H - 3); g.fillText("1e" + hi.toFixed(0), W - 34, H - 3);
  g.strokeStyle = "#1f4e9c"; g.beginPath();
  pts.forEach((p, i) => (i ? g.lineTo(x(p[0]), y(p[1])) : g.moveTo(x(p[0]), y(p[1]))));
  g.stroke();
  g.fillStyle = "magenta";
  for (const row of ch.clipped_rows) { const r = ch.range_km[row]; if (r !== null) g.fillRect(W - 10, y(r) - 1, 6, 3); }
}

function drawCurtain(c) {
  const el = $(keyId(c.key)); if (!el) return;
  const cv = el.querySelector("canvas.curtain"), g = cv.getContext("2d");
  const bytes = Uint8Array.from(atob(c.data), (ch) => ch.charCodeAt(0));
  const img = g.createImageData(c.columns, c.rows);
  for (let col = 0; col < c.columns; col++) {
    for (let row = 0; row < c.rows; row++) {
      const v = bytes[col * c.rows + row], o = ((c.rows - 1 - row) * c.columns + col) * 4;
      const rgb = v === 0 ? [255, 255, 255] : v === 255 ? [255, 0, 255] : colour((v - 1) / 254);
      img.data[o] = rgb[0]; img.data[o + 1] = rgb[1]; img.data[o + 2] = rgb[2]; img.data[o + 3] = 255;
    }
  }
  const off = document.createElement("canvas"); off.width = c.columns; off.height = c.rows;
  off.getContext("2d").putImageData(img, 0, 0);
  g.imageSmoothingEnabled = false;
  g.fillStyle = "white"; g.fillRect(0, 0, cv.width, cv.height);
  g.drawImage(off, 0, 0, cv.width, cv.height - 14);
  const t0 = new Date(c.t0 * 1000), t1 = new Date((c.t0 + c.column_s * c.columns) * 1000);
  g.fillStyle = "#444"; g.font = "10px sans-serif";
  g.fillText(t0.toISOString().slice(11, 16) + " UTC", 2, cv.height - 3);
  g.fillText(t1.toISOString().slice(11, 16), cv.width - 32, cv.height - 3);
  el.querySelector("canvas.curtain").title = `${c.label}: ${c.unit}, 0–${(c.max_range_m / 1000).toFixed(1)} km, colour ${c.low.toPrecision(2)}–${c.high.toPrecision(2)} (log)`;
}

function showLive(doc) {
  lastLive = doc;
  showHealth(doc.health || {});
  $("directory").textContent = doc.directory || "";
  const rec = doc.record || {};
  if (rec.seq === undefined) return;
  $("site").textContent = rec.site ? "· " + rec.site : "";
  const from = rec.source && rec.source !== rec.name ? ` (${rec.source})` : "";
  $("record").textContent = `record ${rec.name}${from}, start ${rec.start} UTC`;
  $("record").dataset.seq = rec.seq;
  $("record").dataset.name = rec.name;
  if (rec.seq === lastSeq) return;
  lastSeq = rec.seq;
  const before = document.querySelectorAll(".channel").length;
  for (const ch of doc.channels) drawProfile(card(ch), ch);
  if (lastCurtains && document.querySelectorAll(".channel").length !== before) showCurtains(lastCurtains);
}

function showCurtains(doc) { lastCurtains = doc; doc.curtains.forEach(drawCurtain); }

async function poll(url, handle, every) {
  for (;;) {
    try {
      const r = await fetch(url, { cache: "no-store" });
      if (r.ok) handle(await r.json());
    } catch (e) { $("h-state").textContent = "monitor unreachable"; }
    await new Promise((res) => setTimeout(res, every));
  }
}

$("rcs").addEventListener("change", () => { if (lastLive) for (const ch of lastLive.channels) drawProfile(card(ch), ch); });
poll("/api/live", showLive, LIVE_MS);
poll("/api/curtain", showCurtains, CURTAIN_MS);
