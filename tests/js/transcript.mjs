// transcript.mjs — the JS port of tests/native/transcript.c: replay a scenario transcript
// (format in tests/native/transcript.h) against the wasm core through the package's own
// loader and driver, on a simulated clock, rendering actions exactly as the C runner does.
import { runtime } from '../../js/loader.mjs';
import { responseHead } from '../../js/http.mjs';
import { driver } from '../../js/driver.mjs';
import { frame, body as decodeBody, bodyAll, withQuery, clientFrame } from '../../js/protocol.mjs';

// the query a request goes out with, spelled by the shim's own code
const query = (cursor, wait) => withQuery('', cursor, wait).slice(1);
import {
    STATES,
    TRANSPORTS,
    REASONS,
    ERRORS,
    CONFIG,
    ACT_WS_OPEN,
    ACT_WS_SEND,
    ACT_WS_CLOSE,
    ACT_POLL,
    ACT_POST,
    ACT_FETCH_CANCEL,
    OUT_SEND,
    FAIL_NETWORK,
    FAIL_TIMEOUT,
    ACT_DELIVER,
    ACT_STATE,
    ACT_ERROR,
    ACT_RESET,
    ACT_ACK,
    ACT_SEND_FAILED,
    ACT_REMEMBER_FALLBACK,
    ACT_FORGET_FALLBACK,
    ACT_WS_SUB,
    ACT_WS_UNSUB,
    ACT_REFUSED,
    ACT_SPLIT,
    SUBS_MAX,
} from '../../js/constants.js';

const enc = new TextEncoder();
const dec = new TextDecoder();
const quoted = (s) => '"' + s.replace(/\r/g, '').replace(/\n/g, '|') + '"';

/** "#<i> " for subscription i > 0 (transcript.c sub_tag). */
const tag = (sub) => (sub ? `#${sub} ` : '');
/** The subscriptions of a mask as #<i>=<cursor> (transcript.c table). */
const table = (mask, cursor) =>
    [...Array(SUBS_MAX).keys()]
        .filter((i) => (mask >> i) & 1)
        .map((i) => `#${i}=${cursor(i) || '-'}`)
        .join(' ');

/** One action as one line (transcript.c render()); msgs: the messages the input carried
 *  (a DELIVER's data is msgs[a].data, shown as JSON; resource mode: the body); subs: the
 *  subscriptions in the table (a mask), cursor(i): one's cursor. */
export function render(a, msgs, subs = 1, cursor = () => '') {
    switch (a.type) {
        case ACT_WS_OPEN:
            return `ws_open ${a.socket} ${tag(a.sub)}${quoted(query(a.cursor, 0))}`;
        case ACT_WS_SEND:
            if (a.frame == OUT_SEND) return `ws_send ${a.socket} send=${a.send}` + (a.sub ? ` s=${a.sub}` : '');
            return `ws_send ${a.socket} ${clientFrame(a.frame) || '""'}`; // a beat: empty
        case ACT_WS_SUB:
            return `ws_sub ${a.socket} ${table(a.subs, cursor)}`;
        case ACT_WS_UNSUB:
            return `ws_unsub ${a.socket} #${a.sub}`;
        case ACT_REFUSED:
            return `refused #${a.sub}` + (a.serverCode ? ` code=${a.serverCode}` : '') + (a.message ? ` ${quoted(a.message)}` : '');
        case ACT_SPLIT:
            return ['split', ...[...Array(SUBS_MAX).keys()].filter((i) => (a.subs >> i) & 1).map((i) => `#${i}`)].join(' ');
        case ACT_WS_CLOSE:
            return `ws_close ${a.socket} ${a.code} ${REASONS[a.reason]}`;
        case ACT_POLL:
            if (a.sub == SUBS_MAX) return `fetch ${a.request} GET all ${quoted(table(subs, cursor))} wait=${a.wait} timeout=${a.timeout}`;
            return `fetch ${a.request} GET ${tag(a.sub)}${quoted(query(a.cursor, a.wait))} timeout=${a.timeout}`;
        case ACT_POST:
            return `fetch ${a.request} POST ${tag(a.sub)}"" timeout=${a.timeout} send=${a.send}`;
        case ACT_FETCH_CANCEL:
            return `fetch_cancel ${a.request}`;
        case ACT_DELIVER: {
            const d = a.body || (msgs?.[a.index] ? JSON.stringify(msgs[a.index].data) : '(no such message)');
            return `deliver ${tag(a.sub)}${a.cursor || '-'} ${dec.decode(enc.encode(d).subarray(0, 200))}`;
        }
        case ACT_STATE:
            return `state ${STATES[a.state]} ${TRANSPORTS[a.transport]} ${REASONS[a.reason]}`;
        case ACT_ERROR:
            return (
                `error ${ERRORS[a.code]} ${REASONS[a.reason]}` +
                (a.status ? ` status=${a.status}` : '') +
                (a.serverCode ? ` code=${a.serverCode}` : '') +
                (a.message ? ` ${quoted(a.message)}` : '')
            );
        case ACT_RESET:
            return `reset ${tag(a.sub)}${a.from} -> ${a.to}`;
        case ACT_ACK:
            return `ack ${a.send}`;
        case ACT_SEND_FAILED:
            return (
                `send_failed ${a.first}..${a.last} ${ERRORS[a.code]}` +
                (a.status ? ` status=${a.status}` : '') +
                (a.serverCode ? ` code=${a.serverCode}` : '') +
                (a.message ? ` ${quoted(a.message)}` : '')
            );
        case ACT_REMEMBER_FALLBACK:
            return `remember_fallback ${a.ttl}`;
        case ACT_FORGET_FALLBACK:
            return 'forget_fallback';
        default:
            return `unknown ${a.type}`;
    }
}

// cursor order for the delivery invariant (re-derived, as in transcript.c)
const pair = (k) => k.split('-').map(BigInt).concat(0n);
const less = (x, y) => {
    const [xa, xb] = pair(x),
        [ya, yb] = pair(y);
    return xa < ya || (xa == ya && xb < yb);
};

/** Replays one transcript through runtime `rt` (the wasm core's by default; the CSP
 *  build's: layout(instance()) of js/core-csp.mjs); returns failures as
 *  ["file:line: message", ...]. */
export function runTranscript(path, text, rt = runtime()) {
    const x = rt.x,
        core = rt.alloc();
    const failures = [],
        fail = (line, msg) => failures.push(`${path}:${line}: ${msg}`);
    let now = 0,
        inputLine = 0,
        subs = 1, // the subscriptions in the core's table, as the shim keeps them
        lastCursor = [],
        actual = [],
        expected = [],
        resource = 0;
    const feed = driver(
        rt,
        core,
        () => now,
        () => 0,
        () => {},
        (a, msgs) => {
            if (a.type == ACT_DELIVER && !resource && a.cursor.length < 60) {
                const last = lastCursor[a.sub];
                if (last && !less(last, a.cursor)) fail(inputLine, `invariant: delivered ${a.cursor} after ${last}`);
                lastCursor[a.sub] = a.cursor;
            }
            if (a.type == ACT_RESET) lastCursor[a.sub] = '';
            if (a.type == ACT_REFUSED) subs &= ~(1 << a.sub);
            if (a.type == ACT_SPLIT) subs &= ~a.subs;
            actual.push(render(a, msgs, subs, (i) => rt.cursor(core, i)));
        },
    );
    const check = () => {
        for (let i = 0; i < Math.max(actual.length, expected.length); i++) {
            const want = expected[i]?.[0] ?? '(nothing)',
                got = actual[i] ?? '(nothing)';
            if (want != got) {
                fail(expected[i]?.[1] ?? inputLine, `expected: ${want}\n    actual: ${got}`);
                break;
            }
        }
        actual = [];
        expected = [];
    };
    const input = (rest, line) => {
        const w = rest.trim().split(' '),
            cmd = w[0],
            id = +w[1];
        const after = (n) => rest.trim().split(' ').slice(n).join(' ');
        switch (cmd) {
            case 'start': {
                let rc;
                feed('ll_start', [+!rest.includes('hidden'), +!rest.includes('offline')], (r) => (rc = r));
                if (rc) actual.push(`returns ${ERRORS[rc]} field=${x.ll_bad_field(core) >= 0 ? CONFIG[x.ll_bad_field(core)] : '-'}`);
                return;
            }
            case 'opened':
                return feed('ll_ws_opened', [id]);
            case 'frame': {
                // decoded as the shim decodes it (js/protocol.mjs)
                const [args, msgs] = frame(rest.trimStart().slice(cmd.length + 1 + w[1].length + 1));
                return feed('ll_ws_frame', [id, ...args], null, msgs);
            }
            case 'closed':
                return feed('ll_ws_closed', [id, +w[2]]);
            case 'http': {
                // [Name: value] headers, decoded by the adapter's own code (js/http.mjs)
                let body = after(3),
                    m;
                const h = {};
                while ((m = /^\[([^\]:]*):\s*([^\]]*)\]\s*/.exec(body))) ((h[m[1].toLowerCase()] = m[2]), (body = body.slice(m[0].length)));
                const bytes = body.startsWith('<<') ? new Uint8Array(parseInt(body.slice(2))).fill(120) : enc.encode(body);
                const head = responseHead((name) => h[name] ?? null);
                if (body.startsWith('sections ')) {
                    // a poll of all, written as its sections (transcript.c sections()): the
                    // answer the server would give, decoded by the shim's own code
                    const streams = {},
                        index = new Map();
                    for (const part of body.slice(9).split(' | ')) {
                        const [, i, rest] = /^#(\d+) (.*)$/.exec(part);
                        index.set('s' + i, +i);
                        streams['s' + i] =
                            rest[0] == '~'
                                ? { reset: rest.slice(1) }
                                : rest[0] == '!'
                                  ? { error: rest.slice(1).split(' ')[0], message: rest.slice(1).split(' ').slice(1).join(' ') }
                                  : JSON.parse(rest);
                    }
                    const all = enc.encode(JSON.stringify({ streams }));
                    const [args, msgs] = bodyAll(all, all.length, index);
                    return feed('ll_http_response', [id, +w[2], ...head, ...args], null, msgs);
                }
                const [args, msgs] = resource ? [[bytes.length, 0, bytes]] : decodeBody(bytes, bytes.length);
                return feed('ll_http_response', [id, +w[2], ...head, ...args], null, msgs);
            }
            case 'failed':
                return feed('ll_http_failed', [id, w[2] == 'timeout' ? FAIL_TIMEOUT : FAIL_NETWORK]);
            case 'timer':
                return feed('ll_timer');
            case 'hidden':
            case 'visible':
                return feed('ll_visibility', [+(cmd == 'visible')]);
            case 'offline':
            case 'online':
                return feed('ll_online', [+(cmd == 'online')]);
            case 'pagehide':
            case 'pageshow':
            case 'freeze':
            case 'resume':
            case 'fallback_remembered':
            case 'ws_unavailable':
            case 'close':
                return feed('ll_' + cmd);
            case 'subscribe': {
                let rc;
                const before = subs;
                subs |= 1 << +w[1]; // before the drain, which renders with it
                feed('ll_subscribe', [+w[1], w[2] ?? ''], (r) => (rc = r));
                if (rc) ((subs = before), actual.push(`returns ${ERRORS[rc]}`));
                return;
            }
            case 'unsubscribe':
                subs &= ~(1 << +w[1]);
                return feed('ll_unsubscribe', [+w[1]]);
            case 'send': {
                let rc;
                feed('ll_send', [w[2]?.[0] == '#' ? +w[2].slice(1) : 0, +w[1]], (r) => (rc = r));
                actual.push(rc > 0 ? `returns ${rc}` : `returns ${ERRORS[-rc]}`);
                return;
            }
            default:
                fail(line, `unknown input ${cmd}`);
        }
    };
    const views = (rest, line) => {
        const [what, ...args] = rest.trim().split(' '),
            arg = args.join(' ');
        if (what == 'deadline') {
            const d = BigInt.asUintN(64, x.ll_next_deadline(core)),
                never = d == 2n ** 64n - 1n;
            if (arg == 'never') return never || fail(line, `deadline ${d}, expected never`);
            const [lo, hi = lo] = arg.split('..').map(BigInt);
            if (never || d < lo || d > hi) fail(line, `deadline ${never ? 'never' : d}, expected ${arg}`);
        } else if (what == 'state') {
            const got = `${STATES[x.ll_state(core)]} ${TRANSPORTS[x.ll_transport(core)]}`;
            if (got != arg) fail(line, `state ${got}, expected ${arg}`);
        } else if (what == 'cursor') {
            const [sub, k] = args[0][0] == '#' ? [+args[0].slice(1), args[1]] : [0, arg];
            const got = rt.cursor(core, sub);
            if (got != k) fail(line, `cursor ${got}, expected ${k}`);
        } else if (what == 'interval' || what == 'rtt') {
            const got = String(what == 'interval' ? x.ll_interval(core) : x.ll_rtt(core));
            if (got != arg) fail(line, `value ${got}, expected ${arg}`);
        } else fail(line, `unknown check ${what}`);
    };

    x.ll_init(core, 1, 0);
    text.split('\n').forEach((line, i) => {
        const n = i + 1;
        if (line[0] == '@') {
            const [, t, rest] = /^@(\S+)\s*(.*)$/.exec(line);
            check();
            if (t == 'next') {
                const d = BigInt.asUintN(64, x.ll_next_deadline(core));
                if (d == 2n ** 64n - 1n) return fail(n, '@next with no deadline');
                now = Number(d);
            } else {
                if (+t < now) fail(n, `time goes backwards at ${t}`);
                now = +t;
            }
            inputLine = n;
            input(rest, n);
        } else if (line[0] == '>') expected.push([line.slice(2), n]);
        else if (line[0] == '?') (check(), views(line.slice(1), n));
        else if (line.startsWith('config '))
            for (const kv of line
                .slice(7)
                .split(' ')
                .filter((s) => s.includes('='))) {
                const [k, v] = kv.split('='),
                    f = CONFIG.indexOf(k);
                if (f < 0 || x.ll_set(core, f, +v)) fail(n, `bad config ${k}=${v}`);
                else if (k == 'resource_mode') resource = +v;
            }
        else if (line.startsWith('cursor ')) {
            if (x.ll_set_cursor(core, ...rt.args([line.slice(7)]))) fail(n, `bad cursor ${line.slice(7)}`);
        } else if (line.startsWith('seed ')) x.ll_init(core, +line.slice(5), 0);
    });
    check();
    feed.stop();
    rt.free(core);
    return failures;
}
