// The mock-soniox dashboard: a view of the admin API (/__admin/), which stays the only source of
// truth. It reads the event stream (/__admin/events) for live updates and acts through the same
// JSON routes curl would use. No framework, no build step; client data is only ever set as text.
"use strict";

const ADMIN = "/__admin";
const KEEP_ENTRIES = 5000; // journal entries kept in the page (the server keeps its own)
const SHOW_ROWS = 1000; // timeline rows shown at once (the newest that pass the filters)

const view = {
  entries: [], // journal entries, in seq order
  seqs: new Set(),
  connT0: new Map(), // connection id -> time of its first entry seen (the timeline's zero)
  streams: new Set(),
  conns: [],
  fixtures: [],
  settings: {},
  selected: null,
};

const $ = (id) => document.getElementById(id);

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

async function api(method, path, body) {
  const init = { method, headers: { Accept: "application/json" } };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const resp = await fetch(ADMIN + path, init);
  let payload = null;
  try {
    payload = await resp.json();
  } catch (_) {
    payload = null;
  }
  if (!resp.ok) {
    const message = payload && payload.error ? payload.error : `${resp.status} ${resp.statusText}`;
    throw new Error(message);
  }
  return payload;
}

function showError(id, error) {
  const node = $(id);
  node.textContent = error ? String(error.message || error) : "";
  node.hidden = !error;
}

function notice(text) {
  const node = $("notice");
  node.textContent = text || "";
  node.hidden = !text;
}

function clip(text, n) {
  text = String(text);
  return text.length > n ? text.slice(0, n - 1) + "…" : text;
}

// --- live updates ---

function connectEvents() {
  const source = new EventSource(ADMIN + "/events");
  source.addEventListener("hello", () => {
    setLive(true);
    loadJournal();
  });
  source.addEventListener("journal", (ev) => addEntries(JSON.parse(ev.data)));
  source.addEventListener("dropped", (ev) => {
    const { dropped } = JSON.parse(ev.data);
    notice(`${dropped} journal entries were not streamed to this page (it fell behind); ` +
      "reload the page to fetch them from the journal.");
  });
  source.addEventListener("state", (ev) => applyState(JSON.parse(ev.data)));
  source.addEventListener("error", () => setLive(false)); // EventSource reconnects by itself
}

function setLive(on) {
  const pill = $("live");
  pill.textContent = on ? "live" : "reconnecting";
  pill.classList.toggle("off", !on);
}

function applyState(snap) {
  view.conns = snap.connections;
  renderConnections();
  renderFaults(snap.faults);
  renderFixtureUse();
  const j = snap.journal;
  $("journal-stats").textContent = j.enabled
    ? `journal ${j.entries}/${j.max_entries}` + (j.dropped ? `, ${j.dropped} dropped` : "")
    : "journal off";
}

// --- connections ---

function renderConnections() {
  const list = $("conn-list");
  list.replaceChildren(...view.conns.map(renderConnection));
  $("conn-count").textContent = view.conns.length;
  $("conn-empty").hidden = view.conns.length > 0;
}

function renderConnection(c) {
  const tags = [el("span", { class: "tag" }, c.endpoint)];
  if (c.match) tags.push(el("span", { class: "tag match", title: "fixture replayed" }, c.match));
  for (const spec of c.faults) tags.push(el("span", { class: "tag", title: "fault armed" }, spec));
  for (const spec of c.faults_fired) {
    tags.push(el("span", { class: "tag fault", title: "fault fired" }, `fired ${spec}`));
  }
  if (c.stalled) tags.push(el("span", { class: "tag fault" }, "stalled"));
  const head = el("div", { class: "head" },
    el("span", { class: "id" }, c.id), tags,
    el("span", { class: "muted" }, `${(c.age_ms / 1000).toFixed(1)} s, ${c.frames_received} frames in`),
    el("span", { class: "actions" },
      el("button", { type: "button", class: "show-journal", onclick: () => filterTo(c.id) }, "Journal"),
      el("button", { type: "button", class: "close", onclick: () => closeConn(c.id, 1000) }, "Close"),
      el("button", { type: "button", class: "kill danger", title: "cut TCP (the client sees 1006)",
        onclick: () => closeConn(c.id, 1006) }, "Kill")));
  const card = el("div", { class: "conn", dataset: { id: c.id, endpoint: c.endpoint } }, head);
  if (c.endpoint === "stt") card.append(renderStt(c));
  else card.append(renderTts(c));
  return card;
}

function renderStt(c) {
  const cfg = c.config || {};
  const summary = cfg.model
    ? `${cfg.model}, ${cfg.audio_format || "auto"}` + (cfg.sample_rate ? ` ${cfg.sample_rate} Hz` : "")
    : "no config yet";
  const last = c.last_result ? c.last_result.text : "";
  return el("div", { class: "stt" },
    el("div", {},
      el("span", { class: "audio-s" }, `${(c.audio_ms / 1000).toFixed(2)} s of audio`), " · ",
      el("span", { class: "config" }, summary), " ",
      c.config ? el("button", { type: "button", class: "show-config",
        onclick: () => inspect(`Config of ${c.id}`, c.config) }, "config") : null),
    el("div", { class: "last-result" }, "last result: ", el("code", {}, clip(last, 200) || "—")),
    el("div", { class: "transcript" }, clip(c.transcript || "", 400)));
}

function renderTts(c) {
  if (!c.streams.length) {
    return el("div", { class: "muted" }, `no open stream (${c.streams_opened} opened so far)`);
  }
  const rows = c.streams.map((s) => el("tr", { class: "stream", dataset: { stream: s.stream_id } },
    el("td", {}, s.stream_id), el("td", {}, s.voice), el("td", { class: "state" }, s.state),
    el("td", { class: "text", title: s.text }, clip(s.text, 80)),
    el("td", {}, s.text_chars), el("td", { class: "audio" }, `${s.audio_frames} / ${(s.audio_bytes / 1024).toFixed(1)} KiB`),
    el("td", {}, s.match || "—")));
  return el("table", { class: "grid streams" },
    el("thead", {}, el("tr", {}, ["stream", "voice", "state", "text received", "chars",
      "audio frames / sent", "fixture"].map((h) => el("th", {}, h)))),
    el("tbody", {}, rows));
}

async function closeConn(id, code) {
  try {
    await api("POST", `/connections/${encodeURIComponent(id)}/close`, { code });
    notice("");
  } catch (error) {
    notice(`${id}: ${error.message}`);
  }
}

// --- journal ---

async function loadJournal() {
  try {
    const body = await api("GET", `/journal?limit=${KEEP_ENTRIES}`);
    addEntries(body.entries, true);
  } catch (error) {
    notice(`journal: ${error.message}`);
  }
}

function addEntries(entries, rerender = false) {
  let sorted = true;
  const last = view.entries.length ? view.entries[view.entries.length - 1].seq : 0;
  const fresh = [];
  for (const entry of entries) {
    if (view.seqs.has(entry.seq)) continue;
    if (entry.seq < last) sorted = false;
    view.seqs.add(entry.seq);
    view.entries.push(entry);
    fresh.push(entry);
    if (!view.connT0.has(entry.conn_id)) {
      view.connT0.set(entry.conn_id, entry.t);
      $("f-conn").append(el("option", { value: entry.conn_id }, entry.conn_id));
    }
    if (entry.stream_id && !view.streams.has(entry.stream_id)) {
      view.streams.add(entry.stream_id);
      $("f-stream").append(el("option", { value: entry.stream_id }, entry.stream_id));
    }
  }
  if (!sorted) view.entries.sort((a, b) => a.seq - b.seq);
  while (view.entries.length > KEEP_ENTRIES) view.seqs.delete(view.entries.shift().seq);
  if (rerender || !sorted) renderJournal();
  else appendRows(fresh.filter(passes));
}

function filters() {
  return {
    conn_id: $("f-conn").value,
    stream_id: $("f-stream").value,
    direction: $("f-dir").value,
    kind: $("f-kind").value.trim(),
    audio: $("f-audio").checked,
  };
}

function passes(e, f = filters()) {
  if (f.conn_id && e.conn_id !== f.conn_id) return false;
  if (f.stream_id && e.stream_id !== f.stream_id) return false;
  if (f.direction && e.direction !== f.direction) return false;
  if (f.kind && e.kind !== f.kind) return false;
  if (!f.audio && !f.kind && e.kind === "audio" && e.direction !== "event") return false;
  return true;
}

function renderJournal() {
  const f = filters();
  const shown = view.entries.filter((e) => passes(e, f)).slice(-SHOW_ROWS);
  $("journal-rows").replaceChildren(...shown.map(row));
  const query = new URLSearchParams({ format: "normalised" });
  for (const key of ["conn_id", "stream_id", "direction", "kind"]) if (f[key]) query.set(key, f[key]);
  $("journal-export").href = `${ADMIN}/journal?${query}`;
  scrollTimeline();
}

function appendRows(entries) {
  if (!entries.length) return;
  const body = $("journal-rows");
  const box = body.closest(".timeline");
  const atEnd = box.scrollTop + box.clientHeight >= box.scrollHeight - 20;
  body.append(...entries.map(row));
  while (body.children.length > SHOW_ROWS) body.firstElementChild.remove();
  if (atEnd) scrollTimeline();
}

function scrollTimeline() {
  const box = $("journal-rows").closest(".timeline");
  box.scrollTop = box.scrollHeight;
}

function row(e) {
  const t0 = view.connT0.get(e.conn_id) ?? e.t;
  const classes = [e.direction === "event" ? "event" : "", e.fault ? "fault" : ""].join(" ").trim();
  const tr = el("tr", { class: `entry ${classes}`, dataset: { seq: e.seq, kind: e.kind, conn: e.conn_id } },
    el("td", {}, e.seq), el("td", {}, `+${(e.t - t0).toFixed(3)}`), el("td", {}, e.conn_id),
    el("td", {}, e.stream_id || ""), el("td", {}, arrow(e.direction)), el("td", { class: "kind" }, e.kind),
    el("td", { class: "summary" }, summary(e)));
  tr.addEventListener("click", () => {
    document.querySelectorAll("#journal-rows tr.selected").forEach((r) => r.classList.remove("selected"));
    tr.classList.add("selected");
    inspect(`Entry #${e.seq} (${e.conn_id} ${e.direction} ${e.kind})`, e);
  });
  return tr;
}

function arrow(direction) {
  return { c2s: "→", s2c: "←", event: "•" }[direction] || direction;
}

function summary(e) {
  const d = e.data;
  if (e.fault) return `fault ${e.fault}` + (d ? ` ${JSON.stringify(d)}` : "");
  if (d === null || d === undefined) return "";
  if (typeof d !== "object") return clip(d, 160);
  if (Array.isArray(d.tokens)) {
    const text = d.tokens.map((t) => t.text || "").join("");
    return clip(text || (d.finished ? "finished" : "(no tokens)"), 160);
  }
  if (d.audio && typeof d.audio === "object") return `${d.audio.bytes} bytes of audio${d.audio_end ? ", audio_end" : ""}`;
  if (typeof d.bytes === "number" && Object.keys(d).length === 1) return `${d.bytes} bytes`;
  if (typeof d.text === "string") return clip(JSON.stringify(d.text) + (d.text_end ? " + text_end" : ""), 160);
  return clip(JSON.stringify(d), 160);
}

function inspect(title, value) {
  $("inspector-title").textContent = title;
  $("inspector-hint").hidden = true;
  $("entry-detail").textContent = JSON.stringify(value, null, 2);
}

function filterTo(connId) {
  $("f-conn").value = connId;
  renderJournal();
  $("journal").scrollIntoView();
}

// --- faults ---

let grammar = null;

async function loadGrammar() {
  grammar = await api("GET", "/faults/grammar");
  const select = $("fault-name");
  select.replaceChildren(el("option", { value: "" }, "(type a spec)"),
    ...Object.keys(grammar.faults).map((name) => el("option", { value: name }, name)));
}

function renderFaultKeys() {
  const name = $("fault-name").value;
  const box = $("fault-keys");
  box.replaceChildren();
  if (!name) return;
  const fault = grammar.faults[name];
  for (const key of [...fault.keys, ...grammar.common_keys]) {
    const required = fault.required.includes(key);
    box.append(el("label", {}, required ? `${key}*` : key,
      el("input", { class: "fault-key", name: key, size: 6, required, oninput: composeSpec })));
  }
  composeSpec();
}

function composeSpec() {
  const name = $("fault-name").value;
  const parts = [...document.querySelectorAll("#fault-keys input")]
    .filter((i) => i.value.trim())
    .map((i) => `${i.name}=${i.value.trim()}`);
  $("fault-spec").value = name + (parts.length ? ":" + parts.join(",") : "");
}

async function armFault(event) {
  event.preventDefault();
  try {
    await api("POST", "/faults", { spec: $("fault-spec").value.trim() });
    showError("fault-error", null);
    await refreshFaults();
  } catch (error) {
    showError("fault-error", error);
  }
}

async function refreshFaults() {
  const body = await api("GET", "/faults");
  renderFaults(body.faults);
}

function renderFaults(faults) {
  $("fault-list").replaceChildren(...faults.map((f) => el("tr", { class: "fault-rule", dataset: { id: f.id } },
    el("td", {}, f.id), el("td", { class: "spec" }, el("code", {}, f.spec)),
    el("td", { class: "fired" }, f.fired), el("td", {}, f.healed ? "healed" : "armed"),
    el("td", {}, el("button", { type: "button", class: "disarm", onclick: () => disarm(f.id) }, "Disarm")))));
}

async function disarm(id) {
  try {
    await api("DELETE", `/faults/${encodeURIComponent(id)}`);
    showError("fault-error", null);
  } catch (error) {
    showError("fault-error", error);
  }
  await refreshFaults();
}

// --- fixtures ---

async function loadFixtures() {
  try {
    view.fixtures = (await api("GET", "/fixtures")).fixtures;
    showError("fixture-error", null);
  } catch (error) {
    showError("fixture-error", error);
    return;
  }
  $("fixture-list").replaceChildren(...view.fixtures.map((f) => {
    const text = f.endpoint === "stt"
      ? f.transcript + (f.translation ? ` / ${f.translation}` : "")
      : (f.streams || []).map((s) => s.text).join(" | ");
    const players = f.wavs.map((w) => el("div", { class: "wav" }, clip(w.label, 60),
      el("audio", { controls: true, preload: "none", src: w.url, dataset: { file: w.file } })));
    return el("tr", { class: "fixture", dataset: { name: f.name } },
      el("td", {}, el("code", {}, f.name)), el("td", {}, f.endpoint),
      el("td", {}, `${(f.duration_ms / 1000).toFixed(1)} s`),
      el("td", { title: f.notes || "" }, clip(text, 240)), el("td", {}, players),
      el("td", { class: "used-by" }));
  }));
  renderFixtureUse();
}

function renderFixtureUse() {
  const use = new Map();
  for (const c of view.conns) {
    const names = [c.match, ...c.streams.map((s) => s.match)].filter((m) => m && m !== "no match");
    for (const name of new Set(names)) use.set(name, [...(use.get(name) || []), c.id]);
  }
  for (const tr of document.querySelectorAll("#fixture-list tr.fixture")) {
    tr.querySelector(".used-by").textContent = (use.get(tr.dataset.name) || []).join(", ");
  }
}

// --- settings ---

async function loadSettings() {
  view.settings = await api("GET", "/settings");
  renderSettings();
}

const FIXED = new Set(["host", "port"]);

function renderSettings() {
  const rows = Object.entries(view.settings).map(([name, value]) => {
    let input;
    if (typeof value === "boolean") input = el("input", { type: "checkbox", checked: value });
    else if (Array.isArray(value)) {
      input = el("input", { placeholder: value.length ? value.join(", ") : "any key", size: 30 });
    } else input = el("input", { value: value ?? "", placeholder: value === null ? "unset" : undefined, size: 30 });
    input.name = name;
    input.disabled = FIXED.has(name);
    const save = el("button", { type: "button", class: "save", disabled: FIXED.has(name),
      onclick: () => saveSetting(name, input, value) }, FIXED.has(name) ? "fixed while listening" : "Save");
    return el("tr", { class: "setting", dataset: { name } }, el("td", {}, el("code", {}, name)),
      el("td", {}, input), el("td", {}, save));
  });
  $("settings-list").replaceChildren(...rows);
}

function settingValue(input, old) {
  if (typeof old === "boolean") return input.checked;
  const raw = input.value.trim();
  if (Array.isArray(old)) return raw.split(",").map((s) => s.trim()).filter(Boolean);
  if (typeof old === "number") return raw !== "" && !Number.isNaN(Number(raw)) ? Number(raw) : raw;
  if (old === null && raw === "") return null;
  if (old === null && raw !== "" && !Number.isNaN(Number(raw))) return Number(raw);
  return raw;
}

async function saveSetting(name, input, old) {
  try {
    view.settings = await api("PATCH", "/settings", { [name]: settingValue(input, old) });
    showError("settings-error", null);
    renderSettings();
  } catch (error) {
    showError("settings-error", `${name}: ${error.message}`);
  }
}

// --- start ---

function init() {
  $("fault-form").addEventListener("submit", armFault);
  $("fault-name").addEventListener("change", renderFaultKeys);
  $("fault-clear").addEventListener("click", async () => {
    await api("DELETE", "/faults");
    await refreshFaults();
  });
  for (const id of ["f-conn", "f-stream", "f-dir", "f-audio"]) $(id).addEventListener("change", renderJournal);
  $("f-kind").addEventListener("input", renderJournal);
  $("journal-clear").addEventListener("click", async () => {
    await api("DELETE", "/journal");
    view.entries = [];
    view.seqs.clear();
    renderJournal();
  });
  $("reset").addEventListener("click", async () => {
    await api("POST", "/reset");
    await Promise.all([loadSettings(), refreshFaults()]);
  });
  connectEvents();
  Promise.all([loadGrammar(), loadFixtures(), loadSettings(), refreshFaults()])
    .catch((error) => notice(error.message));
}

document.addEventListener("DOMContentLoaded", init);
