// environment.mjs — options from the environment, as a 12-factor deployment sets them:
// LIFELINE_REDIS_URL=redis://… node app.js. The variables are the Flask extension's
// (LIFELINE_<NAME> of its snake_case option names), so one deployment's environment
// configures a Node and a Flask process alike. An option given to createLifeline() wins
// over its variable; a variable that does not parse is an error naming it.

import { DEFAULTS, INT_OPTIONS } from './protocol.mjs';

/** The variable of a Node option: LIFELINE_ and the option's snake_case name, as Flask names it. */
const variableOf = (option) => 'LIFELINE_' + (option === 'prefix' ? 'url_prefix' : option.replace(/[A-Z]/g, (c) => '_' + c)).toUpperCase();

/** Node option -> [variable, kind]: every option of the spec (protocol.mjs), then the Node
 *  package's own (the Redis store). */
const VARIABLES = Object.fromEntries(
    [...Object.keys(DEFAULTS), 'redis', 'redisKeyPrefix'].map((option) => [
        option,
        [
            option === 'redis' ? 'LIFELINE_REDIS_URL' : variableOf(option),
            option in INT_OPTIONS ? 'integer' : option === 'origins' ? 'list' : typeof DEFAULTS[option] === 'boolean' ? 'boolean' : 'string',
        ],
    ]),
);
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
