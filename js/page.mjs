// page.mjs — the page's condition as inputs: visibility, online/offline, and the page
// lifecycle: pagehide, and freeze (Chrome freezes a background tab: its timers stop, its
// sockets may be closed under it) are the page going away; pageshow from the back/forward
// cache, and resume, its return (resume comes without a visibilitychange). The core checks
// what it kept at once on every return, on visible and on online (wasm/lifeline.h). Without a
// document (Node) the page is visible and online.
export function page(doc, win, feed) {
    const on = [
        [doc, 'visibilitychange', () => feed('visibility', [+visible()])],
        [doc, 'freeze', () => feed('freeze')],
        [doc, 'resume', () => feed('resume')],
        [win, 'online', () => feed('online', [1])],
        [win, 'offline', () => feed('online', [0])],
        [win, 'pagehide', () => feed('pagehide')],
        [win, 'pageshow', (e) => e.persisted && feed('pageshow')],
    ];
    const each = (m) => on.forEach(([t, n, f]) => t?.[m](n, f));
    const visible = () => doc?.visibilityState != 'hidden';
    each('addEventListener');
    return { visible, online: () => win?.navigator?.onLine != false, stop: () => each('removeEventListener') };
}
