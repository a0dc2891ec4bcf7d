// SPDX-License-Identifier: BSD-3-Clause
/*
 * Writing a migratable device on vfio-mig's device library, served over vfio-user.
 *
 *   device-server SOCKET SEED
 *
 * The device keeps 256 KiB of memory, filled from SEED. Its migration data is that memory
 * with a small header and a hash, so that a destination can refuse a damaged stream. It
 * serves one vfio-user client at a time on SOCKET until SIGINT or SIGTERM, then prints the
 * hash of its memory ("memory HASH"): run one with seed 1 and one with seed 2, migrate the
 * first into the second (migrate-two, or `vfio-mig migrate unix:A unix:B`), stop both, and
 * both print the hash of seed 1.
 *
 * The library walks the migration uAPI's state machine arc by arc, owns the data session
 * and enforces its rules; the device only says what each arc means (step), produces its
 * saved bytes (save) and takes restored ones (load).
 *
 * Build: cc device-server.c $(pkg-config --cflags --libs vfio-mig)
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <vfio-mig/device.h>
#include <vfio-mig/vfio-user.h>

#define MEM_SIZE   (256u << 10)
#define IMG_MAGIC  0x31445845u /* "EXD1" */
#define IMG_HEADER 16u	       /* u32 magic, u32 0, u64 length */
#define IMG_SIZE   (IMG_HEADER + MEM_SIZE + 8u)

struct example_dev {
	struct vfm_device *dev;
	unsigned char mem[MEM_SIZE];
	unsigned char *out; /* the image being saved (STOP_COPY) */
	size_t out_pos;
	unsigned char *in; /* the image being restored (RESUMING) */
	size_t in_len;
};

static uint64_t hash(const void *buf, size_t len)
{
	const unsigned char *p = buf;
	uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a */

	for (size_t i = 0; i < len; i++)
		h = (h ^ p[i]) * 0x100000001b3ull;
	return h;
}

static void fill(unsigned char *mem, uint64_t seed)
{
	uint64_t x = seed * 0x9e3779b97f4a7c15ull + 1;

	for (size_t i = 0; i < MEM_SIZE; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		mem[i] = (unsigned char)x;
	}
}

static void put64(unsigned char *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static uint64_t get64(const unsigned char *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

/* Entering STOP_COPY: the device is stopped, so its state can be taken whole. */
static int begin_save(struct example_dev *d)
{
	d->out = malloc(IMG_SIZE);
	if (!d->out)
		return -ENOMEM;
	put64(d->out, IMG_MAGIC);
	put64(d->out + 8, MEM_SIZE);
	memcpy(d->out + IMG_HEADER, d->mem, MEM_SIZE);
	put64(d->out + IMG_HEADER + MEM_SIZE, hash(d->mem, MEM_SIZE));
	d->out_pos = 0;
	return 0;
}

/* Leaving RESUMING for STOP: everything has arrived; check it before taking it. */
static int commit_load(struct example_dev *d)
{
	const unsigned char *mem = d->in + IMG_HEADER;

	if (d->in_len != IMG_SIZE || get64(d->in) != IMG_MAGIC || get64(d->in + 8) != MEM_SIZE) {
		vfm_device_reason(d->dev, "not an image of this device (%zu bytes)", d->in_len);
		return -EINVAL;
	}
	if (get64(d->in + IMG_HEADER + MEM_SIZE) != hash(mem, MEM_SIZE)) {
		vfm_device_reason(d->dev, "image hash mismatch");
		return -EINVAL;
	}
	memcpy(d->mem, mem, MEM_SIZE);
	return 0;
}

static void drop_images(struct example_dev *d)
{
	free(d->out);
	free(d->in);
	d->out = d->in = NULL;
	d->out_pos = d->in_len = 0;
}

/* One arc of the state machine; the library has already checked it is a legal one. */
static int ex_step(void *opaque, uint32_t from, uint32_t to, bool *enter_error)
{
	struct example_dev *d = opaque;
	int rc = 0;

	(void)enter_error; /* no failure of ours needs a reset to recover from */
	if (to == VFM_STATE_STOP_COPY)
		rc = begin_save(d);
	else if (to == VFM_STATE_RESUMING) {
		d->in = malloc(IMG_SIZE);
		d->in_len = 0;
		rc = d->in ? 0 : -ENOMEM;
	} else if (from == VFM_STATE_RESUMING)
		rc = commit_load(d);
	/* RUNNING <-> RUNNING_P2P <-> STOP: a real device quiesces or stops its DMA here. */
	if (!rc && (from == VFM_STATE_STOP_COPY || from == VFM_STATE_RESUMING))
		drop_images(d);
	return rc;
}

static ssize_t ex_save(void *opaque, void *buf, size_t len)
{
	struct example_dev *d = opaque;
	size_t n = IMG_SIZE - d->out_pos;

	if (n > len)
		n = len;
	memcpy(buf, d->out + d->out_pos, n);
	d->out_pos += n;
	return (ssize_t)n; /* 0: the end of the stream */
}

static ssize_t ex_load(void *opaque, const void *buf, size_t len)
{
	struct example_dev *d = opaque;

	if (len > IMG_SIZE - d->in_len) {
		vfm_device_reason(d->dev, "more data than an image of this device holds");
		return -EINVAL;
	}
	memcpy(d->in + d->in_len, buf, len);
	d->in_len += len;
	return (ssize_t)len;
}

static int ex_data_size(void *opaque, uint64_t *stop_copy_length)
{
	(void)opaque;
	*stop_copy_length = IMG_SIZE;
	return 0;
}

static int ex_reset(void *opaque)
{
	drop_images(opaque);
	return 0;
}

static const struct vfm_device_ops ex_ops = {
	.step = ex_step,
	.save = ex_save,
	.load = ex_load,
	.data_size = ex_data_size,
	.reset = ex_reset,
};

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static void on_log(void *opaque, enum vfm_log_level level, const char *msg)
{
	(void)opaque;
	fprintf(stderr, "device-server[%d]: %s\n", (int)level, msg);
}

static int serve(struct example_dev *d, const char *path)
{
	struct vfm_vu_server_opts so = {.log = {.fn = on_log, .max_level = VFM_LOG_WARN}};
	struct vfm_vu_server *srv;
	char err[VFM_ERR_LEN];
	int rc;

	if (vfm_vu_server_create(d->dev, &so, &srv, err, sizeof(err))) {
		fprintf(stderr, "device-server: %s\n", err);
		return -1;
	}
	rc = vfm_vu_server_listen(srv, path);
	if (!rc)
		rc = vfm_vu_server_run(srv, &stop);
	if (rc)
		fprintf(stderr, "device-server: %s\n", vfm_vu_server_error(srv));
	vfm_vu_server_destroy(srv);
	return rc ? -1 : 0;
}

int main(int argc, char **argv)
{
	struct vfm_device_config cfg = {
		.name = "example",
		/* P2P too: several such devices can be migrated together. */
		.flags = VFM_MIGRATION_STOP_COPY | VFM_MIGRATION_P2P,
		.log = {.fn = on_log, .max_level = VFM_LOG_WARN},
	};
	struct sigaction sa = {.sa_handler = on_signal}; /* no SA_RESTART: waits end at once */
	static struct example_dev d;
	int rc;

	if (argc != 3) {
		fprintf(stderr, "usage: %s SOCKET SEED\n", argv[0]);
		return 2;
	}
	fill(d.mem, strtoull(argv[2], NULL, 0));
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	if (vfm_device_create(&cfg, &ex_ops, &d, &d.dev)) {
		fprintf(stderr, "device-server: cannot create the device\n");
		return 1;
	}
	rc = serve(&d, argv[1]);
	printf("memory %016llx\n", (unsigned long long)hash(d.mem, MEM_SIZE));
	vfm_device_destroy(d.dev);
	drop_images(&d);
	return rc ? 1 : 0;
}
