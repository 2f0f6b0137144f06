// core-wasm.mjs — the core as WebAssembly (the main build): the module inlined as an ASCII
// string (js/build.mjs), compiled on the page.
//
// A page whose Content-Security-Policy allows scripts but not compiling WebAssembly
// (`script-src 'self'` without 'wasm-unsafe-eval') refuses the compile with a CompileError
// (Chromium, Safari) or an EvalError (Firefox) naming the policy; that refusal becomes an
// error saying what happened and the two ways out. js/core-csp.mjs is the other way: the
// same core translated to JavaScript, which such a page runs.
import WASM from '../build/wasm-inline.mjs'; // () => dist/lifeline.wasm as an ASCII string (js/build.mjs)

const enc = new TextEncoder();

/** The inlined module's bytes: an escape char E, then the key and one char per byte XOR
 *  key — a value of 128 to 255 as E and the value minus 128, the value E as E twice. The text
 *  is ASCII, so the native encoder turns it into bytes, decoded here in place (cold, a loop
 *  over bytes runs in about half the time of one over charCodeAt: bench/start.mjs's page). */
function inlined(text) {
    const bytes = enc.encode(text),
        escape = bytes[0];
    let n = 0;
    for (let i = 1; i < bytes.length; i++) {
        let c = bytes[i];
        if (c == escape && (c = bytes[++i]) != escape) c += 128;
        bytes[n++] = c;
    }
    const key = bytes[0];
    for (let i = 1; i < n; i++) bytes[i - 1] = bytes[i] ^ key;
    return bytes.subarray(0, n - 1);
}

/** `error` as the CSP error when it is the page's policy refusing to compile, else as is. */
export const cspError = (error) =>
    /CSP|Content.Security|unsafe-eval/i.test(error.message)
        ? Error("Lifeline: CSP blocks WebAssembly: add 'wasm-unsafe-eval' to script-src or use lifeline-live/csp (" + error.message + ')')
        : error;

/** The inlined core, compiled and instantiated (synchronously: it is small). */
export function instance() {
    try {
        return new WebAssembly.Instance(new WebAssembly.Module(inlined(WASM())), {});
    } catch (e) {
        throw cspError(e);
    }
}

/** options.wasm (a URL to fetch, bytes, or a WebAssembly.Module), instantiated. */
export async function instantiate(src, fetch) {
    if (typeof src == 'string' || src instanceof URL) src = await (await fetch(src)).arrayBuffer();
    const r = await WebAssembly.instantiate(src, {}).catch((e) => {
        throw cspError(e);
    });
    return r.instance || r;
}
