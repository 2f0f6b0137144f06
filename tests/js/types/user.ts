// Compiled by tests/js/types.test.mjs (tsc, strict) against dist/lifeline.d.ts, with and
// without the DOM lib. The @ts-expect-error lines are claims too: tsc fails when one of
// them is no error (e.g. if e.data of a Lifeline<Tick> were any).
import Default, { Lifeline, type LifelineSendError } from 'lifeline-live';
interface Tick { n: number }
const live = new Lifeline<Tick>('http://127.0.0.1/live', { raceDelay: 100, websocket: true, storage: new Map() as any });
live.addEventListener('message', (e) => { const n: number = e.data.n; const c: string = e.cursor; void n; void c; });
live.addEventListener('statechange', (e) => { if (e.state == 'open' && e.transport == 'websocket') void e.reason; });
live.addEventListener('error', (e) => { const code: string = e.code; void code; void e.serverCode; });
live.addEventListener('message', { handleEvent: (e) => void e });
// @ts-expect-error: e.data is a Tick, not a string
live.addEventListener('message', (e) => { const s: string = e.data; void s; });
// @ts-expect-error: no such option
new Lifeline('http://x/live', { raceDelai: 1 });
// @ts-expect-error: not a state
if (live.state == 'opened') void 0;
async function read() {
    for await (const m of live) { const n: number = m.data.n; void n; }
    try { await live.send({ a: 1 }); } catch (e) { void (e as LifelineSendError).serverCode; }
}
void read;
const w: Lifeline<string> = Default.watch('http://x/data.json');
void w;
