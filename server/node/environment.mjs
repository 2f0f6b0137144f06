// environment.mjs — options from the environment, as a 12-factor deployment sets them:
// LIFELINE_REDIS_URL=redis://… node app.js. The variables are the Flask extension's
// (LIFELINE_<NAME> of its snake_case option names), so one deployment's environment
// configures a Node and a Flask process alike. An option given to createLifeline() wins
// over its variable; a variable that does not parse is an error naming it.

/** Node option -> [variable, kind]. */
const VARIABLES = {
    prefix: ['LIFELINE_URL_PREFIX', 'string'],
    origins: ['LIFELINE_ORIGINS', 'list'], // comma-separated origins, or '*'
    heartbeat: ['LIFELINE_HEARTBEAT', 'integer'],
    longPollMax: ['LIFELINE_LONG_POLL_MAX', 'integer'],
    interval: ['LIFELINE_INTERVAL', 'integer'],
    batch: ['LIFELINE_BATCH', 'integer'],
    retention: ['LIFELINE_RETENTION', 'integer'],
    retentionMs: ['LIFELINE_RETENTION_MS', 'integer'],
    maxBody: ['LIFELINE_MAX_BODY', 'integer'],
    redis: ['LIFELINE_REDIS_URL', 'string'],
    redisKeyPrefix: ['LIFELINE_REDIS_KEY_PREFIX', 'string'],
    trustProxy: ['LIFELINE_TRUST_PROXY', 'boolean'],
};
const BOOLEANS = { 1: true, true: true, yes: true, on: true, 0: false, false: false, no: false, off: false };

/** The options `env` (process.env) sets, as createLifeline takes them. */
export function optionsFromEnvironment(env) {
    const out = {};
    for (const [option, [variable, kind]] of Object.entries(VARIABLES)) {
        const text = (env?.[variable] ?? '').trim();
        if (!text) continue;
        if (kind === 'integer') {
            if (text.toLowerCase() === 'none') out[option] = null;
            else if (/^\d+$/.test(text)) out[option] = Number(text);
            else throw new TypeError(`${variable} must be a whole number, not ${JSON.stringify(text)}`);
        } else if (kind === 'boolean') {
            if (!(text.toLowerCase() in BOOLEANS)) throw new TypeError(`${variable} must be true or false (1/0, yes/no, on/off), not ${JSON.stringify(text)}`);
            out[option] = BOOLEANS[text.toLowerCase()];
        } else if (kind === 'list')
            out[option] =
                text === '*'
                    ? '*'
                    : text
                          .split(',')
                          .map((o) => o.trim())
                          .filter(Boolean);
        else out[option] = text;
    }
    return out;
}
