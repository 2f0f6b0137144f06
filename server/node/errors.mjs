// errors.mjs — the errors an application sees (Rejected, StoreUnavailable) and the one the
// handler turns into an HTTP answer (HttpError), made from the spec's error table
// (protocol.mjs ERRORS: status, default message, Allow / Retry-After).

import { ERRORS } from './protocol.mjs';

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
    const h = { ...headers };
    if (e.allow) h.Allow = e.allow;
    if (e.retryAfter) h['Retry-After'] = e.retryAfter;
    return new HttpError(e.status, code, message ?? e.message, h);
}
