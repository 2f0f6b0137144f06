// errors.mjs — the errors an application sees (Rejected, StoreUnavailable) and the one the
// handler turns into an HTTP answer (HttpError).

/**
 * Thrown by an `onSend` hook to refuse a send: the POST answers `status` with
 * `{"error": code, "message": message}`, a WebSocket send gets a rejecting ack with the same
 * code and message. `status` must be a 4xx other than 408 and 429 (the client retries
 * those, and a rejection is final); anything else becomes 400.
 */
export class Rejected extends Error {
    constructor(code = 'rejected', message = '', status = 400) {
        super(message || code);
        this.name = 'Rejected';
        this.code = typeof code === 'string' && code ? code : 'rejected';
        this.status = Number.isInteger(status) && status >= 400 && status < 500 && status !== 408 && status !== 429 ? status : 400;
        this.reason = typeof message === 'string' ? message : String(message);
    }
}

/** The store's backend (Redis) is unreachable: polls answer 503, sockets close with 1012. */
export class StoreUnavailable extends Error {
    constructor(message = 'the message store is unavailable', options) {
        super(message, options);
        this.name = 'StoreUnavailable';
        /** The `error` code of the 503 answer. */
        this.code = 'unavailable';
    }
}

/** The memory store holds `maxStreams` streams, none idle long enough to go: a new stream's
 *  append is refused with 503 `too_many_streams` + Retry-After (idle streams expire). */
export class TooManyStreams extends StoreUnavailable {
    constructor(message = 'the store holds as many streams as it may', options) {
        super(message, options);
        this.name = 'TooManyStreams';
        this.code = 'too_many_streams';
    }
}

/** An HTTP error answer: `status` with `{"error": code, "message": message}`. */
export class HttpError extends Error {
    constructor(status, code, message, headers = {}) {
        super(message);
        this.status = status;
        this.code = code;
        this.headers = headers;
    }
}
