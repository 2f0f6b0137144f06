// loader.mjs — instantiate the core without Emscripten glue and lay out its memory.
//
// The instance comes from js/core-wasm.mjs (WebAssembly), or in the CSP build from
// js/core-csp.mjs (the same core as JavaScript; js/build.mjs swaps the module).
//
// One module instance serves every Lifeline on the page (a fleet of 1,000 clients in one
// process shares it): each core gets a slot of ll_core_size() bytes (freed slots are
// reused), and all inputs share one scratch buffer for their byte spans. The core never
// allocates: memory is laid out here from ll_heap_base(), growing the wasm memory on need.
import { ACTION_FIELDS } from './constants.js';
import { instance, instantiate } from './core-wasm.mjs';

const enc = new TextEncoder();
const dec = new TextDecoder();
const cache = new Map();
let inline;

/** UTF-8 length of a string (ASCII, the common case, without encoding it). */
export const bytes = (s) => (/[^\0-\x7f]/.test(s) ? enc.encode(s).length : s.length);

/** The shared runtime: synchronous for the inlined bytes, a Promise for options.wasm
 *  (a URL to fetch, bytes, or a WebAssembly.Module). */
export function runtime(src, fetch = globalThis.fetch) {
    if (!src) return (inline ||= layout(instance()));
    if (!cache.has(src)) cache.set(src, instantiate(src, fetch).then(layout));
    return cache.get(src);
}

/** The runtime over one instance of the core (its exports and memory). */
export function layout(inst) {
    const x = inst.exports,
        mem = x.memory,
        size = x.ll_core_size(),
        free = [];
    let top = (x.ll_heap_base() + 15) & -8,
        scratch = 0,
        cap = 0,
        u8,
        u32;
    const reserve = (n) => {
        const p = top,
            need = (top += (n + 7) & -8) - mem.buffer.byteLength;
        if (need > 0) mem.grow(Math.ceil(need / 65536));
        return p;
    };
    // a grown memory has a new buffer (wasm detaches the old one; wasm2js's just stays)
    const view = () => (u8?.buffer == mem.buffer || ((u8 = new Uint8Array(mem.buffer)), (u32 = new Uint32Array(mem.buffer))), u8);
    const rt = {
        x,
        out: reserve(8), // where ll_cursor writes the length
        alloc: () => free.pop() ?? reserve(size),
        free: (p) => free.push(p),
        /** Expand the args of one call: strings (UTF-8) and byte arrays go into the scratch
         *  buffer and become (ptr, len); numbers and BigInts stay. */
        args(list) {
            const out = [],
                str = (v) => typeof v == 'string';
            let n = 0,
                p;
            for (const v of list) n += v.buffer ? v.length : str(v) ? 3 * v.length : 0; // UTF-8: at most 3 bytes a unit
            if (n > cap) scratch = reserve((cap = Math.max(n, cap * 2, 4096)));
            p = scratch;
            view();
            for (const v of list)
                if (str(v)) ((n = enc.encodeInto(v, u8.subarray(p, p + 3 * v.length)).written), out.push(p, n), (p += n));
                else if (v.buffer) (u8.set(v, p), out.push(p, v.length), (p += v.length));
                else out.push(v);
            return out;
        },
        /** One ll_action as an object with its named fields (wasm/lifeline.h LL_ACTIONS):
         *  numbers, and the byte spans decoded (they die at the next call). */
        action(p) {
            view();
            const w = p >> 2,
                action = { type: u32[w] };
            const fields = ACTION_FIELDS[action.type];
            for (const name in fields) {
                const slot = fields[name];
                action[name] = slot < 5 ? u32[w + slot] : u32[w + slot + 1] ? dec.decode(u8.subarray(u32[w + slot], u32[w + slot] + u32[w + slot + 1])) : '';
            }
            return action;
        },
        /** Subscription `sub`'s cursor (0: the first's); '' for none. */
        cursor(core, sub = 0) {
            const p = x.ll_sub_cursor(core, sub, rt.out);
            return dec.decode(view().subarray(p, p + u32[rt.out >> 2]));
        },
    };
    return rt;
}
