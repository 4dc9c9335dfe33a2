package demo

// pictureHTML is where the picture goes: the cluster, the timeline and the
// events as text (for screen readers, and for tests to read).
const pictureHTML = `<figure class="picture">
<svg id="cluster" role="img" aria-label="the cluster" viewBox="0 0 960 320"></svg>
<svg id="timeline" role="img" aria-label="recent membership events" viewBox="0 0 960 120"></svg>
<figcaption id="picture-note" class="note"></figcaption>
<ol id="events" class="note"></ol>
</figure>`

const pictureCSS = `
.picture{margin:1rem 0}.picture svg{width:100%;height:auto;display:block;font-family:system-ui,sans-serif}
#events{max-height:10rem;overflow:auto}
`

// pictureJS draws initialStatus, then what /api/status answers every two
// seconds. Colours: green alive, amber no answer or pulling, red failed,
// grey left or stopped; blue owner copies, purple replica copies; gold the
// viewer's session (solid: owner, dashed: replica).
const pictureJS = `(() => {
const NS = "http://www.w3.org/2000/svg";
const C = {alive: "#2e7d32", unknown: "#f9a825", failed: "#c62828", left: "#757575", down: "#bdbdbd",
	owner: "#1565c0", replica: "#7b1fa2", you: "#ffb300", caught: "#0277bd", joined: "#2e7d32"};
const W = 960;
function el(parent, tag, attrs, text) {
	const e = document.createElementNS(NS, tag);
	for (const k in attrs) e.setAttribute(k, attrs[k]);
	if (text !== undefined) e.textContent = text;
	parent.appendChild(e);
	return e;
}
function bytes(n) {
	if (n == null) return "?";
	if (n < 1024) return n + " B";
	if (n < 1 << 20) return (n / 1024).toFixed(1) + " KB";
	return (n / 1048576).toFixed(1) + " MB";
}
function secs(s) { s = s || 0; return s < 1 ? Math.round(s * 1000) + " ms" : s.toFixed(1) + " s"; }
function stateLabel(m) {
	if (m.state === "alive") return m.answered ? "alive" : "no answer";
	return {failed: "failed", left: "left", down: "stopped"}[m.state] || m.state;
}
function stateColor(m) { return m.state === "alive" ? (m.answered ? C.alive : C.unknown) : C[m.state]; }

function bar(g, x, y, w, v, max, color, text) {
	el(g, "text", {x: x, y: y, "font-size": 13, fill: "#333"}, text);
	el(g, "rect", {x: x, y: y + 6, width: w, height: 16, rx: 3, fill: "#eee"});
	el(g, "rect", {x: x, y: y + 6, width: Math.max(v ? 3 : 0, w * v / max), height: 16, rx: 3, fill: color});
}

function drawCluster(svg, st) {
	svg.textContent = "";
	const ms = st.members, n = Math.max(ms.length, 1), top = 86, ch = 200;
	const cw = Math.min(230, (W - 20 * (n + 1)) / n);
	svg.setAttribute("viewBox", "0 0 " + W + " " + (top + ch + 12));
	const defs = el(svg, "defs", {});
	const mk = el(defs, "marker", {id: "arrow", viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 8, markerHeight: 8, orient: "auto-start-reverse"});
	el(mk, "path", {d: "M0,0 L10,5 L0,10 z", fill: C.you});
	const max = Math.max(1, ...ms.map(m => Math.max(m.owned || 0, m.replicas || 0)));
	const x = i => 20 + i * (cw + 20);
	const s = st.session;
	el(svg, "text", {x: 20, y: 22, "font-size": 15, "font-weight": 700, fill: "#222"},
		s ? "Your session " + s.session + ": owner " + s.owner + (s.replica ? ", replica " + s.replica : ", no replica") : "No session yet: increment to create one");
	el(svg, "text", {x: W - 20, y: 22, "font-size": 13, fill: "#555", "text-anchor": "end"}, "as " + st.self + " sees the cluster");
	ms.forEach((m, i) => {
		const g = el(svg, "g", {"data-member": m.name, "data-state": m.state});
		const own = s && s.owner === m.name, rep = s && s.replica === m.name;
		el(g, "rect", {x: x(i), y: top, width: cw, height: ch, rx: 10, fill: m.state === "alive" ? "#fff" : "#fafafa",
			stroke: own || rep ? C.you : "#ccc", "stroke-width": own ? 6 : rep ? 4 : 1.5, "stroke-dasharray": rep ? "10 6" : "none"});
		el(g, "path", {d: "M" + x(i) + "," + (top + 36) + " v-26 a10,10 0 0 1 10,-10 h" + (cw - 20) + " a10,10 0 0 1 10,10 v26 z", fill: stateColor(m)});
		el(g, "text", {x: x(i) + 12, y: top + 24, fill: "#fff", "font-weight": 700, "font-size": 16}, m.name);
		el(g, "text", {x: x(i) + cw - 12, y: top + 24, fill: "#fff", "text-anchor": "end", "font-size": 13}, stateLabel(m));
		if (m.state === "alive" && m.answered) {
			bar(g, x(i) + 12, top + 58, cw - 24, m.owned, max, C.owner, "owner: " + m.owned + (m.owned === 1 ? " session, " : " sessions, ") + bytes(m.owned_bytes));
			bar(g, x(i) + 12, top + 104, cw - 24, m.replicas, max, C.replica, "replica: " + m.replicas + ", " + bytes(m.replica_bytes));
			el(g, "text", {x: x(i) + 12, y: top + 150, "font-size": 13, fill: m.pending ? "#8a6d00" : "#555"},
				m.pending ? "pulling " + m.pending + " partitions" : "every partition complete");
		} else {
			const why = {alive: "did not answer in time", failed: "crashed: its replicas took over", left: "left, handing its sessions over", down: "not running"}[m.state];
			el(g, "text", {x: x(i) + 12, y: top + 70, "font-size": 13, fill: "#555"}, why);
		}
		if (own || rep) {
			el(g, "text", {x: x(i) + cw / 2, y: top + ch - 14, "text-anchor": "middle", "font-size": 14, "font-weight": 700, fill: "#8a6d00"},
				own ? "\u2605 owner of your session" : "replica of your session");
		}
	});
	const oi = s ? ms.findIndex(m => m.name === s.owner) : -1, ri = s ? ms.findIndex(m => m.name === s.replica) : -1;
	if (oi >= 0 && ri >= 0) {
		const x1 = x(oi) + cw / 2, x2 = x(ri) + cw / 2;
		el(svg, "path", {d: "M" + x1 + "," + (top - 4) + " C" + x1 + "," + (top - 44) + " " + x2 + "," + (top - 44) + " " + x2 + "," + (top - 6),
			fill: "none", stroke: C.you, "stroke-width": 3, "marker-end": "url(#arrow)"});
		el(svg, "text", {x: (x1 + x2) / 2, y: top - 38, "text-anchor": "middle", "font-size": 12, fill: "#8a6d00"}, "each write is copied to the replica");
	}
}

function describe(e, evs) {
	switch (e.kind) {
	case "joined": return e.member + " joined (seen by " + e.node + ")";
	case "left": return e.member + " left gracefully (seen by " + e.node + ")";
	case "failed": return e.member + " failed: " + e.node + " declared it dead after " + secs(e.took_seconds) + " of silence";
	case "caught_up": return e.node + " holds all its partitions again (" + e.partitions + " pulled), " + secs(e.took_seconds) +
		(afterFailure(e, evs) ? " after the failed member's last message: its sessions are served again" : " after the membership change");
	}
	return e.kind;
}

// afterFailure reports whether caught-up event e ended the catch-up after a
// failure (the failure was declared while it ran).
function afterFailure(e, evs) {
	if (e.kind !== "caught_up") return false;
	const t = Date.parse(e.time), from = t - (e.took_seconds || 0) * 1000;
	return evs.some(f => f.kind === "failed" && Date.parse(f.time) <= t && Date.parse(f.time) >= from);
}

function drawTimeline(svg, st) {
	svg.textContent = "";
	const now = Date.parse(st.now), evs = st.events;
	const start = e => Date.parse(e.time) - (e.took_seconds || 0) * 1000;
	const t0 = Math.min(now - 20000, ...evs.map(e => start(e) - 0.15 * (now - start(e)) - 2000));
	const lanes = [];
	for (const m of st.members) lanes.push(m.name);
	for (const e of evs) { const l = e.member || e.node; if (!lanes.includes(l)) lanes.push(l); }
	const left = 90, right = 20, lh = 44, top = 28;
	const h = top + lanes.length * lh + 30;
	svg.setAttribute("viewBox", "0 0 " + W + " " + h);
	const X = t => left + (t - t0) / (now - t0) * (W - left - right);
	el(svg, "text", {x: 0, y: 16, "font-size": 14, "font-weight": 700, fill: "#222"}, "Recent events");
	lanes.forEach((l, i) => {
		const y = top + i * lh + lh / 2;
		el(svg, "text", {x: 0, y: y + 4, "font-size": 13, fill: "#333"}, l);
		el(svg, "line", {x1: left, x2: W - right, y1: y, y2: y, stroke: "#e0e0e0"});
	});
	const axis = top + lanes.length * lh + 6;
	el(svg, "line", {x1: left, x2: W - right, y1: axis, y2: axis, stroke: "#999"});
	const span = (now - t0) / 1000, step = [5, 10, 15, 30, 60, 120, 300].find(s => span / s <= 8) || 600;
	for (let s = 0; s <= span; s += step) {
		const xx = X(now - s * 1000);
		el(svg, "line", {x1: xx, x2: xx, y1: axis, y2: axis + 5, stroke: "#999"});
		el(svg, "text", {x: xx, y: axis + 18, "font-size": 11, fill: "#666", "text-anchor": "middle"}, s === 0 ? "now" : (s >= 60 ? "-" + s / 60 + "m" : "-" + s + "s"));
	}
	evs.forEach((e, k) => {
		const lane = lanes.indexOf(e.member || e.node), y = top + lane * lh + lh / 2;
		const t = Date.parse(e.time), g = el(svg, "g", {"data-kind": e.kind});
		el(g, "title", {}, describe(e, evs));
		const color = {joined: C.joined, left: C.left, failed: C.failed, caught_up: C.caught}[e.kind];
		if (e.kind === "failed" || e.kind === "caught_up") {
			el(g, "rect", {x: X(start(e)), y: y - 5, width: Math.max(2, X(t) - X(start(e))), height: 10, rx: 3, fill: color, opacity: 0.35});
		}
		el(g, "circle", {cx: X(t), cy: y, r: 6, fill: color});
		const short = e.kind === "failed" ? "failed, detected in " + secs(e.took_seconds) :
			afterFailure(e, evs) ? "sessions served again after " + secs(e.took_seconds) :
			e.kind === "caught_up" ? "caught up in " + secs(e.took_seconds) : e.kind;
		// Every member reports a join or failure it saw: label it once.
		if (e.member && evs.slice(0, k).some(f => f.kind === e.kind && f.member === e.member && Math.abs(Date.parse(f.time) - t) < 3000)) return;
		const nth = evs.slice(0, k).filter(f => (f.member || f.node) === (e.member || e.node)).length;
		const flip = X(t) > W - 230;
		el(g, "text", {x: flip ? X(t) - 9 : X(t) + 9, y: nth % 2 ? y + 16 : y - 8, "font-size": 11, fill: "#333",
			"text-anchor": flip ? "end" : "start"}, short);
	});
	if (!evs.length) el(svg, "text", {x: left + 10, y: top + 18, "font-size": 13, fill: "#777"}, "nothing yet: crash a node, or start one");
}

function render(st) {
	drawCluster(document.getElementById("cluster"), st);
	drawTimeline(document.getElementById("timeline"), st);
	const list = document.getElementById("events");
	list.textContent = "";
	for (const e of st.events.slice().reverse()) {
		const li = document.createElement("li");
		li.dataset.kind = e.kind;
		li.textContent = new Date(e.time).toLocaleTimeString() + ": " + describe(e, st.events);
		list.appendChild(li);
	}
	document.getElementById("picture-note").textContent =
		"Drawn by " + st.self + " at " + new Date(st.now).toLocaleTimeString() + "; refreshed every 2 seconds.";
	window.__statusDrawn = (window.__statusDrawn || 0) + 1;
}

render(initialStatus);
setInterval(() => {
	fetch("/api/status", {credentials: "same-origin", cache: "no-store"})
		.then(r => r.ok ? r.json() : null).then(st => { if (st) render(st); }).catch(() => {});
}, 2000);
})();`
