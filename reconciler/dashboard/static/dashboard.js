// ace dashboard: keeps the server-rendered pages live from the server's event streams
// (server-sent events; no polling). Values are only ever set as text, never as HTML, except
// the plan fragment, which the server renders (escaped) itself.
"use strict";

const COLUMNS = ["App", "State", "Health", "Mode", "Public URL", "Direct URL", "Last change",
                 "Last error", "Actions"];

function el(tag, attrs, text) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  if (text !== undefined && text !== null) e.textContent = String(text);
  return e;
}

function link(url, text) {
  return url ? el("a", {href: url}, text || url) : document.createTextNode("");
}

function appHref(path) {
  return "/_ace/app?path=" + encodeURIComponent(path).replace(/%2F/g, "/");
}

function rowOf(app) {
  const tr = el("tr", {"data-app": app.app});
  const err = app.error || {};
  const state = el("span", {class: "state state-" + app.state}, app.state);
  const errCell = document.createDocumentFragment();
  errCell.append(document.createTextNode(app.last_error || ""));
  if (app.last_error && err.where && !app.last_error.includes(err.where)) {
    errCell.append(" ", el("span", {class: "where"}, err.where));
  }
  const actions = document.createDocumentFragment();
  for (const a of app.actions || []) actions.append(link(a.page, a.name), " ");
  const cells = [link(appHref(app.app), app.app), state, app.health, app.mode,
                 link(app.public_url), link(app.url), app.last_change, errCell, actions];
  cells.forEach((c, i) => {
    const td = el("td", {"data-col": COLUMNS[i]});
    if (c instanceof Node) td.append(c); else td.textContent = c || "";
    tr.append(td);
  });
  return tr;
}

function passItem(p) {
  const li = el("li", {class: "pass"});
  li.append(el("span", {class: "cycle"}, p.cycle), " " + p.reason);
  if (p.files && p.files.length) li.append(": " + p.files.slice(0, 3).join(", "));
  li.append(" ", el("span", {class: "dim"}, p.seconds + " s"));
  const ul = el("ul");
  for (const s of p.steps || []) {
    const si = el("li", {class: "step outcome-" + s.outcome});
    si.append(s.outcome + " ", el("b", {}, s.action), " " + s.app + " ",
              el("span", {class: "cause"}, "(" + s.cause + ")"), " " + s.seconds + " s");
    if (s.message) si.append(el("pre", {class: "message"}, s.message));
    ul.append(si);
  }
  for (const x of p.errors || []) {
    const ei = el("li", {class: "step outcome-failed"});
    ei.append("error " + x.app + " ", el("span", {class: "where"}, x.where), ": " + x.text);
    ul.append(ei);
  }
  li.append(ul);
  return li;
}

function setBanner(text) {
  const b = document.getElementById("banner");
  if (!b) return;
  b.textContent = text || "";
  b.hidden = !text;
}

function connect(url, handlers) {
  const live = document.getElementById("live");
  const source = new EventSource(url);
  source.onopen = () => live && live.classList.add("on");
  source.onerror = () => live && live.classList.remove("on");
  for (const [name, fn] of Object.entries(handlers)) {
    source.addEventListener(name, (ev) => fn(JSON.parse(ev.data)));
  }
  return source;
}

function indexPage() {
  const tbody = document.querySelector("#apps tbody");
  const passes = document.getElementById("passes");
  const render = (apps) => tbody.replaceChildren(...apps.map(rowOf));
  connect("/_ace/events", {
    state: (s) => { render(s.apps); setBanner(s.banner); },
    apps: (d) => render(d.apps),
    banner: (d) => setBanner(d.banner),
    pass: (p) => {
      const dim = passes.querySelector("li.dim");
      if (dim) dim.remove();
      passes.prepend(passItem(p));
      while (passes.children.length > 20) passes.lastChild.remove();
    },
  });
}

function appPage() {
  const path = document.body.dataset.app;
  const tbody = document.querySelector("#apps tbody");
  const passes = document.getElementById("passes");
  const log = document.getElementById("log");
  let seen = "";
  const refreshPlan = () => fetch("/_ace/plan?app=" + encodeURIComponent(path))
    .then((r) => r.text()).then((html) => { document.getElementById("plan").innerHTML = html; });
  const showError = (app) => {
    const sec = document.getElementById("error");
    const err = app.error || {};
    sec.hidden = !app.last_error;
    if (!app.last_error) { sec.replaceChildren(); return; }
    const p = el("p", {}, err.text || app.last_error);
    if (err.where) p.append(" ", el("span", {class: "where"}, err.where));
    const parts = [el("h2", {}, "Last error"), p];
    if (err.output && err.output.length) parts.push(el("pre", {}, err.output.join("\n")));
    sec.replaceChildren(...parts);
  };
  const update = (apps) => {
    const app = apps.find((a) => a.app === path);
    if (!app) return;
    tbody.replaceChildren(rowOf(app));
    showError(app);
    const key = [app.state, app.last_change, app.last_error].join("|");
    if (seen && key !== seen) refreshPlan();
    seen = key;
  };
  connect("/_ace/events", {
    state: (s) => { update(s.apps); setBanner(s.banner); },
    apps: (d) => update(d.apps),
    banner: (d) => setBanner(d.banner),
    pass: (p) => {
      const steps = (p.steps || []).filter((s) => s.app === path);
      if (!steps.length && !(p.errors || []).some((e) => e.app === path)) return;
      const dim = passes.querySelector("li.dim");
      if (dim) dim.remove();
      passes.prepend(passItem({...p, steps: steps}));
    },
  });
  const append = (node) => {
    const stick = log.scrollTop + log.clientHeight >= log.scrollHeight - 4;
    log.append(node);
    while (log.childNodes.length > 3000) log.firstChild.remove();
    if (stick) log.scrollTop = log.scrollHeight;
  };
  connect("/_ace/logs?app=" + encodeURIComponent(path), {
    line: (x) => {
      const span = el("span", {class: "line stream-" + x.stream, title: x.time + " " +
                              (x.container || "build")}, x.text + "\n");
      append(span);
    },
    note: (n) => append(el("span", {class: "note"}, n + "\n")),
  });
}

document.addEventListener("DOMContentLoaded", () => {
  const page = document.body.dataset.page;
  if (page === "index") indexPage();
  else if (page === "app") appPage();
});
