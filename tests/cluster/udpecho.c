/* udpecho PORT [naive]: answer each datagram with "<hostname> <sender's address>".
   By default the answer leaves from the address the datagram was sent to (IP_PKTINFO, as DNS
   servers do); "naive": a plain sendto from the wildcard socket, the kernel choosing the source. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int main(int argc, char **argv) {
    int naive = argc > 2 && strcmp(argv[2], "naive") == 0, one = 1;
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in me = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[1]))};
    if (fd < 0 || setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &one, sizeof one) || bind(fd, (void *)&me, sizeof me)) {
        perror("udpecho");
        return 1;
    }
    char host[64] = "", buf[512], out[160], cbuf[256];
    gethostname(host, sizeof host - 1);
    for (;;) {
        struct sockaddr_in peer;
        struct iovec iov = {buf, sizeof buf};
        struct msghdr m = {.msg_name = &peer, .msg_namelen = sizeof peer, .msg_iov = &iov, .msg_iovlen = 1,
                           .msg_control = cbuf, .msg_controllen = sizeof cbuf};
        if (recvmsg(fd, &m, 0) < 0) continue;
        struct in_pktinfo *pi = NULL;
        for (struct cmsghdr *c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c))
            if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) pi = (struct in_pktinfo *)CMSG_DATA(c);
        int n = snprintf(out, sizeof out, "%s %s\n", host, inet_ntoa(peer.sin_addr));
        iov.iov_base = out;
        iov.iov_len = n;
        char obuf[CMSG_SPACE(sizeof(struct in_pktinfo))] = {0};
        struct msghdr r = {.msg_name = &peer, .msg_namelen = sizeof peer, .msg_iov = &iov, .msg_iovlen = 1};
        if (pi && !naive) {
            r.msg_control = obuf;
            r.msg_controllen = sizeof obuf;
            struct cmsghdr *c = CMSG_FIRSTHDR(&r);
            c->cmsg_level = IPPROTO_IP, c->cmsg_type = IP_PKTINFO, c->cmsg_len = CMSG_LEN(sizeof *pi);
            struct in_pktinfo reply = {.ipi_spec_dst = pi->ipi_addr};
            memcpy(CMSG_DATA(c), &reply, sizeof reply);
        }
        sendmsg(fd, &r, 0);
    }
}
