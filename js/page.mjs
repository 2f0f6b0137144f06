// page.mjs — the page's condition as inputs: visibility, online/offline, and the page
// lifecycle (pagehide; pageshow from the back/forward cache). Without a document (Node)
// the page is visible and online.
export function page(doc, win, feed) {
    const on = [
        [doc, 'visibilitychange', () => feed('visibility', [+visible()])],
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
