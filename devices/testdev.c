// SPDX-License-Identifier: BSD-3-Clause
/*
 * testdev: the sample migratable device (see include/vfio-mig/testdev.h).
 *
 * Locking: the device library calls the callbacks with its own lock held; `lock` below
 * protects the content, the dirty bitmap and the stream cursors against the workload
 * thread, which takes only `lock`.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <time.h>

#include "memory.h"
#include "util.h"
#include "vfio-mig/fsm.h"
#include "vfio-mig/testdev.h"

#define ARC_LOG_LEN	 256
#define WORKLOAD_PIECE	 VFM_TESTDEV_CHUNK /* whole chunks: no dirty amplification */
#define WORKLOAD_TICK_NS 5000000L
#define DMA_PIECE	 4096u
#define LEND_RECS	 32 /* record headers one save_iov call may lend */

struct save_cursor {
	bool active;
	bool tracking; /* the device runs while saving: log dirty chunks */
	bool header_sent;
	bool end_sent;
	uint64_t next_chunk;	/* first pass */
	uint64_t first_emitted; /* bytes of the first pass emitted */
	uint64_t dirty_cursor;
	uint8_t rec[VFM_TESTDEV_REC_SIZE];
	uint32_t rec_off, rec_len;  /* header bytes still to emit */
	uint64_t pay_off, pay_left; /* payload still to emit (state offset) */
	uint64_t chunk;		    /* chunk of the current DATA record */
	bool staged;		    /* its payload is emitted from td->stage */
	bool pay_first_pass;
	uint64_t pos; /* stream offset */
	/* reinit-at: one re-initialisation in PRE_COPY (doc/uapi-7.x.md) */
	bool reinit_done;     /* it happened */
	bool reinit_pending;  /* not yet reported to an opted-in client */
	uint64_t reinit_left; /* bytes of the new initial data still to read */
	uint64_t queries;     /* pre-copy info queries in this session */
};

struct load_cursor {
	bool active;
	uint8_t rec[VFM_TESTDEV_REC_SIZE];
	uint32_t rec_have;
	uint64_t pay_off, pay_left;
	uint64_t chunk;
	bool header_ok, end_ok;
	uint64_t end_sum;
	uint64_t covered;
	uint64_t pos;
	int error;
	char why[160];
};

struct vfm_testdev {
	struct vfm_testdev_config cfg;
	struct vfm_device_ops ops; /* td_ops, less what the configuration turns off */
	struct vfm_device *dev;
	struct vfm_dma *dma; /* client memory the device writes into */
	struct vfm_logger log;
	char name[64];
	pthread_mutex_t lock;
	uint8_t *mem;	   /* the chunks that are present; the others read as the seed's */
	uint64_t *present; /* one bit per chunk: its content is in mem */
	uint8_t *scratch;  /* a chunk made from the seed, to hash */
	uint64_t nchunks;
	uint64_t *dirty; /* one bit per chunk */
	uint64_t ndirty;
	uint64_t *covered; /* one bit per chunk, while loading */
	uint64_t *sums;	   /* hash of each chunk as last sent or received */
	uint8_t *stage;	   /* a chunk being sent across several reads */
	/* record headers lent by save_iov, for the last two calls (valid until the call
	 * after next, device.h) */
	uint8_t lent_rec[2][LEND_RECS][VFM_TESTDEV_REC_SIZE];
	unsigned lent_set;
	uint32_t state; /* mirror of the library's state, updated by step() */
	struct save_cursor sv;
	struct load_cursor ld;
	/* workload */
	pthread_t thread;
	bool thread_started;
	atomic_bool stop;
	atomic_bool running;
	atomic_uint_fast64_t rate;
	atomic_uint_fast64_t written;
	atomic_uint_fast64_t dma_written;
	uint64_t rng;
	/* arcs executed */
	char arcs[ARC_LOG_LEN][32];
	uint64_t arc_ns[ARC_LOG_LEN]; /* CLOCK_MONOTONIC: comparable across devices */
	unsigned arc_head, arc_count;
};

/* ---- content ---------------------------------------------------------------------- */

static uint64_t splitmix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

/*
 * A Fletcher-style checksum over 64-bit words in 8 lanes (sums and sums of sums, which the
 * compiler turns into vector adds), finished through splitmix64: it catches flipped,
 * lost and moved words at close to memory speed, which is what a test device needs.
 */
uint64_t vfm_testdev_hash(const void *buf, size_t len)
{
	uint64_t a[8] = {0}, b[8] = {0}, out;
	const uint8_t *p = buf;
	size_t total = len;

	while (len >= 64) {
		for (int i = 0; i < 8; i++) {
			uint64_t w;

			memcpy(&w, p + 8 * i, 8);
			a[i] += w;
			b[i] += a[i];
		}
		p += 64;
		len -= 64;
	}
	for (size_t i = 0; i < len; i++) {
		a[i & 7] += p[i];
		b[i & 7] += a[i & 7];
	}
	out = splitmix64(total);
	for (int i = 0; i < 8; i++)
		out = splitmix64(out ^ a[i]) ^ splitmix64(b[i] + (uint64_t)i);
	return out;
}

/*
 * The power-on content, bytes [off, off + len) of the state (off a multiple of 8): word i
 * is splitmix64(base + i), and the bytes after the last whole word are byte-wise.
 */
static void seed_bytes(const struct vfm_testdev *td, uint64_t off, uint64_t len, uint8_t *dst)
{
	uint64_t base = td->cfg.seed * 0x9e3779b97f4a7c15ull;
	uint64_t words = td->cfg.size / 8;

	for (uint64_t i = off; i < off + len;) {
		if (i / 8 < words) {
			uint64_t v = splitmix64(base + i / 8);

			memcpy(dst + (i - off), &v, 8);
			i += 8;
		} else {
			dst[i - off] = (uint8_t)splitmix64(base + i);
			i++;
		}
	}
}

static uint64_t chunk_len(const struct vfm_testdev *td, uint64_t chunk)
{
	uint64_t off = chunk * VFM_TESTDEV_CHUNK;

	return VFM_MIN((uint64_t)VFM_TESTDEV_CHUNK, td->cfg.size - off);
}

/*
 * The checksum of the state folds the hashes of its 64 KiB chunks, so that both ends can
 * hash each chunk while it is hot in the cache, as it is sent or received, instead of
 * reading the whole state again during the downtime.
 */
static uint64_t fold_sums(uint64_t size, const uint64_t *sums, uint64_t n)
{
	uint64_t acc = splitmix64(size);

	for (uint64_t i = 0; i < n; i++)
		acc = splitmix64(acc ^ sums[i]);
	return acc;
}

static bool bit_test(const uint64_t *map, uint64_t i)
{
	return map[i / 64] >> (i % 64) & 1;
}

static void bit_set(uint64_t *map, uint64_t i)
{
	map[i / 64] |= 1ull << (i % 64);
}

static void bit_clear(uint64_t *map, uint64_t i)
{
	map[i / 64] &= ~(1ull << (i % 64));
}

static size_t map_words(const struct vfm_testdev *td)
{
	return (size_t)(td->nchunks / 64 + 1);
}

/*
 * The content is made lazily: a chunk nobody wrote reads as the seed's, made on the fly;
 * the chunks written (by the workload or a load) are in mem. Creating a device costs no
 * generation, and a reset is a bitmap cleared. (The memory itself is committed at
 * creation, as a real device's is: a migration into the device pays no page faults.)
 */
static void read_chunk(const struct vfm_testdev *td, uint64_t chunk, uint8_t *dst)
{
	uint64_t off = chunk * VFM_TESTDEV_CHUNK;

	if (bit_test(td->present, chunk))
		memcpy(dst, td->mem + off, (size_t)chunk_len(td, chunk));
	else
		seed_bytes(td, off, chunk_len(td, chunk), dst);
}

/* Makes a chunk present with its current content, before a partial write into it. */
static void materialize(struct vfm_testdev *td, uint64_t chunk)
{
	if (bit_test(td->present, chunk))
		return;
	seed_bytes(td, chunk * VFM_TESTDEV_CHUNK, chunk_len(td, chunk),
		   td->mem + chunk * VFM_TESTDEV_CHUNK);
	bit_set(td->present, chunk);
}

static uint64_t hash_chunk(const struct vfm_testdev *td, uint64_t chunk)
{
	size_t len = (size_t)chunk_len(td, chunk);

	if (bit_test(td->present, chunk))
		return vfm_testdev_hash(td->mem + chunk * VFM_TESTDEV_CHUNK, len);
	seed_bytes(td, chunk * VFM_TESTDEV_CHUNK, len, td->scratch);
	return vfm_testdev_hash(td->scratch, len);
}

/* Back to the power-on content: every chunk reads as the seed's again. */
static void forget_content(struct vfm_testdev *td)
{
	memset(td->present, 0, map_words(td) * 8);
}

/* ---- the stream, saving side --------------------------------------------------------- */

static uint64_t first_pass_total(const struct vfm_testdev *td)
{
	return VFM_TESTDEV_REC_SIZE + td->nchunks * VFM_TESTDEV_REC_SIZE + td->cfg.size;
}

static void put_rec(uint8_t *rec, uint32_t type, uint32_t len, uint64_t arg)
{
	/* Little-endian on the wire, whatever the host. */
	for (int i = 0; i < 4; i++) {
		rec[i] = (uint8_t)(type >> (8 * i));
		rec[4 + i] = (uint8_t)(len >> (8 * i));
	}
	for (int i = 0; i < 8; i++)
		rec[8 + i] = (uint8_t)(arg >> (8 * i));
}

static void get_rec(const uint8_t *rec, uint32_t *type, uint32_t *len, uint64_t *arg)
{
	*type = 0;
	*len = 0;
	*arg = 0;
	for (int i = 0; i < 4; i++) {
		*type |= (uint32_t)rec[i] << (8 * i);
		*len |= (uint32_t)rec[4 + i] << (8 * i);
	}
	for (int i = 0; i < 8; i++)
		*arg |= (uint64_t)rec[8 + i] << (8 * i);
}

static void save_begin(struct vfm_testdev *td, bool tracking)
{
	memset(&td->sv, 0, sizeof(td->sv));
	td->sv.active = true;
	td->sv.tracking = tracking;
	memset(td->dirty, 0, map_words(td) * 8);
	td->ndirty = 0;
}

static void save_end(struct vfm_testdev *td)
{
	td->sv.active = false;
	td->sv.tracking = false;
}

static bool next_dirty(struct vfm_testdev *td, uint64_t *chunk)
{
	if (!td->ndirty)
		return false;
	for (uint64_t n = 0; n < td->nchunks; n++) {
		uint64_t c = (td->sv.dirty_cursor + n) % td->nchunks;

		if (bit_test(td->dirty, c)) {
			bit_clear(td->dirty, c);
			td->ndirty--;
			td->sv.dirty_cursor = c + 1;
			*chunk = c;
			return true;
		}
	}
	td->ndirty = 0;
	return false;
}

static void start_data(struct vfm_testdev *td, uint64_t chunk, bool first_pass)
{
	struct save_cursor *sv = &td->sv;

	put_rec(sv->rec, VFM_TESTDEV_REC_DATA, (uint32_t)chunk_len(td, chunk),
		chunk * VFM_TESTDEV_CHUNK);
	sv->chunk = chunk;
	sv->pay_off = chunk * VFM_TESTDEV_CHUNK;
	sv->pay_left = chunk_len(td, chunk);
	sv->staged = false;
	sv->pay_first_pass = first_pass;
}

/* Chooses the next record; false when nothing is left to send now. */
static bool save_next_record(struct vfm_testdev *td)
{
	struct save_cursor *sv = &td->sv;
	uint64_t chunk;

	if (!sv->header_sent) {
		put_rec(sv->rec, VFM_TESTDEV_REC_HEADER, 0, td->cfg.size);
		sv->header_sent = true;
		sv->pay_first_pass = true;
	} else if (sv->next_chunk < td->nchunks) {
		chunk = sv->next_chunk++;
		start_data(td, chunk, true);
	} else if (next_dirty(td, &chunk)) {
		start_data(td, chunk, false);
	} else if (td->state == VFM_STATE_STOP_COPY && !sv->end_sent) {
		put_rec(sv->rec, VFM_TESTDEV_REC_END, 0,
			fold_sums(td->cfg.size, td->sums, td->nchunks));
		sv->end_sent = true;
		sv->pay_first_pass = false;
	} else {
		return false;
	}
	sv->rec_off = 0;
	sv->rec_len = VFM_TESTDEV_REC_SIZE;
	return true;
}

/*
 * Copies the next piece of the current record into out; returns bytes copied. A DATA
 * record that fits goes out whole and is hashed in place; one that does not is first
 * copied to the stage, so that the hash covers exactly the bytes that leave.
 */
static size_t save_piece(struct vfm_testdev *td, uint8_t *out, size_t room)
{
	struct save_cursor *sv = &td->sv;
	size_t n;

	if (sv->rec_off == 0 && sv->pay_left && !sv->staged) {
		size_t len = (size_t)sv->pay_left;

		if (room >= VFM_TESTDEV_REC_SIZE + len) {
			memcpy(out, sv->rec, VFM_TESTDEV_REC_SIZE);
			read_chunk(td, sv->chunk, out + VFM_TESTDEV_REC_SIZE);
			td->sums[sv->chunk] = vfm_testdev_hash(out + VFM_TESTDEV_REC_SIZE, len);
			sv->rec_off = sv->rec_len;
			sv->pay_left = 0;
			n = VFM_TESTDEV_REC_SIZE + len;
			goto done;
		}
		read_chunk(td, sv->chunk, td->stage);
		td->sums[sv->chunk] = vfm_testdev_hash(td->stage, len);
		sv->staged = true;
		sv->pay_off = 0;
	}
	if (sv->rec_off < sv->rec_len) {
		n = VFM_MIN((size_t)(sv->rec_len - sv->rec_off), room);
		memcpy(out, sv->rec + sv->rec_off, n);
		sv->rec_off += (uint32_t)n;
	} else {
		n = (size_t)VFM_MIN(sv->pay_left, (uint64_t)room);
		memcpy(out, td->stage + sv->pay_off, n);
		sv->pay_off += n;
		sv->pay_left -= n;
	}
done:
	if (sv->pay_first_pass)
		sv->first_emitted += n;
	else
		sv->reinit_left -= VFM_MIN(sv->reinit_left, (uint64_t)n);
	return n;
}

/* Bytes still to send of chunks already sent once: the dirty ones and the record being
 * sent, if it is not part of the first pass. */
static uint64_t resend_bytes(const struct vfm_testdev *td)
{
	uint64_t pending =
		td->sv.pay_first_pass ? 0 : (td->sv.rec_len - td->sv.rec_off) + td->sv.pay_left;

	return td->ndirty * (VFM_TESTDEV_REC_SIZE + VFM_TESTDEV_CHUNK) + pending;
}

/*
 * reinit-at=K / reinit-query=N: once the pre-copy stream has passed byte K, or at the Nth
 * pre-copy info query, the device "re-initialises": every chunk already sent must go
 * again, as new initial data (Linux 7.1's REINIT). Held under td->lock.
 */
static void maybe_reinit(struct vfm_testdev *td)
{
	struct save_cursor *sv = &td->sv;
	bool by_pos = td->cfg.reinit_at >= 0 && sv->pos >= (uint64_t)td->cfg.reinit_at;
	bool by_query = td->cfg.reinit_query && sv->queries >= td->cfg.reinit_query;

	if (sv->reinit_done || !sv->tracking || !vfm_state_is_precopy(td->state) ||
	    !(by_pos || by_query))
		return;
	for (uint64_t c = 0; c < sv->next_chunk; c++) {
		if (!bit_test(td->dirty, c)) {
			bit_set(td->dirty, c);
			td->ndirty++;
		}
	}
	sv->reinit_done = true;
	sv->reinit_pending = true;
	sv->reinit_left = resend_bytes(td);
	vfm_log(&td->log, VFM_LOG_DEBUG,
		"%s: re-initialised at stream byte %llu: %llu bytes of "
		"new initial data",
		td->name, (unsigned long long)sv->pos, (unsigned long long)sv->reinit_left);
}

static ssize_t td_save(void *opaque, void *buf, size_t len)
{
	struct vfm_testdev *td = opaque;
	struct save_cursor *sv = &td->sv;
	uint8_t *out = buf;
	size_t done = 0;

	pthread_mutex_lock(&td->lock);
	if (td->cfg.fail_read_at >= 0 && sv->pos >= (uint64_t)td->cfg.fail_read_at) {
		vfm_device_reason(td->dev, "injected fault: read fails at byte %llu",
				  (unsigned long long)sv->pos);
		pthread_mutex_unlock(&td->lock);
		return -EIO;
	}
	if (td->cfg.fail_read_at >= 0)
		len = (size_t)VFM_MIN((uint64_t)len, (uint64_t)td->cfg.fail_read_at - sv->pos);
	while (done < len) {
		if (sv->rec_off >= sv->rec_len && sv->pay_left == 0 && !save_next_record(td))
			break;
		done += save_piece(td, out + done, len - done);
	}
	if (td->cfg.corrupt_at >= 0 && (uint64_t)td->cfg.corrupt_at >= sv->pos &&
	    (uint64_t)td->cfg.corrupt_at < sv->pos + done)
		out[(uint64_t)td->cfg.corrupt_at - sv->pos] ^= 0xff;
	sv->pos += done;
	maybe_reinit(td);
	pthread_mutex_unlock(&td->lock);
	return (ssize_t)done;
}

/*
 * Lends the next piece of the current record: a copy of the header's bytes in lent_rec
 * (sv->rec changes with the next record), the payload where it lies. The payload's hash
 * is taken from the memory as it leaves, when its first byte does.
 */
static size_t lend_piece(struct vfm_testdev *td, struct iovec *v, unsigned *recs, size_t room)
{
	struct save_cursor *sv = &td->sv;
	size_t n;

	if (sv->rec_off < sv->rec_len) {
		n = VFM_MIN((size_t)(sv->rec_len - sv->rec_off), room);
		memcpy(td->lent_rec[td->lent_set][*recs], sv->rec + sv->rec_off, n);
		v->iov_base = td->lent_rec[td->lent_set][(*recs)++];
		sv->rec_off += (uint32_t)n;
	} else {
		n = (size_t)VFM_MIN(sv->pay_left, (uint64_t)room);
		if (sv->staged) {
			v->iov_base = td->stage + sv->pay_off;
		} else {
			if (sv->pay_off == sv->chunk * VFM_TESTDEV_CHUNK) {
				materialize(td, sv->chunk);
				td->sums[sv->chunk] = vfm_testdev_hash(td->mem + sv->pay_off,
								       (size_t)sv->pay_left);
			}
			v->iov_base = td->mem + sv->pay_off;
		}
		sv->pay_off += n;
		sv->pay_left -= n;
	}
	v->iov_len = n;
	if (sv->pay_first_pass)
		sv->first_emitted += n;
	else
		sv->reinit_left -= VFM_MIN(sv->reinit_left, (uint64_t)n);
	return n;
}

/* Zero copy, in STOP_COPY only: the memory is still then (the workload runs only while
 * the device does), so what is lent stays as it was hashed. Fault injection copies. */
static ssize_t td_save_iov(void *opaque, struct iovec *iov, int *cnt, size_t len)
{
	struct vfm_testdev *td = opaque;
	struct save_cursor *sv = &td->sv;
	unsigned recs = 0;
	size_t done = 0;
	int used = 0;

	pthread_mutex_lock(&td->lock);
	if (td->state != VFM_STATE_STOP_COPY || atomic_load(&td->running) ||
	    td->cfg.fail_read_at >= 0 || td->cfg.corrupt_at >= 0) {
		pthread_mutex_unlock(&td->lock);
		*cnt = 0;
		return -EOPNOTSUPP;
	}
	td->lent_set ^= 1;
	while (done < len && used < *cnt && recs < LEND_RECS) {
		if (sv->rec_off >= sv->rec_len && sv->pay_left == 0 && !save_next_record(td))
			break;
		done += lend_piece(td, &iov[used++], &recs, len - done);
	}
	sv->pos += done;
	*cnt = used;
	pthread_mutex_unlock(&td->lock);
	return (ssize_t)done;
}

/* The v1 numbers: the new initial data of a re-initialisation counts as dirty (as mlx5
 * reports it to a client that did not opt in). */
static void td_precopy_numbers(struct vfm_testdev *td, uint64_t *initial, uint64_t *dirty)
{
	uint64_t total = first_pass_total(td);

	*initial = total > td->sv.first_emitted ? total - td->sv.first_emitted : 0;
	*dirty = resend_bytes(td);
}

static int td_precopy_info(void *opaque, uint64_t *initial, uint64_t *dirty)
{
	struct vfm_testdev *td = opaque;

	pthread_mutex_lock(&td->lock);
	td->sv.queries++;
	maybe_reinit(td);
	td_precopy_numbers(td, initial, dirty);
	pthread_mutex_unlock(&td->lock);
	return 0;
}

/* The v2 numbers: what is left of the new initial data is initial, REINIT said once. */
static int td_precopy_info_v2(void *opaque, uint64_t *initial, uint64_t *dirty, bool *reinit)
{
	struct vfm_testdev *td = opaque;
	uint64_t left;

	pthread_mutex_lock(&td->lock);
	td->sv.queries++;
	maybe_reinit(td);
	td_precopy_numbers(td, initial, dirty);
	left = VFM_MIN(td->sv.reinit_left, *dirty);
	*initial += left;
	*dirty -= left;
	*reinit = td->sv.reinit_pending;
	td->sv.reinit_pending = false;
	pthread_mutex_unlock(&td->lock);
	return 0;
}

static int td_data_size(void *opaque, uint64_t *len)
{
	struct vfm_testdev *td = opaque;
	uint64_t initial, dirty;

	pthread_mutex_lock(&td->lock);
	if (td->sv.active) {
		td_precopy_numbers(td, &initial, &dirty);
		*len = initial + dirty + (td->sv.end_sent ? 0 : VFM_TESTDEV_REC_SIZE);
	} else {
		*len = first_pass_total(td) + VFM_TESTDEV_REC_SIZE;
	}
	pthread_mutex_unlock(&td->lock);
	return 0;
}

/* ---- the stream, resuming side ------------------------------------------------------- */

static void load_begin(struct vfm_testdev *td)
{
	memset(&td->ld, 0, sizeof(td->ld));
	td->ld.active = true;
	memset(td->covered, 0, map_words(td) * 8);
}

static int load_fail(struct vfm_testdev *td, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static int load_fail(struct vfm_testdev *td, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(td->ld.why, sizeof(td->ld.why), fmt, ap);
	va_end(ap);
	td->ld.error = -EINVAL;
	vfm_device_reason(td->dev, "invalid incoming state: %s", td->ld.why);
	vfm_log(&td->log, VFM_LOG_WARN, "%s: invalid incoming state at byte %llu: %s", td->name,
		(unsigned long long)td->ld.pos, td->ld.why);
	return -EINVAL;
}

static int load_record(struct vfm_testdev *td)
{
	struct load_cursor *ld = &td->ld;
	uint32_t type, len;
	uint64_t arg, chunk;

	get_rec(ld->rec, &type, &len, &arg);
	ld->rec_have = 0;
	if (ld->end_ok)
		return load_fail(td, "data after the END record");
	if (!ld->header_ok) {
		if (type != VFM_TESTDEV_REC_HEADER || len != 0)
			return load_fail(td, "expected a HEADER record, got type 0x%08x length %u",
					 type, len);
		if (arg != td->cfg.size)
			return load_fail(td, "source state is %llu bytes, this device holds %llu",
					 (unsigned long long)arg, (unsigned long long)td->cfg.size);
		ld->header_ok = true;
		return 0;
	}
	switch (type) {
	case VFM_TESTDEV_REC_DATA:
		if (arg % VFM_TESTDEV_CHUNK || arg >= td->cfg.size)
			return load_fail(td, "DATA record at bad offset %llu",
					 (unsigned long long)arg);
		chunk = arg / VFM_TESTDEV_CHUNK;
		if (len != chunk_len(td, chunk))
			return load_fail(td, "DATA record of %u bytes at offset %llu", len,
					 (unsigned long long)arg);
		if (!bit_test(td->covered, chunk)) {
			bit_set(td->covered, chunk);
			ld->covered++;
		}
		/* The record brings every byte of the chunk: its old content does not matter. */
		bit_set(td->present, chunk);
		ld->chunk = chunk;
		ld->pay_off = arg;
		ld->pay_left = len;
		return 0;
	case VFM_TESTDEV_REC_END:
		if (len != 0)
			return load_fail(td, "END record with a length of %u", len);
		ld->end_ok = true;
		ld->end_sum = arg;
		return 0;
	default:
		return load_fail(td, "unknown record type 0x%08x", type);
	}
}

static ssize_t td_load(void *opaque, const void *buf, size_t len)
{
	struct vfm_testdev *td = opaque;
	struct load_cursor *ld = &td->ld;
	const uint8_t *in = buf;
	size_t done = 0;
	int rc = 0;

	pthread_mutex_lock(&td->lock);
	if (ld->error) {
		vfm_device_reason(td->dev, "invalid incoming state: %s", ld->why);
		rc = ld->error;
		goto out;
	}
	if (td->cfg.fail_write_at >= 0) {
		if (ld->pos >= (uint64_t)td->cfg.fail_write_at) {
			vfm_device_reason(td->dev, "injected fault: write fails at byte %llu",
					  (unsigned long long)ld->pos);
			rc = -EIO;
			goto out;
		}
		len = (size_t)VFM_MIN((uint64_t)len, (uint64_t)td->cfg.fail_write_at - ld->pos);
	}
	while (done < len && !rc) {
		size_t n;

		if (ld->pay_left) {
			n = (size_t)VFM_MIN(ld->pay_left, (uint64_t)(len - done));
			/* Bytes the host side stored in place (td_load_at) are already there. */
			if (in + done != td->mem + ld->pay_off)
				memcpy(td->mem + ld->pay_off, in + done, n);
			ld->pay_off += n;
			ld->pay_left -= n;
			if (!ld->pay_left)
				td->sums[ld->chunk] = hash_chunk(td, ld->chunk);
		} else {
			n = VFM_MIN((size_t)(VFM_TESTDEV_REC_SIZE - ld->rec_have), len - done);
			memcpy(ld->rec + ld->rec_have, in + done, n);
			ld->rec_have += (uint32_t)n;
			if (ld->rec_have == VFM_TESTDEV_REC_SIZE)
				rc = load_record(td);
		}
		done += n;
		ld->pos += n;
	}
out:
	pthread_mutex_unlock(&td->lock);
	return rc ? rc : (ssize_t)done;
}

/* Zero copy: a DATA record's payload goes straight into its chunk; its header, and
 * anything after an error or with fault injection, through td_load's copy. */
static ssize_t td_load_at(void *opaque, void **at, size_t len)
{
	struct vfm_testdev *td = opaque;
	struct load_cursor *ld = &td->ld;
	ssize_t n;

	pthread_mutex_lock(&td->lock);
	*at = NULL;
	if (ld->error || td->cfg.fail_write_at >= 0) {
		n = (ssize_t)len;
	} else if (ld->pay_left) {
		*at = td->mem + ld->pay_off;
		n = (ssize_t)VFM_MIN(ld->pay_left, (uint64_t)len);
	} else {
		n = (ssize_t)VFM_MIN((size_t)(VFM_TESTDEV_REC_SIZE - ld->rec_have), len);
	}
	pthread_mutex_unlock(&td->lock);
	return n;
}

/* RESUMING -> STOP: the incoming state must be complete and consistent. */
static int load_validate(struct vfm_testdev *td)
{
	struct load_cursor *ld = &td->ld;

	if (td->cfg.reject_load)
		return load_fail(td, "rejected by fault injection (reject-load)");
	if (ld->error) {
		vfm_device_reason(td->dev, "invalid incoming state: %s", ld->why);
		return ld->error;
	}
	if (!ld->header_ok || !ld->end_ok || ld->rec_have || ld->pay_left)
		return load_fail(td, "incomplete state: %llu bytes received, no END record",
				 (unsigned long long)ld->pos);
	if (ld->covered != td->nchunks)
		return load_fail(td, "incomplete state: %llu of %llu chunks received",
				 (unsigned long long)ld->covered, (unsigned long long)td->nchunks);
	if (fold_sums(td->cfg.size, td->sums, td->nchunks) != ld->end_sum)
		return load_fail(td, "checksum mismatch: the state was corrupted in transit");
	return 0;
}

/* ---- arcs ----------------------------------------------------------------------------- */

static void log_line(struct vfm_testdev *td, const char *text)
{
	unsigned slot = (td->arc_head + td->arc_count) % ARC_LOG_LEN;

	snprintf(td->arcs[slot], sizeof(td->arcs[slot]), "%s", text);
	td->arc_ns[slot] = (uint64_t)(vfm_now() * 1e9);
	if (td->arc_count < ARC_LOG_LEN)
		td->arc_count++;
	else
		td->arc_head = (td->arc_head + 1) % ARC_LOG_LEN;
}

/* "FROM>TO", with a trailing "!" for an arc that failed. */
static void log_arc(struct vfm_testdev *td, uint32_t from, uint32_t to, int rc)
{
	char line[32];

	snprintf(line, sizeof(line), "%s>%s%s", vfm_state_name(from), vfm_state_name(to),
		 rc ? "!" : "");
	log_line(td, line);
}

static int td_step(void *opaque, uint32_t from, uint32_t to, bool *enter_error)
{
	struct vfm_testdev *td = opaque;
	int rc = 0;

	pthread_mutex_lock(&td->lock);
	if (td->cfg.error_arc && from == td->cfg.error_from && to == td->cfg.error_to) {
		*enter_error = true;
		vfm_device_reason(td->dev, "injected fault: arc %s>%s fails into ERROR",
				  vfm_state_name(from), vfm_state_name(to));
		rc = -EIO;
	} else if (td->cfg.fail_arc && from == td->cfg.fail_from && to == td->cfg.fail_to) {
		vfm_device_reason(td->dev, "injected fault: arc %s>%s fails", vfm_state_name(from),
				  vfm_state_name(to));
		rc = -EIO;
	} else if (from == VFM_STATE_RESUMING && to == VFM_STATE_STOP) {
		rc = load_validate(td);
	}
	log_arc(td, from, to, rc);
	if (rc) {
		pthread_mutex_unlock(&td->lock);
		return rc;
	}
	if (vfm_arc_ends_session(from, to)) {
		save_end(td);
		td->ld.active = false;
	}
	if (vfm_arc_opens_session(from, to)) {
		if (to == VFM_STATE_RESUMING)
			load_begin(td);
		else
			save_begin(td, to != VFM_STATE_STOP_COPY);
	}
	td->state = to;
	atomic_store(&td->running, vfm_state_is_running(to));
	pthread_mutex_unlock(&td->lock);
	return 0;
}

static int td_reset(void *opaque)
{
	struct vfm_testdev *td = opaque;

	pthread_mutex_lock(&td->lock);
	save_end(td);
	td->ld.active = false;
	forget_content(td);
	td->rng = splitmix64(td->cfg.seed ^ 0x5eed);
	td->state = VFM_STATE_RUNNING;
	atomic_store(&td->running, true);
	log_line(td, "RESET");
	pthread_mutex_unlock(&td->lock);
	return 0;
}

/* DMA logging over the client memory the transport mapped. */
static int td_log_start(void *opaque, const struct vfm_device_feature_dma_logging_range *ranges,
			uint32_t n, uint64_t *page_size)
{
	struct vfm_testdev *td = opaque;
	int rc = vfm_dma_log_start(td->dma, ranges, n, page_size);

	if (rc == -EINVAL && !vfm_dma_nr_regions(td->dma))
		vfm_device_reason(td->dev, "no DMA memory is mapped to log");
	return rc;
}

static int td_log_stop(void *opaque)
{
	struct vfm_testdev *td = opaque;

	return vfm_dma_log_stop(td->dma);
}

static int td_log_report(void *opaque, uint64_t iova, uint64_t length, uint64_t page_size,
			 uint64_t *bitmap)
{
	struct vfm_testdev *td = opaque;

	return vfm_dma_log_report(td->dma, iova, length, page_size, bitmap);
}

static const struct vfm_device_ops td_ops = {
	.step = td_step,
	.save = td_save,
	.load = td_load,
	.data_size = td_data_size,
	.precopy_info = td_precopy_info,
	.precopy_info_v2 = td_precopy_info_v2,
	.reset = td_reset,
	.log_start = td_log_start,
	.log_stop = td_log_stop,
	.log_report = td_log_report,
	.save_iov = td_save_iov,
	.load_at = td_load_at,
};

/* ---- workload ---------------------------------------------------------------------- */

static void workload_write(struct vfm_testdev *td, uint64_t bytes)
{
	uint64_t piece = VFM_MIN((uint64_t)WORKLOAD_PIECE, td->cfg.size);

	while (bytes >= piece && piece) {
		uint64_t slots = td->cfg.size / piece;
		uint64_t off, chunk;

		td->rng = splitmix64(td->rng);
		off = (td->rng % slots) * piece;
		chunk = off / VFM_TESTDEV_CHUNK;
		if (piece & 7)
			materialize(td, chunk); /* the last bytes are changed, not replaced */
		else
			bit_set(td->present, chunk); /* every byte of the chunk is replaced */
		for (uint64_t i = 0; i + 8 <= piece; i += 8) {
			uint64_t v = splitmix64(td->rng + i);

			memcpy(td->mem + off + i, &v, 8);
		}
		for (uint64_t i = piece & ~7ull; i < piece; i++)
			td->mem[off + i] ^= (uint8_t)(td->rng >> 8);
		if (td->sv.tracking && chunk < td->sv.next_chunk && !bit_test(td->dirty, chunk)) {
			bit_set(td->dirty, chunk);
			td->ndirty++;
		}
		atomic_fetch_add(&td->written, piece);
		bytes -= piece;
	}
}

/* DMA writes of whole pages at random places in the first mapped region. */
static void workload_dma(struct vfm_testdev *td, uint64_t bytes)
{
	uint64_t iova, len, page[DMA_PIECE / 8];

	if (vfm_dma_first_region(td->dma, &iova, &len) || len < DMA_PIECE)
		return;
	for (; bytes >= DMA_PIECE; bytes -= DMA_PIECE) {
		uint64_t off;

		td->rng = splitmix64(td->rng);
		off = (td->rng % (len / DMA_PIECE)) * DMA_PIECE;
		for (size_t i = 0; i < VFM_ARRAY_SIZE(page); i++)
			page[i] = splitmix64(td->rng + i);
		if (vfm_dma_write(td->dma, iova + off, page, sizeof(page)) == 0)
			atomic_fetch_add(&td->dma_written, DMA_PIECE);
	}
}

/*
 * The workload: state writes and DMA writes at their rates, only while the device runs.
 * The check of the state and the writes happen under td->lock, which every arc takes, so
 * no write lands after an arc that stopped the device has returned.
 */
static void *workload_main(void *arg)
{
	struct vfm_testdev *td = arg;
	struct timespec tick = {.tv_sec = 0, .tv_nsec = WORKLOAD_TICK_NS};
	double last = vfm_now(), owed = 0, owed_dma = 0;

	while (!atomic_load(&td->stop)) {
		double now;

		nanosleep(&tick, NULL);
		now = vfm_now();
		if (!atomic_load(&td->running)) {
			last = now;
			owed = owed_dma = 0;
			continue;
		}
		/* A slow machine does not pile up debt: at most two ticks' worth at a time. */
		owed = VFM_MIN(owed + (double)atomic_load(&td->rate) * (now - last),
			       (double)atomic_load(&td->rate) * 2 * WORKLOAD_TICK_NS / 1e9 +
				       WORKLOAD_PIECE);
		owed_dma =
			VFM_MIN(owed_dma + (double)td->cfg.dma_rate * (now - last),
				(double)td->cfg.dma_rate * 2 * WORKLOAD_TICK_NS / 1e9 + DMA_PIECE);
		last = now;
		/* One piece per lock hold: saving and arcs get their turn in between. */
		while ((owed >= WORKLOAD_PIECE || owed_dma >= DMA_PIECE) &&
		       !atomic_load(&td->stop)) {
			pthread_mutex_lock(&td->lock);
			if (atomic_load(&td->running)) {
				if (owed >= WORKLOAD_PIECE)
					workload_write(td, WORKLOAD_PIECE);
				if (owed_dma >= DMA_PIECE)
					workload_dma(td, DMA_PIECE);
			}
			pthread_mutex_unlock(&td->lock);
			owed = owed >= WORKLOAD_PIECE ? owed - WORKLOAD_PIECE : owed;
			owed_dma = owed_dma >= DMA_PIECE ? owed_dma - DMA_PIECE : owed_dma;
		}
	}
	return NULL;
}

/* ---- configuration -------------------------------------------------------------------- */

void vfm_testdev_config_default(struct vfm_testdev_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->size = 64ull << 20;
	cfg->seed = 1;
	cfg->p2p = true;
	cfg->precopy = true;
	cfg->enomsg = true;
	cfg->fail_read_at = -1;
	cfg->fail_write_at = -1;
	cfg->corrupt_at = -1;
	cfg->precopy_v2 = true;
	cfg->reinit_at = -1;
	cfg->zero_copy = true;
}

static int parse_bool(const char *v, bool *out)
{
	if (!strcasecmp(v, "on") || !strcasecmp(v, "yes") || !strcmp(v, "1") ||
	    !strcasecmp(v, "true")) {
		*out = true;
		return 0;
	}
	if (!strcasecmp(v, "off") || !strcasecmp(v, "no") || !strcmp(v, "0") ||
	    !strcasecmp(v, "false")) {
		*out = false;
		return 0;
	}
	return -EINVAL;
}

static int parse_arc(const char *v, uint32_t *from, uint32_t *to)
{
	char a[32];
	const char *gt = strchr(v, '>');

	if (!gt || (size_t)(gt - v) >= sizeof(a))
		return -EINVAL;
	memcpy(a, v, (size_t)(gt - v));
	a[gt - v] = '\0';
	if (vfm_state_parse(a, from) || vfm_state_parse(gt + 1, to))
		return -EINVAL;
	return 0;
}

static int parse_offset(const char *v, int64_t *out)
{
	uint64_t n;

	if (vfm_parse_size(v, &n) || n > (uint64_t)INT64_MAX)
		return -EINVAL;
	*out = (int64_t)n;
	return 0;
}

/* bug=NAME: the deliberate uAPI violations of device.h, for testing checkers. */
static const struct {
	const char *name;
	uint32_t bit;
} bugs[] = {
	{"wrong-path", VFM_VIOLATE_WRONG_PATH},
	{"fd-on-non-opening-arc", VFM_VIOLATE_FD_ON_NON_OPENING_ARC},
	{"no-fd-on-opening-arc", VFM_VIOLATE_NO_FD_ON_OPENING_ARC},
	{"stream-not-ending", VFM_VIOLATE_STREAM_NOT_ENDING},
	{"session-survives-reset", VFM_VIOLATE_SESSION_SURVIVES_RESET},
	{"session-survives-arc", VFM_VIOLATE_SESSION_SURVIVES_ARC},
	{"enomsg-in-stop-copy", VFM_VIOLATE_ENOMSG_IN_STOP_COPY},
	{"precopy-grows", VFM_VIOLATE_PRECOPY_GROWS},
	{"accept-invalid-data", VFM_VIOLATE_ACCEPT_INVALID_DATA},
	{"reset-not-running", VFM_VIOLATE_RESET_NOT_RUNNING},
	{"refused-arc-accepted", VFM_VIOLATE_REFUSED_ARC_ACCEPTED},
	{"feature-precedence", VFM_VIOLATE_FEATURE_PRECEDENCE},
	{"reinit-without-opt-in", VFM_VIOLATE_REINIT_WITHOUT_OPT_IN},
	{"reinit-no-initial", VFM_VIOLATE_REINIT_NO_INITIAL},
	{"precopy-v2-get", VFM_VIOLATE_PRECOPY_V2_GET},
	{"precopy-flags-echo", VFM_VIOLATE_PRECOPY_FLAGS_ECHO},
};

static int parse_bug(const char *v, uint32_t *violations)
{
	if (!strcmp(v, "none")) {
		*violations = 0;
		return 0;
	}
	for (size_t i = 0; i < VFM_ARRAY_SIZE(bugs); i++) {
		if (!strcmp(v, bugs[i].name)) {
			*violations |= bugs[i].bit;
			return 0;
		}
	}
	return -EINVAL;
}

static int parse_option(struct vfm_testdev_config *cfg, const char *key, const char *v)
{
	if (!strcmp(key, "size"))
		return vfm_parse_size(v, &cfg->size)	  ? -EINVAL
		       : cfg->size > VFM_TESTDEV_MAX_SIZE ? -ERANGE
							  : 0;
	if (!strcmp(key, "seed"))
		return vfm_parse_size(v, &cfg->seed);
	if (!strcmp(key, "dirty-rate"))
		return vfm_parse_size(v, &cfg->dirty_rate);
	if (!strcmp(key, "p2p"))
		return parse_bool(v, &cfg->p2p);
	if (!strcmp(key, "pre-copy"))
		return parse_bool(v, &cfg->precopy);
	if (!strcmp(key, "enomsg"))
		return parse_bool(v, &cfg->enomsg);
	if (!strcmp(key, "precopy-v2"))
		return parse_bool(v, &cfg->precopy_v2);
	if (!strcmp(key, "zero-copy"))
		return parse_bool(v, &cfg->zero_copy);
	if (!strcmp(key, "reinit-at"))
		return parse_offset(v, &cfg->reinit_at);
	if (!strcmp(key, "reinit-query"))
		return vfm_parse_size(v, &cfg->reinit_query);
	if (!strcmp(key, "dma"))
		return vfm_parse_size(v, &cfg->dma_size)      ? -EINVAL
		       : cfg->dma_size > VFM_TESTDEV_MAX_SIZE ? -ERANGE
							      : 0;
	if (!strcmp(key, "dma-rate"))
		return vfm_parse_size(v, &cfg->dma_rate);
	if (!strcmp(key, "reject-load"))
		return parse_bool(v, &cfg->reject_load);
	if (!strcmp(key, "fail-arc")) {
		cfg->fail_arc = true;
		return parse_arc(v, &cfg->fail_from, &cfg->fail_to);
	}
	if (!strcmp(key, "error-arc")) {
		cfg->error_arc = true;
		return parse_arc(v, &cfg->error_from, &cfg->error_to);
	}
	if (!strcmp(key, "fail-read-at"))
		return parse_offset(v, &cfg->fail_read_at);
	if (!strcmp(key, "fail-write-at"))
		return parse_offset(v, &cfg->fail_write_at);
	if (!strcmp(key, "corrupt-at"))
		return parse_offset(v, &cfg->corrupt_at);
	if (!strcmp(key, "bug"))
		return parse_bug(v, &cfg->violations);
	return -ENOENT;
}

int vfm_testdev_parse(const char *spec, struct vfm_testdev_config *cfg, char *err, size_t errlen)
{
	char buf[512], *save = NULL, *tok;
	bool first = true;

	if (strlen(spec) >= sizeof(buf))
		return vfm_errf(err, errlen, -EINVAL, "testdev spec too long");
	snprintf(buf, sizeof(buf), "%s", spec);
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(tok, '=');
		int rc;

		if (first && !eq && !strcmp(tok, "testdev")) {
			first = false;
			continue;
		}
		first = false;
		if (!eq)
			return vfm_errf(err, errlen, -EINVAL,
					"testdev: expected key=value, got '%s'", tok);
		*eq = '\0';
		rc = parse_option(cfg, tok, eq + 1);
		if (rc == -ENOENT)
			return vfm_errf(err, errlen, -EINVAL, "testdev: unknown option '%s'", tok);
		if (rc == -ERANGE)
			return vfm_errf(err, errlen, -EINVAL, "testdev: %s=%s is out of range", tok,
					eq + 1);
		if (rc)
			return vfm_errf(err, errlen, -EINVAL, "testdev: bad value for %s: '%s'",
					tok, eq + 1);
	}
	return 0;
}

/* ---- life cycle ------------------------------------------------------------------------ */

static int alloc_memory(struct vfm_testdev *td)
{
	size_t words = map_words(td);

	td->dirty = calloc(words, 8);
	td->covered = calloc(words, 8);
	td->present = calloc(words, 8);
	td->sums = calloc((size_t)td->nchunks + 1, 8);
	td->stage = malloc(VFM_TESTDEV_CHUNK);
	td->scratch = malloc(VFM_TESTDEV_CHUNK);
	if (!td->dirty || !td->covered || !td->present || !td->sums || !td->stage || !td->scratch)
		return -ENOMEM;
	if (td->cfg.size == 0)
		return 0;
	td->mem = mmap(NULL, (size_t)td->cfg.size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_POPULATE, -1, 0);
	if (td->mem == MAP_FAILED) {
		td->mem = NULL;
		return -ENOMEM;
	}
	return 0;
}

int vfm_testdev_create(const struct vfm_testdev_config *cfg, const char *name,
		       const struct vfm_logger *log, struct vfm_testdev **out, char *err,
		       size_t errlen)
{
	struct vfm_device_config dcfg = {0};
	struct vfm_testdev *td;
	char why[256];
	int rc;

	if (cfg->size > VFM_TESTDEV_MAX_SIZE)
		return vfm_errf(err, errlen, -EINVAL, "testdev: size above the 64 GiB limit");
	/* Refused before anything is touched: a load or the workload would need it all. */
	if (vfm_mem_fit(cfg->size, why, sizeof(why)))
		return vfm_errf(err, errlen, -ENOMEM, "testdev: %llu bytes of state do not fit: %s",
				(unsigned long long)cfg->size, why);
	td = calloc(1, sizeof(*td));
	if (!td)
		return vfm_errf(err, errlen, -ENOMEM, "testdev: out of memory");
	td->cfg = *cfg;
	snprintf(td->name, sizeof(td->name), "%s", name ? name : "testdev");
	if (log)
		td->log = *log;
	td->nchunks = (cfg->size + VFM_TESTDEV_CHUNK - 1) / VFM_TESTDEV_CHUNK;
	td->state = VFM_STATE_RUNNING;
	td->rng = splitmix64(cfg->seed ^ 0x5eed);
	atomic_init(&td->running, true);
	atomic_init(&td->stop, false);
	atomic_init(&td->rate, cfg->dirty_rate);
	atomic_init(&td->written, 0);
	atomic_init(&td->dma_written, 0);
	if (pthread_mutex_init(&td->lock, NULL)) {
		free(td);
		return vfm_errf(err, errlen, -ENOMEM, "testdev: mutex");
	}
	rc = vfm_dma_create(&td->dma);
	if (rc) {
		vfm_testdev_destroy(td);
		return vfm_errf(err, errlen, rc, "testdev: out of memory");
	}
	rc = alloc_memory(td);
	if (rc) {
		vfm_testdev_destroy(td);
		return vfm_errf(err, errlen, rc, "testdev: cannot allocate %llu bytes of state",
				(unsigned long long)cfg->size);
	}
	dcfg.name = td->name;
	dcfg.flags = VFM_MIGRATION_STOP_COPY | (cfg->p2p ? VFM_MIGRATION_P2P : 0) |
		     (cfg->precopy ? VFM_MIGRATION_PRE_COPY : 0);
	dcfg.precopy_end_enomsg = cfg->enomsg;
	dcfg.violations = cfg->violations;
	dcfg.log = td->log;
	td->ops = td_ops;
	if (!cfg->precopy_v2)
		td->ops.precopy_info_v2 = NULL;
	if (!cfg->zero_copy) {
		td->ops.save_iov = NULL;
		td->ops.load_at = NULL;
	}
	rc = vfm_device_create(&dcfg, &td->ops, td, &td->dev);
	if (rc) {
		vfm_testdev_destroy(td);
		return vfm_errf(err, errlen, rc, "testdev: cannot create the device");
	}
	if (pthread_create(&td->thread, NULL, workload_main, td)) {
		vfm_testdev_destroy(td);
		return vfm_errf(err, errlen, -EAGAIN, "testdev: cannot start the workload");
	}
	td->thread_started = true;
	*out = td;
	return 0;
}

void vfm_testdev_destroy(struct vfm_testdev *td)
{
	if (!td)
		return;
	if (td->thread_started) {
		atomic_store(&td->stop, true);
		pthread_join(td->thread, NULL);
	}
	vfm_device_destroy(td->dev);
	vfm_dma_destroy(td->dma);
	if (td->mem)
		munmap(td->mem, (size_t)td->cfg.size);
	free(td->dirty);
	free(td->covered);
	free(td->present);
	free(td->sums);
	free(td->stage);
	free(td->scratch);
	pthread_mutex_destroy(&td->lock);
	free(td);
}

struct vfm_device *vfm_testdev_device(struct vfm_testdev *td)
{
	return td->dev;
}

const struct vfm_testdev_config *vfm_testdev_config(const struct vfm_testdev *td)
{
	return &td->cfg;
}

uint64_t vfm_testdev_checksum(struct vfm_testdev *td)
{
	uint64_t sum;

	pthread_mutex_lock(&td->lock);
	sum = splitmix64(td->cfg.size);
	for (uint64_t i = 0; i < td->nchunks; i++)
		sum = splitmix64(sum ^ hash_chunk(td, i));
	pthread_mutex_unlock(&td->lock);
	return sum;
}

void vfm_testdev_set_dirty_rate(struct vfm_testdev *td, uint64_t bytes_per_s)
{
	atomic_store(&td->rate, bytes_per_s);
}

struct vfm_dma *vfm_testdev_dma(struct vfm_testdev *td)
{
	return td->dma;
}

uint64_t vfm_testdev_dma_written(struct vfm_testdev *td)
{
	return atomic_load(&td->dma_written);
}

uint64_t vfm_testdev_written(struct vfm_testdev *td)
{
	return atomic_load(&td->written);
}

int vfm_testdev_peek(struct vfm_testdev *td, uint64_t off, void *buf, size_t len)
{
	if (off > td->cfg.size || len > td->cfg.size - off)
		return -EINVAL;
	if (!len)
		return 0;
	pthread_mutex_lock(&td->lock);
	for (uint64_t c = off / VFM_TESTDEV_CHUNK; c <= (off + len - 1) / VFM_TESTDEV_CHUNK; c++)
		materialize(td, c);
	memcpy(buf, td->mem + off, len);
	pthread_mutex_unlock(&td->lock);
	return 0;
}

/* The arc log as lines, with or without their times; never a partial line. */
static size_t arc_lines(struct vfm_testdev *td, char *buf, size_t len, bool timed)
{
	size_t used = 0;

	if (!len)
		return 0;
	buf[0] = '\0';
	pthread_mutex_lock(&td->lock);
	for (unsigned i = 0; i < td->arc_count; i++) {
		unsigned slot = (td->arc_head + i) % ARC_LOG_LEN;
		int n = timed ? snprintf(buf + used, len - used, "%llu %s\n",
					 (unsigned long long)td->arc_ns[slot], td->arcs[slot])
			      : snprintf(buf + used, len - used, "%s\n", td->arcs[slot]);

		if (n < 0 || (size_t)n >= len - used) {
			buf[used] = '\0';
			break;
		}
		used += (size_t)n;
	}
	pthread_mutex_unlock(&td->lock);
	return used;
}

size_t vfm_testdev_arc_log_timed(struct vfm_testdev *td, char *buf, size_t len)
{
	return arc_lines(td, buf, len, true);
}

size_t vfm_testdev_arc_log(struct vfm_testdev *td, char *buf, size_t len)
{
	return arc_lines(td, buf, len, false);
}
