// pmserve console: plain ES module, no framework, no CDN. The access key lives only in this
// browser tab's sessionStorage and is sent as ?accesskey= like every /pm/v1 client does.
const $ = (sel) => document.querySelector(sel);
const KEY = "pmserve.accesskey";
let current = null; // the model shown: {id, tablename, inputs, outputs}

function key() { return sessionStorage.getItem(KEY) || ""; }
function withKey(path) {
  return `${path}${path.includes("?") ? "&" : "?"}accesskey=${encodeURIComponent(key())}`;
}
function say(text, kind = "") {
  const status = $("#status");
  status.textContent = text;
  status.className = kind;
}
function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (name === "class") node.className = value;
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value);
  }
  for (const child of children) node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  return node;
}

// Every call goes through here: JSON when the server sent JSON, IBM's {flag:false} turned into an Error.
async function call(method, path, body, headers = {}) {
  const response = await fetch(withKey(path), { method, body, headers });
  const type = response.headers.get("content-type") || "";
  const payload = type.includes("json") ? await response.json() : await response.text();
  if (response.status === 401) throw new Error("The access key was not accepted.");
  if (!response.ok || (payload && payload.flag === false)) {
    const message = payload && payload.message ? payload.message : `${method} ${path}: HTTP ${response.status}`;
    const error = new Error(message);
    error.status = response.status;
    throw error;
  }
  return payload;
}

async function refreshModels() {
  const models = await call("GET", "/pm/v1/model");
  const body = $("#models tbody");
  body.replaceChildren();
  $("#no-models").hidden = models.length > 0;
  for (const m of models.sort((a, b) => a.id.localeCompare(b.id))) {
    body.append(el("tr", { "data-id": m.id },
      el("td", {}, m.id), el("td", {}, m.stream),
      el("td", {},
        el("button", { type: "button", class: "secondary", onclick: () => openModel(m.id) }, "Open"), " ",
        el("button", { type: "button", class: "secondary", onclick: () => download(m) }, "Download"), " ",
        el("button", { type: "button", class: "danger", onclick: () => remove(m.id) }, "Delete"))));
  }
}

function describeValues(field) {
  if (field.values && field.values.length) return field.values.join(", ");
  if (field.intervals && field.intervals.length) {
    return field.intervals.map((i) => `${i.closure.startsWith("closed") ? "[" : "("}${i.left ?? "−∞"}, ${i.right ?? "∞"}${i.closure.endsWith("Closed") ? "]" : ")"}`).join(" ∪ ");
  }
  return "";
}

function fieldRows(table, fields) {
  const body = $(`${table} tbody`);
  body.replaceChildren(...fields.map((f) =>
    el("tr", {}, el("td", {}, f.name), el("td", {}, f.type), el("td", {}, f.measure), el("td", {}, describeValues(f)))));
}

async function openModel(id) {
  const model = await call("GET", `/console/api/models/${encodeURIComponent(id)}`);
  current = model;
  $("#model").hidden = false;
  $("#model-title").textContent = `Model ${model.id}`;
  $("#model-summary").textContent = `${model.stream} · ${model.format} · table name "${model.tablename}"`;
  fieldRows("#inputs", model.inputs);
  fieldRows("#outputs", model.outputs);
  const grid = $("#score-fields");
  grid.replaceChildren(...model.inputs.map((f, i) => {
    const id = `in-${i}`;
    let input;
    if (f.values && f.values.length && f.measure !== "continuous") {
      input = el("select", { id, name: f.name }, el("option", { value: "" }, "(missing)"),
        ...f.values.map((v) => el("option", { value: v }, v)));
    } else {
      input = el("input", { id, name: f.name, inputmode: f.measure === "continuous" ? "decimal" : "text" });
    }
    return el("label", { for: id }, `${f.name} (${f.type})`, input);
  }));
  $("#csv-rows").value = "";
  $("#result").hidden = true;
  say(`Opened ${id}.`, "ok");
}

async function download(m) {
  const response = await fetch(withKey(`/pm/v1/model/${encodeURIComponent(m.id)}`));
  if (!response.ok) throw new Error(`download of ${m.id} failed: HTTP ${response.status}`);
  const url = URL.createObjectURL(await response.blob());
  const link = el("a", { href: url, download: m.stream || m.id });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

async function remove(id) {
  if (!window.confirm(`Delete model ${id}? Applications scoring it will get errors.`)) return;
  await call("DELETE", `/pm/v1/model/${encodeURIComponent(id)}`);
  if (current && current.id === id) { current = null; $("#model").hidden = true; }
  await refreshModels();
  say(`Deleted ${id}.`, "ok");
}

async function deploy(event) {
  event.preventDefault();
  const file = $("#deploy-file").files[0];
  const id = $("#deploy-id").value.trim();
  if (!file) throw new Error("Choose or drop a model file first.");
  const form = new FormData();
  form.append("model_file", file, file.name);
  const table = $("#deploy-table").value.trim();
  if (table) form.append("tablename", table);
  say(`Deploying ${file.name} as ${id}…`);
  const reply = await call("PUT", `/pm/v1/model/${encodeURIComponent(id)}`, form);
  await refreshModels();
  await openModel(id);
  say(reply.message, "ok");
}

// RFC 4180 rows: quoted cells may hold commas, quotes ("") and line breaks.
function parseCsv(text) {
  const rows = [];
  let row = [], cell = "", quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') { cell += '"'; i++; }
      else if (c === '"') quoted = false;
      else cell += c;
    } else if (c === '"' && cell === "") quoted = true;
    else if (c === ",") { row.push(cell); cell = ""; }
    else if (c === "\n" || c === "\r") {
      if (c === "\r" && text[i + 1] === "\n") i++;
      row.push(cell); rows.push(row); row = []; cell = "";
    } else cell += c;
  }
  if (cell !== "" || row.length) { row.push(cell); rows.push(row); }
  return rows.filter((r) => r.some((c) => c.trim() !== ""));
}

function cellValue(text) { return text === "" ? null : text; }

async function score(header, data) {
  const body = JSON.stringify({ tablename: current.tablename, header, data });
  const reply = await call("POST", `/pm/v1/score/${encodeURIComponent(current.id)}`, body,
    { "Content-Type": "application/json" });
  const table = reply[0];
  $("#result-table thead").replaceChildren(el("tr", {}, ...table.header.map((h) => el("th", { scope: "col" }, h))));
  $("#result-table tbody").replaceChildren(...table.data.map((r) => el("tr", {}, ...r.map((v) => {
    const shown = v === null ? "" : Array.isArray(v) ? JSON.stringify(v) : String(v);
    return el("td", { class: typeof v === "number" ? "num" : "" }, shown);
  }))));
  $("#result").hidden = false;
  say(`Scored ${table.data.length} row(s).`, "ok");
}

async function scoreForm(event) {
  event.preventDefault();
  const header = current.inputs.map((f) => f.name);
  const row = current.inputs.map((_, i) => cellValue($(`#in-${i}`).value.trim()));
  await score(header, [row]);
}

async function scoreCsv(event) {
  event.preventDefault();
  const rows = parseCsv($("#csv-rows").value);
  if (!rows.length) throw new Error("Paste at least one row.");
  const names = current.inputs.map((f) => f.name);
  const first = rows[0].map((c) => c.trim());
  const hasHeader = first.every((c) => names.includes(c)) || first.some((c) => names.includes(c) && isNaN(Number(c)));
  const header = hasHeader ? first : names;
  const data = (hasHeader ? rows.slice(1) : rows).map((r) => r.map((c) => cellValue(c.trim())));
  await score(header, data);
}

async function refreshJobs() {
  const note = $("#jobs-note");
  const body = $("#jobs tbody");
  let jobs;
  try {
    jobs = await call("GET", "/pm/v1/jobs");
  } catch (error) {
    body.replaceChildren();
    note.textContent = error.status === 404 ? "This server has no batch jobs API." : error.message;
    return;
  }
  note.textContent = jobs.length ? "" : "No batch job yet.";
  body.replaceChildren(...jobs.map((j) => {
    const result = j.result || {};
    const progress = j.progress ? ` (${j.progress.rowsDone} rows, ${j.progress.rowsFailed} failed)` : "";
    const outcome = result.failureMsg
      ? el("span", {}, result.failureMsg)
      : result.dataUrl ? el("a", { href: withKey(new URL(result.dataUrl).pathname) }, "result") : "";
    return el("tr", { "data-id": j.id },
      el("td", {}, j.id ?? ""), el("td", {}, j.action ?? ""),
      el("td", {}, `${result.jobStatus || j.status || ""}${progress}`),
      el("td", {}, j.createdAt ? new Date(j.createdAt).toLocaleString() : ""),
      el("td", {}, outcome));
  }));
}

// Run an action; any error becomes the status line instead of an unhandled rejection.
function guard(action) {
  return async (event) => {
    try { await action(event); } catch (error) { say(error.message, "bad"); }
  };
}

async function start() {
  $("#key-form").hidden = false;
  const known = Boolean(key());
  $("#forget-key").hidden = !known;
  $("#app").hidden = !known;
  if (!known) { say("Enter an access key to see its models."); return; }
  await refreshModels();
  await refreshJobs();
  say("Ready.", "ok");
}

$("#key-form").addEventListener("submit", guard(async (event) => {
  event.preventDefault();
  sessionStorage.setItem(KEY, $("#key-input").value.trim());
  $("#key-input").value = "";
  try { await start(); } catch (error) { sessionStorage.removeItem(KEY); $("#app").hidden = true; throw error; }
}));
$("#forget-key").addEventListener("click", () => { sessionStorage.removeItem(KEY); location.reload(); });
$("#deploy-form").addEventListener("submit", guard(deploy));
$("#score-form").addEventListener("submit", guard(scoreForm));
$("#csv-form").addEventListener("submit", guard(scoreCsv));
$("#jobs-refresh").addEventListener("click", guard(refreshJobs));

const drop = $("#drop");
drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", (e) => {
  e.preventDefault();
  drop.classList.remove("over");
  if (e.dataTransfer.files.length) { $("#deploy-file").files = e.dataTransfer.files; showFile(); }
});
drop.addEventListener("keydown", (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); $("#deploy-file").click(); } });
function showFile() {
  const file = $("#deploy-file").files[0];
  $("#drop-name").textContent = file ? `Selected: ${file.name}` : "";
  if (file && !$("#deploy-id").value) $("#deploy-id").value = file.name.replace(/\.(pmml|xml|str|gz)$/gi, "").replace(/[^A-Za-z0-9_.-]/g, "_");
}
$("#deploy-file").addEventListener("change", showFile);

guard(start)();
