/* transcript.h — replay a scenario transcript against the core on a simulated clock.
 *
 * A transcript is text (tests/scenarios/NAME.txt):
 *   # comment
 *   config race_delay=250 ws_timeout=5000     set config fields (before start)
 *   cursor 5                                  ll_set_cursor (before start)
 *   seed 7                                    jitter seed (before start; default 1)
 *   @<ms> <input> …                           one input at that time ("@next": at the deadline)
 *   > <action>                                the actions that input must produce, in order, all
 *   ? deadline 250 | deadline 100..300 | deadline never | state open websocket | cursor 5 |
 *     interval 1000 | rtt 40                  checks of the core's views
 * Inputs: start [hidden] [offline] | opened <ws> | frame <ws> <text> | closed <ws> <code> |
 *   wserror <ws> | http <req> <status> [Name: value]… <body> | failed <req> network|timeout |
 *   timer | hidden | visible | offline | online | pagehide | pageshow | send <len> | close
 * A body "<<N>>" is N bytes of 'x'. Frames and protocol bodies are written as the server
 * sends them (JSON) and decoded as the shim decodes them (decode.h) before they go in.
 * Actions render one per line (ll_render_action); a send's result renders as "returns N".
 * The same files are replayed through the wasm build by tests/js/transcripts.test.mjs. */
#ifndef LL_TRANSCRIPT_H
#define LL_TRANSCRIPT_H

#include <stddef.h>

/* Runs one transcript; prints failures as file:line: message. Returns the failure count. */
int ll_run_transcript(const char *path, const char *text, size_t len, int verbose);

#endif
