// Every proxy fault mode against the Node reference server (WebSocket + long polling).
import { faultSuite } from './faults.mjs';

faultSuite('faults × node server', 'node', [], true);
