// pool.mjs — what a connection carrying several streams needs (protocol v2, issue #23),
// loaded on demand (dist/lifeline-pool.mjs) when a page's second stream of an endpoint
// joins the first one's connection: a page that follows one stream never loads it.
// lifeline.mjs keeps what every connection needs (the pool of hosts by endpoint, routing a
// subscription's events to its instance); this file adds the host's side of pooling to its
// class: adopting a rider as a subscription of the core, releasing one, restarting them,
// and the actions only a table of several subscriptions asks for (the sub and unsub frames,
// the poll of all, a refused stream, a v1 server's split).
//
// It imports nothing: a module the main file imports too would become a third chunk that
// both import. `pooling(Lifeline, shared)` installs the methods, given the main file's own
// pool, queue, withQuery and constants (a list: their names would weigh in the main file).

/** The methods of pooling on Lifeline's prototype; shared: [pools, later, withQuery,
 *  SUBS_MAX, POLL_PARAM, POLL_SEPARATOR, ACT_WS_SUB, ACT_WS_UNSUB, ACT_POLL, ACT_REFUSED,
 *  ACT_SPLIT]. */
export function pooling(Lifeline, [pools, later, withQuery, SUBS_MAX, POLL_PARAM, POLL_SEPARATOR, ACT_WS_SUB, ACT_WS_UNSUB, ACT_POLL, ACT_REFUSED, ACT_SPLIT]) {
    /** A rider leaves its host and starts again: it hosts, or rides on another. */
    const restart = (l) => ((l._host = 0), (l._sub = 0), l._start(1));
    // (the methods run as members of Lifeline: `this` is an instance)
    Object.assign(
        Lifeline.prototype,
        /** @type {ThisType<any> & Record<string, Function>} */ ({
            /** The instances riding on this one start again (one hosts, the others ride on it). */
            _restartRiders() {
                const riders = this._riders.filter(Boolean).map((r) => r.l);
                this._riders = [];
                riders.forEach(restart);
            },

            /** A rider joins: its stream is subscription i of this host's core (false: no room,
             *  or this host is closing). */
            _adopt(rider, stream, cursor, url) {
                // a stream carried already stays apart (a poll of all names each stream once)
                const carried = (!this._gone && this._stream == stream) || this._riders.some((r) => r && r.stream == stream);
                let i = 1;
                while (this._riders[i]) i++;
                if (this._closed || carried || i >= SUBS_MAX) return false;
                this._riders[i] = { l: rider, stream, url, cursor };
                rider._host = this;
                rider._sub = i;
                if (this._core) this._subscribe(i, cursor);
                return true;
            },

            _subscribe(i, cursor) {
                later(() => this._feed('ll_subscribe', [i, cursor ?? '']));
            },

            /** Subscription i leaves the core; the last one closes the connection (a host the
             *  app closed ran only for its riders). */
            _release(i) {
                if (i) this._riders[i] = 0;
                if (this._core) later(() => this._feed('ll_unsubscribe', [i]));
                if (this._gone && !this._riders.some(Boolean)) this._end();
            },

            /** The subscriptions of a mask (none: every one on the core) as [i, stream, cursor]. */
            _table(mask) {
                return [...Array(SUBS_MAX).keys()]
                    .filter((i) => (mask == null ? this._target(i) : (mask >> i) & 1))
                    .map((i) => [i, i ? this._riders[i].stream : this._stream, this._runtime.cursor(this._core, i)]);
            },

            /** The actions of a table of several subscriptions (lifeline.mjs #act handles the
             *  others). */
            _pooled(action, io) {
                const sub = action.sub;
                switch (action.type) {
                    case ACT_WS_SUB: {
                        // every subscription of the mask in one frame: [s, stream, cursor or null]
                        const subs = this._table(action.subs).map(([i, stream, cursor]) => [i + 1, stream, cursor || null]);
                        return io.ws.send(action.socket, JSON.stringify({ type: 'sub', subs }));
                    }
                    case ACT_WS_UNSUB:
                        return io.ws.send(action.socket, `{"type":"unsub","s":${sub + 1}}`);
                    case ACT_POLL: {
                        // the poll of all: <prefix>/?s=<name>~<cursor>&…, written by hand
                        // (URLSearchParams would escape the separator)
                        const all = this._table(),
                            names = all.map(([, stream, cursor]) => POLL_PARAM + '=' + stream + (cursor ? POLL_SEPARATOR + cursor : ''));
                        return io.http.pollAll(
                            action.request,
                            withQuery(this._endpoint, '', action.wait, names.join('&')),
                            new Map(all.map(([i, stream]) => [stream, i])),
                        );
                    }
                    case ACT_REFUSED:
                        // the server refused this stream (v2): that instance errors and closes, as
                        // a v1 URL refused again and again does; the others ride on
                        this._to(sub, 'error', {
                            code: 'server_error',
                            reason: 'refused',
                            status: 0,
                            message: action.message || action.serverCode,
                            serverCode: action.serverCode,
                        });
                        return this._to(sub, 'statechange', { state: 'closed', transport: 'none', reason: 'refused' });
                    case ACT_SPLIT:
                        // a server of v1: these riders run connections of their own from their
                        // cursors, and this endpoint pools no more
                        if (pools.get(this._key) == this) pools.set(this._key, null);
                        for (const [i] of this._table(action.subs)) {
                            const l = this._riders[i].l;
                            this._riders[i] = 0;
                            restart(l);
                        }
                }
            },
        }),
    );
}
