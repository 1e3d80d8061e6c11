/*
 * LD_PRELOAD shim for pcscd: sets TCP_NODELAY on every TCP socket pcscd accepts.
 * Debian's vpcd writes each frame's length and payload separately without TCP_NODELAY,
 * so Nagle + delayed ACK add ~44 ms to every APDU; with this shim an APDU takes ~0.1 ms.
 * Built by scripts/testbed.ts into .testbed/nodelay-shim.so.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

typedef int (*accept_fn)(int, struct sockaddr *, socklen_t *);
typedef int (*accept4_fn)(int, struct sockaddr *, socklen_t *, int);

static void set_nodelay(int fd)
{
    struct sockaddr_storage local;
    socklen_t len = sizeof local;
    int one = 1;

    /* Only TCP sockets: pcscd also accepts its clients on a Unix socket. */
    if (fd < 0 || getsockname(fd, (struct sockaddr *) &local, &len) != 0)
        return;
    if (local.ss_family != AF_INET && local.ss_family != AF_INET6)
        return;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

int accept(int sockfd, struct sockaddr *addr, socklen_t *addrlen)
{
    static accept_fn real_accept;
    if (!real_accept)
        real_accept = (accept_fn) dlsym(RTLD_NEXT, "accept");
    int fd = real_accept(sockfd, addr, addrlen);
    set_nodelay(fd);
    return fd;
}

int accept4(int sockfd, struct sockaddr *addr, socklen_t *addrlen, int flags)
{
    static accept4_fn real_accept4;
    if (!real_accept4)
        real_accept4 = (accept4_fn) dlsym(RTLD_NEXT, "accept4");
    int fd = real_accept4(sockfd, addr, addrlen, flags);
    set_nodelay(fd);
    return fd;
}
