// Every proxy fault mode against the Flask server without a WebSocket (--no-websocket):
// every upgrade gets a plain answer, so the client lives on long polling throughout.
import { faultSuite } from './faults.mjs';

faultSuite('faults × flask server (--no-websocket)', 'flask', ['--no-websocket'], false);
