/* seat_check.c: a licensed application in C, on the Seatkeeper agent's local API.
 *
 * No library: a POSIX Unix socket and JSON lines (docs/local-api.md). It asks `hello`,
 * opens a session, says whether the seat is held, keeps the session open until a line
 * arrives on stdin (or stdin ends), then closes it. The address is argv[1], else
 * SEATKEEPER_LOCAL_API, else $XDG_RUNTIME_DIR/seatkeeper/agent.sock.
 *
 *     cc -std=c99 -Wall -o seat_check examples/seat_check.c
 *     ./seat_check "$(seatkeeper status --json | jq -r .local_api)"
 *
 * A real application would use a JSON parser; this one looks for the few keys it needs.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>
#include <unistd.h>

static char line[1 << 16];

/* Send one request line and read its answer line into `line`; 0 on success. */
static int call(int fd, const char *request) {
    size_t len = strlen(request), got = 0;
    if (write(fd, request, len) != (ssize_t)len || write(fd, "\n", 1) != 1) {
        perror("seat_check: write");
        return -1;
    }
    while (got < sizeof line - 1) {
        ssize_t n = read(fd, line + got, 1);
        if (n <= 0) {
            fprintf(stderr, "seat_check: the agent closed the connection\n");
            return -1;
        }
        if (line[got] == '\n') break;
        got++;
    }
    line[got] = '\0';
    return 0;
}

/* The value after "key": in `line`, copied into `out` (strings without their quotes). */
static int value_of(const char *key, char *out, size_t size) {
    char pattern[64];
    snprintf(pattern, sizeof pattern, "\"%s\"", key);
    const char *at = strstr(line, pattern);
    if (at == NULL) return -1;
    at += strlen(pattern);
    while (*at == ' ' || *at == ':') at++;
    size_t n = 0;
    if (*at == '"') {
        for (at++; *at && *at != '"' && n + 1 < size; at++) out[n++] = *at;
    } else {
        for (; *at && *at != ',' && *at != '}' && n + 1 < size; at++) out[n++] = *at;
    }
    out[n] = '\0';
    return 0;
}

int main(int argc, char **argv) {
    char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
    const char *given = argc > 1 ? argv[1] : getenv("SEATKEEPER_LOCAL_API");
    if (given != NULL) {
        snprintf(path, sizeof path, "%s", given);
    } else {
        const char *runtime = getenv("XDG_RUNTIME_DIR");
        if (runtime == NULL) {
            fprintf(stderr, "seat_check: give the agent's address (seatkeeper status --json)\n");
            return 2;
        }
        snprintf(path, sizeof path, "%s/seatkeeper/agent.sock", runtime);
    }

    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un addr;
    memset(&addr, 0, sizeof addr);
    addr.sun_family = AF_UNIX;
    snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path);
    if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
        fprintf(stderr, "seat_check: no Seatkeeper agent answers at %s\n", path);
        return 3;
    }

    char value[256], session[128], request[512];
    if (call(fd, "{\"v\": 1, \"op\": \"hello\"}") != 0) return 4;
    value_of("api", value, sizeof value);
    printf("hello api=%s\n", value);

    snprintf(request, sizeof request,
             "{\"v\": 1, \"op\": \"open_session\", \"args\": {\"app\": \"seat_check\", "
             "\"version\": \"1.0\", \"released\": null, \"pid\": %ld}}", (long)getpid());
    if (call(fd, request) != 0) return 4;
    if (value_of("session_id", session, sizeof session) != 0) {
        value_of("message", value, sizeof value);
        printf("refused: %s\n", value);
        return 5;
    }
    value_of("holding", value, sizeof value);
    printf("session %s holding=%s\n", session, value);
    fflush(stdout);

    char wait[16];
    if (fgets(wait, sizeof wait, stdin) == NULL) { /* stdin ended: close all the same */ }

    snprintf(request, sizeof request,
             "{\"v\": 1, \"op\": \"close_session\", \"args\": {\"session_id\": \"%s\"}}",
             session);
    if (call(fd, request) != 0) return 4;
    printf("closed %s\n", strstr(line, "\"ok\": true") ? "ok" : line);
    close(fd);
    return 0;
}
