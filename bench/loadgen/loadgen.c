/*
 * loadgen: the load generator of `npm run bench`.
 *
 * Single-threaded, epoll, non-blocking, written so that it is not the
 * bottleneck: one clock read per readiness event, a fixed log-linear latency
 * histogram (no allocation on the hot path), payloads sent from a static
 * pattern buffer.  It reports one JSON object on stdout.
 *
 * Modes:
 *   echo   N connections, D messages of S bytes in flight on each.  A message
 *          completes when S more echoed bytes have arrived on its connection;
 *          its round-trip latency is measured from the write that queued it.
 *          After --warmup seconds the counters reset, then it measures for
 *          --duration seconds.  Echoed bytes are checked against what was sent.
 *   stream one connection writes --bytes bytes then shuts down its write side;
 *          the server (in "sink" mode) answers with one line once it has read
 *          everything.  Time runs from the first write to that answer.
 *   churn  N slots; each slot connects, sends S bytes, reads them back, closes,
 *          and starts again.  Counts completed connections per second.  Source
 *          addresses rotate over 127.0.0.1..127.0.0.(--src-ips) with
 *          IP_BIND_ADDRESS_NO_PORT so TIME_WAIT does not exhaust ports.
 *          --rst closes with SO_LINGER 0 (a reset): no TIME_WAIT at all.  The
 *          bench uses it because orderly closes at ~25k/s fill the TIME_WAIT
 *          table (131k) within seconds, which halves the rate of the next
 *          measurement and keeps the kernel reaping for 60 s.
 *          --proxy 1|2 starts each connection with a PROXY protocol header
 *          (v1 text or v2 binary, TCP4, source 192.0.2.1) in the same write
 *          as the S bytes, as a load balancer's send-proxy would; the server
 *          echoes the S bytes only.
 *   idle   opens N connections, does one S-byte echo on each, prints
 *          {"ready":N,...} and holds them until a line (or EOF) on stdin.
 *   http   N keep-alive HTTP/1.1 connections, each sending `GET --path` and,
 *          once the whole response is in (Content-Length), the next one.
 *          Bodies are read into one reused buffer and not looked at (their
 *          length is checked); status 200 is required.  Same warm-up and
 *          measured window as echo; reports requests/s, body MiB/s and the
 *          request latency.
 *   job    a job server's clients: Gearman-shaped binary packets and text
 *          admin lines on the same connections, pipelined; or, with --keys,
 *          a store command whose values the server keeps (see run_job).
 * --lines (echo): each message is letters ending in a newline (a line
 *          protocol: the line echo of the syscall counts).
 *
 * --server-pid P: sample /proc/P/task/<tid>/schedstat (else /proc/P/stat) at the
 * start and the end of the measured window to report the
 * server's CPU use (repeatable: the sum over the processes, e.g. a Node cluster's
 * primary and workers) next to our own (getrusage), so a reader can tell who was
 * saturated; /proc/stat gives the task time of everything else on the machine
 * (other_cpu) and the interrupt time (irq_cpu), in CPUs.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

#define PATTERN_PERIOD_BYTES 251u
#define MAX_EVENTS 1024

/* ---------- options ---------- */

static const char *opt_host = "127.0.0.1";
static int opt_port = 0;
static const char *opt_mode = "echo";
static int opt_conns = 1;
static int opt_depth = 1;
static size_t opt_size = 64;
static double opt_warmup = 1.0;
static double opt_duration = 3.0;
static unsigned long long opt_bytes = 1ull << 30;
/* --server-pid, repeatable: a server of several processes (Node cluster) is
   measured as the sum of them */
#define MAX_SERVER_PIDS 64
static int opt_server_pids[MAX_SERVER_PIDS];
static int n_server_pids = 0;
static int opt_src_ips = 16;
static int opt_verify = 1;
static int opt_nodelay = 1;
static double opt_timeout = 60.0;
static int opt_rst = 0;
static int opt_proxy = 0; /* churn: 1 or 2, the PROXY protocol header's version */
static const char *opt_path = "/";

/* ---------- utilities ---------- */

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void die(const char *what) {
    fprintf(stderr, "loadgen: %s: %s\n", what, strerror(errno));
    printf("{\"error\":\"%s: %s\"}\n", what, strerror(errno));
    fflush(stdout);
    exit(2);
}

static void fail(const char *msg) {
    fprintf(stderr, "loadgen: %s\n", msg);
    printf("{\"error\":\"%s\"}\n", msg);
    fflush(stdout);
    exit(2);
}

static unsigned char *pattern; /* pattern_period + max chunk bytes */
static size_t pattern_len;
/* the pattern repeats every pattern_period bytes: 251 (a prime, so that no
   message size lines up with it), or with --lines the message size, each
   message being letters ending in a newline */
static size_t pattern_period = PATTERN_PERIOD_BYTES;
static int opt_lines = 0;

static void make_pattern(size_t chunk) {
    if (opt_lines) pattern_period = opt_size;
    pattern_len = pattern_period + chunk;
    pattern = malloc(pattern_len);
    if (!pattern) die("malloc");
    for (size_t i = 0; i < pattern_len; i++) {
        size_t k = i % pattern_period;
        pattern[i] = opt_lines ? (unsigned char)(k == pattern_period - 1 ? '\n' : 'a' + k % 26)
                               : (unsigned char)k;
    }
}

static inline const unsigned char *pattern_at(uint64_t stream_off) {
    return pattern + (stream_off % pattern_period);
}

/* CPU seconds (user+sys) of another process from /proc/PID/stat, -1 if gone */
static double one_proc_cpu_seconds(int pid) {
    char path[64], buf[1024];
    if (pid <= 0) return -1;
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0) return -1;
    buf[n] = 0;
    char *p = strrchr(buf, ')'); /* comm may contain spaces */
    if (!p) return -1;
    p += 2;
    /* fields after comm: state(3) ppid pgrp session tty tpgid flags minflt
       cminflt majflt cmajflt utime(14) stime(15) */
    unsigned long utime = 0, stime = 0;
    int field = 3;
    char *save = NULL;
    for (char *tok = strtok_r(p, " ", &save); tok; tok = strtok_r(NULL, " ", &save), field++) {
        if (field == 14) utime = strtoul(tok, NULL, 10);
        if (field == 15) {
            stime = strtoul(tok, NULL, 10);
            break;
        }
    }
    long hz = sysconf(_SC_CLK_TCK);
    return (double)(utime + stime) / (double)hz;
}

/* On-CPU seconds of a process's threads from /proc/PID/task/TID/schedstat
   (nanoseconds: /proc/PID/stat counts in ticks of 10 ms, too coarse for CPU
   per operation over a short window); -1 when unreadable (then the caller
   falls back to /proc/PID/stat). A thread that ends takes its time along. */
static double one_proc_schedstat_seconds(int pid) {
    char path[64], buf[128];
    snprintf(path, sizeof path, "/proc/%d/task", pid);
    DIR *d = opendir(path);
    if (!d) return -1;
    unsigned long long ns = 0;
    int threads = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue;
        snprintf(path, sizeof path, "/proc/%d/task/%.16s/schedstat", pid, e->d_name);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) continue; /* the thread ended */
        ssize_t n = read(fd, buf, sizeof buf - 1);
        close(fd);
        if (n <= 0) continue;
        buf[n] = 0;
        ns += strtoull(buf, NULL, 10);
        threads++;
    }
    closedir(d);
    return threads ? (double)ns / 1e9 : -1;
}

/* CPU seconds of the server: the sum over every --server-pid (all threads of
   each process; schedstat, else /proc/PID/stat), -1 when there is none or one
   is gone */
static double server_cpu_seconds(void) {
    if (n_server_pids == 0) return -1;
    double sum = 0;
    for (int i = 0; i < n_server_pids; i++) {
        double s = one_proc_schedstat_seconds(opt_server_pids[i]);
        if (s < 0) s = one_proc_cpu_seconds(opt_server_pids[i]);
        if (s < 0) return -1;
        sum += s;
    }
    return sum;
}

/* Times the server's threads were switched onto a CPU (the third field of
   /proc/PID/task/TID/schedstat, summed over every thread of every
   --server-pid): its wake-ups, each of which a loop pays for with an
   epoll_wait; -1 when unreadable. (A thread that ends takes its count along.) */
static long long server_switches(void) {
    if (n_server_pids == 0) return -1;
    long long sum = 0;
    for (int i = 0; i < n_server_pids; i++) {
        char path[64], buf[128];
        snprintf(path, sizeof path, "/proc/%d/task", opt_server_pids[i]);
        DIR *d = opendir(path);
        if (!d) return -1;
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (e->d_name[0] == '.') continue;
            snprintf(path, sizeof path, "/proc/%d/task/%.16s/schedstat", opt_server_pids[i],
                     e->d_name);
            int fd = open(path, O_RDONLY | O_CLOEXEC);
            if (fd < 0) continue; /* the thread ended */
            ssize_t n = read(fd, buf, sizeof buf - 1);
            close(fd);
            if (n <= 0) continue;
            buf[n] = 0;
            unsigned long long run_ns, wait_ns, slices;
            if (sscanf(buf, "%llu %llu %llu", &run_ns, &wait_ns, &slices) == 3)
                sum += (long long)slices;
        }
        closedir(d);
    }
    return sum;
}

/* Busy CPU seconds of the whole machine (all CPUs) from /proc/stat:
   user+nice+system (+irq+softirq in *irq) and steal; -1 when unreadable. */
struct machine_cpu {
    double task, irq, steal;
};

static struct machine_cpu machine_cpu(void) {
    struct machine_cpu m = {-1, -1, -1};
    char buf[512];
    int fd = open("/proc/stat", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return m;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0) return m;
    buf[n] = 0;
    unsigned long long v[8] = {0};
    if (sscanf(buf, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3],
               &v[4], &v[5], &v[6], &v[7]) < 8)
        return m;
    double hz = (double)sysconf(_SC_CLK_TCK);
    m.task = (double)(v[0] + v[1] + v[2]) / hz;
    m.irq = (double)(v[5] + v[6]) / hz;
    m.steal = (double)v[7] / hz;
    return m;
}

static double self_cpu_seconds(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
           ru.ru_stime.tv_usec / 1e6;
}

/* ---------- latency histogram: log-linear, 64 sub-buckets per octave ---------- */

#define SUB_BITS 6
#define SUB (1 << SUB_BITS)
#define HIST_BUCKETS ((64 - SUB_BITS) * SUB + SUB)

static uint64_t hist[HIST_BUCKETS];
static uint64_t hist_count;
static int64_t hist_max;

static inline int hist_index(uint64_t v) {
    if (v < SUB) return (int)v;
    int e = 63 - __builtin_clzll(v); /* >= SUB_BITS */
    int sub = (int)((v >> (e - SUB_BITS)) & (SUB - 1));
    return (e - SUB_BITS + 1) * SUB + sub;
}

static inline uint64_t hist_value(int idx) { /* midpoint of the bucket */
    if (idx < SUB) return (uint64_t)idx;
    int e = idx / SUB - 1 + SUB_BITS;
    uint64_t sub = (uint64_t)(idx % SUB);
    uint64_t lo = (1ull << e) + (sub << (e - SUB_BITS));
    uint64_t width = 1ull << (e - SUB_BITS);
    return lo + width / 2;
}

static inline void hist_add(int64_t v) {
    if (v < 0) v = 0;
    hist[hist_index((uint64_t)v)]++;
    hist_count++;
    if (v > hist_max) hist_max = v;
}

static void hist_reset(void) {
    memset(hist, 0, sizeof hist);
    hist_count = 0;
    hist_max = 0;
}

static double hist_pct_us(double pct) {
    if (hist_count == 0) return 0;
    uint64_t want = (uint64_t)((double)hist_count * pct / 100.0);
    if (want >= hist_count) want = hist_count - 1;
    uint64_t seen = 0;
    for (int i = 0; i < HIST_BUCKETS; i++) {
        seen += hist[i];
        if (seen > want) return (double)hist_value(i) / 1000.0;
    }
    return (double)hist_max / 1000.0;
}

/* ---------- sockets ---------- */

static struct sockaddr_in server_addr;
static int epfd;

/* Starts a non-blocking connect. src_ip_index < 0: no explicit bind. */
static int start_connect(int src_ip_index) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) die("socket");
    int one = 1;
    if (opt_nodelay) setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (src_ip_index >= 0) {
        struct sockaddr_in src;
        memset(&src, 0, sizeof src);
        src.sin_family = AF_INET;
        src.sin_addr.s_addr = htonl(0x7f000001u + (uint32_t)src_ip_index);
        setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
        if (bind(fd, (struct sockaddr *)&src, sizeof src) < 0) die("bind");
    }
    int r = connect(fd, (struct sockaddr *)&server_addr, sizeof server_addr);
    if (r < 0 && errno != EINPROGRESS) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

static int connect_error(int fd) {
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0) return errno;
    return err;
}

static void ep_ctl(int op, int fd, uint32_t events, uint64_t data) {
    struct epoll_event ev;
    ev.events = events;
    ev.data.u64 = data;
    if (epoll_ctl(epfd, op, fd, &ev) < 0) die("epoll_ctl");
}

/* ---------- echo mode ---------- */

struct conn {
    int fd;
    int connected;
    int want_out;        /* EPOLLOUT registered */
    uint64_t sent;       /* bytes written */
    uint64_t to_send;    /* bytes queued (written + pending) */
    uint64_t recvd;      /* bytes read back */
    int64_t *stamps;     /* ring of send times, one per message in flight */
    unsigned head, tail; /* ring indexes (head: oldest) */
};

static struct conn *conns;
static uint64_t completed;
/* completions of the whole run, warm-up included (the syscall and crossing
   counts are divided by it: they count from attach to exit) */
static uint64_t completed_total;
static int measuring;
static int64_t last_completion_ns;

static unsigned char *rbuf;
static size_t rbuf_len;

static void conn_flush(struct conn *c) {
    while (c->sent < c->to_send) {
        size_t n = (size_t)(c->to_send - c->sent);
        size_t max = pattern_len - pattern_period;
        if (n > max) n = max;
        ssize_t w = write(c->fd, pattern_at(c->sent), n);
        if (w < 0) {
            if (errno == EAGAIN || errno == EINTR) break;
            die("write");
        }
        c->sent += (uint64_t)w;
    }
    int need = c->sent < c->to_send;
    if (need != c->want_out) {
        ep_ctl(EPOLL_CTL_MOD, c->fd, EPOLLIN | (need ? EPOLLOUT : 0), (uint64_t)(c - conns));
        c->want_out = need;
    }
}

/* One read into rbuf: the byte count, or -1 when nothing is there now
 * (EAGAIN, EINTR).  End of stream fails with `eof_why`, other errors die
 * with `what`. */
static ssize_t read_some(int fd, const char *what, const char *eof_why) {
    ssize_t r = read(fd, rbuf, rbuf_len);
    if (r < 0) {
        if (errno == EAGAIN || errno == EINTR) return -1;
        die(what);
    }
    if (r == 0) fail(eof_why);
    return r;
}

static void conn_queue_messages(struct conn *c, unsigned k, int64_t t) {
    for (unsigned i = 0; i < k; i++) {
        c->stamps[c->tail % (unsigned)opt_depth] = t;
        c->tail++;
    }
    c->to_send += (uint64_t)k * opt_size;
}

static void conn_readable(struct conn *c) {
    for (;;) {
        ssize_t r = read_some(c->fd, "read", "server closed a connection");
        if (r < 0) return;
        if (opt_verify && memcmp(rbuf, pattern_at(c->recvd), (size_t)r) != 0)
            fail("echoed bytes differ from the bytes sent");
        uint64_t before = c->recvd / opt_size;
        c->recvd += (uint64_t)r;
        uint64_t done = c->recvd / opt_size - before;
        if (done) {
            int64_t t = now_ns();
            last_completion_ns = t;
            for (uint64_t i = 0; i < done; i++) {
                int64_t sent_at = c->stamps[c->head % (unsigned)opt_depth];
                c->head++;
                if (measuring) hist_add(t - sent_at);
            }
            if (measuring) completed += done;
            completed_total += done;
            conn_queue_messages(c, (unsigned)done, t);
            conn_flush(c);
        }
        if ((size_t)r < rbuf_len) return; /* drained (level-triggered anyway) */
    }
}

static void connect_all(int n) {
    /* connect in batches so a small listen backlog does not drop SYNs */
    struct epoll_event evs[MAX_EVENTS];
    int pending = 0, next = 0, done = 0;
    int64_t deadline = now_ns() + (int64_t)(opt_timeout * 1e9);
    while (done < n) {
        while (next < n && pending < 512) {
            struct conn *c = &conns[next];
            c->fd = start_connect(-1);
            if (c->fd < 0) die("connect");
            ep_ctl(EPOLL_CTL_ADD, c->fd, EPOLLOUT, (uint64_t)next);
            next++;
            pending++;
        }
        int k = epoll_wait(epfd, evs, MAX_EVENTS, 1000);
        if (k < 0 && errno != EINTR) die("epoll_wait");
        for (int i = 0; i < k; i++) {
            struct conn *c = &conns[evs[i].data.u64];
            if (c->connected) continue;
            int err = connect_error(c->fd);
            if (err) {
                errno = err;
                die("connect");
            }
            c->connected = 1;
            ep_ctl(EPOLL_CTL_MOD, c->fd, EPOLLIN, evs[i].data.u64);
            pending--;
            done++;
        }
        if (now_ns() > deadline) fail("timed out connecting");
    }
}

static void alloc_conns(int n, int depth) {
    conns = calloc((size_t)n, sizeof *conns);
    int64_t *stamps = calloc((size_t)n * (size_t)depth, sizeof(int64_t));
    if (!conns || !stamps) die("calloc");
    for (int i = 0; i < n; i++) conns[i].stamps = stamps + (size_t)i * (size_t)depth;
}

static struct machine_cpu mach0;

/* call at the start of the measured window (after self/server CPU samples) */
static void window_start(void) { mach0 = machine_cpu(); }

static void print_common(double elapsed, double self_cpu, double srv_cpu) {
    struct machine_cpu m1 = machine_cpu();
    printf("\"elapsed_s\":%.6f,\"loadgen_cpu\":%.4f", elapsed,
           elapsed > 0 ? self_cpu / elapsed : 0);
    if (srv_cpu >= 0) printf(",\"server_cpu\":%.4f", elapsed > 0 ? srv_cpu / elapsed : 0);
    if (elapsed > 0 && mach0.task >= 0 && m1.task >= 0 && srv_cpu >= 0) {
        /* task time of everything else on the machine, in CPUs */
        double other = (m1.task - mach0.task - self_cpu - srv_cpu) / elapsed;
        printf(",\"other_cpu\":%.4f,\"irq_cpu\":%.4f,\"steal_cpu\":%.4f", other < 0 ? 0 : other,
               (m1.irq - mach0.irq) / elapsed, (m1.steal - mach0.steal) / elapsed);
    }
}

/* The measured window shared by the echo and churn modes: --warmup seconds,
 * then --duration seconds of counting. */
struct window {
    int64_t warm_end, end, start;
    double cpu0, srv0;
    long long sw0;
};

static void window_init(struct window *w, int64_t t0) {
    w->warm_end = t0 + (int64_t)(opt_warmup * 1e9);
    w->end = w->warm_end + (int64_t)(opt_duration * 1e9);
    w->start = 0;
    w->cpu0 = 0;
    w->srv0 = -1;
    w->sw0 = -1;
}

/* After each batch of events: starts counting once the warm-up is over;
 * returns 1 when the measured window has ended. */
static int window_tick(struct window *w, int64_t t) {
    if (!measuring) {
        if (t >= w->warm_end) {
            measuring = 1;
            completed = 0;
            hist_reset();
            w->start = t;
            w->cpu0 = self_cpu_seconds();
            w->srv0 = server_cpu_seconds();
            w->sw0 = server_switches();
            window_start();
        }
        return 0;
    }
    return t >= w->end;
}

/* Prints the rate and latency fields and those common to every mode, given
 * the opening of the JSON object (mode and parameters), and closes it. */
static void window_report(const struct window *w, const char *head) {
    int64_t m_end = now_ns();
    double cpu1 = self_cpu_seconds();
    double srv1 = server_cpu_seconds();
    long long sw1 = server_switches();
    double elapsed = (double)(m_end - w->start) / 1e9;
    fputs(head, stdout);
    if (w->sw0 >= 0 && sw1 >= w->sw0) printf("\"server_switches\":%lld,", sw1 - w->sw0);
    printf("\"total\":%llu,", (unsigned long long)completed_total);
    printf("\"count\":%llu,\"rate\":%.2f,\"p50_us\":%.2f,\"p99_us\":%.2f,\"max_us\":%.2f,",
           (unsigned long long)completed, elapsed > 0 ? (double)completed / elapsed : 0,
           hist_pct_us(50), hist_pct_us(99), (double)hist_max / 1000.0);
    print_common(elapsed, cpu1 - w->cpu0, (w->srv0 >= 0 && srv1 >= 0) ? srv1 - w->srv0 : -1);
}

static int run_echo(void) {
    alloc_conns(opt_conns, opt_depth);
    rbuf_len = opt_size * (size_t)opt_depth;
    if (rbuf_len < 65536) rbuf_len = 65536;
    if (rbuf_len > 1 << 20) rbuf_len = 1 << 20;
    rbuf = malloc(rbuf_len);
    size_t chunk = opt_size * (size_t)opt_depth;
    if (chunk > 1 << 20) chunk = 1 << 20;
    if (chunk < 65536) chunk = 65536;
    make_pattern(chunk);
    connect_all(opt_conns);

    int64_t t0 = now_ns();
    for (int i = 0; i < opt_conns; i++) {
        conn_queue_messages(&conns[i], (unsigned)opt_depth, t0);
        conn_flush(&conns[i]);
    }

    struct epoll_event evs[MAX_EVENTS];
    struct window w;
    window_init(&w, t0);
    last_completion_ns = t0;
    for (;;) {
        int k = epoll_wait(epfd, evs, MAX_EVENTS, 100);
        if (k < 0) {
            if (errno == EINTR) continue;
            die("epoll_wait");
        }
        for (int i = 0; i < k; i++) {
            struct conn *c = &conns[evs[i].data.u64];
            if (evs[i].events & (EPOLLERR | EPOLLHUP)) {
                if (!(evs[i].events & EPOLLIN)) fail("connection error/hangup from server");
            }
            if (evs[i].events & EPOLLIN) conn_readable(c);
            if (evs[i].events & EPOLLOUT) conn_flush(c);
        }
        int64_t t = now_ns();
        if (window_tick(&w, t)) break;
        if (t - last_completion_ns > (int64_t)(opt_timeout * 1e9))
            fail("stalled: no round trip completed within the timeout");
    }
    char head[160];
    snprintf(head, sizeof head, "{\"mode\":\"echo\",\"conns\":%d,\"depth\":%d,\"size\":%zu,",
             opt_conns, opt_depth, opt_size);
    window_report(&w, head);
    printf("}\n");
    return 0;
}

/* ---------- stream mode ---------- */

static int run_stream(void) {
    size_t chunk = 256 * 1024;
    make_pattern(chunk);
    alloc_conns(1, 1);
    connect_all(1);
    struct conn *c = &conns[0];
    ep_ctl(EPOLL_CTL_MOD, c->fd, EPOLLIN | EPOLLOUT, 0);
    int64_t t0 = now_ns();
    double cpu0 = self_cpu_seconds();
    double srv0 = server_cpu_seconds();
    window_start();
    uint64_t sent = 0;
    int shut = 0;
    char ack[256];
    size_t ack_len = 0;
    struct epoll_event evs[4];
    int64_t deadline = t0 + (int64_t)(opt_timeout * 1e9);
    for (;;) {
        int k = epoll_wait(epfd, evs, 4, 1000);
        if (k < 0) {
            if (errno == EINTR) continue;
            die("epoll_wait");
        }
        if (now_ns() > deadline) fail("stream timed out");
        if (k == 0) continue;
        uint32_t ev = evs[0].events;
        if ((ev & EPOLLOUT) && !shut) {
            while (sent < opt_bytes) {
                size_t n = chunk;
                if (opt_bytes - sent < n) n = (size_t)(opt_bytes - sent);
                ssize_t w = write(c->fd, pattern_at(sent), n);
                if (w < 0) {
                    if (errno == EAGAIN || errno == EINTR) break;
                    die("write");
                }
                sent += (uint64_t)w;
            }
            if (sent == opt_bytes) {
                shutdown(c->fd, SHUT_WR);
                shut = 1;
                ep_ctl(EPOLL_CTL_MOD, c->fd, EPOLLIN, 0);
            }
        }
        if (ev & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
            ssize_t r = read(c->fd, ack + ack_len, sizeof ack - 1 - ack_len);
            if (r < 0 && errno != EAGAIN && errno != EINTR) die("read");
            if (r > 0) ack_len += (size_t)r;
            ack[ack_len] = 0;
            if (memchr(ack, '\n', ack_len) || r == 0) break;
            if (ack_len >= sizeof ack - 1) break;
        }
    }
    int64_t t1 = now_ns();
    double cpu1 = self_cpu_seconds();
    double srv1 = server_cpu_seconds();
    if (!shut) fail("server answered before the stream ended");
    unsigned long long got = strtoull(ack, NULL, 10);
    if (got != opt_bytes) {
        fprintf(stderr, "loadgen: server acknowledged %llu bytes of %llu (answer \"%s\")\n", got,
                (unsigned long long)opt_bytes, ack);
        fail("server did not acknowledge every byte");
    }
    double elapsed = (double)(t1 - t0) / 1e9;
    printf("{\"mode\":\"stream\",\"bytes\":%llu,\"rate\":%.2f,\"mib_s\":%.2f,",
           (unsigned long long)opt_bytes, (double)opt_bytes / elapsed,
           (double)opt_bytes / elapsed / 1048576.0);
    print_common(elapsed, cpu1 - cpu0, (srv0 >= 0 && srv1 >= 0) ? srv1 - srv0 : -1);
    printf("}\n");
    return 0;
}

/* ---------- churn mode ---------- */

enum slot_state { S_CONNECTING, S_SENT };

struct slot {
    int fd;
    int state;
    size_t got;
    int64_t started;
};

/* What each churn connection writes: the pattern's first S bytes, after a PROXY header with
 * --proxy. */
static unsigned char *churn_out;
static size_t churn_len;

static void make_churn_out(void) {
    unsigned char hdr[128];
    size_t n = 0;
    if (opt_proxy == 1) {
        n = (size_t)snprintf((char *)hdr, sizeof hdr, "PROXY TCP4 192.0.2.1 %s 40000 %d\r\n",
                             opt_host, opt_port);
    } else if (opt_proxy == 2) {
        static const unsigned char sig[12] = {0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d,
                                              0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a};
        memcpy(hdr, sig, 12);
        hdr[12] = 0x21; /* version 2, PROXY */
        hdr[13] = 0x11; /* TCP over IPv4 */
        hdr[14] = 0;
        hdr[15] = 12;
        const unsigned char src[4] = {192, 0, 2, 1};
        memcpy(hdr + 16, src, 4);
        memcpy(hdr + 20, &server_addr.sin_addr, 4);
        hdr[24] = 40000 >> 8;
        hdr[25] = 40000 & 0xff;
        memcpy(hdr + 26, &server_addr.sin_port, 2);
        n = 28;
    }
    churn_len = n + opt_size;
    churn_out = malloc(churn_len);
    if (!churn_out) die("malloc");
    memcpy(churn_out, hdr, n);
    memcpy(churn_out + n, pattern, opt_size);
}

static int run_churn(void) {
    make_pattern(opt_size < 65536 ? 65536 : opt_size);
    make_churn_out();
    struct slot *slots = calloc((size_t)opt_conns, sizeof *slots);
    rbuf_len = opt_size < 65536 ? 65536 : opt_size;
    rbuf = malloc(rbuf_len);
    if (!slots || !rbuf) die("calloc");
    unsigned src = 0;
    int64_t t0 = now_ns();

    /* With --rst no TIME_WAIT piles up, so neither source-address rotation nor
       TCP_NODELAY (one write per connection) is needed: the client side then
       costs socket, connect, write, epoll_ctl, read, close.  On loopback the
       handshake completes inside connect(), so the write usually succeeds at
       once; otherwise wait for writability. */
    if (opt_rst) opt_nodelay = 0;
    int rotate = opt_rst ? 0 : opt_src_ips;

#define SLOT_START(i)                                                                              \
    do {                                                                                           \
        struct slot *s_ = &slots[i];                                                               \
        s_->fd = start_connect(rotate > 0 ? (int)(src++ % (unsigned)rotate) : -1);                 \
        if (s_->fd < 0) die("connect");                                                            \
        s_->got = 0;                                                                               \
        s_->started = now_ns();                                                                    \
        ssize_t w_ = write(s_->fd, churn_out, churn_len);                                          \
        if (w_ == (ssize_t)churn_len) {                                                            \
            s_->state = S_SENT;                                                                    \
            ep_ctl(EPOLL_CTL_ADD, s_->fd, EPOLLIN, (uint64_t)(i));                                 \
        } else if (w_ < 0 && (errno == EAGAIN || errno == ENOTCONN)) {                             \
            s_->state = S_CONNECTING;                                                              \
            ep_ctl(EPOLL_CTL_ADD, s_->fd, EPOLLOUT, (uint64_t)(i));                                \
        } else {                                                                                   \
            die("write (churn)");                                                                  \
        }                                                                                          \
    } while (0)

    for (int i = 0; i < opt_conns; i++) SLOT_START(i);

    struct epoll_event evs[MAX_EVENTS];
    struct window w;
    window_init(&w, t0);
    int64_t last_progress_t = t0;
    for (;;) {
        int k = epoll_wait(epfd, evs, MAX_EVENTS, 100);
        if (k < 0) {
            if (errno == EINTR) continue;
            die("epoll_wait");
        }
        for (int i = 0; i < k; i++) {
            int idx = (int)evs[i].data.u64;
            struct slot *s = &slots[idx];
            if (s->state == S_CONNECTING) {
                int err = connect_error(s->fd);
                if (err) {
                    errno = err;
                    die("connect");
                }
                ssize_t w = write(s->fd, churn_out, churn_len);
                if (w != (ssize_t)churn_len) die("write (churn)");
                s->state = S_SENT;
                ep_ctl(EPOLL_CTL_MOD, s->fd, EPOLLIN, (uint64_t)idx);
                continue;
            }
            ssize_t r =
                read_some(s->fd, "read (churn)", "server closed a connection before echoing");
            if (r < 0) continue;
            if (opt_verify && memcmp(rbuf, pattern + s->got, (size_t)r) != 0)
                fail("echoed bytes differ from the bytes sent");
            s->got += (size_t)r;
            if (s->got >= opt_size) {
                int64_t t = now_ns();
                if (measuring) {
                    completed++;
                    hist_add(t - s->started);
                }
                last_progress_t = t;
                if (opt_rst) {
                    struct linger lg = {1, 0};
                    setsockopt(s->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
                }
                close(s->fd); /* also removes it from the epoll set */
                SLOT_START(idx);
            }
        }
        int64_t t = now_ns();
        if (window_tick(&w, t)) break;
        if (t - last_progress_t > (int64_t)(opt_timeout * 1e9))
            fail("stalled: no connection completed within the timeout");
    }
    char head[160];
    snprintf(head, sizeof head, "{\"mode\":\"churn\",\"conns\":%d,\"size\":%zu,\"proxy\":%d,",
             opt_conns, opt_size, opt_proxy);
    window_report(&w, head);
    printf("}\n");
    return 0;
}

/* ---------- idle mode ---------- */

static int run_idle(void) {
    alloc_conns(opt_conns, 1);
    rbuf_len = 65536;
    rbuf = malloc(rbuf_len);
    make_pattern(65536);
    int64_t t0 = now_ns();
    connect_all(opt_conns);
    for (int i = 0; i < opt_conns; i++) {
        conn_queue_messages(&conns[i], 1, t0);
        conn_flush(&conns[i]);
    }
    /* wait until every connection got its echo back */
    uint64_t echoed = 0;
    struct epoll_event evs[MAX_EVENTS];
    int64_t deadline = now_ns() + (int64_t)(opt_timeout * 1e9);
    while (echoed < (uint64_t)opt_conns) {
        int k = epoll_wait(epfd, evs, MAX_EVENTS, 1000);
        if (k < 0) {
            if (errno == EINTR) continue;
            die("epoll_wait");
        }
        for (int i = 0; i < k; i++) {
            struct conn *c = &conns[evs[i].data.u64];
            ssize_t r = read_some(c->fd, "read (idle)", "server closed an idle connection");
            if (r < 0) continue;
            c->recvd += (uint64_t)r;
            if (c->recvd == opt_size) echoed++;
        }
        if (now_ns() > deadline) fail("timed out waiting for the idle connections' echoes");
    }
    double setup = (double)(now_ns() - t0) / 1e9;
    printf("{\"ready\":%d,\"setup_s\":%.3f}\n", opt_conns, setup);
    fflush(stdout);
    /* hold the connections until told to go (a line or EOF on stdin) */
    char line[64];
    ssize_t r;
    do r = read(0, line, sizeof line);
    while (r < 0 && errno == EINTR);
    /* check that the server kept every connection open */
    int closed = 0;
    int k = epoll_wait(epfd, evs, MAX_EVENTS, 0);
    for (int i = 0; i < k; i++)
        if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) closed++;
    printf("{\"mode\":\"idle\",\"conns\":%d,\"setup_s\":%.3f,\"closed_by_server\":%d}\n", opt_conns,
           setup, closed);
    return 0;
}

/* ---------- http mode ---------- */

struct hconn {
    int fd;
    char head[4096]; /* the response head being read */
    size_t head_len;
    uint64_t body_left; /* body bytes still to come; 0 while reading a head */
    int in_body;
    int64_t sent_at;
};

static uint64_t body_bytes;  /* counted in the measured window */
static uint64_t total_bytes; /* counted always: progress for the stall check */
static char http_req[1024];
static size_t http_req_len;

static void http_send(struct hconn *h) {
    h->sent_at = now_ns();
    ssize_t w = write(h->fd, http_req, http_req_len);
    if (w != (ssize_t)http_req_len) die("write (http request)");
}

/* A response ended: count it, ask again. */
static void http_done(struct hconn *h) {
    int64_t t = now_ns();
    last_completion_ns = t;
    if (measuring) {
        completed++;
        hist_add(t - h->sent_at);
    }
    completed_total++;
    h->in_body = 0;
    h->head_len = 0;
    http_send(h);
}

/* Parses a complete head in h->head (ending at `end`): the status must be 200. */
static void http_head(struct hconn *h, size_t end) {
    h->head[end] = 0;
    if (strncmp(h->head, "HTTP/1.1 200 ", 13) != 0) {
        fprintf(stderr, "loadgen: unexpected response: %.200s\n", h->head);
        fail("the server did not answer 200");
    }
    char *cl = strcasestr(h->head, "\r\ncontent-length:");
    if (!cl) fail("a response without Content-Length");
    h->body_left = strtoull(cl + 17, NULL, 10);
    if (strcasestr(h->head, "\r\nconnection: close"))
        fail("the server closes keep-alive connections");
    h->in_body = 1;
}

static void http_readable(struct hconn *h) {
    for (;;) {
        ssize_t r = read_some(h->fd, "read (http)", "server closed a connection");
        if (r < 0) return;
        size_t at = 0, n = (size_t)r;
        while (at < n) {
            if (h->in_body) {
                size_t take = n - at;
                if (take > h->body_left) take = (size_t)h->body_left;
                h->body_left -= take;
                if (measuring) body_bytes += take;
                total_bytes += take;
                at += take;
                if (h->body_left == 0) http_done(h);
                continue;
            }
            /* the head: byte by byte into h->head until CRLF CRLF (heads are short) */
            while (at < n && !h->in_body) {
                if (h->head_len >= sizeof h->head - 1) fail("response head too long");
                h->head[h->head_len++] = (char)rbuf[at++];
                if (h->head_len >= 4 && memcmp(h->head + h->head_len - 4, "\r\n\r\n", 4) == 0) {
                    http_head(h, h->head_len);
                    if (h->body_left == 0) http_done(h);
                }
            }
        }
        if ((size_t)r < rbuf_len) return;
    }
}

static int run_http(void) {
    struct hconn *hs = calloc((size_t)opt_conns, sizeof *hs);
    rbuf_len = 1 << 20;
    rbuf = malloc(rbuf_len);
    if (!hs || !rbuf) die("calloc");
    http_req_len = (size_t)snprintf(
        http_req, sizeof http_req,
        "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUser-Agent: danga-loadgen\r\n\r\n", opt_path,
        opt_port);
    if (http_req_len >= sizeof http_req) fail("--path too long");
    /* connect like the echo mode does, then move the fds over */
    alloc_conns(opt_conns, 1);
    connect_all(opt_conns);
    for (int i = 0; i < opt_conns; i++) hs[i].fd = conns[i].fd;
    int64_t t0 = now_ns();
    for (int i = 0; i < opt_conns; i++) http_send(&hs[i]);

    struct epoll_event evs[MAX_EVENTS];
    struct window w;
    window_init(&w, t0);
    last_completion_ns = t0;
    uint64_t seen = 0;
    for (;;) {
        int k = epoll_wait(epfd, evs, MAX_EVENTS, 100);
        if (k < 0) {
            if (errno == EINTR) continue;
            die("epoll_wait");
        }
        for (int i = 0; i < k; i++) {
            struct hconn *h = &hs[evs[i].data.u64];
            if ((evs[i].events & (EPOLLERR | EPOLLHUP)) && !(evs[i].events & EPOLLIN))
                fail("connection error/hangup from server");
            if (evs[i].events & EPOLLIN) http_readable(h);
        }
        int64_t t = now_ns();
        if (window_tick(&w, t)) break;
        /* a 1 GiB body takes a while: progress is bytes, not completions */
        if (total_bytes != seen) {
            seen = total_bytes;
            last_completion_ns = t;
        }
        if (t - last_completion_ns > (int64_t)(opt_timeout * 1e9))
            fail("stalled: no response byte within the timeout");
    }
    double elapsed = (double)(now_ns() - w.start) / 1e9;
    char head[600];
    snprintf(head, sizeof head,
             "{\"mode\":\"http\",\"conns\":%d,\"path\":\"%s\",\"body_bytes\":%llu,\"mib_s\":%.2f,",
             opt_conns, opt_path, (unsigned long long)body_bytes,
             elapsed > 0 ? (double)body_bytes / elapsed / 1048576.0 : 0);
    window_report(&w, head);
    printf("}\n");
    return 0;
}

/* ---------- job mode ---------- */

/*
 * A job server's clients (Gearman-shaped): N connections, D requests in
 * flight on each, every request answered in order.  Requests:
 *   binary  "\0REQ" + type 7 (SUBMIT_JOB) + 4-byte BE length, then the
 *           payload "bench\0<uid>\0" + --size bytes of data; the answer is a
 *           packet "\0RES" + type 8 (JOB_CREATED) + length + a job handle;
 *   text    every --text-every'th request (0: none) is the admin line
 *           "status\n"; the answer is lines ending with a line ".".
 * With --keys K every request is instead the store command
 * "set <key> <V>\r\n" + V bytes (--value-size) + "\r\n", the keys running
 * over 0..K-1 (each connection takes every N'th key), answered "STORED\r\n":
 * the server keeps every value it read (the memory scenario); the measured
 * window then lasts at least until every key was stored once.
 * Answers are parsed (a binary answer must carry the \0RES magic and type 8,
 * a text answer must be "STORED", "OK …" or end with "."), counted and timed
 * from the write that queued the request.
 */
struct jconn {
    int fd;
    int want_out;
    unsigned char *out; /* queued request bytes */
    size_t out_len, out_off, out_cap;
    int64_t *stamps; /* ring of send times */
    unsigned head, tail;
    uint64_t seq; /* requests queued so far */
    uint64_t next_key;
    uint64_t
        all_keys_at; /* --keys: the request that completed this connection's keys (0: not yet) */
    /* answer parser */
    int state; /* 0: at an answer's start, 1: packet head, 2: packet body, 3: text line */
    unsigned char hdr[12];
    size_t hdr_len;
    uint64_t body_left;
    char line[256];
    size_t line_len;
};

static int opt_text_every = 0;
static long opt_keys = 0;
static size_t opt_value_size = 1024;
static struct jconn *jconns;
static unsigned char *job_value; /* --value-size bytes + CRLF */

static void jconn_reserve(struct jconn *j, size_t more) {
    if (j->out_off > 0 && j->out_off == j->out_len) j->out_off = j->out_len = 0;
    if (j->out_len + more <= j->out_cap) return;
    if (j->out_off > 0) {
        memmove(j->out, j->out + j->out_off, j->out_len - j->out_off);
        j->out_len -= j->out_off;
        j->out_off = 0;
        if (j->out_len + more <= j->out_cap) return;
    }
    size_t cap = j->out_cap ? j->out_cap : 4096;
    while (cap < j->out_len + more) cap *= 2;
    unsigned char *o = realloc(j->out, cap);
    if (!o) die("realloc");
    j->out = o;
    j->out_cap = cap;
}

static void job_queue(struct jconn *j, int64_t t) {
    j->stamps[j->tail % (unsigned)opt_depth] = t;
    j->tail++;
    j->seq++;
    if (opt_keys > 0) {
        char head[64];
        int n = snprintf(head, sizeof head, "set k%lu %zu\r\n", (unsigned long)j->next_key,
                         opt_value_size);
        j->next_key += (uint64_t)opt_conns;
        if (j->next_key >= (uint64_t)opt_keys) {
            j->next_key %= (uint64_t)opt_conns;
            if (!j->all_keys_at) j->all_keys_at = j->seq;
        }
        jconn_reserve(j, (size_t)n + opt_value_size + 2);
        memcpy(j->out + j->out_len, head, (size_t)n);
        memcpy(j->out + j->out_len + (size_t)n, job_value, opt_value_size + 2);
        j->out_len += (size_t)n + opt_value_size + 2;
        return;
    }
    if (opt_text_every > 0 && j->seq % (uint64_t)opt_text_every == 0) {
        jconn_reserve(j, 7);
        memcpy(j->out + j->out_len, "status\n", 7);
        j->out_len += 7;
        return;
    }
    char uid[32];
    int ul = snprintf(uid, sizeof uid, "%llu", (unsigned long long)j->seq);
    size_t len = 6 + (size_t)ul + 1 + opt_size;
    jconn_reserve(j, 12 + len);
    unsigned char *p = j->out + j->out_len;
    memcpy(p, "\0REQ", 4);
    p[4] = 0, p[5] = 0, p[6] = 0, p[7] = 7;
    p[8] = (unsigned char)(len >> 24), p[9] = (unsigned char)(len >> 16);
    p[10] = (unsigned char)(len >> 8), p[11] = (unsigned char)len;
    memcpy(p + 12, "bench\0", 6);
    memcpy(p + 18, uid, (size_t)ul + 1);
    memcpy(p + 19 + ul, pattern, opt_size);
    j->out_len += 12 + len;
}

static void job_flush(struct jconn *j) {
    while (j->out_off < j->out_len) {
        ssize_t w = write(j->fd, j->out + j->out_off, j->out_len - j->out_off);
        if (w < 0) {
            if (errno == EAGAIN || errno == EINTR) break;
            die("write");
        }
        j->out_off += (size_t)w;
    }
    int need = j->out_off < j->out_len;
    if (need != j->want_out) {
        ep_ctl(EPOLL_CTL_MOD, j->fd, EPOLLIN | (need ? EPOLLOUT : 0), (uint64_t)(j - jconns));
        j->want_out = need;
    }
}

/* One answer complete: count it, queue the next request. */
static int conns_with_all_keys; /* --keys: connections whose every key was answered */

static void job_done(struct jconn *j, int64_t t) {
    int64_t sent_at = j->stamps[j->head % (unsigned)opt_depth];
    j->head++;
    if (j->all_keys_at && j->head == j->all_keys_at) conns_with_all_keys++;
    if (measuring) {
        hist_add(t - sent_at);
        completed++;
    }
    completed_total++;
    last_completion_ns = t;
    job_queue(j, t);
}

static void job_readable(struct jconn *j) {
    for (;;) {
        ssize_t r = read_some(j->fd, "read", "server closed a connection");
        if (r < 0) break;
        int64_t t = 0;
        size_t at = 0, n = (size_t)r;
        while (at < n) {
            switch (j->state) {
            case 0:
                j->state = rbuf[at] == 0 ? 1 : 3;
                j->hdr_len = 0;
                j->line_len = 0;
                break;
            case 1:
                while (at < n && j->hdr_len < 12) j->hdr[j->hdr_len++] = rbuf[at++];
                if (j->hdr_len == 12) {
                    if (memcmp(j->hdr, "\0RES\0\0\0\x08", 8) != 0)
                        fail("a binary answer that is not \\0RES JOB_CREATED");
                    j->body_left = (uint64_t)j->hdr[8] << 24 | (uint64_t)j->hdr[9] << 16 |
                                   (uint64_t)j->hdr[10] << 8 | j->hdr[11];
                    j->state = 2;
                }
                break;
            case 2: {
                size_t take = n - at;
                if (take > j->body_left) take = (size_t)j->body_left;
                j->body_left -= take;
                at += take;
                if (j->body_left == 0) {
                    if (!t) t = now_ns();
                    j->state = 0;
                    job_done(j, t);
                }
                break;
            }
            case 3: {
                unsigned char ch = rbuf[at++];
                if (ch != '\n') {
                    if (j->line_len >= sizeof j->line - 1) fail("an answer line too long");
                    j->line[j->line_len++] = (char)ch;
                    break;
                }
                if (j->line_len > 0 && j->line[j->line_len - 1] == '\r') j->line_len--;
                j->line[j->line_len] = 0;
                int end = !strcmp(j->line, ".") || !strcmp(j->line, "STORED") ||
                          !strncmp(j->line, "OK", 2);
                if (!strncmp(j->line, "ERR", 3)) {
                    fprintf(stderr, "loadgen: server answered: %s\n", j->line);
                    fail("the server answered an error");
                }
                j->line_len = 0;
                if (end) {
                    if (!t) t = now_ns();
                    j->state = 0;
                    job_done(j, t);
                }
                break;
            }
            }
        }
        if ((size_t)r < rbuf_len) break;
    }
    job_flush(j);
}

static int run_job(void) {
    if (opt_keys > 0 && opt_keys < opt_conns) fail("--keys must be at least --conns");
    jconns = calloc((size_t)opt_conns, sizeof *jconns);
    int64_t *stamps = calloc((size_t)opt_conns * (size_t)opt_depth, sizeof(int64_t));
    rbuf_len = 65536;
    rbuf = malloc(rbuf_len);
    job_value = malloc(opt_value_size + 2);
    if (!jconns || !stamps || !rbuf || !job_value) die("calloc");
    make_pattern(opt_size);
    for (size_t i = 0; i < opt_value_size; i++) job_value[i] = (unsigned char)('a' + i % 26);
    memcpy(job_value + opt_value_size, "\r\n", 2);
    alloc_conns(opt_conns, 1);
    connect_all(opt_conns);
    int64_t t0 = now_ns();
    for (int i = 0; i < opt_conns; i++) {
        struct jconn *j = &jconns[i];
        j->fd = conns[i].fd;
        j->stamps = stamps + (size_t)i * (size_t)opt_depth;
        j->next_key = (uint64_t)i;
        for (int d = 0; d < opt_depth; d++) job_queue(j, t0);
        job_flush(j);
    }
    struct epoll_event evs[MAX_EVENTS];
    struct window w;
    window_init(&w, t0);
    last_completion_ns = t0;
    for (;;) {
        int k = epoll_wait(epfd, evs, MAX_EVENTS, 100);
        if (k < 0) {
            if (errno == EINTR) continue;
            die("epoll_wait");
        }
        for (int i = 0; i < k; i++) {
            struct jconn *j = &jconns[evs[i].data.u64];
            if ((evs[i].events & (EPOLLERR | EPOLLHUP)) && !(evs[i].events & EPOLLIN))
                fail("connection error/hangup from server");
            if (evs[i].events & EPOLLIN) job_readable(j);
            else if (evs[i].events & EPOLLOUT) job_flush(j);
        }
        int64_t t = now_ns();
        /* with --keys the window also lasts until every key was stored once */
        if (window_tick(&w, t) && (opt_keys == 0 || conns_with_all_keys == opt_conns)) break;
        if (t - last_completion_ns > (int64_t)(opt_timeout * 1e9))
            fail("stalled: no answer within the timeout");
    }
    char head[200];
    snprintf(head, sizeof head,
             "{\"mode\":\"job\",\"conns\":%d,\"depth\":%d,\"size\":%zu,\"text_every\":%d,"
             "\"keys\":%ld,\"value_size\":%zu,",
             opt_conns, opt_depth, opt_size, opt_text_every, opt_keys, opt_value_size);
    window_report(&w, head);
    printf("}\n");
    return 0;
}

/* ---------- main ---------- */

static void usage(void) {
    fprintf(stderr,
            "usage: loadgen --port P [--host 127.0.0.1] [--mode echo|stream|churn|idle|http|job]\n"
            "               [--conns N] [--depth D] [--size BYTES] [--warmup S] [--duration S]\n"
            "               [--bytes N] [--server-pid PID] [--src-ips K] [--no-verify]\n"
            "               [--no-nodelay] [--timeout S] [--rst] [--path /file] [--proxy 1|2]\n"
            "               [--lines] [--text-every K] [--keys K] [--value-size V]\n");
    exit(64);
}

int main(int argc, char **argv) {
    static struct option longopts[] = {{"host", required_argument, 0, 'h'},
                                       {"port", required_argument, 0, 'p'},
                                       {"mode", required_argument, 0, 'm'},
                                       {"conns", required_argument, 0, 'c'},
                                       {"depth", required_argument, 0, 'd'},
                                       {"size", required_argument, 0, 's'},
                                       {"warmup", required_argument, 0, 'w'},
                                       {"duration", required_argument, 0, 't'},
                                       {"bytes", required_argument, 0, 'b'},
                                       {"server-pid", required_argument, 0, 'P'},
                                       {"src-ips", required_argument, 0, 'S'},
                                       {"no-verify", no_argument, 0, 'V'},
                                       {"no-nodelay", no_argument, 0, 'N'},
                                       {"timeout", required_argument, 0, 'T'},
                                       {"rst", no_argument, 0, 'R'},
                                       {"path", required_argument, 0, 'U'},
                                       {"proxy", required_argument, 0, 'X'},
                                       {"lines", no_argument, 0, 'L'},
                                       {"text-every", required_argument, 0, 'E'},
                                       {"keys", required_argument, 0, 'K'},
                                       {"value-size", required_argument, 0, 'Z'},
                                       {0, 0, 0, 0}};
    int ch;
    while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (ch) {
        case 'h': opt_host = optarg; break;
        case 'p': opt_port = atoi(optarg); break;
        case 'm': opt_mode = optarg; break;
        case 'c': opt_conns = atoi(optarg); break;
        case 'd': opt_depth = atoi(optarg); break;
        case 's': opt_size = (size_t)strtoull(optarg, NULL, 10); break;
        case 'w': opt_warmup = atof(optarg); break;
        case 't': opt_duration = atof(optarg); break;
        case 'b': opt_bytes = strtoull(optarg, NULL, 10); break;
        case 'P':
            if (n_server_pids == MAX_SERVER_PIDS) fail("too many --server-pid");
            opt_server_pids[n_server_pids++] = atoi(optarg);
            break;
        case 'S': opt_src_ips = atoi(optarg); break;
        case 'V': opt_verify = 0; break;
        case 'N': opt_nodelay = 0; break;
        case 'T': opt_timeout = atof(optarg); break;
        case 'R': opt_rst = 1; break;
        case 'U': opt_path = optarg; break;
        case 'X': opt_proxy = atoi(optarg); break;
        case 'L': opt_lines = 1; break;
        case 'E': opt_text_every = atoi(optarg); break;
        case 'K': opt_keys = atol(optarg); break;
        case 'Z': opt_value_size = (size_t)strtoull(optarg, NULL, 10); break;
        default: usage();
        }
    }
    if (opt_port <= 0 || opt_conns <= 0 || opt_depth <= 0 || opt_size == 0) usage();
    if (opt_lines && (strcmp(opt_mode, "echo") != 0 || opt_size < 2))
        fail("--lines is for the echo mode, with --size of at least 2");
    if (opt_text_every < 0 || opt_keys < 0 || opt_value_size == 0 || opt_value_size > 1 << 20)
        fail("--text-every and --keys take a count >= 0, --value-size 1 to 1 MiB");
    if (opt_proxy != 0 && (opt_proxy > 2 || opt_proxy < 0 || strcmp(opt_mode, "churn") != 0))
        fail("--proxy takes 1 or 2, in churn mode");
    signal(SIGPIPE, SIG_IGN);

    /* enough fds for the connections (the hard limit permitting) */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t)opt_conns + 16)
        fail("file descriptor limit too low for the connection count");

    memset(&server_addr, 0, sizeof server_addr);
    server_addr.sin_family = AF_INET;
    server_addr.sin_port = htons((uint16_t)opt_port);
    if (inet_pton(AF_INET, opt_host, &server_addr.sin_addr) != 1) fail("--host must be IPv4");

    epfd = epoll_create1(EPOLL_CLOEXEC);
    if (epfd < 0) die("epoll_create1");

    int rc;
    if (!strcmp(opt_mode, "echo")) rc = run_echo();
    else if (!strcmp(opt_mode, "stream")) rc = run_stream();
    else if (!strcmp(opt_mode, "churn")) rc = run_churn();
    else if (!strcmp(opt_mode, "idle")) rc = run_idle();
    else if (!strcmp(opt_mode, "http")) rc = run_http();
    else if (!strcmp(opt_mode, "job")) rc = run_job();
    else usage();
    fflush(stdout);
    return rc;
}
