// words.mjs — the demo pages' words for what a Lifeline did, shared by index.html (app.mjs)
// and script.html: one sentence per statechange that is true of this page.
//
// A reason code alone cannot say it: "upgrade" after a fresh load's race poll answered
// first is not a switch *back* (nothing had failed), and "fallback_remembered" means this
// connection (a page load, or a new Lifeline made by "Reconnect this page") started on
// polling — not that a page loaded. So each Lifeline gets a narrator that remembers what
// happened to it: whether it has seen a WebSocket fail (or started on a remembered
// fallback) since the WebSocket last served, and whether it has been open yet.

export const TRANSPORT = { none: 'Not connected', websocket: 'WebSocket', longpoll: 'Long polling', poll: 'Polling', resource: 'Resource polling' };
export const STATE = {
    idle: 'idle',
    connecting: 'connecting…',
    open: 'live',
    reconnecting: 'reconnecting…',
    paused: 'paused',
    offline: 'offline',
    closed: 'closed',
};
export const CAUSE = {
    none: '',
    start: 'starting up',
    ws_hello: 'the WebSocket said hello',
    ws_refused: 'the server refused the WebSocket upgrade',
    ws_blackhole: 'the WebSocket never answered (black hole)',
    ws_no_hello: 'the WebSocket opened but never said hello',
    ws_stalled: 'the WebSocket went silent and missed a ping (stalled)',
    ws_flapping: 'the WebSocket kept dropping right after it connected (flapping)',
    ws_closed: 'the WebSocket closed',
    ws_server_error: 'the server sent an error on the WebSocket',
    ws_bad_frame: 'the server sent a malformed WebSocket frame',
    poll_ok: 'an HTTP poll answered',
    fallback_remembered: 'the WebSocket failed here a short while ago (remembered for this site), so this connection started on polling',
    upgrade: 'the WebSocket answered hello again',
    http_error: 'the server answered with an HTTP error',
    network_error: 'a request failed on the network',
    retry_after: 'the server asked to come back later (Retry-After)',
    hidden: 'the tab is hidden',
    visible: 'the tab is visible again',
    offline: 'the browser went offline',
    online: 'the browser is back online',
    pagehide: 'the page was left (navigation or back/forward cache)',
    pageshow: 'the page came back from the back/forward cache',
    freeze: 'the browser froze this background tab',
    resume: 'the browser resumed this tab',
    closed_by_app: 'the page closed the connection',
};
export const WS_FAILURES = new Set(['ws_refused', 'ws_blackhole', 'ws_no_hello', 'ws_stalled', 'ws_flapping', 'ws_closed', 'ws_server_error', 'ws_bad_frame']);
export const POLLING = new Set(['longpoll', 'poll', 'resource']);

export const lower = (s) => s.charAt(0).toLowerCase() + s.slice(1);
export const upper = (s) => s.charAt(0).toUpperCase() + s.slice(1);
const cause = (reason) => CAUSE[reason] ?? reason.replace(/_/g, ' ');

/** A narrator for one Lifeline: tell(state, transport, reason) → one sentence (no final
 *  full stop). websocket: false when the page turned WebSockets off. */
export function narrator({ websocket = true } = {}) {
    let prev = { state: 'idle', transport: 'none' };
    let failed = false; // a WebSocket failed (or the fallback was remembered) since one last served
    let polled = false; // ... and polling carried the page since
    let wasOpen = false;
    let served = false; // a WebSocket served this Lifeline before
    const sentence = (state, transport, reason) => {
        const T = TRANSPORT[transport] ?? transport;
        const why = cause(reason);
        if (state === 'open' && transport === 'websocket') {
            if (polled) return 'Switched back up to WebSocket: it answered hello, so polling stopped';
            if (failed || served) return 'Reconnected over WebSocket: the server said hello';
            return 'Connected over WebSocket: the server said hello'; // a race poll that answered first failed nothing
        }
        if (state === 'open' && POLLING.has(transport)) {
            const t = lower(T);
            if (WS_FAILURES.has(reason)) return polled && prev.state === 'open' ? `Still on ${t}: ${why}` : `Fell back to ${t}: ${why}`;
            if (reason === 'fallback_remembered')
                return wasOpen
                    ? `Still on ${t}: the WebSocket failed here a short while ago; WebSocket probes continue in the background`
                    : `Started on ${t}: the WebSocket failed here a short while ago (remembered for this site); WebSocket probes continue in the background`;
            if (prev.state === 'open' && prev.transport === 'websocket') return `Fell back to ${t}: ${why}`;
            if (!websocket) return `Live over ${t}: ${why} (WebSockets are off for this page)`;
            if (reason === 'poll_ok')
                return failed
                    ? `Live over ${t}: ${why}; the WebSocket is being tried again`
                    : `Live over ${t}: ${why} first; the WebSocket is still connecting`;
            return `Live over ${t}: ${why}`;
        }
        if (state === 'connecting') {
            if (reason === 'start')
                return websocket
                    ? 'Connecting: trying a WebSocket, with an HTTP poll racing beside it unless it opens at once'
                    : 'Connecting: polling over HTTP (WebSockets are off for this page)';
            if (reason === 'fallback_remembered') return `Connecting over polling: ${why}`;
            return `Connecting: ${why}`;
        }
        if (state === 'paused') return `Paused: ${why || 'the tab is hidden'}. Nothing is requested until the page is back`;
        if (state === 'offline') return `Offline: ${why || 'no network'}. Waiting for the network to come back`;
        if (state === 'reconnecting') return `Reconnecting: ${why}`;
        if (state === 'closed') return `Closed: ${why || 'the connection was closed'}`;
        return `${upper(STATE[state] ?? state)}${transport !== 'none' ? ' over ' + lower(T) : ''}${why ? ': ' + why : ''}`;
    };
    return (state, transport, reason) => {
        if (WS_FAILURES.has(reason) || reason === 'fallback_remembered') failed = true;
        const text = sentence(state, transport, reason);
        if (state === 'open') {
            wasOpen = true;
            if (transport === 'websocket') ((failed = polled = false), (served = true));
            else if (failed) polled = true;
        }
        prev = { state, transport };
        return text;
    };
}
