/* decode.h — what the shim does with JSON.parse, for the native tests: decode a text frame
 * or a poll body into the fields ll_ws_frame() / ll_http_response() take (see lifeline.h).
 * The scanner is strict RFC 8259, like JSON.parse, so the transcripts' malformed inputs
 * are malformed here exactly as they are in the shim (js/protocol.mjs applies the same
 * rules). String fields come back as raw spans (escapes kept): the tests' cursors and
 * messages have none. */
#ifndef LL_DECODE_H
#define LL_DECODE_H

#include <stddef.h>
#include <stdint.h>

typedef struct dec_span {
    const char *p;
    size_t n;
} dec_span;

typedef struct dec_frame {
    uint32_t type;  /* LL_FRAME_* */
    uint32_t depth; /* nesting depth (the frame itself is 1), 256 when deeper than 255 */
    uint32_t id;    /* ack id; 0 when absent or above 2^32 - 1 */
    uint32_t sub;   /* v2: the frame's "s" (0 when absent or above LL_SUBS_MAX); a hello's "v" */
    dec_span cursor, message, data;
    dec_span code; /* an error frame's "code"; an ack's "error" ("rejected" when empty) */
} dec_frame;

/* A poll body: `lines` is the cursor list (malloc'd; empty when the body is malformed) and
 * data[i] the i-th message's data. dec_body_free() releases both. */
typedef struct dec_body {
    uint32_t depth;
    char *lines;
    size_t lines_len;
    dec_span *data;
    size_t count;
} dec_body;

void dec_frame_decode(const char *text, size_t n, dec_frame *f);
void dec_body_decode(const char *text, size_t n, dec_body *b);
void dec_body_free(dec_body *b);

#endif
