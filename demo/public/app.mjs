// app.mjs — the Lifeline demo page: a live value, a shared counter and chat, and the
// connection as a person wants to see it (badge, reason in words, stats, a 3-minute
// timeline), which server process answered each request, plus fault buttons that drive the
// demo server's /admin API.
//
// Three named streams, one Lifeline each: `ticker` (the server's tick), `counter` (+1s) and
// `chat`. The badge, the reason and the timeline's band follow `ticker` (the one that always
// moves); the stats add up all three; each stream's own state is a chip under the reason.
//
// Everything from the network is rendered as text (textContent / SVG attributes), never as
// markup. No framework, no external assets. Works with demo/server.mjs, demo/flask, and
// `make demo-cluster` (nginx round robin over both on Redis).
//
// Query parameters become Lifeline options, to try the policy by hand:
//   /?hiddenGrace=2000&probeMin=1000   integer options (see dist/lifeline.d.ts)
//   /?websocket=0                      polling only;  /?cursor=<c>  every stream resumes there (default 0)

import { servedBy } from './served-by.mjs';
import { TRANSPORT, STATE, CAUSE, POLLING, lower, upper, narrator } from './words.mjs';

const LIVE_PREFIX = '/live/';
const STREAMS = ['ticker', 'counter', 'chat'];
const MAIN_STREAM = 'ticker';
const WINDOW_MS = 180_000; // the timeline shows the last 3 minutes
const SAMPLE_MS = 250; // live.stats.requests is sampled this often
const SPARK_POINTS = 90;
const CHAT_LINES = 12;
const HISTORY_LINES = 14; // all shown in full: the list never scrolls inside itself
const SERVED_STRIP = 60; // answers shown in the served-by strip
const SVG_NS = 'http://www.w3.org/2000/svg';

const $ = (id) => document.getElementById(id);
const now = () => performance.now();
const clock = (ms = Date.now()) => new Date(ms).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit' });

// ------------------------------------------------------------------ words

const ERROR_WORDS = {
    ws_failed: 'WebSocket failed',
    network: 'Network error',
    timeout: 'Request timed out',
    http_status: 'HTTP error',
    server_error: 'Server error',
    bad_frame: 'Malformed frame from the server',
    bad_response: 'Malformed response from the server',
    too_large: 'Message too large',
    too_deep: 'Message nested too deeply',
    cursor_backwards: 'Cursor went backwards',
    send_rejected: 'Send rejected',
    send_overflow: 'Too many sends waiting',
    send_too_large: 'Send too large',
    closed: 'Closed',
};
const FAULT_WORDS = {
    none: 'none — the server is healthy',
    refuse: 'refuse — WebSocket upgrades are answered 403',
    blackhole: 'black hole — WebSocket upgrades are never answered',
    stall: 'stall — open WebSockets go silent',
    flap: 'flap — WebSockets close right after hello',
    slow: 'slow — every poll is answered late',
    close: 'close — WebSockets close before hello',
};

/** The badge: [big word, small word]. */
function badgeWords(state, transport) {
    const T = TRANSPORT[transport] ?? transport;
    switch (state) {
        case 'open':
            return [T, 'live'];
        case 'paused':
            return ['Paused', 'nothing requested'];
        case 'offline':
            return ['Offline', 'waiting for the network'];
        case 'closed':
            return ['Closed', 'stopped'];
        case 'connecting':
        case 'reconnecting':
            return transport === 'none' ? [upper(state.replace(/ing$/, 'ing…')), ''] : [T, STATE[state]];
        default:
            return ['Starting', STATE[state] ?? state];
    }
}

/** The colour family of a (state, transport) pair, for the badge and the timeline band. */
function kindOf(state, transport) {
    if (state === 'open') return transport === 'websocket' ? 'websocket' : transport === 'longpoll' ? 'longpoll' : 'poll';
    if (state === 'paused') return 'paused';
    if (state === 'offline' || state === 'closed') return 'down';
    if (state === 'idle') return 'none';
    return 'connecting';
}

function bytes(n) {
    if (n < 1024) return `${n} B`;
    if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} kB`;
    return `${(n / 1024 / 1024).toFixed(2)} MB`;
}

function seconds(ms) {
    if (ms < 1000) return `${Math.round(ms)} ms`;
    return `${(ms / 1000).toFixed(ms < 10_000 ? 1 : 0)} s`;
}

function svg(name, attrs = {}, parent) {
    const el = document.createElementNS(SVG_NS, name);
    for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
    parent?.appendChild(el);
    return el;
}

// ------------------------------------------------------------------ page state

const view = {
    state: 'idle',
    transport: 'none',
    reason: 'none',
    states: [], // [{t, kind, state, transport}] state changes (timeline band)
    samples: [], // [{t, n}] request deltas
    msgTimes: [], // message arrival times
    marks: [], // [{t, label}] fault switches and restarts
    ticks: [], // [{t, value}] the live value
    lastTick: null,
    count: 0,
    chat: [],
};

function history(text, kind = 'info') {
    const ol = $('history');
    const li = document.createElement('li');
    li.dataset.kind = kind;
    const time = document.createElement('time');
    time.dateTime = new Date().toISOString();
    time.textContent = clock();
    const span = document.createElement('span');
    span.textContent = text;
    li.append(time, span);
    ol.prepend(li);
    while (ol.children.length > HISTORY_LINES) ol.lastElementChild.remove();
}

function setPaused() {
    const hidden = document.visibilityState === 'hidden' || view.state === 'paused';
    $('paused').hidden = !hidden;
}

/** f(e) for the last of the events that come in one burst (one task): a state that was
 *  over before the page could show it is not told — e.g. the start's "connecting" when the
 *  Lifeline learns from its storage, right after creating its socket, that this site's
 *  WebSocket failed a short while ago (it closes the socket and starts on polling). */
function lastOfBurst(f) {
    let last;
    return (e) => {
        if (!last)
            queueMicrotask(() => {
                const told = last;
                last = null;
                f(told);
            });
        last = e;
    };
}

/** The main stream's change, told by its narrator (words.mjs) as `sentence`. */
function showState(state, transport, reason, sentence) {
    Object.assign(view, { state, transport, reason });
    const kind = kindOf(state, transport);
    view.states.push({ t: now(), kind, state, transport });

    const badge = $('badge');
    badge.dataset.kind = kind;
    const [main, sub] = badgeWords(state, transport);
    $('badge-transport').textContent = main;
    $('badge-state').textContent = sub;
    $('reason').textContent = sentence + '.';
    $('reason-time').textContent = `Since ${clock()} · reason code “${reason}”`;
    document.title = `${state === 'paused' ? '⏸' : state === 'open' ? '●' : '○'} ${TRANSPORT[transport] ?? transport} — Lifeline demo`;
    setPaused();
    history(sentence, kind);
}

// ------------------------------------------------------------------ stats and timeline

/** Who runs the connection: tabs of this origin on the same stream share one (docs/client.md "Several tabs"). */
function showSharing() {
    const live = window.lifeline;
    if (!live) return;
    const { role } = live;
    const { tabs } = live.stats;
    let words;
    if (role === 'solo') words = 'This tab has a connection of its own (no sharing in this browser).';
    else if (tabs <= 1) words = `This tab alone uses its connection (it ${role === 'leader' ? 'leads' : 'is joining'}); tabs opened later share it.`;
    else words = `Connection shared by ${tabs} tabs, this one ${role === 'leader' ? 'leads' : 'follows'}.`;
    $('sharing').textContent = words;
}

function showStats(s) {
    let interval;
    if (view.transport === 'websocket') interval = 'not polling';
    else if (view.transport === 'longpoll' && !s.interval) interval = 'held open';
    else interval = s.interval ? seconds(s.interval) : '—';
    $('st-interval').textContent = interval;
    $('st-rtt').textContent = s.rtt ? `${Math.round(s.rtt)} ms` : '—';
    $('st-requests').textContent = String(s.requests);
    $('st-ws').textContent = String(s.wsOpened);
    $('st-in').textContent = bytes(s.bytesIn);
    $('st-out').textContent = bytes(s.bytesOut);
    $('st-messages').textContent = String(s.messages);
    $('st-reconnects').textContent = String(s.reconnects);
    showSharing();
}

function prune(t) {
    const from = t - WINDOW_MS - 2000;
    while (view.samples.length && view.samples[0].t < from) view.samples.shift();
    while (view.msgTimes.length && view.msgTimes[0] < from) view.msgTimes.shift();
    while (view.marks.length && view.marks[0].t < from) view.marks.shift();
    while (view.states.length > 1 && view.states[1].t < from) view.states.shift();
}

const TL = { gutter: 62, markTop: 0, bandTop: 16, bandH: 24, reqTop: 46, reqH: 18, msgTop: 70, msgH: 18, axisY: 104, H: 110 };

function drawTimeline() {
    const el = $('timeline');
    const W = Math.max(240, Math.round(el.clientWidth || 600));
    const t1 = now();
    const t0 = t1 - WINDOW_MS;
    prune(t1);
    const x0 = TL.gutter;
    const span = W - x0 - 4;
    const X = (t) => x0 + ((t - t0) / WINDOW_MS) * span;

    el.setAttribute('viewBox', `0 0 ${W} ${TL.H}`);
    el.setAttribute('height', TL.H);
    el.replaceChildren();

    // Row labels and guides.
    const label = (y, text) => {
        const tx = svg('text', { x: x0 - 8, y, 'text-anchor': 'end', class: 'tl-label' }, el);
        tx.textContent = text;
    };
    label(TL.bandTop + TL.bandH / 2 + 4, 'transport');
    label(TL.reqTop + TL.reqH / 2 + 4, 'requests');
    label(TL.msgTop + TL.msgH / 2 + 4, 'messages');
    svg('rect', { x: x0, y: TL.bandTop, width: span, height: TL.bandH, class: 'tl-bg', rx: 3 }, el);
    svg('line', { x1: x0, x2: x0 + span, y1: TL.reqTop + TL.reqH, y2: TL.reqTop + TL.reqH, class: 'tl-base' }, el);
    svg('line', { x1: x0, x2: x0 + span, y1: TL.msgTop + TL.msgH, y2: TL.msgTop + TL.msgH, class: 'tl-base' }, el);

    // Minute grid and axis.
    for (let m = 0; m <= 3; m++) {
        const x = X(t1 - m * 60_000);
        if (m > 0 && m < 3) svg('line', { x1: x, x2: x, y1: TL.bandTop, y2: TL.msgTop + TL.msgH, class: 'tl-grid' }, el);
        const tx = svg('text', { x, y: TL.axisY, 'text-anchor': m === 0 ? 'end' : m === 3 ? 'start' : 'middle', class: 'tl-axis' }, el);
        tx.textContent = m === 0 ? 'now' : `−${m} min`;
    }

    // Band: one rectangle per run of the same colour.
    const totals = {};
    const runs = [];
    view.states.forEach((s, i) => {
        const a = Math.max(s.t, t0);
        const b = i + 1 < view.states.length ? view.states[i + 1].t : t1;
        if (b <= a) return;
        totals[s.kind] = (totals[s.kind] ?? 0) + (b - a);
        const last = runs.at(-1);
        if (last && last.kind === s.kind && last.b >= a) last.b = b;
        else runs.push({ a, b, kind: s.kind, label: `${TRANSPORT[s.transport] ?? s.transport} · ${s.state}` });
    });
    for (const r of runs) {
        const rect = svg('rect', { x: X(r.a), y: TL.bandTop, width: Math.max(1, X(r.b) - X(r.a)), height: TL.bandH, class: `band b-${r.kind}` }, el);
        svg('title', {}, rect).textContent = r.label;
    }

    // Requests: a tick per sample with new requests, taller for more.
    let d = '';
    let nreq = 0;
    for (const s of view.samples) {
        if (s.t < t0) continue;
        nreq += s.n;
        const h = Math.min(TL.reqH, 7 + 4 * (s.n - 1));
        const x = X(s.t).toFixed(1);
        d += `M${x} ${TL.reqTop + TL.reqH}v${-h}`;
    }
    svg('path', { d, class: 'tl-req' }, el);

    // Messages: a tick per arrival.
    d = '';
    let nmsg = 0;
    for (const t of view.msgTimes) {
        if (t < t0) continue;
        nmsg++;
        d += `M${X(t).toFixed(1)} ${TL.msgTop + TL.msgH}v${-TL.msgH + 4}`;
    }
    svg('path', { d, class: 'tl-msg' }, el);

    // Fault switches, newest first: each label measured as drawn; one that would overlap a
    // newer one (or leave the chart) is left out, its line stays.
    let free = Infinity; // labels must end left of this x
    for (const m of [...view.marks].reverse()) {
        if (m.t < t0) continue;
        const x = X(m.t);
        svg('line', { x1: x, x2: x, y1: TL.markTop + 12, y2: TL.msgTop + TL.msgH, class: 'tl-mark' }, el);
        const tx = svg('text', { y: TL.markTop + 10, class: 'tl-mark-text' }, el);
        tx.textContent = m.label;
        const w = (tx.getComputedTextLength?.() || 7.5 * m.label.length) + 2;
        const right = x + 3 + w > x0 + span; // no room on the right: end at the line
        const left = right ? x - 3 - w : x + 3;
        if (left + w > free || left < 0) {
            tx.remove();
            continue;
        }
        tx.setAttribute('x', left);
        free = left - 6;
    }

    const parts = Object.entries(totals)
        .sort((a, b) => b[1] - a[1])
        .map(([k, ms]) => `${k} ${Math.round(ms / 1000)} s`);
    $('timeline-desc').textContent =
        `Connection over the last 3 minutes: ${parts.join(', ') || 'no data yet'}; ${nreq} HTTP requests and ${nmsg} messages received.`;
}

// ------------------------------------------------------------------ the live value

function drawSpark() {
    const el = $('spark');
    const W = Math.max(200, Math.round(el.clientWidth || 400));
    const H = 120;
    el.setAttribute('viewBox', `0 0 ${W} ${H}`);
    el.setAttribute('height', H);
    el.replaceChildren();
    const pts = view.ticks.slice(-SPARK_POINTS);
    if (pts.length < 2) {
        const tx = svg('text', { x: W / 2, y: H / 2, 'text-anchor': 'middle', class: 'tl-axis' }, el);
        tx.textContent = pts.length ? 'one value so far…' : 'waiting for data…';
        return;
    }
    const vals = pts.map((p) => p.value);
    let lo = Math.min(...vals);
    let hi = Math.max(...vals);
    if (hi - lo < 1) ((lo -= 0.5), (hi += 0.5));
    const pad = 10;
    const right = 44; // room for the min/max labels
    const slots = Math.max(30, pts.length); // spread the first values, then scroll
    const X = (i) => pad + (i / (slots - 1)) * (W - pad - right);
    const Y = (v) => pad + (1 - (v - lo) / (hi - lo)) * (H - 2 * pad);
    const offset = slots - pts.length; // fill from the right
    for (const [v, cls] of [
        [hi, 'max'],
        [lo, 'min'],
    ]) {
        svg('line', { x1: pad, x2: W - right + 4, y1: Y(v), y2: Y(v), class: 'spark-grid' }, el);
        const tx = svg('text', { x: W - right + 8, y: Y(v) + 4, class: `tl-axis spark-${cls}` }, el);
        tx.textContent = v.toFixed(1);
    }
    const line = pts.map((p, i) => `${X(i + offset).toFixed(1)},${Y(p.value).toFixed(1)}`);
    svg('path', { d: `M${line.join('L')}L${X(offset + pts.length - 1).toFixed(1)},${H - pad}L${X(offset).toFixed(1)},${H - pad}Z`, class: 'spark-area' }, el);
    svg('polyline', { points: line.join(' '), class: 'spark-line' }, el);
    const last = pts[pts.length - 1];
    svg('circle', { cx: X(offset + pts.length - 1), cy: Y(last.value), r: 4, class: 'spark-dot' }, el);
    $('spark-desc').textContent = `The last ${pts.length} values, between ${lo.toFixed(1)} and ${hi.toFixed(1)}; now ${last.value.toFixed(2)}.`;
}

function onTick(data) {
    const value = Number(data.value);
    if (!Number.isFinite(value)) return;
    const t = Number.isFinite(data.t) ? data.t : Date.now();
    const prev = view.ticks.at(-1);
    view.ticks.push({ t, value });
    if (view.ticks.length > SPARK_POINTS) view.ticks.shift();
    view.lastTick = { t, at: Date.now() };
    $('tick-value').textContent = value.toFixed(2);
    const delta = $('tick-delta');
    if (prev) {
        const dv = value - prev.value;
        delta.textContent = `${dv >= 0 ? '▲' : '▼'} ${Math.abs(dv).toFixed(2)}`;
        delta.dataset.dir = dv >= 0 ? 'up' : 'down';
        delta.setAttribute('aria-label', `${dv >= 0 ? 'up' : 'down'} ${Math.abs(dv).toFixed(2)}`);
    }
    const every = prev ? ` · every ${seconds(t - prev.t)}` : '';
    const lag = Math.max(0, Date.now() - t);
    const how = lag < 60_000 ? `reached this page ${seconds(lag)} later` : 'replayed from the server’s log';
    $('tick-meta').textContent = `Published ${clock(t)}${every} · ${how}`;
}

// ------------------------------------------------------------------ counter and chat

function showChat() {
    const ol = $('chat-log');
    ol.replaceChildren(
        ...view.chat.map((m) => {
            const li = document.createElement('li');
            if (m.system) {
                li.className = 'system';
                li.textContent = m.text;
                return li;
            }
            const who = document.createElement('b');
            who.textContent = m.name;
            const text = document.createElement('span');
            text.textContent = m.text;
            li.append(who, text);
            return li;
        }),
    );
    $('chat-empty').hidden = view.chat.length > 0;
}

function pushChat(entry) {
    view.chat.push(entry);
    if (view.chat.length > CHAT_LINES) view.chat.shift();
    showChat();
}

function onMessage(stream, data) {
    if (!data || typeof data !== 'object') return;
    if (stream === 'ticker' && data.kind === 'tick') return onTick(data);
    if (stream === 'counter' && data.kind === 'inc') {
        view.count++;
        $('count').textContent = String(view.count);
        return;
    }
    if (stream === 'chat' && data.kind === 'chat') {
        const name =
            String(data.name ?? 'someone')
                .slice(0, 24)
                .trim() || 'someone';
        const text = String(data.text ?? '').slice(0, 200);
        if (text) pushChat({ name, text });
    }
}

function status(id, text, kind = '') {
    const el = $(id);
    el.textContent = text;
    el.dataset.kind = kind;
}

// ------------------------------------------------------------------ served by

const served = { procs: new Map(), strip: [], ws: {} }; // name -> {n, poll, send, websocket, colour}
const UNKNOWN = '(not named)';

function colourOf(name) {
    let p = served.procs.get(name);
    if (!p) {
        // golden-angle hues: neighbours in order of first sight stay far apart
        const hue = Math.round((served.procs.size * 137.5 + 140) % 360);
        p = { n: 0, poll: 0, send: 0, websocket: 0, colour: `hsl(${hue} 65% 48%)` };
        served.procs.set(name, p);
    }
    return p;
}

function onAnswer(a) {
    const name = a.server ?? UNKNOWN;
    const p = colourOf(name);
    p.n++;
    p[a.kind]++;
    served.strip.push({ ...a, name });
    if (served.strip.length > SERVED_STRIP) served.strip.shift();
    if (a.kind === 'websocket') served.ws[a.stream] = name;
    if (document.visibilityState !== 'hidden') showServed();
}

function showServed() {
    $('served-procs').replaceChildren(
        ...[...served.procs].map(([name, p]) => {
            const li = document.createElement('li');
            li.dataset.server = name;
            li.style.setProperty('--c', p.colour);
            const b = document.createElement('b');
            b.textContent = name;
            const parts = [
                `${p.poll} poll${p.poll === 1 ? '' : 's'}`,
                `${p.send} send${p.send === 1 ? '' : 's'}`,
                `${p.websocket} WebSocket${p.websocket === 1 ? '' : 's'}`,
            ];
            li.append(b, ` ${parts.join(' · ')}`);
            return li;
        }),
    );
    $('served-strip').replaceChildren(
        ...served.strip.map((a) => {
            const li = document.createElement('li');
            li.dataset.server = a.name;
            li.dataset.kind = a.kind;
            li.style.setProperty('--c', served.procs.get(a.name).colour);
            li.title = `${clock(a.t)} ${a.stream} ${a.kind === 'websocket' ? 'WebSocket hello' : a.kind === 'send' ? 'send (POST)' : 'poll'} ${a.status} from ${a.name}`;
            return li;
        }),
    );
    const ws = ['all', ...STREAMS].filter((s) => served.ws[s]).map((s) => `${s == 'all' ? `all ${STREAMS.length} streams` : s} → ${served.ws[s]}`);
    $('served-ws').textContent = ws.length
        ? `Latest WebSocket per stream: ${ws.join(' · ')}. Squares: polls and sends; dots: WebSocket hellos.`
        : 'WebSockets: none said hello yet.';
}

// ------------------------------------------------------------------ faults (admin API)

async function admin(path, body) {
    const res = await fetch(path, {
        method: body === undefined ? 'GET' : 'POST',
        headers: body === undefined ? {} : { 'Content-Type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
        cache: 'no-store',
    });
    let json = null;
    try {
        json = await res.json();
    } catch {}
    return { ok: res.ok, status: res.status, json, server: res.headers.get('Lifeline-Served-By') };
}

/** " (on node-1)" when the answer named its process. */
const onServer = (r) => (r.server ? ` (on ${r.server})` : '');

const FAULT_HINTS = {
    none: 'A page on polling switches back up at its next WebSocket probe.',
    refuse: 'It hits the next WebSocket a page opens: press “Reconnect this page” or open a new tab.',
    blackhole: 'It hits the next WebSocket a page opens: press “Reconnect this page” or open a new tab.',
    flap: 'It hits the next WebSockets a page opens: press “Reconnect this page” or open a new tab.',
    close: 'It hits the next WebSocket a page opens: press “Reconnect this page” or open a new tab.',
    stall: 'The open WebSocket goes quiet now: the page notices within seconds.',
    slow: 'It delays HTTP polls, so it shows after a fallback to polling.',
};

function showFault(mode) {
    for (const b of document.querySelectorAll('button.fault')) b.setAttribute('aria-pressed', String(b.dataset.mode === mode));
    status(
        'fault-status',
        mode ? `Active fault: ${FAULT_WORDS[mode] ?? mode}.` : 'Active fault: unknown (this server does not say).',
        mode && mode !== 'none' ? 'warn' : '',
    );
    $('fault-hint').textContent = (mode && FAULT_HINTS[mode]) || '';
}

function adminUnavailable(why) {
    for (const b of document.querySelectorAll('.faults button:not(#reconnect)')) b.disabled = true;
    status('fault-status', why, 'error');
}

async function setupFaults() {
    try {
        const r = await admin('/admin/config');
        if (r.status === 403) return adminUnavailable('The admin API answers only this machine (loopback), so the fault buttons are off.');
        if (!r.ok) return adminUnavailable(`The admin API is not available here (HTTP ${r.status}).`);
        showFault(r.json?.fault?.mode ?? null);
    } catch {
        showFault(null);
    }
    for (const b of document.querySelectorAll('button.fault')) {
        b.addEventListener('click', async () => {
            const mode = b.dataset.mode;
            const body = { mode };
            if (mode === 'flap') body.ms = 500;
            if (mode === 'slow') body.ms = 1500;
            b.disabled = true;
            try {
                const r = await admin('/admin/fault', body);
                if (r.ok) {
                    showFault(r.json?.mode ?? mode);
                    if (r.server) $('fault-hint').textContent = `Set on ${r.server}. ${$('fault-hint').textContent}`;
                    view.marks.push({ t: now(), label: mode === 'none' ? 'healthy' : mode });
                    history(`Fault switched${onServer(r)}: ${FAULT_WORDS[mode] ?? mode}`, 'fault');
                    b.disabled = false;
                } else if (r.status === 400) {
                    b.title = `This server has no “${mode}” mode`;
                    b.querySelector('span').textContent = 'not on this server';
                    status('fault-status', `This server does not support the “${mode}” mode (HTTP 400); that button is now off.`, 'error');
                } else {
                    b.disabled = false;
                    status('fault-status', `Could not switch the fault: HTTP ${r.status} ${r.json?.message ?? ''}`, 'error');
                }
            } catch (e) {
                b.disabled = false;
                status('fault-status', `Could not reach the admin API: ${e.message}`, 'error');
            }
        });
    }
    $('restart').addEventListener('click', async () => {
        const b = $('restart');
        b.disabled = true;
        try {
            const r = await admin('/admin/restart', {});
            if (r.ok) {
                view.marks.push({ t: now(), label: 'restart' });
                history(`Server restarted${onServer(r)}: its connections dropped and (memory store) its log was emptied`, 'fault');
                status(
                    'fault-status',
                    `Server${onServer(r)} restarted at ${clock()}. ${$('fault-status').dataset.kind === 'warn' ? 'The fault mode stays as it was.' : ''}`.trim(),
                );
            } else if (r.status === 400 || r.status === 404) {
                b.title = 'This server cannot restart itself';
                status('fault-status', `This server cannot restart itself (HTTP ${r.status}).`, 'error');
                return;
            } else {
                status('fault-status', `Restart failed: HTTP ${r.status}`, 'error');
            }
        } catch (e) {
            status('fault-status', `Could not reach the admin API: ${e.message}`, 'error');
        }
        b.disabled = false;
    });
}

// ------------------------------------------------------------------ start

async function main() {
    setupFaults();
    let Lifeline;
    try {
        ({ Lifeline } = await import('/dist/lifeline.mjs'));
    } catch (e) {
        $('reason').textContent = `Could not load /dist/lifeline.mjs (${e.message}). Build it with “make build”.`;
        $('badge').dataset.kind = 'down';
        $('badge-transport').textContent = 'No runtime';
        $('badge-state').textContent = 'not loaded';
        return;
    }

    // cursor '0': replay everything the server retains, so a new tab sees the same counter.
    const options = { cursor: '0' };
    for (const [k, v] of new URLSearchParams(location.search)) {
        if (k === 'cursor') options.cursor = v;
        else if (/^\d{1,12}$/.test(v)) options[k] = Number(v);
    }
    const io = servedBy(onAnswer);
    // One Lifeline per stream at a time; "Reconnect this page" replaces each with a new one
    // that resumes from the old one's cursor (so nothing is lost or repeated). Counters add
    // up across them and across the streams.
    const feeds = Object.fromEntries(STREAMS.map((s) => [s, { live: null, state: 'idle', transport: 'none' }]));
    const base = { requests: 0, wsOpened: 0, bytesIn: 0, bytesOut: 0, messages: 0, reconnects: 0 };
    // The streams ride one connection (protocol v2) when the server speaks it: then its
    // counts are the main stream's; messages are each stream's own.
    const stats = () => {
        const main = feeds[MAIN_STREAM].live.stats;
        const out = { ...main }; // interval and rtt: the main stream's
        const pooled = main.streams == STREAMS.length;
        for (const k in base) out[k] = base[k] + (pooled && k != 'messages' ? main[k] : STREAMS.reduce((sum, s) => sum + feeds[s].live.stats[k], 0));
        return out;
    };
    const showStreams = () => {
        const main = feeds[MAIN_STREAM],
            pooled = main.live.stats.streams == STREAMS.length && main.state == 'open';
        $('streams-note').textContent = pooled ? `${STREAMS.length} streams over one ${main.transport == 'websocket' ? 'WebSocket' : 'long poll'}` : '';
        $('streams').replaceChildren(
            ...STREAMS.map((s) => {
                const f = feeds[s];
                const li = document.createElement('li');
                li.dataset.stream = s;
                li.dataset.kind = kindOf(f.state, f.transport);
                li.textContent = `${s}: ${TRANSPORT[f.transport] ?? f.transport} · ${STATE[f.state] ?? f.state}`;
                return li;
            }),
        );
    };
    const connect = (stream, opts) => {
        const feed = feeds[stream];
        let next;
        try {
            next = new Lifeline(LIVE_PREFIX + stream, { ...opts, ...io });
        } catch (e) {
            $('reason').textContent = `Lifeline did not start: ${e.message}`;
            $('badge').dataset.kind = 'down';
            $('badge-transport').textContent = 'Not started';
            $('badge-state').textContent = 'bad option';
            return false;
        }
        feed.live = next;
        const live = next;
        const tell = narrator({ websocket: opts.websocket !== 0 }); // this Lifeline's own story
        window.lifelines = Object.fromEntries(STREAMS.map((s) => [s, feeds[s].live])); // the console, demo/screenshot.mjs, tests
        if (stream === MAIN_STREAM) window.lifeline = live;
        const mine = (f) => (e) => e.target === feed.live && f(e); // ignore a replaced instance
        live.addEventListener(
            'statechange',
            mine(
                lastOfBurst((e) => {
                    feed.state = e.state;
                    feed.transport = e.transport;
                    showStreams();
                    const sentence = tell(e.state, e.transport, e.reason);
                    if (stream === MAIN_STREAM) showState(e.state, e.transport, e.reason, sentence);
                    else history(`${stream}: ${sentence}`, kindOf(e.state, e.transport));
                    showStats(stats()); // once per change even while hidden, so the page is right when seen
                    drawTimeline();
                }),
            ),
        );
        live.addEventListener('rolechange', mine(showSharing));
        live.addEventListener(
            'message',
            mine((e) => {
                view.msgTimes.push(now());
                onMessage(stream, e.data);
                if (stream === 'ticker') spark();
            }),
        );
        live.addEventListener(
            'reset',
            mine((e) => {
                if (stream === 'counter') {
                    view.count = 0;
                    $('count').textContent = '0';
                }
                if (stream === 'chat') pushChat({ system: true, text: '— the server lost the chat’s history: it starts over —' });
                history(
                    `Reset of ${stream}: the server no longer has cursor ${e.from}; continuing from ${e.to}${stream === 'counter' ? '. Counter restarted at 0' : ''}`,
                    'fault',
                );
            }),
        );
        live.addEventListener(
            'error',
            mine((e) => {
                let what = ERROR_WORDS[e.code] ?? `Error “${e.code}”`;
                if (e.code === 'ws_failed' && POLLING.has(feed.transport) && feed.state === 'open')
                    what = `WebSocket failed (the stream stays on ${lower(TRANSPORT[feed.transport])})`;
                const why = e.reason && e.reason !== 'none' ? (CAUSE[e.reason] ?? e.reason) : '';
                const detail = e.message && e.message !== e.code ? ` (${e.message})` : '';
                history(`${stream}: ${what}${why ? ': ' + why : ''}${detail}`, 'down');
            }),
        );
        return true;
    };
    let sparkDirty = false;
    const spark = () => {
        if (sparkDirty) return;
        sparkDirty = true;
        requestAnimationFrame(() => {
            sparkDirty = false;
            drawSpark();
        });
    };
    for (const stream of STREAMS) if (!connect(stream, options)) return;
    showStreams();
    $('reconnect').disabled = false;
    // Every old Lifeline closes first (its connection with it), then a new one per stream
    // resumes from the old one's cursor: they ride one new connection, all three streams
    // resumed in one step (the URL's, and one sub frame for the others).
    $('reconnect').addEventListener('click', () => {
        const at = Object.fromEntries(STREAMS.map((s) => [s, feeds[s].live.cursor ?? undefined]));
        history(`Reconnecting this page from its cursors (${STREAMS.map((s) => `${s} ${at[s] ?? 'now'}`).join(', ')}): a new Lifeline per stream`, 'info');
        const old = stats();
        for (const k in base) base[k] = old[k]; // the counts so far stay on the page
        for (const stream of STREAMS) {
            const prev = feeds[stream].live;
            feeds[stream].live = null; // events from closing it are ignored
            prev.close();
        }
        for (const stream of STREAMS) connect(stream, { ...options, cursor: at[stream] });
    });

    // Requests per 250 ms for the timeline; stats and drawings refresh on the same beat.
    let lastReq = 0;
    setInterval(() => {
        const s = stats();
        const n = s.requests - lastReq;
        lastReq = s.requests;
        if (n > 0) view.samples.push({ t: now(), n });
        if (document.visibilityState === 'hidden') return; // nobody looks: do not draw
        showStats(s);
        drawTimeline();
    }, SAMPLE_MS);
    document.addEventListener('visibilitychange', () => {
        setPaused();
        if (document.visibilityState === 'visible') {
            showServed();
            showStats(stats());
            drawTimeline();
            drawSpark();
        }
    });
    new ResizeObserver(() => {
        drawTimeline();
        drawSpark();
    }).observe($('main'));

    // Sends: +1 and chat.
    const send = async (stream, data, statusId, okText) => {
        status(statusId, 'Sending…');
        try {
            await feeds[stream].live.send(data);
            status(statusId, okText, 'ok');
        } catch (e) {
            status(statusId, `Not sent: ${e.code ?? e.message}`, 'error');
        }
    };
    $('inc').addEventListener('click', () => send('counter', { kind: 'inc' }, 'inc-status', `+1 acknowledged by the server at ${clock()}`));

    const name = $('chat-name');
    try {
        name.value = localStorage.getItem('lifeline-demo:name') || `guest-${Math.floor(Math.random() * 900 + 100)}`;
    } catch {
        name.value = `guest-${Math.floor(Math.random() * 900 + 100)}`;
    }
    $('chat-form').addEventListener('submit', (ev) => {
        ev.preventDefault();
        const who = name.value.trim().slice(0, 24);
        const text = $('chat-text').value.trim().slice(0, 200);
        if (!who || !text) return;
        try {
            localStorage.setItem('lifeline-demo:name', who);
        } catch {}
        $('chat-text').value = '';
        send('chat', { kind: 'chat', name: who, text }, 'chat-status', `Delivered at ${clock()}`);
    });

    showChat();
    showServed();
    showStats(stats());
    drawTimeline();
    drawSpark();
}

main();
