/*
 * The C ceiling: a minimal single-threaded, level-triggered epoll echo server.
 *
 *   c-echo [--port P] [--mode echo|sink]
 *
 * Prints the bound port on stdout, then serves until killed.
 * echo: writes back what it reads; a short write keeps the rest and stops
 *       reading that connection until the rest is written (back-pressure).
 * sink: reads and discards; at end of stream answers "<bytes read>\n", closes.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#define BUF 65536

struct conn {
    char *pending; /* unwritten echo bytes (echo mode) */
    size_t off, len;
    unsigned long long count; /* bytes read (sink mode) */
};

static int epfd, sink;
static struct conn **conns;
static size_t nconns;
static char buf[BUF];

static struct conn *conn_of(int fd) {
    if ((size_t)fd >= nconns) {
        size_t n = nconns ? nconns : 1024;
        while (n <= (size_t)fd) n *= 2;
        conns = realloc(conns, n * sizeof *conns);
        if (!conns) abort();
        memset(conns + nconns, 0, (n - nconns) * sizeof *conns);
        nconns = n;
    }
    if (!conns[fd]) conns[fd] = calloc(1, sizeof(struct conn));
    return conns[fd];
}

static void drop(int fd) {
    if ((size_t)fd < nconns && conns[fd]) {
        free(conns[fd]->pending);
        free(conns[fd]);
        conns[fd] = NULL;
    }
    close(fd);
}

static void watch(int fd, uint32_t ev) {
    struct epoll_event e = {.events = ev, .data.fd = fd};
    epoll_ctl(epfd, EPOLL_CTL_MOD, fd, &e);
}

static void on_writable(int fd) {
    struct conn *c = conn_of(fd);
    while (c->off < c->len) {
        ssize_t w = write(fd, c->pending + c->off, c->len - c->off);
        if (w < 0) {
            if (errno == EAGAIN || errno == EINTR) return;
            drop(fd);
            return;
        }
        c->off += (size_t)w;
    }
    free(c->pending);
    c->pending = NULL;
    c->off = c->len = 0;
    watch(fd, EPOLLIN);
}

static void on_readable(int fd) {
    struct conn *c = conn_of(fd);
    ssize_t r = read(fd, buf, BUF);
    if (r < 0) {
        if (errno == EAGAIN || errno == EINTR) return;
        drop(fd);
        return;
    }
    if (r == 0) {
        if (sink) {
            char line[32];
            int n = snprintf(line, sizeof line, "%llu\n", c->count);
            if (write(fd, line, (size_t)n) < 0) { /* the peer is gone; nothing to do */
            }
        }
        drop(fd);
        return;
    }
    if (sink) {
        c->count += (unsigned long long)r;
        return;
    }
    ssize_t w = write(fd, buf, (size_t)r);
    if (w < 0) {
        if (errno != EAGAIN && errno != EINTR) {
            drop(fd);
            return;
        }
        w = 0;
    }
    if (w < r) {
        c->len = (size_t)(r - w);
        c->off = 0;
        c->pending = malloc(c->len);
        if (!c->pending) abort();
        memcpy(c->pending, buf + w, c->len);
        watch(fd, EPOLLOUT);
    }
}

int main(int argc, char **argv) {
    int port = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--port") && i + 1 < argc) port = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--mode") && i + 1 < argc) sink = !strcmp(argv[++i], "sink");
        else {
            fprintf(stderr, "usage: c-echo [--port P] [--mode echo|sink]\n");
            return 64;
        }
    }
    signal(SIGPIPE, SIG_IGN);
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }

    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(lfd, (struct sockaddr *)&a, sizeof a) < 0 || listen(lfd, 1024) < 0) {
        perror("c-echo: bind/listen");
        return 1;
    }
    socklen_t alen = sizeof a;
    getsockname(lfd, (struct sockaddr *)&a, &alen);
    printf("%d\n", ntohs(a.sin_port));
    fflush(stdout);

    epfd = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = lfd};
    epoll_ctl(epfd, EPOLL_CTL_ADD, lfd, &ev);

    struct epoll_event evs[1024];
    for (;;) {
        int n = epoll_wait(epfd, evs, 1024, -1);
        if (n < 0) {
            if (errno == EINTR) continue;
            perror("c-echo: epoll_wait");
            return 1;
        }
        for (int i = 0; i < n; i++) {
            int fd = evs[i].data.fd;
            if (fd == lfd) {
                int cfd;
                while ((cfd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
                    struct epoll_event ce = {.events = EPOLLIN, .data.fd = cfd};
                    conn_of(cfd);
                    epoll_ctl(epfd, EPOLL_CTL_ADD, cfd, &ce);
                }
                continue;
            }
            if ((size_t)fd >= nconns || !conns[fd]) continue; /* closed earlier in this batch */
            if (evs[i].events & EPOLLOUT) on_writable(fd);
            else if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) on_readable(fd);
        }
    }
}
