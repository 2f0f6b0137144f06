// errors.mjs — the errors an application sees (Rejected, StoreUnavailable) and the one the
// handler turns into an HTTP answer (HttpError), made from the spec's error table
// (protocol.mjs ERRORS: status, default message, Allow / Retry-After).

import { ERRORS } from './protocol.mjs';

/**
 * Thrown by an `onSend` hook to refuse a send: the POST answers `status` with
 * `{"error": code, "message": message}`, a WebSocket send gets a rejecting ack with the same
 * code and message. Defaults and the allowed statuses are the spec's (ERRORS.rejected: a 4xx
 * other than 408 and 429 — the client retries those, and a rejection is final); a code that
 * is not a non-empty string or a message that is not a string is a TypeError, another
 * status a RangeError, at construction (as Flask's `Rejected`).
 */
export class Rejected extends Error {
    constructor(code = 'rejected', message = '', status = ERRORS.rejected.status) {
        if (typeof code !== 'string' || !code) throw new TypeError('Rejected: code must be a non-empty string');
        if (typeof message !== 'string') throw new TypeError('Rejected: message must be a string');
        const [min, max] = ERRORS.rejected.statusRange;
        if (!Number.isInteger(status) || status < min || status > max || ERRORS.rejected.statusExcluded.includes(status)) {
            throw new RangeError(`Rejected: status must be in [${min}, ${max}], not ${ERRORS.rejected.statusExcluded.join(' or ')}`);
        }
        super(message || code);
        this.name = 'Rejected';
        this.code = code;
        this.status = status;
        this.reason = message;
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

/** The error table's HTTP answer for `code` (its status, Allow and Retry-After headers). */
export function httpError(code, message, headers = {}) {
    const e = ERRORS[code];
    if (!e || e.status === null) throw new Error(`lifeline: ${code} is not an HTTP error`);
    /** @type {Record<string, string>} */
    const h = { ...headers };
    if (e.allow) h.Allow = e.allow;
    if (e.retryAfter) h['Retry-After'] = e.retryAfter;
    return new HttpError(e.status, code, message ?? e.message, h);
}
