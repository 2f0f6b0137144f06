// faults.mjs — the demo/test layer's fault switches (server/DESIGN.md "The demo/test
// layer"), applied to every stream from outside the library: through its `intercept` seam
// (server/node/index.mjs) and by wrapping `handle` / `upgrade`.
//
// Modes (POST /admin/fault {"mode", "ms"?}):
//   none       everything works
//   refuse     upgrades answered 403 (no 101)
//   blackhole  upgrades accepted by TCP and never answered (until restart or the client gives up)
//   stall      new sockets say hello, then silence (no frame out, every frame in ignored, no
//              close); sockets already open freeze too, and stay frozen until they close
//   flap       sockets work, then close (1001) after `ms` (default 500)
//   slow       every poll answer is held `ms` (long polls after they resolve)
//   close      upgrades accepted, then closed (1011) before hello
// Shedding (config `shed: {status: 429|503, retryAfter}`) answers every request to a stream
// URL — polls, POSTs and upgrades — with that status and Retry-After; not OPTIONS.
// A mode applies to upgrades made while it is set; restart() drops every socket, held
// poll and black-holed upgrade.

export const FAULT_MODES = ['none', 'refuse', 'blackhole', 'stall', 'flap', 'slow', 'close'];

/**
 * @param {{isLive: (req) => boolean, helloOf: (stream, subprotocol) => Promise<object>, refuse: (socket, status, code, message, headers?) => void,
 *          headers: () => object, cors: (req) => object}} deps
 */
export function createFaults({ isLive, helloOf, refuse, headers, cors }) {
    const state = { mode: 'none', ms: 500, shed: null };
    const sockets = new Map(); // ws -> {frozen}
    const pending = new Set(); // responses to stream URLs not finished yet
    const blackholes = new Set();

    function set(mode, ms) {
        if (!FAULT_MODES.includes(mode)) throw new RangeError(`unknown fault mode ${JSON.stringify(mode)}`);
        state.mode = mode;
        if (ms !== undefined) state.ms = ms;
        else if (mode === 'flap') state.ms = 500;
        if (mode === 'stall') for (const s of sockets.values()) s.frozen = true;
        return { mode: state.mode, ms: state.ms };
    }

    function shedAnswer() {
        const { status, retryAfter } = state.shed;
        return {
            status,
            code: status === 429 ? 'too_many_requests' : 'unavailable',
            message: 'server is shedding load; retry later',
            headers: { 'Retry-After': retryAfter },
        };
    }

    /** handle(req, res) with shedding, and every stream response tracked for restart(). */
    function wrapHandle(handle) {
        return (req, res) => {
            if (!isLive(req)) return handle(req, res);
            if (state.shed && req.method !== 'OPTIONS') {
                const a = shedAnswer();
                const body = JSON.stringify({ error: a.code, message: a.message });
                res.writeHead(a.status, {
                    ...a.headers,
                    'Content-Type': 'application/json; charset=utf-8',
                    'Content-Length': Buffer.byteLength(body),
                    'Cache-Control': 'no-store',
                    ...cors(req),
                });
                res.end(body);
                return true;
            }
            pending.add(res);
            res.on('close', () => pending.delete(res));
            return handle(req, res);
        };
    }

    /** upgrade(req, socket, head) with shedding, refuse and blackhole. */
    function wrapUpgrade(upgrade) {
        return (req, socket, head) => {
            if (!isLive(req)) return upgrade(req, socket, head);
            socket.on('error', () => {});
            if (state.shed) {
                const a = shedAnswer();
                refuse(socket, a.status, a.code, a.message, { ...headers(), ...a.headers });
                return true;
            }
            if (state.mode === 'refuse') return (refuse(socket, 403, 'refused', 'fault: refuse', headers()), true);
            if (state.mode === 'blackhole') {
                blackholes.add(socket);
                socket.on('close', () => blackholes.delete(socket));
                return true;
            }
            return upgrade(req, socket, head);
        };
    }

    const intercept = {
        socket(ws, req, stream) {
            const s = { frozen: false };
            sockets.set(ws, s);
            ws.on('close', () => sockets.delete(ws));
            const mode = state.mode;
            if (mode === 'close') {
                ws.close(1011, 'fault: close');
                return true;
            }
            if (mode === 'stall') {
                helloOf(stream, ws.protocol).then(
                    (hello) => {
                        if (ws.readyState === ws.OPEN) ws.send(JSON.stringify(hello));
                        s.frozen = true;
                    },
                    () => ws.terminate(),
                );
                return true;
            }
            if (mode === 'flap') {
                const t = setTimeout(() => ws.close(1001, 'fault: flap'), state.ms);
                ws.on('close', () => clearTimeout(t));
            }
            return false;
        },
        muted: (ws) => sockets.get(ws)?.frozen === true,
        delay: () => (state.mode === 'slow' ? state.ms : 0),
    };

    /** Drop every socket, held poll and black-holed upgrade (what a process restart does to them). */
    function dropAll() {
        for (const ws of sockets.keys()) ws.terminate();
        for (const res of pending) res.destroy();
        for (const s of blackholes) s.destroy();
    }

    return {
        state,
        set,
        wrapHandle,
        wrapUpgrade,
        intercept,
        dropAll,
        get wsOpen() {
            return sockets.size;
        },
        get held() {
            return pending.size;
        },
    };
}
