// page.mjs — the page's condition as inputs: visibility, online/offline, and the page
// lifecycle: pagehide, and freeze (Chrome freezes a background tab: its timers stop, its
// sockets may be closed under it) are the page going away; pageshow from the back/forward
// cache, and resume, its return (resume comes without a visibilitychange). The core checks
// what it kept at once on every return, on visible and on online (wasm/lifeline.h). Without a
// document (Node) the page is visible and online.
/** Add (how: 'add') or remove ('remove') listeners, each [target, type, f]; a missing target
 *  (no document or window: Node) has none. */
export const listen = (on, how) => on.forEach(([target, type, f]) => target?.[how + 'EventListener'](type, f));

export function page(doc, win, feed) {
    const on = [
        [doc, 'visibilitychange', () => feed('ll_visibility', [+visible()])],
        [doc, 'freeze', () => feed('ll_freeze')],
        [doc, 'resume', () => feed('ll_resume')],
        [win, 'online', () => feed('ll_online', [1])],
        [win, 'offline', () => feed('ll_online', [0])],
        [win, 'pagehide', () => feed('ll_pagehide')],
        [win, 'pageshow', (e) => e.persisted && feed('ll_pageshow')],
    ];
    const visible = () => doc?.visibilityState != 'hidden';
    listen(on, 'add');
    return { visible, online: () => win?.navigator?.onLine != false, stop: () => listen(on, 'remove') };
}
