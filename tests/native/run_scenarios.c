/* run_scenarios.c — replay every transcript named on the command line.
 * -v prints each input and the actions it produced. Exit status: failures > 0. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "transcript.h"

static char *slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    char *buf;
    long n;
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    buf = malloc((size_t)n + 1);
    *len = fread(buf, 1, (size_t)n, f);
    fclose(f);
    return buf;
}

int main(int argc, char **argv) {
    int i, verbose = 0, files = 0, failed = 0;
    for (i = 1; i < argc; i++) {
        size_t len;
        char *text;
        int f;
        if (!strcmp(argv[i], "-v")) {
            verbose = 1;
            continue;
        }
        text = slurp(argv[i], &len);
        if (!text) {
            fprintf(stderr, "%s: cannot read\n", argv[i]);
            failed++;
            continue;
        }
        f = ll_run_transcript(argv[i], text, len, verbose);
        files++;
        if (f) failed++;
        free(text);
    }
    printf("scenarios: %d passed, %d failed\n", files - failed, failed);
    return failed != 0;
}
