// chromium.mjs — the one headless Chromium every test, bench and screenshot script starts:
// Debian's /usr/bin/chromium (no browser is downloaded), with the flags that keep it quiet
// and alone on the machine (no sandbox as root in CI, no GPU, no QUIC, nothing fetched
// from Google in the background).
import fs from 'node:fs';

export const CHROMIUM = '/usr/bin/chromium';
/** Why a browser test cannot run here, or false. */
export const skip = fs.existsSync(CHROMIUM) ? false : `no Chromium at ${CHROMIUM}`;
export const FLAGS = [
    '--headless',
    '--no-sandbox',
    '--disable-gpu',
    '--disable-quic',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
];
