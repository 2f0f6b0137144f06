// websocket.mjs — the WebSocket adapter: WS_OPEN / WS_SEND / WS_CLOSE actions in, socket
// events out as inputs. A socket the core closed is detached: nothing it does later
// reaches the core. An error event needs no input: browsers follow it with a close.
import { BEAT_QUERY, SUBPROTOCOL, SUBPROTOCOL_V2 } from './constants.js';
import { frame, withQuery } from './protocol.mjs';

export function websocket(WS, feed, stats) {
    const socks = new Map();
    return {
        /** Open socket `id` to the stream URL `url`, resuming after `cursor` (empty: from
         *  now); a server of protocol v2 may carry more streams on it. */
        open(id, url, cursor) {
            const ws = new WS(withQuery(url.replace(/^http/, 'ws'), cursor, 0, BEAT_QUERY), [SUBPROTOCOL_V2, SUBPROTOCOL]);
            const on = (name, f) => (ws['on' + name] = (e) => socks.get(id) == ws && f(e));
            socks.set(id, ws);
            stats.wsOpened++;
            ws.binaryType = 'arraybuffer';
            on('open', () => feed('ll_ws_opened', [id]));
            on('message', ({ data }) => {
                const [args, msgs] = frame(data); // binary frames are malformed
                stats.bytesIn += args[1];
                feed('ll_ws_frame', [id, ...args], null, msgs);
            });
            // no input for an error: a close follows it. The listener must exist all the same:
            // the ws package throws an error event nobody listens to.
            ws.onerror = () => {};
            on('close', (e) => (socks.delete(id), feed('ll_ws_closed', [id, e.code])));
        },
        send(id, text) {
            stats.bytesOut += text.length;
            socks.get(id)?.send(text);
        },
        close(id, code) {
            const ws = socks.get(id);
            socks.delete(id);
            try {
                ws?.close(code);
            } catch {
                ws.close(); // a browser accepts only 1000 and 3000-4999
            }
        },
    };
}
