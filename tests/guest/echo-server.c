/*
 * TCP and UDP echo service (RFC 862) for the test guest, one process, no forks.
 *
 * Built statically on the host at test time and started by /init. Everything read on a TCP
 * connection is written back on it; every UDP datagram goes back to its sender. A single poll
 * loop serves all clients so that a connection costs no process start, which under a software
 * CPU would dominate request latency.
 *
 * Usage: qc-echo [-b] [PORT]   (default 7; -b: go to the background once listening, so that
 *        the caller knows the port answers when qc-echo returns)
 *
 * Counters (connections, bytes, datagrams, and anything dropped) are written to
 * /run/qc-echo.stats once a second so the guest's HTTP service can show them.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_CONNS  256
#define BUF_SIZE   65536
#define STATS_PATH "/run/qc-echo.stats"

/* A connection keeps what it could not write back yet; reading pauses until that drains. */
struct conn {
    int fd;
    size_t pending_off;
    size_t pending_len;
    char *pending;
};

struct stats {
    uint64_t tcp_accepted;
    uint64_t tcp_bytes;
    uint64_t tcp_refused; /* accepted then closed because MAX_CONNS were busy */
    uint64_t udp_datagrams;
    uint64_t udp_bytes;
    uint64_t udp_dropped; /* sendto failed, the datagram is lost */
};

static struct conn conns[MAX_CONNS];
static struct stats st;

static int listen_socket(int type, int port)
{
    struct sockaddr_in sa = {
        .sin_family = AF_INET,
        .sin_port = htons(port),
        .sin_addr.s_addr = htonl(INADDR_ANY),
    };
    int one = 1;
    int fd = socket(AF_INET, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

    if (fd < 0) {
        perror("qc-echo: socket");
        exit(1);
    }
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        perror("qc-echo: bind");
        exit(1);
    }
    if (type == SOCK_STREAM && listen(fd, 64) < 0) {
        perror("qc-echo: listen");
        exit(1);
    }
    return fd;
}

static void conn_close(struct conn *c)
{
    close(c->fd);
    free(c->pending);
    memset(c, 0, sizeof(*c));
    c->fd = -1;
}

static void accept_all(int lfd)
{
    for (;;) {
        int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        int one = 1;
        int i;

        if (fd < 0) {
            return;
        }
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        for (i = 0; i < MAX_CONNS && conns[i].fd >= 0; i++) {
        }
        if (i == MAX_CONNS) {
            st.tcp_refused++;
            close(fd);
            continue;
        }
        conns[i].fd = fd;
        st.tcp_accepted++;
    }
}

/* Writes what is pending; returns 0 when the connection must be closed. */
static int conn_flush(struct conn *c)
{
    while (c->pending_len) {
        ssize_t n = write(c->fd, c->pending + c->pending_off, c->pending_len);

        if (n < 0) {
            return errno == EAGAIN || errno == EINTR;
        }
        c->pending_off += n;
        c->pending_len -= n;
    }
    free(c->pending);
    c->pending = NULL;
    c->pending_off = 0;
    return 1;
}

static int conn_read(struct conn *c, char *buf)
{
    ssize_t n = read(c->fd, buf, BUF_SIZE);

    if (n == 0) {
        return 0;
    }
    if (n < 0) {
        return errno == EAGAIN || errno == EINTR;
    }
    st.tcp_bytes += n;
    c->pending = malloc(n);
    if (!c->pending) {
        return 0;
    }
    memcpy(c->pending, buf, n);
    c->pending_off = 0;
    c->pending_len = n;
    return conn_flush(c);
}

static void udp_echo_all(int ufd, char *buf)
{
    for (;;) {
        struct sockaddr_in peer;
        socklen_t plen = sizeof(peer);
        ssize_t n = recvfrom(ufd, buf, BUF_SIZE, 0, (struct sockaddr *)&peer, &plen);

        if (n < 0) {
            return;
        }
        st.udp_datagrams++;
        st.udp_bytes += n;
        if (sendto(ufd, buf, n, 0, (struct sockaddr *)&peer, plen) < 0) {
            st.udp_dropped++;
        }
    }
}

static void write_stats(void)
{
    FILE *f = fopen(STATS_PATH ".tmp", "w");

    if (!f) {
        return;
    }
    fprintf(f,
            "tcp_accepted %llu\ntcp_bytes %llu\ntcp_refused %llu\n"
            "udp_datagrams %llu\nudp_bytes %llu\nudp_dropped %llu\n",
            (unsigned long long)st.tcp_accepted, (unsigned long long)st.tcp_bytes,
            (unsigned long long)st.tcp_refused, (unsigned long long)st.udp_datagrams,
            (unsigned long long)st.udp_bytes, (unsigned long long)st.udp_dropped);
    fclose(f);
    rename(STATS_PATH ".tmp", STATS_PATH);
}

int main(int argc, char **argv)
{
    int background = argc > 1 && strcmp(argv[1], "-b") == 0;
    const char *port_arg = argc > 1 + background ? argv[1 + background] : "7";
    int port = atoi(port_arg);
    int tfd, ufd;
    static char buf[BUF_SIZE];
    struct pollfd pfd[MAX_CONNS + 2];
    time_t last_stats = 0;

    if (port <= 0 || port > 65535) {
        fprintf(stderr, "qc-echo: bad port '%s'\n", port_arg);
        return 1;
    }
    signal(SIGPIPE, SIG_IGN);
    for (int i = 0; i < MAX_CONNS; i++) {
        conns[i].fd = -1;
    }
    tfd = listen_socket(SOCK_STREAM, port);
    ufd = listen_socket(SOCK_DGRAM, port);
    if (background) {
        pid_t pid = fork();

        if (pid < 0) {
            perror("qc-echo: fork");
            return 1;
        }
        if (pid > 0) {
            _exit(0);
        }
        setsid();
    }

    for (;;) {
        int n = 2;
        time_t now = time(NULL);

        if (now != last_stats) {
            write_stats();
            last_stats = now;
        }
        pfd[0] = (struct pollfd){.fd = tfd, .events = POLLIN};
        pfd[1] = (struct pollfd){.fd = ufd, .events = POLLIN};
        for (int i = 0; i < MAX_CONNS; i++) {
            if (conns[i].fd >= 0) {
                pfd[n++] = (struct pollfd){
                    .fd = conns[i].fd,
                    .events = conns[i].pending_len ? POLLOUT : POLLIN,
                };
            }
        }
        if (poll(pfd, n, 1000) < 0) {
            continue;
        }
        if (pfd[0].revents) {
            accept_all(tfd);
        }
        if (pfd[1].revents) {
            udp_echo_all(ufd, buf);
        }
        for (int k = 2, i = 0; k < n; k++) {
            int keep;

            while (conns[i].fd != pfd[k].fd) {
                i++;
            }
            if (!pfd[k].revents) {
                continue;
            }
            if (conns[i].pending_len) {
                keep = conn_flush(&conns[i]);
            } else {
                keep = conn_read(&conns[i], buf);
            }
            if (!keep || (pfd[k].revents & (POLLERR | POLLNVAL))) {
                conn_close(&conns[i]);
            }
        }
    }
}
