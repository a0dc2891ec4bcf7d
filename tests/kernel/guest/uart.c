/* vfm-uart: put known values into an mtty device's UARTs and read them back (runs inside
 * the test guest).
 *
 *   vfm-uart DEVICE set SEED        program every port from SEED (1..255)
 *   vfm-uart DEVICE check SEED      verify LCR, MCR, SCR, IER and that the RX FIFO holds
 *                                   data (LSR.DR), without changing anything
 *   vfm-uart DEVICE drain SEED      as check, then read the RX FIFO byte by byte and
 *                                   compare (this empties it) and verify LSR.DR is clear
 *   vfm-uart DEVICE show            print the registers (reads no FIFO byte)
 *   vfm-uart DEVICE running         SET the migration state RUNNING (e.g. a source a
 *                                   migration left STOP), printing the state before
 *   vfm-uart DEVICE hold SECONDS    keep the device open (prints "holding" once it is),
 *                                   to test what others see of a busy device
 *
 * DEVICE is spelled as for vfio-mig: vfio:/dev/vfio/devices/vfioN or
 * vfio-group:/dev/vfio/N:<uuid>. The helper opens it itself (cdev + iommufd, or group +
 * type1v2 container): an oracle independent of the library under test.
 *
 * What mtty emulates (samples/vfio-mdev/mtty.c, 6.12): port p is region VFIO_PCI_BARp
 * (8 bytes: 16550 registers at offsets 0..7, accessed with pread/pwrite at the region's
 * offset). LCR, MCR and SCR are stored as written (reads return them); IER reads back its
 * low nibble. A write to THR (offset 0, DLAB clear) is stored in the port's 16-byte
 * FIFO whatever MCR says (mtty is always in loopback; we set MCR bit 4, LOOP, anyway, as a
 * real 16550 needs it); a read of RBR pops it. FCR bit 1/2 clear the FIFO, bit 0 makes it
 * 16 deep. All of it is in the migration stream (struct serial_port), so a destination
 * must read back what was written into the source.
 *
 * Exit 0 when everything matches, 1 on a mismatch or failure, 2 on usage errors.
 * Build: gcc -static -I<kernel cache>/include (the 6.12 uAPI headers).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <linux/iommufd.h>
#include <linux/vfio.h>

#if !defined(VFIO_DEVICE_BIND_IOMMUFD)
#error "needs the Linux >= 6.6 uAPI headers: build with -I<kernel cache>/include"
#endif

/* 16550 register offsets */
#define R_RBR_THR 0
#define R_IER	  1
#define R_FCR	  2
#define R_LCR	  3
#define R_MCR	  4
#define R_LSR	  5
#define R_SCR	  7
#define LSR_DR	  0x01
#define MCR_LOOP  0x10
#define FCR_SETUP 0x07 /* enable the FIFO, clear RX and TX */
#define MAX_PORTS 2

struct port_regs {
	uint8_t lcr, mcr, scr, ier;
	uint8_t fifo[16];
	unsigned fifo_len;
};

static const char *dev_spec = "?";

static int fail(const char *fmt, ...)
{
	va_list ap;
	int e = errno;

	printf("vfm-uart: %s: FAIL: ", dev_spec);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	if (e)
		printf(" (errno %d %s)", e, strerror(e));
	putchar('\n');
	return 1;
}

/* The values SEED gives port p. LCR never sets DLAB (bit 7), IER stays 0 (no
 * interrupts), MCR always has LOOP. */
static void pattern(unsigned seed, unsigned p, struct port_regs *r)
{
	r->lcr = (uint8_t)((0x03 + seed * 5 + p) & 0x7f);
	r->mcr = (uint8_t)(MCR_LOOP | ((seed * 3 + p) & 0x0f));
	r->scr = (uint8_t)(seed * 37 + p * 11 + 1);
	r->ier = 0;
	r->fifo_len = 3 + (seed + p) % 12;
	for (unsigned i = 0; i < r->fifo_len; i++)
		r->fifo[i] = (uint8_t)(seed + i * 7 + p * 50);
}

static int open_cdev(const char *path)
{
	struct iommu_ioas_alloc alloc = {.size = sizeof(alloc)};
	struct vfio_device_bind_iommufd bind = {.argsz = sizeof(bind)};
	struct vfio_device_attach_iommufd_pt attach = {.argsz = sizeof(attach)};
	int dev = open(path, O_RDWR | O_CLOEXEC), iommufd;

	if (dev < 0)
		return -fail("open %s", path);
	iommufd = open("/dev/iommu", O_RDWR | O_CLOEXEC);
	if (iommufd < 0)
		return -fail("open /dev/iommu");
	if (ioctl(iommufd, IOMMU_IOAS_ALLOC, &alloc))
		return -fail("IOMMU_IOAS_ALLOC");
	bind.iommufd = iommufd;
	if (ioctl(dev, VFIO_DEVICE_BIND_IOMMUFD, &bind))
		return -fail("VFIO_DEVICE_BIND_IOMMUFD");
	attach.pt_id = alloc.out_ioas_id;
	if (ioctl(dev, VFIO_DEVICE_ATTACH_IOMMUFD_PT, &attach))
		return -fail("VFIO_DEVICE_ATTACH_IOMMUFD_PT");
	return dev; /* the iommufd stays open until exit */
}

static int open_group(const char *spec)
{
	struct vfio_group_status st = {.argsz = sizeof(st)};
	const char *colon = strchr(spec, ':');
	char path[256];
	int group, container, dev;

	if (!colon || (size_t)(colon - spec) >= sizeof(path))
		return -fail("expected /dev/vfio/N:<device name>");
	memcpy(path, spec, (size_t)(colon - spec));
	path[colon - spec] = '\0';
	group = open(path, O_RDWR | O_CLOEXEC);
	if (group < 0)
		return -fail("open %s", path);
	if (ioctl(group, VFIO_GROUP_GET_STATUS, &st) || !(st.flags & VFIO_GROUP_FLAGS_VIABLE))
		return -fail("group %s not viable", path);
	container = open("/dev/vfio/vfio", O_RDWR | O_CLOEXEC);
	if (container < 0)
		return -fail("open /dev/vfio/vfio");
	if (ioctl(container, VFIO_GET_API_VERSION) != VFIO_API_VERSION ||
	    ioctl(container, VFIO_CHECK_EXTENSION, VFIO_TYPE1v2_IOMMU) <= 0)
		return -fail("container without type1v2");
	if (ioctl(group, VFIO_GROUP_SET_CONTAINER, &container))
		return -fail("VFIO_GROUP_SET_CONTAINER");
	if (ioctl(container, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU))
		return -fail("VFIO_SET_IOMMU");
	dev = ioctl(group, VFIO_GROUP_GET_DEVICE_FD, colon + 1);
	if (dev < 0)
		return -fail("VFIO_GROUP_GET_DEVICE_FD(%s)", colon + 1);
	return dev;
}

static int open_device(const char *spec)
{
	if (!strncmp(spec, "vfio:", 5))
		return open_cdev(spec + 5);
	if (!strncmp(spec, "vfio-group:", 11))
		return open_group(spec + 11);
	errno = 0;
	return -fail("unknown device spec (vfio:... or vfio-group:...)");
}

/* The file offsets of the ports' BARs; returns the number of ports (1 or 2). */
static int find_ports(int dev, off_t *base)
{
	int n = 0;

	for (unsigned i = VFIO_PCI_BAR0_REGION_INDEX; i < MAX_PORTS; i++) {
		struct vfio_region_info ri = {.argsz = sizeof(ri), .index = i};

		if (ioctl(dev, VFIO_DEVICE_GET_REGION_INFO, &ri))
			return -fail("VFIO_DEVICE_GET_REGION_INFO(BAR%u)", i);
		if (ri.size < 8)
			break;
		if (!(ri.flags & VFIO_REGION_INFO_FLAG_READ) ||
		    !(ri.flags & VFIO_REGION_INFO_FLAG_WRITE)) {
			errno = 0;
			return -fail("BAR%u is not read/write (flags 0x%x)", i, ri.flags);
		}
		base[n++] = (off_t)ri.offset;
	}
	if (!n) {
		errno = 0;
		return -fail("no UART BAR (is this an mtty device?)");
	}
	return n;
}

static int wr(int dev, off_t base, unsigned reg, uint8_t v)
{
	if (pwrite(dev, &v, 1, base + reg) != 1)
		return fail("pwrite reg %u", reg);
	return 0;
}

static int rd(int dev, off_t base, unsigned reg, uint8_t *v)
{
	if (pread(dev, v, 1, base + reg) != 1)
		return fail("pread reg %u", reg);
	return 0;
}

static int set_port(int dev, off_t base, const struct port_regs *r)
{
	int bad = wr(dev, base, R_FCR, FCR_SETUP) || wr(dev, base, R_IER, r->ier) ||
		  wr(dev, base, R_LCR, r->lcr) || wr(dev, base, R_MCR, r->mcr) ||
		  wr(dev, base, R_SCR, r->scr);

	for (unsigned i = 0; !bad && i < r->fifo_len; i++)
		bad = wr(dev, base, R_RBR_THR, r->fifo[i]);
	return bad;
}

static int expect(unsigned p, const char *reg, uint8_t got, uint8_t want)
{
	if (got == want)
		return 0;
	errno = 0;
	return fail("port %u %s 0x%02x, expected 0x%02x", p, reg, got, want);
}

static int check_port(int dev, off_t base, unsigned p, const struct port_regs *r, bool drain)
{
	uint8_t lcr, mcr, scr, ier, lsr, b;
	int bad;

	if (rd(dev, base, R_LCR, &lcr) || rd(dev, base, R_MCR, &mcr) ||
	    rd(dev, base, R_SCR, &scr) || rd(dev, base, R_IER, &ier) || rd(dev, base, R_LSR, &lsr))
		return 1;
	bad = expect(p, "LCR", lcr, r->lcr) | expect(p, "MCR", mcr, r->mcr) |
	      expect(p, "SCR", scr, r->scr) | expect(p, "IER", ier, r->ier) |
	      expect(p, "LSR.DR (RX FIFO not empty)", lsr & LSR_DR, LSR_DR);
	if (bad || !drain)
		return bad;
	for (unsigned i = 0; i < r->fifo_len; i++) {
		char what[32];

		snprintf(what, sizeof(what), "RX FIFO byte %u", i);
		if (rd(dev, base, R_RBR_THR, &b) || expect(p, what, b, r->fifo[i]))
			return 1;
	}
	if (rd(dev, base, R_LSR, &lsr))
		return 1;
	return expect(p, "LSR.DR after draining the FIFO", lsr & LSR_DR, 0);
}

static int show(int dev, const off_t *base, int ports)
{
	static const char *const names[8] = {"-", "IER", "IIR", "LCR", "MCR", "LSR", "MSR", "SCR"};

	for (int p = 0; p < ports; p++) {
		printf("vfm-uart: %s: port %d:", dev_spec, p);
		for (unsigned reg = 1; reg < 8; reg++) {
			uint8_t v;

			if (rd(dev, base[p], reg, &v))
				return 1;
			printf(" %s 0x%02x", names[reg], v);
		}
		putchar('\n');
	}
	return 0;
}

/* VFIO_DEVICE_FEATURE GET or SET MIG_DEVICE_STATE. */
static int mig_state(int dev, uint32_t op, uint32_t *state)
{
	union {
		struct vfio_device_feature f;
		uint64_t align[2];
	} buf = {.f = {.argsz = sizeof(buf), .flags = op | VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE}};
	struct vfio_device_feature_mig_state ms = {.device_state = *state, .data_fd = -1};

	memcpy(buf.f.data, &ms, sizeof(ms));
	if (ioctl(dev, VFIO_DEVICE_FEATURE, &buf.f))
		return -errno;
	memcpy(&ms, buf.f.data, sizeof(ms));
	if (ms.data_fd >= 0)
		close(ms.data_fd);
	*state = ms.device_state;
	return 0;
}

static int set_running(int dev)
{
	uint32_t before = 0, state = VFIO_DEVICE_STATE_RUNNING;
	int rc = mig_state(dev, VFIO_DEVICE_FEATURE_GET, &before);

	if (rc) {
		errno = -rc;
		return fail("GET MIG_DEVICE_STATE");
	}
	rc = mig_state(dev, VFIO_DEVICE_FEATURE_SET, &state);
	if (rc) {
		errno = -rc;
		return fail("SET RUNNING (from state %u)", before);
	}
	printf("vfm-uart: %s: state %u -> RUNNING (%u)\n", dev_spec, before, state);
	return 0;
}

static int usage(const char *argv0)
{
	fprintf(stderr,
		"usage: %s DEVICE set|check|drain SEED | DEVICE show|running | "
		"DEVICE hold SECONDS\n",
		argv0);
	return 2;
}

int main(int argc, char **argv)
{
	off_t base[MAX_PORTS];
	unsigned long seed = 0;
	const char *cmd;
	int dev, ports, rc = 0;

	if (argc < 3)
		return usage(argv[0]);
	dev_spec = argv[1];
	cmd = argv[2];
	if ((strcmp(cmd, "show") && strcmp(cmd, "running")) ? argc != 4 : argc != 3)
		return usage(argv[0]);
	if (argc == 4 && !strcmp(cmd, "hold")) {
		dev = open_device(dev_spec);
		if (dev < 0)
			return 1;
		printf("vfm-uart: %s: holding\n", dev_spec);
		fflush(stdout);
		sleep((unsigned)strtoul(argv[3], NULL, 0));
		return 0;
	}
	if (argc == 4) {
		char *end;

		seed = strtoul(argv[3], &end, 0);
		if (*end || seed < 1 || seed > 255)
			return usage(argv[0]);
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	dev = open_device(dev_spec);
	if (dev < 0)
		return 1;
	ports = find_ports(dev, base);
	if (ports < 0)
		return 1;
	if (!strcmp(cmd, "show"))
		return show(dev, base, ports);
	if (!strcmp(cmd, "running"))
		return set_running(dev);
	for (int p = 0; p < ports; p++) {
		struct port_regs r;

		pattern((unsigned)seed, (unsigned)p, &r);
		if (!strcmp(cmd, "set"))
			rc |= set_port(dev, base[p], &r);
		else if (!strcmp(cmd, "check") || !strcmp(cmd, "drain"))
			rc |= check_port(dev, base[p], (unsigned)p, &r, !strcmp(cmd, "drain"));
		else
			return usage(argv[0]);
		if (!strcmp(cmd, "set"))
			rc |= check_port(dev, base[p], (unsigned)p, &r, false);
	}
	if (!rc)
		printf("vfm-uart: %s: %s %lu: %d port(s) OK\n", dev_spec, cmd, seed, ports);
	close(dev);
	return rc ? 1 : 0;
}
