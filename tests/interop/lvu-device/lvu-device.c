// SPDX-License-Identifier: BSD-3-Clause
/*
 * lvu-device: a migratable test device written on libvfio-user's public API, for the
 * interop tier. It is a peer we build against libvfio-user, never part of vfio-mig.
 *
 *   lvu-device --socket PATH [--size N] [--seed S] [--precopy PCT] [--ready FILE]
 *
 * Its state is SIZE bytes (K/M/G suffixes) that follow from SEED: for SIZE >= 24 the
 * magic "VFMLVU01", the seed and the size (little endian), then gen(SEED, i) for byte i;
 * below 24 bytes gen(0, i). Saving streams exactly those SIZE bytes: PCT percent of them in
 * PRE_COPY (default 50), the rest in STOP_COPY. Loading checks every byte it is given as
 * it arrives and again when RESUMING ends; a wrong byte fails the write and the
 * RESUMING -> STOP arc, and the device keeps its state. The device serves one client
 * after another until it is killed.
 *
 * It reports on stderr, one line each (tests read them):
 *   lvu-device: state size=N seed=S        at start and after each load
 *   lvu-device: pre-copy sent N bytes      on PRE_COPY -> STOP_COPY
 *   lvu-device: saved N bytes              when a STOP_COPY ends with the whole state read
 *   lvu-device: refused state: WHY         when a load is refused
 *   lvu-device: reset                      on a device reset (power-on state again)
 * BAR0 (read-only, 32 bytes): u32 magic 0x4c565530 ("LVU0"), u32 0, u64 size, u64 seed,
 * u64 the bytes read from or written to the migration data so far.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "libvfio-user.h"

#define MAGIC	  "VFMLVU01"
#define HDR	  24
#define BAR0_SIZE 32

struct dev {
	uint64_t size, seed;	       /* the state the device holds */
	uint64_t boot_size, boot_seed; /* power-on state (a reset returns to it) */
	unsigned precopy_pct;
	vfu_migr_state_t state;
	uint64_t pos; /* bytes of the stream read so far (saving) or received (loading) */
	/* loading */
	uint8_t head[HDR];
	uint64_t rseed, rsize;
	bool bad;
	bool reset_in_resume; /* reset since RESUMING began: no data means power-on state */
	char why[160];
};

static uint64_t splitmix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

static uint8_t gen(uint64_t seed, uint64_t i)
{
	return (uint8_t)(splitmix(seed ^ ((i / 8) * 0xd1b54a32d192ed03ull)) >> (8 * (i % 8)));
}

/* Bytes [off, off + len) of the state (size, seed). */
static void fill(uint64_t size, uint64_t seed, uint64_t off, uint8_t *buf, uint64_t len)
{
	uint64_t i = 0;

	if (size < HDR) {
		for (; i < len; i++)
			buf[i] = gen(0, off + i);
		return;
	}
	for (; i < len && off + i < HDR; i++) {
		uint64_t o = off + i;

		buf[i] = o < 8	  ? (uint8_t)MAGIC[o]
			 : o < 16 ? (uint8_t)(seed >> (8 * (o - 8)))
				  : (uint8_t)(size >> (8 * (o - 16)));
	}
	for (; i < len && (off + i) % 8; i++)
		buf[i] = gen(seed, off + i);
	for (; i + 8 <= len; i += 8) {
		uint64_t w = splitmix(seed ^ (((off + i) / 8) * 0xd1b54a32d192ed03ull));

		memcpy(buf + i, &w, 8); /* little endian, as gen() orders the bytes */
	}
	for (; i < len; i++)
		buf[i] = gen(seed, off + i);
}

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
	va_list ap;

	fputs("lvu-device: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static void refuse(struct dev *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void refuse(struct dev *d, const char *fmt, ...)
{
	va_list ap;

	if (d->bad)
		return;
	d->bad = true;
	va_start(ap, fmt);
	vsnprintf(d->why, sizeof(d->why), fmt, ap);
	va_end(ap);
	say("refused state: %s", d->why);
}

static void log_cb(vfu_ctx_t *ctx, int level, const char *msg)
{
	(void)ctx;
	fprintf(stderr, "libvfio-user[%d]: %s\n", level, msg);
}

static uint64_t precopy_bytes(const struct dev *d)
{
	return d->size / 100 * d->precopy_pct + d->size % 100 * d->precopy_pct / 100;
}

/* Checks received bytes [pos, pos + len) against what they must be. */
static void check_bytes(struct dev *d, const uint8_t *p, uint64_t len)
{
	uint8_t want[4096];
	uint64_t done = 0;

	while (done < len && !d->bad) {
		uint64_t at = d->pos + done;

		if (at < HDR) {
			d->head[at] = p[done];
			if (at == HDR - 1) {
				if (memcmp(d->head, MAGIC, 8))
					refuse(d, "not this device's state (no %s magic)", MAGIC);
				memcpy(&d->rseed, d->head + 8, 8);
				memcpy(&d->rsize, d->head + 16, 8);
				if (d->rsize < HDR)
					refuse(d, "the header gives %" PRIu64 " bytes", d->rsize);
			}
			done++;
			continue;
		}
		uint64_t n = len - done < sizeof(want) ? len - done : sizeof(want);

		if (at + n > d->rsize) {
			refuse(d, "more than the %" PRIu64 " bytes the header gives", d->rsize);
			return;
		}
		fill(d->rsize, d->rseed, at, want, n);
		for (uint64_t i = 0; i < n; i++)
			if (p[done + i] != want[i]) {
				refuse(d,
				       "byte %" PRIu64 " is 0x%02x, the seed's content says 0x%02x",
				       at + i, p[done + i], want[i]);
				return;
			}
		done += n;
	}
}

/* RESUMING -> STOP: what arrived must be a whole state. */
static int finish_load(struct dev *d)
{
	if (d->pos == 0 && d->reset_in_resume) {
		say("state size=%" PRIu64 " seed=%" PRIu64, d->size, d->seed);
		return 0;
	}
	if (!d->bad && d->pos < HDR)
		for (uint64_t i = 0; i < d->pos; i++)
			if (d->head[i] != gen(0, i)) {
				refuse(d, "byte %" PRIu64 " of a %" PRIu64 "-byte state is wrong",
				       i, d->pos);
				break;
			}
	if (!d->bad && d->pos >= HDR && d->pos != d->rsize)
		refuse(d, "%" PRIu64 " of the %" PRIu64 " bytes arrived", d->pos, d->rsize);
	if (d->bad) {
		errno = EINVAL;
		return -1;
	}
	d->size = d->pos;
	d->seed = d->pos < HDR ? 0 : d->rseed;
	say("state size=%" PRIu64 " seed=%" PRIu64, d->size, d->seed);
	return 0;
}

static int transition(vfu_ctx_t *ctx, vfu_migr_state_t to)
{
	struct dev *d = vfu_get_private(ctx);
	vfu_migr_state_t from = d->state;

	if (from == VFU_MIGR_STATE_RESUME && to != VFU_MIGR_STATE_RESUME && finish_load(d))
		return -1;
	if (to == VFU_MIGR_STATE_RESUME && from != VFU_MIGR_STATE_RESUME) {
		d->pos = 0;
		d->bad = false;
		d->reset_in_resume = false;
	}
	if ((to == VFU_MIGR_STATE_PRE_COPY || to == VFU_MIGR_STATE_STOP_AND_COPY) &&
	    from != VFU_MIGR_STATE_PRE_COPY && from != VFU_MIGR_STATE_STOP_AND_COPY)
		d->pos = 0;
	if (from == VFU_MIGR_STATE_PRE_COPY && to == VFU_MIGR_STATE_STOP_AND_COPY)
		say("pre-copy sent %" PRIu64 " bytes", d->pos);
	if (from == VFU_MIGR_STATE_STOP_AND_COPY && d->pos == d->size)
		say("saved %" PRIu64 " bytes", d->pos);
	d->state = to;
	return 0;
}

static ssize_t read_data(vfu_ctx_t *ctx, void *buf, uint64_t count)
{
	struct dev *d = vfu_get_private(ctx);
	uint64_t end = d->state == VFU_MIGR_STATE_PRE_COPY ? precopy_bytes(d) : d->size;
	uint64_t n = d->pos < end ? end - d->pos : 0;

	if (d->state != VFU_MIGR_STATE_PRE_COPY && d->state != VFU_MIGR_STATE_STOP_AND_COPY) {
		errno = EINVAL;
		return -1;
	}
	if (n > count)
		n = count;
	fill(d->size, d->seed, d->pos, buf, n);
	d->pos += n;
	return (ssize_t)n;
}

static ssize_t write_data(vfu_ctx_t *ctx, void *buf, uint64_t count)
{
	struct dev *d = vfu_get_private(ctx);

	if (d->state != VFU_MIGR_STATE_RESUME) {
		errno = EINVAL;
		return -1;
	}
	check_bytes(d, buf, count);
	if (d->bad) {
		errno = EINVAL;
		return -1;
	}
	d->pos += count;
	return (ssize_t)count;
}

static int reset(vfu_ctx_t *ctx, vfu_reset_type_t type)
{
	struct dev *d = vfu_get_private(ctx);

	if (type == VFU_RESET_LOST_CONN)
		return 0; /* a client went away: the device keeps its state */
	d->size = d->boot_size;
	d->seed = d->boot_seed;
	d->pos = 0;
	d->bad = false;
	d->reset_in_resume = d->state == VFU_MIGR_STATE_RESUME;
	say("reset");
	return 0;
}

static ssize_t bar0(vfu_ctx_t *ctx, char *buf, size_t count, loff_t off, bool is_write)
{
	struct dev *d = vfu_get_private(ctx);
	uint8_t regs[BAR0_SIZE] = {0};
	uint32_t magic = 0x4c565530;

	if (is_write || off < 0 || (uint64_t)off > BAR0_SIZE || count > BAR0_SIZE - (size_t)off) {
		errno = EINVAL;
		return -1;
	}
	memcpy(regs, &magic, 4);
	memcpy(regs + 8, &d->size, 8);
	memcpy(regs + 16, &d->seed, 8);
	memcpy(regs + 24, &d->pos, 8);
	memcpy(buf, regs + off, count);
	return (ssize_t)count;
}

static int parse_size(const char *s, uint64_t *v)
{
	char *end;
	unsigned long long n;
	int shift = 0;

	errno = 0;
	n = strtoull(s, &end, 0);
	if (errno || end == s || *s == '-')
		return -1;
	switch (*end) {
	case 'K':
		shift = 10;
		end++;
		break;
	case 'M':
		shift = 20;
		end++;
		break;
	case 'G':
		shift = 30;
		end++;
		break;
	default:
		break;
	}
	if (*end || (shift && n > (UINT64_MAX >> shift)))
		return -1;
	*v = (uint64_t)n << shift;
	return 0;
}

static void usage(void)
{
	fprintf(stderr, "usage: lvu-device --socket PATH [--size N] [--seed S] [--precopy PCT] "
			"[--ready FILE]\n");
	exit(2);
}

static vfu_ctx_t *setup(const char *sock, struct dev *d)
{
	static const vfu_migration_callbacks_t mig = {
		.version = VFU_MIGR_CALLBACKS_VERS,
		.transition = transition,
		.read_data = read_data,
		.write_data = write_data,
	};
	vfu_ctx_t *ctx = vfu_create_ctx(VFU_TRANS_SOCK, sock, 0, d, VFU_DEV_TYPE_PCI);

	if (!ctx)
		return NULL;
	if (vfu_setup_log(ctx, log_cb, LOG_ERR) ||
	    vfu_pci_init(ctx, VFU_PCI_TYPE_CONVENTIONAL, PCI_HEADER_TYPE_NORMAL, 0))
		goto fail;
	vfu_pci_set_id(ctx, 0x4e58, 0x0001, 0x4e58, 0x0001);
	if (vfu_setup_region(ctx, VFU_PCI_DEV_BAR0_REGION_IDX, BAR0_SIZE, bar0,
			     VFU_REGION_FLAG_READ, NULL, 0, -1, 0) ||
	    vfu_setup_device_migration_callbacks(ctx, &mig) ||
	    vfu_setup_device_reset_cb(ctx, reset) ||
	    vfu_setup_device_dma(ctx, LIBVFIO_USER_MAX_DMA_REGIONS, NULL, NULL) ||
	    vfu_realize_ctx(ctx))
		goto fail;
	return ctx;
fail:
	vfu_destroy_ctx(ctx);
	return NULL;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"socket", required_argument, NULL, 'S'}, {"size", required_argument, NULL, 's'},
		{"seed", required_argument, NULL, 'e'},	  {"precopy", required_argument, NULL, 'p'},
		{"ready", required_argument, NULL, 'r'},  {NULL, 0, NULL, 0},
	};
	struct dev d = {
		.size = 4096, .seed = 1, .precopy_pct = 50, .state = VFU_MIGR_STATE_RUNNING};
	const char *sock = NULL, *ready = NULL;
	uint64_t pct = 50;
	vfu_ctx_t *ctx;
	int c;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'S':
			sock = optarg;
			break;
		case 's':
			if (parse_size(optarg, &d.size))
				usage();
			break;
		case 'e':
			if (parse_size(optarg, &d.seed))
				usage();
			break;
		case 'p':
			if (parse_size(optarg, &pct) || pct > 100)
				usage();
			break;
		case 'r':
			ready = optarg;
			break;
		default:
			usage();
		}
	}
	if (!sock || optind != argc)
		usage();
	d.precopy_pct = (unsigned)pct;
	d.boot_size = d.size;
	d.boot_seed = d.seed;
	ctx = setup(sock, &d);
	if (!ctx) {
		say("cannot set up the device on %s: %s", sock, strerror(errno));
		return 1;
	}
	say("state size=%" PRIu64 " seed=%" PRIu64, d.size, d.seed);
	if (ready) {
		FILE *f = fopen(ready, "w");

		if (!f || fclose(f)) {
			say("cannot create %s", ready);
			return 1;
		}
	}
	for (;;) {
		if (vfu_attach_ctx(ctx)) {
			say("attach: %s", strerror(errno));
			return 1;
		}
		while (vfu_run_ctx(ctx) >= 0)
			;
		if (errno != ENOTCONN) {
			say("run: %s", strerror(errno));
			return 1;
		}
	}
}
