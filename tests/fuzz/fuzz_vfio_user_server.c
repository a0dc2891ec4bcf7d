// SPDX-License-Identifier: BSD-3-Clause
/*
 * libFuzzer target for the vfio-user server's message handling: the input is the byte
 * stream a client sends, fed over a real socketpair to vfm_vu_server_serve_fd() while a
 * thread drains the replies. One server and one sample device live for the whole run,
 * so state left by one input (a migration state, DMA mappings, IRQ descriptors) must be
 * cleaned up by the server's disconnect handling before the next.
 *
 * If the first byte is odd, a valid VERSION message (with the vfio-mig extension) is
 * sent first, so most inputs reach the commands behind negotiation.
 *
 * Build: clang -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -Iinclude -Isrc \
 *   -I/usr/include/json-c tests/fuzz/fuzz_vfio_user_server.c <library sources> -ljson-c -lm
 * (see tests/unit/vfio-user.build-snippet).
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "vfio-mig/fsm.h"
#include "vfio-mig/testdev.h"
#include "vfio-mig/vfio-user.h"

static struct vfm_testdev *td;
static struct vfm_vu_server *srv;

struct feeder {
	int fd;
	const uint8_t *data;
	size_t len;
	bool prefix;
};

static const char version_json[] =
	"{\"capabilities\":{\"max_msg_fds\":8,\"max_data_xfer_size\":1048576,"
	"\"migration\":{\"pgsize\":4096,\"vfio-mig\":{\"mig_data_size\":true,"
	"\"precopy_info\":true}}}}";

static void write_all(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	while (len) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

		if (n <= 0)
			return; /* the server hung up: fine */
		p += n;
		len -= (size_t)n;
	}
}

/* Writes the input, then drains replies until the server closes its end. */
static void *feed(void *arg)
{
	struct feeder *f = arg;
	char sink[65536];

	if (f->prefix) {
		uint8_t msg[16 + 4 + sizeof(version_json)];
		struct vfm_vu_hdr h = {0xffff, VFM_VU_VERSION, sizeof(msg), 0, 0};
		struct vfm_vu_version v = {0, 1};

		memcpy(msg, &h, 16);
		memcpy(msg + 16, &v, 4);
		memcpy(msg + 20, version_json, sizeof(version_json));
		write_all(f->fd, msg, sizeof(msg));
	}
	write_all(f->fd, f->data, f->len);
	shutdown(f->fd, SHUT_WR);
	while (read(f->fd, sink, sizeof(sink)) > 0)
		;
	return NULL;
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct vfm_testdev_config cfg;
	struct vfm_vu_server_opts o = {0};
	char err[256];

	(void)argc;
	(void)argv;
	vfm_testdev_config_default(&cfg);
	if (vfm_testdev_parse("testdev,size=256K,seed=1,dirty-rate=0", &cfg, err, sizeof(err)) ||
	    vfm_testdev_create(&cfg, "fuzz", NULL, &td, err, sizeof(err))) {
		fprintf(stderr, "fuzz: %s\n", err);
		abort();
	}
	o.testdev = td;
	o.max_data_xfer_size = 1 << 20;
	if (vfm_vu_server_create(vfm_testdev_device(td), &o, &srv, err, sizeof(err))) {
		fprintf(stderr, "fuzz: %s\n", err);
		abort();
	}
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct feeder f = {.data = data, .len = size, .prefix = size && (data[0] & 1)};
	pthread_t thr;
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))
		abort();
	f.fd = sv[1];
	if (pthread_create(&thr, NULL, feed, &f))
		abort();
	(void)vfm_vu_server_serve_fd(srv, sv[0], NULL);
	pthread_join(thr, NULL);
	close(sv[1]);
	/* Whatever the input did, the device is serving and RUNNING again. */
	if (vfm_device_get_state(vfm_testdev_device(td)) != VFM_STATE_RUNNING)
		abort();
	return 0;
}
