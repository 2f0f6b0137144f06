// Every proxy fault mode against the Flask server under gevent, with its WebSocket.
import { faultSuite } from './faults.mjs';

faultSuite('faults × flask server (websocket)', 'flask', [], true);
