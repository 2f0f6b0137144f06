// fakes.mjs — fake I/O for the API tests: a clock with timers, WebSocket, fetch, document,
// window. Everything a Lifeline touches is injected; nothing real happens.

/** A simulated clock: now(), setTimeout/clearTimeout, setInterval/clearInterval, advance(ms) fires due timers. */
export function fakeClock() {
    let now = 0,
        next = 1;
    const timers = new Map();
    const c = {
        now: () => now,
        setTimeout: (f, ms) => (timers.set(next, { f, at: now + ms }), next++),
        clearTimeout: (id) => timers.delete(id),
        setInterval: (f, ms) => (timers.set(next, { f, at: now + ms, every: ms }), next++),
        clearInterval: (id) => timers.delete(id),
        armed: () => timers.size,
        /** Advance time, firing timers in order (each may arm new ones). */
        advance(ms) {
            const end = now + ms;
            for (let guard = 0; guard < 10000; guard++) {
                let first;
                for (const [id, t] of timers) if (t.at <= end && (!first || t.at < first[1].at)) first = [id, t];
                if (!first) break;
                now = Math.max(now, first[1].at);
                if (first[1].every) first[1].at += first[1].every;
                else timers.delete(first[0]);
                first[1].f();
            }
            now = end;
        },
    };
    return c;
}

/** A WebSocket class recording its instances (FakeWS.all). */
export function fakeWebSocket() {
    class FakeWS {
        static all = [];
        constructor(url, protocol) {
            Object.assign(this, { url, protocol, sent: [], closed: null, readyState: 0 });
            FakeWS.all.push(this);
        }
        send(text) {
            this.sent.push(text);
        }
        close(code) {
            this.closed = code ?? 1005;
        }
        // server side
        open() {
            this.readyState = 1;
            this.onopen?.({});
        }
        frame(obj) {
            this.onmessage?.({ data: typeof obj == 'string' || obj instanceof ArrayBuffer ? obj : JSON.stringify(obj) });
        }
        drop(code = 1006) {
            this.readyState = 3;
            this.onerror?.({});
            this.onclose?.({ code });
        }
        get last() {
            return this.sent.at(-1);
        }
    }
    return FakeWS;
}

/** A fetch recording requests (f.requests); each answers with reply(status, headers, body)
 *  or fail(); an abort rejects it the way fetch does. */
export function fakeFetch() {
    const requests = [];
    const f = (url, init = {}) =>
        new Promise((resolve, reject) => {
            const r = {
                url,
                init,
                aborted: false,
                reply: (status = 200, headers = {}, body = null) => (
                    (r.done = true),
                    resolve(new Response(status == 204 || status == 304 ? null : body, { status, headers }))
                ),
                fail: () => ((r.done = true), reject(new TypeError('fetch failed'))),
            };
            init.signal?.addEventListener('abort', () => {
                r.aborted = true;
                reject(new DOMException('aborted', 'AbortError'));
            });
            requests.push(r);
        });
    f.requests = requests;
    f.open = () => requests.filter((r) => !r.aborted && !r.done);
    return f;
}

export function fakeDocument(visibilityState = 'visible') {
    const d = new EventTarget();
    d.visibilityState = visibilityState;
    d.set = (v) => ((d.visibilityState = v), d.dispatchEvent(new Event('visibilitychange')));
    d.listeners = 0;
    const add = d.addEventListener.bind(d),
        rm = d.removeEventListener.bind(d);
    d.addEventListener = (...a) => (d.listeners++, add(...a));
    d.removeEventListener = (...a) => (d.listeners--, rm(...a));
    return d;
}

export function fakeWindow(onLine = true) {
    const w = fakeDocument();
    w.navigator = { onLine };
    return w;
}

/** Let promise callbacks (fetch answers, body reads) run. */
export const settle = () => new Promise((r) => setImmediate(r));
