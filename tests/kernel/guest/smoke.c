/* smoke: prove the real-kernel test tier (runs inside the test guest).
 *
 *   smoke cdev  /dev/vfio/devices/vfioN
 *   smoke group /dev/vfio/GROUP DEVICE_NAME
 *
 * Opens an mtty mdev through the kernel VFIO uAPI (cdev + iommufd, or group + type1v2
 * container), checks the migration flags (STOP_COPY|P2P|PRE_COPY = 7), moves
 * RUNNING -> STOP_COPY, reads the whole migration stream (checking mtty's header and
 * that its length equals MIG_DATA_SIZE), then STOP_COPY -> RUNNING. Exit 0 on success.
 *
 * A stand-in until the project's own static vfio-mig binary drives this tier. Needs the
 * Linux 6.12 uAPI headers (build-kernel.sh installs them): gcc -static -I<cache>/include.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <linux/iommufd.h>
#include <linux/vfio.h>

#if !defined(VFIO_MIGRATION_PRE_COPY) || !defined(VFIO_DEVICE_FEATURE_MIG_DATA_SIZE) ||            \
	!defined(VFIO_DEVICE_BIND_IOMMUFD)
#error "needs the Linux >= 6.6 uAPI headers: build with -I<kernel cache>/include"
#endif

#define MTTY_MAGIC     0x7e9d09898c3e2c4eULL
#define MTTY_HDR_SIZE  24u
#define MTTY_PORT_SIZE 36u
#define STREAM_MAX     4096u

static const char *tag = "smoke";

static void say(const char *fmt, ...)
{
	va_list ap;

	printf("%s: ", tag);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
}

static int fail(const char *fmt, ...)
{
	va_list ap;
	int e = errno;

	printf("%s: FAIL: ", tag);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	if (e)
		printf(" (errno %d %s)", e, strerror(e));
	putchar('\n');
	fflush(stdout);
	return 1;
}

static const char *state_name(uint32_t s)
{
	static const char *const names[] = {
		[VFIO_DEVICE_STATE_ERROR] = "ERROR",
		[VFIO_DEVICE_STATE_STOP] = "STOP",
		[VFIO_DEVICE_STATE_RUNNING] = "RUNNING",
		[VFIO_DEVICE_STATE_STOP_COPY] = "STOP_COPY",
		[VFIO_DEVICE_STATE_RESUMING] = "RESUMING",
		[VFIO_DEVICE_STATE_RUNNING_P2P] = "RUNNING_P2P",
		[VFIO_DEVICE_STATE_PRE_COPY] = "PRE_COPY",
		[VFIO_DEVICE_STATE_PRE_COPY_P2P] = "PRE_COPY_P2P",
	};

	return s < sizeof(names) / sizeof(names[0]) && names[s] ? names[s] : "?";
}

/* VFIO_DEVICE_FEATURE with a payload of at most 64 bytes, copied in and out. */
static int feature(int dev, uint32_t op, uint32_t index, void *payload, size_t len)
{
	union {
		struct vfio_device_feature f;
		uint64_t align[(sizeof(struct vfio_device_feature) + 64) / 8];
	} buf;

	if (len > 64)
		return -EINVAL;
	memset(&buf, 0, sizeof(buf));
	buf.f.argsz = sizeof(buf.f) + len;
	buf.f.flags = op | index;
	memcpy(buf.f.data, payload, len);
	if (ioctl(dev, VFIO_DEVICE_FEATURE, &buf.f) != 0)
		return -errno;
	memcpy(payload, buf.f.data, len);
	return 0;
}

static int get_state(int dev, uint32_t *state)
{
	struct vfio_device_feature_mig_state st = {0};
	int r = feature(dev, VFIO_DEVICE_FEATURE_GET, VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE, &st,
			sizeof(st));

	*state = st.device_state;
	return r;
}

/* SET the state; returns the data fd (or -1 if none), or -errno. */
static int set_state(int dev, uint32_t state)
{
	struct vfio_device_feature_mig_state st = {.device_state = state, .data_fd = -1};
	int r = feature(dev, VFIO_DEVICE_FEATURE_SET, VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE, &st,
			sizeof(st));

	return r ? r : st.data_fd;
}

static int expect_state(int dev, uint32_t want)
{
	uint32_t s;

	if (get_state(dev, &s) != 0)
		return fail("GET MIG_DEVICE_STATE");
	if (s != want) {
		errno = 0;
		return fail("device state %s (%u), expected %s", state_name(s), s,
			    state_name(want));
	}
	say("device state %s", state_name(s));
	return 0;
}

static int migrate_check(int dev)
{
	struct vfio_device_feature_migration mig = {0};
	struct vfio_device_feature_mig_data_size sz = {0};
	static unsigned char stream[STREAM_MAX];
	size_t total = 0;
	uint64_t magic;
	uint32_t major, minor, nr_ports, flags;
	int r, data_fd;

	errno = 0;
	r = feature(dev, VFIO_DEVICE_FEATURE_GET, VFIO_DEVICE_FEATURE_MIGRATION, &mig, sizeof(mig));
	if (r) {
		errno = -r;
		return fail("GET MIGRATION");
	}
	say("migration flags 0x%" PRIx64 "%s%s%s", (uint64_t)mig.flags,
	    mig.flags & VFIO_MIGRATION_STOP_COPY ? " STOP_COPY" : "",
	    mig.flags & VFIO_MIGRATION_P2P ? " P2P" : "",
	    mig.flags & VFIO_MIGRATION_PRE_COPY ? " PRE_COPY" : "");
	if (mig.flags != (VFIO_MIGRATION_STOP_COPY | VFIO_MIGRATION_P2P | VFIO_MIGRATION_PRE_COPY))
		return fail("migration flags 0x%" PRIx64 ", expected 0x7", (uint64_t)mig.flags);

	if (expect_state(dev, VFIO_DEVICE_STATE_RUNNING))
		return 1;

	r = feature(dev, VFIO_DEVICE_FEATURE_GET, VFIO_DEVICE_FEATURE_MIG_DATA_SIZE, &sz,
		    sizeof(sz));
	if (r) {
		errno = -r;
		return fail("GET MIG_DATA_SIZE");
	}
	say("MIG_DATA_SIZE stop_copy_length %" PRIu64, (uint64_t)sz.stop_copy_length);
	if (sz.stop_copy_length < MTTY_HDR_SIZE || sz.stop_copy_length > STREAM_MAX) {
		errno = 0;
		return fail("implausible MIG_DATA_SIZE");
	}

	data_fd = set_state(dev, VFIO_DEVICE_STATE_STOP_COPY);
	if (data_fd < 0) {
		errno = -data_fd;
		return fail("SET RUNNING -> STOP_COPY");
	}
	say("RUNNING -> STOP_COPY: data_fd %d", data_fd);
	if (expect_state(dev, VFIO_DEVICE_STATE_STOP_COPY))
		return 1;

	for (;;) {
		ssize_t n = read(data_fd, stream + total, sizeof(stream) - total);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return fail("read(data_fd) after %zu bytes", total);
		if (n == 0)
			break;
		total += (size_t)n;
		if (total == sizeof(stream)) {
			errno = 0;
			return fail("stream longer than %u bytes", STREAM_MAX);
		}
	}
	close(data_fd);

	memcpy(&magic, stream, 8);
	memcpy(&major, stream + 8, 4);
	memcpy(&minor, stream + 12, 4);
	memcpy(&nr_ports, stream + 16, 4);
	memcpy(&flags, stream + 20, 4);
	say("stream: %zu bytes, magic 0x%016" PRIx64 " version %u.%u nr_ports %u flags %u", total,
	    magic, major, minor, nr_ports, flags);
	errno = 0;
	if (total < MTTY_HDR_SIZE || magic != MTTY_MAGIC || major != 1 || flags != 0)
		return fail("bad mtty stream header");
	if (total != MTTY_HDR_SIZE + MTTY_PORT_SIZE * (size_t)nr_ports ||
	    total != sz.stop_copy_length)
		return fail("stream length %zu does not match nr_ports %u / MIG_DATA_SIZE %" PRIu64,
			    total, nr_ports, (uint64_t)sz.stop_copy_length);

	data_fd = set_state(dev, VFIO_DEVICE_STATE_RUNNING);
	if (data_fd < -1) {
		errno = -data_fd;
		return fail("SET STOP_COPY -> RUNNING");
	}
	if (data_fd >= 0) {
		errno = 0;
		close(data_fd);
		return fail("STOP_COPY -> RUNNING returned a data fd");
	}
	say("STOP_COPY -> RUNNING");
	return expect_state(dev, VFIO_DEVICE_STATE_RUNNING);
}

static int via_cdev(const char *path)
{
	struct iommu_ioas_alloc alloc = {.size = sizeof(alloc)};
	struct vfio_device_bind_iommufd bind = {.argsz = sizeof(bind)};
	struct vfio_device_attach_iommufd_pt attach = {.argsz = sizeof(attach)};
	int dev, iommufd, r;

	dev = open(path, O_RDWR | O_CLOEXEC);
	if (dev < 0)
		return fail("open %s", path);
	iommufd = open("/dev/iommu", O_RDWR | O_CLOEXEC);
	if (iommufd < 0)
		return fail("open /dev/iommu");
	if (ioctl(iommufd, IOMMU_IOAS_ALLOC, &alloc) != 0)
		return fail("IOMMU_IOAS_ALLOC");
	bind.iommufd = iommufd;
	if (ioctl(dev, VFIO_DEVICE_BIND_IOMMUFD, &bind) != 0)
		return fail("VFIO_DEVICE_BIND_IOMMUFD");
	attach.pt_id = alloc.out_ioas_id;
	if (ioctl(dev, VFIO_DEVICE_ATTACH_IOMMUFD_PT, &attach) != 0)
		return fail("VFIO_DEVICE_ATTACH_IOMMUFD_PT(ioas %u)", alloc.out_ioas_id);
	say("opened %s: iommufd ioas %u, devid %u, attached pt %u", path, alloc.out_ioas_id,
	    bind.out_devid, attach.pt_id);
	r = migrate_check(dev);
	close(dev);
	close(iommufd);
	return r;
}

static int via_group(const char *group_path, const char *name)
{
	struct vfio_group_status status = {.argsz = sizeof(status)};
	int group, container, dev, r;

	group = open(group_path, O_RDWR | O_CLOEXEC);
	if (group < 0)
		return fail("open %s", group_path);
	if (ioctl(group, VFIO_GROUP_GET_STATUS, &status) != 0)
		return fail("VFIO_GROUP_GET_STATUS");
	if (!(status.flags & VFIO_GROUP_FLAGS_VIABLE)) {
		errno = 0;
		return fail("group %s not viable (flags 0x%x)", group_path, status.flags);
	}
	container = open("/dev/vfio/vfio", O_RDWR | O_CLOEXEC);
	if (container < 0)
		return fail("open /dev/vfio/vfio");
	r = ioctl(container, VFIO_GET_API_VERSION);
	if (r != VFIO_API_VERSION) {
		errno = 0;
		return fail("VFIO_GET_API_VERSION %d, expected %d", r, VFIO_API_VERSION);
	}
	if (ioctl(container, VFIO_CHECK_EXTENSION, VFIO_TYPE1v2_IOMMU) <= 0) {
		errno = 0;
		return fail("container lacks VFIO_TYPE1v2_IOMMU");
	}
	if (ioctl(group, VFIO_GROUP_SET_CONTAINER, &container) != 0)
		return fail("VFIO_GROUP_SET_CONTAINER");
	if (ioctl(container, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU) != 0)
		return fail("VFIO_SET_IOMMU(VFIO_TYPE1v2_IOMMU)");
	dev = ioctl(group, VFIO_GROUP_GET_DEVICE_FD, name);
	if (dev < 0)
		return fail("VFIO_GROUP_GET_DEVICE_FD(%s)", name);
	say("opened %s device %s: group viable (flags 0x%x), type1v2 container", group_path, name,
	    status.flags);
	r = migrate_check(dev);
	close(dev);
	close(group);
	close(container);
	return r;
}

int main(int argc, char **argv)
{
	static char tagbuf[128];
	int r;

	if (argc == 3 && strcmp(argv[1], "cdev") == 0) {
		snprintf(tagbuf, sizeof(tagbuf), "smoke[cdev %s]", argv[2]);
		tag = tagbuf;
		r = via_cdev(argv[2]);
	} else if (argc == 4 && strcmp(argv[1], "group") == 0) {
		snprintf(tagbuf, sizeof(tagbuf), "smoke[group %s %s]", argv[2], argv[3]);
		tag = tagbuf;
		r = via_group(argv[2], argv[3]);
	} else {
		fprintf(stderr,
			"usage: %s cdev /dev/vfio/devices/vfioN\n"
			"       %s group /dev/vfio/GROUP DEVICE_NAME\n",
			argv[0], argv[0]);
		return 2;
	}
	say("%s", r ? "FAILED" : "OK");
	return r ? 1 : 0;
}
