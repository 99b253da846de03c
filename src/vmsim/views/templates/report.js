"use strict";
/* The report's behaviour.  The data (see views/report.py) holds every call compactly;
   the maps at a call are rebuilt from the nearest keyframe and the splices after it.
   Strings from the data only ever enter the page as text (textContent, text nodes,
   attributes set one by one), never as markup. */
(function () {
  const D = JSON.parse(document.getElementById("vmsim-data").textContent);
  const rows = D.rows;
  const N = rows.length;
  const SVGNS = "http://www.w3.org/2000/svg";
  const TASK_SIZE = 0x7ffffffff000n;
  const FAILED = 1, DIFFERS = 2;
  const ROW_H = 22;
  const CALL_COLOURS = {
    mmap: "#3f7fd0", munmap: "#78909c", mremap: "#ef6c00", mprotect: "#00897b",
    madvise: "#8d6e63", brk: "#7cb342", mseal: "#5e35b1",
  };
  const BAD = "#c62828", PURPLE = "#7b1fa2";
  const MOVED = [
    ["PUD entries", "each maps 1 GiB: a whole PMD table moved at once", 2],
    ["PMD entries", "each maps 2 MiB: a whole PTE table moved at once", 1],
    ["PTEs", "each maps one 4 KiB page", 0],
    ["PTEs cleared", "pages unmapped by this call", 3],
  ];

  const $ = (id) => document.getElementById(id);
  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function svgEl(tag, attrs) {
    const e = document.createElementNS(SVGNS, tag);
    for (const k in attrs) e.setAttribute(k, attrs[k]);
    return e;
  }
  const hex = (v) => "0x" + v.toString(16);
  // "1 call", "2 calls": counts in words as views/words.py plural() writes them.
  const word = (n, one, many) => (n === 1 ? one : many || one + "s");
  const plural = (n, one, many) => n + " " + word(n, one, many);
  function human(size) {
    const n = Number(size);
    for (const [unit, shift] of [["TiB", 40], ["GiB", 30], ["MiB", 20], ["KiB", 10]]) {
      const u = 2 ** shift;
      if (n >= u) {
        const v = n / u;
        return (v >= 10 || Number.isInteger(v) ? v.toFixed(0) : v.toFixed(1)) + " " + unit;
      }
    }
    return n + " B";
  }

  /* ---- calls ---------------------------------------------------------------------- */
  const callName = (i) => D.names[rows[i][2] >> 2];
  const failed = (i) => (rows[i][2] & FAILED) !== 0;
  const differs = (i) => (rows[i][2] & DIFFERS) !== 0;
  const lineNo = (i) => rows[i][0];
  const text = (i) => rows[i][1];
  const logResult = (i) => { const t = text(i); const k = t.lastIndexOf(" = "); return k < 0 ? "" : t.slice(k + 3).trim(); };
  const errnoIn = (result) => { const m = /^(?:-1 )?(E[A-Z0-9]+)/.exec(result); return m ? m[1] : null; };
  const modelResult = (i) => (differs(i) ? rows[i][6] : logResult(i));
  const label = (i) => "#" + (i + 1);

  /* ---- maps at a call ------------------------------------------------------------- */
  const keyAt = D.keyframes.map((k) => k[0]);
  function applyOps(lines, ops) {
    for (let j = ops.length - 1; j >= 0; j--) lines.splice(ops[j][0], ops[j][1], ...ops[j][2]);
  }
  function mapsBefore(i) {
    let lo = 0, hi = keyAt.length - 1;
    while (lo < hi) { const mid = (lo + hi + 1) >> 1; if (keyAt[mid] <= i) lo = mid; else hi = mid - 1; }
    const lines = D.keyframes[lo][1].slice();
    for (let c = keyAt[lo]; c < i; c++) applyOps(lines, rows[c][5]);
    return lines;
  }
  const MAPS_RE = /^([0-9a-f]+)-([0-9a-f]+) (\S{4}) \S+ \S+ (\d+)\s*(.*)$/;
  const parsed = [];
  function kindOf(e) { // as views/layout.py kind_of()
    if (e.perms[3] === "s") return "shared";
    if (e.name === "[heap]") return "heap";
    if (e.name === "[stack]") return "stack";
    if (e.name.startsWith("[")) return "special";
    return e.inode !== "0" || e.name ? "file" : "anon";
  }
  function entry(id) {
    if (!parsed[id]) {
      const m = MAPS_RE.exec(D.lines[id]) || ["", "0", "0", "----", "0", D.lines[id]];
      const e = { id, start: BigInt("0x" + m[1]), end: BigInt("0x" + m[2]), perms: m[3], inode: m[4], name: m[5].trim(), line: D.lines[id] };
      e.kind = kindOf(e);
      parsed[id] = e;
    }
    return parsed[id];
  }
  function segmentsOf(ids) { // as views/layout.py segments()
    const out = [];
    let pos = 0n;
    for (const id of ids) {
      const e = entry(id);
      if (e.start > pos) {
        if (e.start > TASK_SIZE && pos < TASK_SIZE) { out.push({ start: pos, end: TASK_SIZE, kind: "gap" }); pos = TASK_SIZE; }
        out.push({ start: pos, end: e.start, kind: e.start > TASK_SIZE ? "kernel" : "gap" });
      }
      out.push({ start: e.start, end: e.end, kind: e.kind, entry: e });
      pos = e.end;
    }
    if (pos < TASK_SIZE) out.push({ start: pos, end: TASK_SIZE, kind: "gap" });
    return out;
  }
  const weight = (s) => (s.kind === "kernel" ? 2 : Math.max(1, Math.log2(Math.max(Number(s.end - s.start), 1)) - 11));
  function changes(before, after) { // as views/mapsdiff.py diff_maps()
    const inAfter = new Set(after), inBefore = new Set(before);
    const gone = before.filter((id) => !inAfter.has(id));
    const added = after.filter((id) => !inBefore.has(id));
    const left = new Set(gone);
    const byStart = new Map(gone.map((id) => [entry(id).start, id]));
    const byEnd = new Map(gone.map((id) => [entry(id).end, id]));
    const out = [];
    for (const id of added) {
      let old = byStart.get(entry(id).start);
      if (old === undefined || !left.has(old)) old = byEnd.get(entry(id).end);
      if (old !== undefined && left.has(old)) { left.delete(old); out.push(["~", id, old]); }
      else out.push(["+", id]);
    }
    for (const id of left) out.push(["-", id]);
    return out.sort((a, b) => (entry(a[1]).start < entry(b[1]).start ? -1 : 1));
  }

  /* ---- state ---------------------------------------------------------------------- */
  let selected = -1;
  let before = [], after = [];
  let view = null; // the zoomed address range {lo, hi}, or null for everything
  let mapLayout = [];
  let mapsTab = "changes";

  /* ---- address-space map ---------------------------------------------------------- */
  function legendInto(box, items) {
    box.textContent = "";
    for (const [colour, name, extra] of items) {
      const item = el("span");
      const sw = el("span", "swatch");
      sw.style.background = colour;
      if (extra) sw.style.opacity = extra;
      item.append(sw, name);
      box.append(item);
    }
  }
  function opacity(perms) { return perms[1] === "w" ? 1 : perms[0] === "r" || perms[2] === "x" ? 0.6 : 0.25; }
  function drawMap() {
    const box = $("map");
    box.textContent = "";
    const W = Math.max(320, box.clientWidth), BAR = 48, H = BAR + 22;
    let segs = segmentsOf(after);
    if (view) {
      segs = segs.filter((s) => s.end > view.lo && s.start < view.hi).map((s) => Object.assign({}, s, {
        start: s.start < view.lo ? view.lo : s.start, end: s.end > view.hi ? view.hi : s.end }));
    }
    const weights = segs.map(weight);
    const total = weights.reduce((a, b) => a + b, 0) || 1;
    const minW = Math.min(3, W / Math.max(segs.length, 1));
    const spare = W - minW * segs.length;
    const svg = svgEl("svg", { viewBox: `0 0 ${W} ${H}`, height: H, role: "img" });
    svg.append(svgEl("title", {}));
    svg.firstChild.textContent = "The address space after call " + label(selected);
    const changed = new Set(after.filter((id) => !before.includes(id)));
    mapLayout = [];
    let x = 0;
    const starts = []; // [x, address] of each mapping, labelled below the bar if room
    segs.forEach((s, k) => {
      const w = minW + (weights[k] / total) * spare;
      mapLayout.push({ x, w, s });
      const rect = svgEl("rect", { x, y: 0, width: Math.max(w, 0.5), height: BAR, fill: D.palette[s.kind] });
      if (s.entry) rect.setAttribute("fill-opacity", opacity(s.entry.perms));
      svg.append(rect);
      if (s.entry && s.entry.perms[2] === "x") svg.append(svgEl("rect", { x, y: 0, width: Math.max(w, 0.5), height: 6, fill: "#263238" }));
      // Where two mappings touch, a white hairline keeps them apart.
      if (s.entry && k && segs[k - 1].entry) svg.append(svgEl("rect", { x, y: 0, width: 1, height: BAR, fill: "#fff" }));
      if (s.entry && changed.has(s.entry.id)) {
        svg.append(svgEl("rect", { x: x + 1, y: 1, width: Math.max(w - 2, 1), height: BAR - 2, fill: "none", stroke: "#ef6c00", "stroke-width": 3 }));
      }
      const name = s.entry ? (s.entry.name.split("/").pop() || human(s.end - s.start)) : (s.kind === "gap" ? human(s.end - s.start) + " free" : "");
      if (name && w > name.length * 6.6 + 8) {
        const t = svgEl("text", { x: x + 4, y: BAR / 2 + 4, "font-size": 11, fill: s.entry ? "#fff" : "#78909c" });
        if (s.entry && opacity(s.entry.perms) < 1) t.setAttribute("fill", "#1f2933");
        t.textContent = name;
        svg.append(t);
      }
      if (s.entry) starts.push([x, hex(s.start)]);
      x += w;
    });
    const brush = svgEl("rect", { class: "brush", x: 0, y: 0, width: 0, height: BAR, visibility: "hidden" });
    svg.append(brush);
    box.append(svg);
    // Address labels from left to right, each measured (so in the page) and kept only where
    // it fits whole inside the bar, clear of the one before; near the right end a label
    // ends at the edge instead of starting at its mapping.
    let labelEnd = -Infinity;
    for (const [at, address] of starts) {
      if (at - labelEnd < 8) continue;
      const t = svgEl("text", { y: BAR + 15, "font-size": 10, fill: "#616e7c" });
      t.textContent = address;
      svg.append(t);
      const width = t.getComputedTextLength();
      const left = Math.min(at, W - width - 1);
      if (left < labelEnd + 8) { t.remove(); continue; }
      t.setAttribute("x", left);
      labelEnd = left + width;
    }
    const lo = segs.length ? segs[0].start : 0n, hi = segs.length ? segs[segs.length - 1].end : 0n;
    $("map-range").textContent = view ? `Zoomed to ${hex(lo)} – ${hex(hi)} (${human(hi - lo)})` : "All of user space, 0x0 – " + hex(TASK_SIZE) + (hi > TASK_SIZE ? " and [vsyscall]" : "");
    $("map-when").textContent = selected >= 0 ? "after call " + label(selected) + " (" + callName(selected) + ")" : "";
    wireMap(svg, brush, W);
  }
  function layoutAt(px) {
    for (const item of mapLayout) if (px < item.x + item.w) return item;
    return mapLayout[mapLayout.length - 1];
  }
  function addressAt(px) {
    const item = layoutAt(px);
    if (!item) return 0n;
    const frac = Math.min(Math.max((px - item.x) / item.w, 0), 1);
    const addr = item.s.start + BigInt(Math.floor(frac * Number(item.s.end - item.s.start)));
    return addr & ~0xfffn;
  }
  function describe(s) {
    if (s.entry) return s.entry.line.replace(/\s+$/, "") + "\n" + human(s.end - s.start) + ", " + D.kindLabels[s.kind] + "; click to walk its page tables";
    if (s.kind === "kernel") return `${hex(s.start)} – ${hex(s.end)}: not user space (the non-canonical hole and the kernel's half)`;
    return `${hex(s.start)} – ${hex(s.end)}: free, ${human(s.end - s.start)}`;
  }
  function wireMap(svg, brush, W) {
    const info = $("map-info");
    let dragFrom = null;
    const pos = (ev) => { const r = svg.getBoundingClientRect(); return ((ev.clientX - r.left) / r.width) * W; };
    svg.addEventListener("mousemove", (ev) => {
      const px = pos(ev);
      if (dragFrom !== null) {
        brush.setAttribute("x", Math.min(dragFrom, px));
        brush.setAttribute("width", Math.abs(px - dragFrom));
        brush.setAttribute("visibility", "visible");
      }
      const item = layoutAt(px);
      if (item) info.textContent = describe(item.s);
    });
    svg.addEventListener("mousedown", (ev) => { dragFrom = pos(ev); ev.preventDefault(); });
    svg.addEventListener("mouseup", (ev) => {
      const px = pos(ev), from = dragFrom;
      dragFrom = null;
      brush.setAttribute("visibility", "hidden");
      if (from !== null && Math.abs(px - from) > 4) {
        const lo = addressAt(Math.min(from, px)), hi = addressAt(Math.max(from, px)) + 0x1000n;
        if (hi > lo) { view = { lo, hi }; drawMap(); }
        return;
      }
      const item = layoutAt(px);
      if (item && item.s.entry) { $("pt-address").value = hex(item.s.start); walk(); }
    });
    svg.addEventListener("mouseleave", () => { dragFrom = null; brush.setAttribute("visibility", "hidden"); });
  }
  function zoomToCall() {
    const ids = changes(before, after).flatMap((c) => c.slice(1));
    if (!ids.length) return;
    let lo = entry(ids[0]).start, hi = entry(ids[0]).end;
    for (const id of ids) { const e = entry(id); if (e.start < lo) lo = e.start; if (e.end > hi) hi = e.end; }
    const margin = (hi - lo) * 4n;
    view = { lo: lo > margin ? lo - margin : 0n, hi: hi + margin };
    drawMap();
  }

  /* ---- timeline ------------------------------------------------------------------- */
  // One column a pixel: a bar stacked by system call (failures in red on top, the share
  // of each), a purple mark if any call differs from the log.  Clicking a column picks
  // its most telling call: one that differs, else one that failed, else an mremap.
  const timeline = $("timeline");
  const KINDS = D.names.length + 1; // each system call, then "failed"
  let picks = new Int32Array(0), counts = new Uint32Array(0), marked = new Uint8Array(0), colW = 1;
  function score(i) { return differs(i) ? 3 : failed(i) ? 2 : callName(i) === "mremap" ? 1 : 0; }
  function computePicks() {
    const W = Math.max(1, timeline.clientWidth);
    const cols = N ? Math.max(1, Math.min(W, N)) : 0;
    colW = W / Math.max(cols, 1);
    picks = new Int32Array(cols);
    counts = new Uint32Array(cols * KINDS);
    marked = new Uint8Array(cols);
    for (let c = 0; c < cols; c++) {
      const from = Math.floor((c * N) / cols), to = Math.max(from + 1, Math.floor(((c + 1) * N) / cols));
      let best = from, bestScore = -1;
      for (let i = from; i < to; i++) {
        const s = score(i);
        if (s > bestScore) { best = i; bestScore = s; }
        counts[c * KINDS + (failed(i) ? KINDS - 1 : rows[i][2] >> 2)]++;
        if (differs(i)) marked[c] = 1;
      }
      picks[c] = best;
    }
  }
  function drawTimeline() {
    const dpr = window.devicePixelRatio || 1, W = timeline.clientWidth, H = 56, TOP = 10;
    timeline.width = Math.round(W * dpr);
    timeline.height = Math.round(H * dpr);
    const ctx = timeline.getContext("2d");
    ctx.scale(dpr, dpr);
    ctx.fillStyle = "#fafbfc";
    ctx.fillRect(0, 0, W, H);
    const colours = [...D.names.map((n) => CALL_COLOURS[n] || "#455a64"), BAD];
    for (let c = 0; c < picks.length; c++) {
      const x = c * colW, w = Math.max(colW - (colW > 3 ? 1 : 0), 1);
      let total = 0;
      for (let k = 0; k < KINDS; k++) total += counts[c * KINDS + k];
      let y = H;
      for (let k = 0; k < KINDS; k++) {
        const n = counts[c * KINDS + k];
        if (!n) continue;
        const h = ((H - TOP) * n) / total;
        ctx.fillStyle = colours[k];
        ctx.fillRect(x, y - h, w, h);
        y -= h;
      }
      if (marked[c]) { ctx.fillStyle = PURPLE; ctx.fillRect(x, 0, w, TOP - 2); }
    }
    if (selected >= 0) {
      const x = Math.floor((selected * picks.length) / N) * colW + colW / 2;
      ctx.strokeStyle = "#111";
      ctx.lineWidth = 2;
      ctx.beginPath(); ctx.moveTo(x, 0); ctx.lineTo(x, H); ctx.stroke();
    }
  }
  function pickAt(ev) {
    const r = timeline.getBoundingClientRect();
    const c = Math.min(picks.length - 1, Math.max(0, Math.floor((ev.clientX - r.left) / colW)));
    return picks[c];
  }
  timeline.addEventListener("click", (ev) => { if (N) select(pickAt(ev)); });
  timeline.addEventListener("mousemove", (ev) => { if (N) { const i = pickAt(ev); timeline.title = label(i) + "  " + text(i); } });

  /* ---- the list of calls ---------------------------------------------------------- */
  const list = $("call-list"), inner = $("call-list-inner");
  let shown = null; // indices passing the filter, or null for all
  const count = () => (shown ? shown.length : N);
  const at = (k) => (shown ? shown[k] : k);
  function positionOf(i) {
    if (!shown) return i;
    let lo = 0, hi = shown.length - 1;
    while (lo <= hi) { const mid = (lo + hi) >> 1; if (shown[mid] === i) return mid; if (shown[mid] < i) lo = mid + 1; else hi = mid - 1; }
    return -1;
  }
  function renderList() {
    inner.style.height = count() * ROW_H + "px";
    const first = Math.max(0, Math.floor(list.scrollTop / ROW_H) - 4);
    const last = Math.min(count(), Math.ceil((list.scrollTop + list.clientHeight) / ROW_H) + 4);
    const frag = document.createDocumentFragment();
    for (let k = first; k < last; k++) {
      const i = at(k);
      const row = el("div", "row" + (i === selected ? " selected" : "") + (failed(i) ? " failed" : "") + (differs(i) ? " differs" : ""));
      row.style.top = k * ROW_H + "px";
      row.dataset.i = i;
      row.setAttribute("role", "option");
      row.append(el("span", "num", label(i)), text(i));
      row.title = text(i);
      frag.append(row);
    }
    inner.textContent = "";
    inner.append(frag);
  }
  list.addEventListener("scroll", renderList); // browsers send at most one a frame
  inner.addEventListener("click", (ev) => { const row = ev.target.closest(".row"); if (row) select(Number(row.dataset.i)); });
  list.addEventListener("keydown", (ev) => {
    const step = { ArrowDown: 1, ArrowUp: -1, PageDown: 10, PageUp: -10 }[ev.key];
    if (!step || !count()) return;
    ev.preventDefault();
    const k = Math.min(count() - 1, Math.max(0, positionOf(selected) + step));
    select(at(k));
  });
  function scrollListTo(i) {
    const k = positionOf(i);
    if (k < 0) return;
    const top = k * ROW_H;
    if (top < list.scrollTop || top + ROW_H > list.scrollTop + list.clientHeight) {
      list.scrollTop = top - list.clientHeight / 3;
      renderList();
    }
  }
  function applyFilter() {
    const q = $("filter").value.trim().toLowerCase();
    const onlyFailed = $("only-failed").checked, onlyDiffers = $("only-differs").checked;
    if (!q && !onlyFailed && !onlyDiffers) shown = null;
    else {
      const keep = [];
      for (let i = 0; i < N; i++) {
        if ((onlyFailed && !failed(i)) || (onlyDiffers && !differs(i))) continue;
        if (q && !text(i).toLowerCase().includes(q) && !(differs(i) && rows[i][6].toLowerCase().includes(q))) continue;
        keep.push(i);
      }
      shown = Int32Array.from(keep);
    }
    $("filter-count").textContent = shown ? `${shown.length} of ${plural(N, "call")}` : plural(N, "call");
    list.scrollTop = 0;
    renderList();
    scrollListTo(selected);
  }
  let filterTimer = 0;
  $("filter").addEventListener("input", () => { clearTimeout(filterTimer); filterTimer = setTimeout(applyFilter, 150); });
  $("only-failed").addEventListener("change", applyFilter);
  $("only-differs").addEventListener("change", applyFilter);

  /* ---- the picked call ------------------------------------------------------------ */
  function reasonsFor(call, errno) {
    return D.errnos.find((e) => e.call === call && e.errno === errno);
  }
  function renderErrno(i) {
    const box = $("call-errno");
    box.textContent = "";
    const name = callName(i), seen = new Set();
    for (const [who, result] of [["In the model, ", modelResult(i)], ["In the log, ", logResult(i)]]) {
      const errno = errnoIn(result);
      if (!errno || seen.has(errno)) continue;
      seen.add(errno);
      const known = reasonsFor(name, errno);
      const div = el("div", "box");
      div.append(el("b", "", `${differs(i) ? who : ""}${name} failed with ${errno}`), known ? ` (${known.text}). In this model that means one of:` : ".");
      if (known) { const ul = el("ul"); for (const r of known.reasons) ul.append(el("li", "", r)); div.append(ul); }
      else div.append(el("div", "", `The model never returns ${errno} for ${name}.`));
      box.append(div);
    }
    if (D.notes[name]) box.append(el("div", "box note", D.notes[name]));
  }
  function renderMoved(i) {
    const box = $("call-moved");
    box.textContent = "";
    const moved = rows[i][4];
    if (!moved && (callName(i) !== "mremap" || failed(i))) return;
    box.append(el("h3", "", "Page-table entries moved"));
    if (!moved || !(moved[0] || moved[1] || moved[2])) {
      box.append(el("p", "subtle", "No page-table entry moved: no page of the old range had been touched, so there was nothing to move" +
        (lineNo(i) !== null ? " (a replayed log has no memory accesses, so its mappings hold no pages)." : ".")));
      if (!moved) return;
    }
    const table = el("table", "moved"), most = Math.max(1, ...moved);
    for (const [what, why, k] of MOVED) {
      if (!moved[k] && k === 3) continue;
      const tr = el("tr");
      const bar = el("span", "bar");
      bar.style.width = Math.max(moved[k] ? 3 : 0, (160 * moved[k]) / most) + "px";
      const barCell = el("td");
      barCell.append(bar);
      tr.append(el("th", "", what), el("td", "mono", String(moved[k])), barCell, el("td", "subtle", why));
      table.append(tr);
    }
    box.append(table);
  }
  function renderWhy(i) {
    const box = $("call-why");
    box.textContent = "";
    const why = D.why[String(i)];
    if (!why || !why.length) return;
    box.append(el("h3", "", "Why this path"));
    const ul = el("ul");
    for (const line of why) ul.append(el("li", "", line));
    box.append(ul);
  }
  function flowNode(node, depth, limit) {
    const li = el("li");
    const kids = node.slice(3);
    const toggle = el("span", "toggle", kids.length ? "▾" : "");
    li.append(toggle, el("span", "fn", D.functions[node[0]]), "(" + node[1] + ")");
    if (node[2] !== null) li.append(" = ", el("span", node[2].startsWith("-E") ? "res err" : "res", node[2]));
    if (kids.length) {
      const ul = el("ul");
      for (const kid of kids) ul.append(typeof kid === "string" ? el("li", "note", "/* " + kid + " */") : flowNode(kid, depth + 1, limit));
      li.append(ul);
      const calls = kids.filter((k) => typeof k !== "string").length;
      const more = el("span", "more", `  { ${calls ? plural(calls, "call") : "notes"} folded }`);
      const fold = (on) => { li.classList.toggle("folded", on); toggle.textContent = on ? "▸" : "▾"; more.hidden = !on; };
      li.insertBefore(more, ul);
      fold(limit > 0 && depth + 1 >= limit);
      toggle.addEventListener("click", () => fold(!li.classList.contains("folded")));
    }
    return li;
  }
  function renderFlow(i) {
    const box = $("call-flow");
    box.textContent = "";
    const index = rows[i][3];
    if (index < 0) {
      box.append(el("p", "subtle", D.flowsDropped
        ? `This call's flow was not kept: a report keeps call flows up to ${D.flowBudget} function calls (mremap calls and failures twice that), and ${plural(D.flowsDropped, "call")} went past it. \`vmsim replay LOG --show tree\` prints every one.`
        : "No call flow for this call."));
      return;
    }
    const limit = Number($("flow-depth").value);
    const ul = el("ul");
    for (const node of D.flows[index]) ul.append(flowNode(node, 0, limit));
    box.append(ul);
  }
  function mapsLine(id, cls, prefix, suffix) {
    const span = el("span", cls, prefix + entry(id).line.replace(/\s+$/, "") + suffix);
    if (!cls) span.style.display = "block";
    return span;
  }
  function renderMaps() {
    const pre = $("call-maps");
    pre.textContent = "";
    const inAfter = new Set(after), inBefore = new Set(before);
    if (mapsTab === "changes") {
      const diff = changes(before, after);
      if (!diff.length) pre.append(el("span", "subtle", "No line changed."));
      for (const [mark, id, old] of diff) {
        const was = old !== undefined ? "   (was " + entry(old).line.split(/\s+/).slice(0, 2).join(" ") + ")" : "";
        pre.append(mapsLine(id, { "+": "add", "-": "del", "~": "chg" }[mark], mark + " ", was));
      }
    } else if (mapsTab === "before") {
      for (const id of before) pre.append(mapsLine(id, inAfter.has(id) ? "" : "del", "", ""));
    } else {
      for (const id of after) pre.append(mapsLine(id, inBefore.has(id) ? "" : "add", "", ""));
    }
  }
  for (const tab of document.querySelectorAll(".tab")) {
    tab.addEventListener("click", () => {
      mapsTab = tab.dataset.tab;
      for (const t of document.querySelectorAll(".tab")) t.classList.toggle("active", t === tab);
      if (selected >= 0) renderMaps();
    });
  }
  function renderOutcome(i) {
    const p = $("call-outcome");
    p.textContent = "";
    if (differs(i)) {
      p.append(el("b", "differs-text", "The model differs from the log: "), `it returned ${rows[i][6]}, the log says ${logResult(i)}.`);
    } else if (lineNo(i) !== null) {
      p.append(el("b", "ok", "The model agrees with the log: "), `it returned ${logResult(i)} too.`);
    } else {
      p.append(el("b", failed(i) ? "bad" : "ok", "Result: "), logResult(i));
    }
  }
  function select(i) {
    if (i < 0 || i >= N) return;
    selected = i;
    before = mapsBefore(i);
    after = before.slice();
    applyOps(after, rows[i][5]);
    $("call-title").textContent = `Call ${label(i)} of ${N}: ${callName(i)}` + (lineNo(i) !== null ? ` (strace line ${lineNo(i)})` : "");
    $("call-line").textContent = text(i);
    renderOutcome(i);
    renderErrno(i);
    renderWhy(i);
    renderMoved(i);
    renderFlow(i);
    renderMaps();
    drawMap();
    drawTimeline();
    renderList();
    scrollListTo(i);
    ptDefault(i);
    try { history.replaceState(null, "", "#call-" + (i + 1)); } catch (err) { /* not allowed for this page */ }
  }
  $("zoom-call").addEventListener("click", zoomToCall);
  $("zoom-reset").addEventListener("click", () => { view = null; drawMap(); });
  const depthSelect = $("flow-depth");
  for (const [v, t] of [[0, "none (show all)"], [1, "1"], [2, "2"], [3, "3"], [4, "4"], [5, "5"], [6, "6"]]) {
    const o = el("option", "", t);
    o.value = v;
    depthSelect.append(o);
  }
  depthSelect.addEventListener("change", () => { if (selected >= 0) renderFlow(selected); });

  /* ---- page tables ---------------------------------------------------------------- */
  const LEVELS = [["PGD", "pgd", 39n, "512 GiB"], ["PUD", "pud", 30n, "1 GiB"], ["PMD", "pmd", 21n, "2 MiB"], ["PTE", "pte", 12n, "4 KiB"]];
  function tablesAt(i) {
    let found = [];
    for (const [index, tables] of D.tables) { if (index <= i) found = tables; else break; }
    return found;
  }
  const bitSet = (bitmap, k) => (parseInt(bitmap[127 - (k >> 2)], 16) >> (k & 3)) & 1;
  function popcount(bitmap) { let n = 0; for (const c of bitmap) { let d = parseInt(c, 16); while (d) { n += d & 1; d >>= 1; } } return n; }
  const ptes = (leaf) => (typeof leaf === "string" ? popcount(leaf) : leaf);
  function ptDefault(i) {
    const result = modelResult(i);
    let addr = null;
    if ((callName(i) === "mmap" || callName(i) === "mremap") && /^0x[0-9a-f]+$/.test(result)) addr = result;
    else { const c = changes(before, after)[0]; if (c) addr = hex(entry(c[1]).start); }
    if (addr) $("pt-address").value = addr;
    walk();
  }
  function field(cls, name, bits, value, width) {
    const box = el("div", "pt-field " + cls);
    box.append(el("span", "label", name), el("span", "value", String(value)), el("span", "binary", value.toString(2).padStart(width, "0")), el("span", "bits", bits));
    return box;
  }
  function walk() {
    const steps = $("pt-steps"), bits = $("pt-bits");
    steps.textContent = "";
    bits.textContent = "";
    $("pt-when").textContent = selected >= 0 ? "after call " + label(selected) : "";
    const tables = tablesAt(selected);
    renderTableList(tables);
    let a;
    try { a = BigInt(/^0x/i.test($("pt-address").value.trim()) ? $("pt-address").value.trim() : "0x" + $("pt-address").value.trim()); } catch (err) { a = -1n; }
    if (a < 0n || a >= 1n << 64n) { steps.append(el("li", "bad", "Type an address in hex, such as 0x7ffff7fbd000.")); return; }
    const idx = LEVELS.map(([, , shift]) => Number((a >> shift) & 511n));
    const sign = Number(a >> 48n), offset = Number(a & 0xfffn);
    bits.append(field("sign", "sign", "bits 63–48", sign, 16));
    LEVELS.forEach(([name, cls, shift], k) => bits.append(field(cls, name + " index", `bits ${Number(shift) + 8}–${Number(shift)}`, idx[k], 9)));
    bits.append(field("off", "offset", "bits 11–0", offset, 12));
    const high = (a >> 47n) & 1n;
    if (BigInt(sign) !== (high ? 0xffffn : 0n)) { steps.append(el("li", "bad", "Not canonical: bits 63–48 must copy bit 47, so the CPU faults before any table is read.")); return; }
    const vma = after.map(entry).find((e) => e.start <= a && a < e.end);
    steps.append(el("li", "", vma ? "Inside the mapping " + vma.line.replace(/\s+$/, "") : "No mapping covers this address: touching it is a segmentation fault."));
    if (high) { steps.append(el("li", "subtle", "The kernel's half of the address space: the model keeps no page tables there ([vsyscall] is emulated).")); return; }
    let level = tables;
    for (let k = 0; k < 4; k++) {
      const [name, , shift, span] = LEVELS[k];
      const base = (a >> shift) << shift, end = base + (1n << shift);
      const hit = k < 3 ? level.find((e) => e[0] === idx[k]) : null;
      if (k < 3 && !hit) {
        steps.append(el("li", "", `${name} entry ${idx[k]} is empty: no page tables exist under this ${span} slot (${hex(base)} – ${hex(end)}); the walk stops here and an access would fault.`));
        return;
      }
      if (k < 2) { steps.append(el("li", "", `${name} entry ${idx[k]} points to a ${LEVELS[k + 1][0]} table (${hit[1].length} of 512 entries used).`)); level = hit[1]; continue; }
      if (k === 2) {
        const n = ptes(hit[1]);
        steps.append(el("li", "", `${name} entry ${idx[k]} points to a PTE table (${n} of 512 pages present in ${hex(base)} – ${hex(end)}).`));
        level = hit[1];
        continue;
      }
      if (typeof level !== "string") { steps.append(el("li", "subtle", "PTE " + idx[k] + ": this report keeps only counts for so many tables.")); return; }
      steps.append(el("li", bitSet(level, idx[k]) ? "ok" : "", bitSet(level, idx[k])
        ? `PTE ${idx[k]} is present: a 4 KiB page is mapped; the offset ${hex(BigInt(offset))} picks the byte in it.`
        : `PTE ${idx[k]} is not present: the first access would fault a page in${vma ? "" : " — if a mapping covered it"}.`));
    }
  }
  function renderTableList(tables) {
    const box = $("pt-list");
    box.textContent = "";
    let pmdTables = 0, pteTables = 0, present = 0, listed = 0;
    for (const [pgd, puds] of tables) {
      for (const [pud, pmds] of puds) {
        pmdTables++;
        for (const [pmd, leaf] of pmds) {
          pteTables++;
          present += ptes(leaf);
          if (listed++ >= 300) continue;
          const base = (BigInt(pgd) << 39n) | (BigInt(pud) << 30n) | (BigInt(pmd) << 21n);
          const link = el("a", "", `${hex(base)} – ${hex(base + 0x200000n)}`);
          link.addEventListener("click", () => { $("pt-address").value = hex(base); walk(); });
          const line = el("div");
          line.append(link, `  PGD ${pgd} → PUD ${pud} → PMD ${pmd}: ${plural(ptes(leaf), "PTE")} present`);
          box.append(line);
        }
      }
    }
    if (listed > 300) box.append(el("div", "subtle", `… and ${listed - 300} more`));
    $("pt-counts").textContent = `Tables in the model: ${plural(tables.length, "PUD table")}, ${plural(pmdTables, "PMD table")}, ${plural(pteTables, "PTE table")}, ${plural(present, "present PTE")} (${human(present * 4096)} of pages).`;
  }
  $("pt-walk").addEventListener("click", walk);
  $("pt-address").addEventListener("keydown", (ev) => { if (ev.key === "Enter") walk(); });

  /* ---- summary and errno table ---------------------------------------------------- */
  function indexOfLine(line) {
    for (let i = 0; i < N; i++) if (rows[i][0] === line) return i;
    return -1;
  }
  function renderSummary() {
    const box = $("summary"), s = D.summary;
    const stat = (strong, rest, cls) => { const d = el("div", "stat " + (cls || "")); d.append(el("b", "", strong), " " + rest); box.append(d); return d; };
    const per = Object.entries(s.calls || {}).map(([k, v]) => `${k} ${v}`).join(", ");
    stat(String(N), word(N, "memory call") + (per ? ` (${per})` : ""));
    const failures = Object.values(D.errors).reduce((a, b) => a + b, 0);
    if (failures) stat(String(failures), "failed in the model: " + Object.entries(D.errors).map(([k, v]) => `${k} ×${v}`).join(", "), "bad");
    if (s.checked !== undefined) {
      const wrong = rows.reduce((n, r) => n + ((r[2] & DIFFERS) ? 1 : 0), 0);
      stat(`${s.checked - wrong} of ${s.checked}`, `${word(s.checked, "result")} predicted by the model (${(100 * s.accuracy).toFixed(1)}%)`, wrong ? "differs-text" : "ok");
      if (s.mismatches && s.mismatches.length) {
        const d = stat("Differences:", "", "differs-text"), ul = el("ul");
        for (const m of s.mismatches.slice(0, 8)) {
          const li = el("li"), a = el("a", "", m), line = Number((/^line (\d+)/.exec(m) || [])[1]);
          a.href = "#";
          a.addEventListener("click", (ev) => { ev.preventDefault(); const i = indexOfLine(line); if (i >= 0) select(i); });
          li.append(a);
          ul.append(li);
        }
        d.append(ul);
      }
      const skipped = Object.entries(s.skipped || {});
      if (skipped.length) stat("Skipped:", skipped.map(([k, v]) => `${k} ${v}`).join(", "));
      // The report keeps the first few messages and counts them all.
      const unread = s.unreadable_lines || (s.bad_lines ? s.bad_lines.length : 0);
      if (unread) stat(String(unread), word(unread, "line") + " could not be read: " + s.bad_lines.slice(0, 3).join("; "), "bad");
      for (const line of s.unmodelled_text || []) box.append(el("div", "stat bad", line));
    }
    if (s.program_output && s.program_output.length) stat("Program output:", s.program_output.join(" / "));
    if (s.kernel_maps_match !== undefined) {
      stat(s.kernel_maps_match ? "Matches the kernel:" : "Differs from the kernel:", "the model's maps after the mremap, compared byte for byte with the live 6.18 kernel's", s.kernel_maps_match ? "ok" : "bad");
    }
  }
  function renderErrnoTable() {
    const body = document.querySelector("#errno-table tbody");
    const seen = (e) => D.errors[e.call + " " + e.errno] || 0;
    const sorted = D.errnos.slice().sort((a, b) => (seen(b) > 0) - (seen(a) > 0));
    for (const e of sorted) {
      const tr = el("tr", seen(e) ? "seen" : "");
      const ul = el("ul");
      for (const r of e.reasons) ul.append(el("li", "", r));
      const what = el("td");
      what.append(el("div", "subtle", e.text), ul);
      tr.append(el("td", "mono", e.call), el("td", "mono", e.errno), el("td", "", seen(e) ? String(seen(e)) : ""), what);
      body.append(tr);
    }
    for (const note of Object.values(D.notes)) $("errno-notes").append(el("div", "box note", note));
  }

  /* ---- start ---------------------------------------------------------------------- */
  legendInto($("map-legend"), [
    ...Object.keys(D.palette).map((k) => [D.palette[k], D.kindLabels[k]]),
    ["#263238", "executable (dark top edge)"], ["#4caf50", "read-only (pale)", 0.6], ["#4caf50", "no access (faint)", 0.25],
  ]);
  legendInto($("timeline-legend"), [
    ...D.names.map((n) => [CALL_COLOURS[n] || "#455a64", n]), [BAD, "failed"], [PURPLE, "differs from the log (top mark)"],
  ]);
  renderSummary();
  renderErrnoTable();
  $("filter-count").textContent = plural(N, "call");
  computePicks();
  if (N) {
    const wanted = Number((/^#call-(\d+)$/.exec(location.hash) || [])[1]) - 1;
    const firstMremap = D.names.indexOf("mremap") < 0 ? -1 : rows.findIndex((r) => r[2] >> 2 === D.names.indexOf("mremap"));
    select(wanted >= 0 && wanted < N ? wanted : Math.max(firstMremap, 0));
  } else {
    $("call-title").textContent = "No memory calls in this source.";
    drawTimeline();
    renderList();
  }
  let resizeTimer = 0;
  window.addEventListener("resize", () => {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(() => { computePicks(); drawTimeline(); if (selected >= 0) drawMap(); renderList(); }, 100);
  });
  document.documentElement.dataset.ready = "true";
  window.vmsimReadyMs = performance.now();
})();
