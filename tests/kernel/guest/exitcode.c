/* vfm-exitcode: power the qemu guest off through the isa-debug-exit device.
 *
 *   vfm-exitcode N     (N = 0..255; qemu then exits with status (N << 1) | 1)
 *
 * Runs as PID 1's child inside the test guest (root). The kernel needs
 * CONFIG_X86_IOPL_IOPERM for ioperm(). The console is drained first so the last lines
 * the guest printed reach the host log before qemu stops.
 * Build: gcc -static -O2 -o vfm-exitcode exitcode.c
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/io.h>
#include <termios.h>
#include <unistd.h>

#define DEBUG_EXIT_PORT 0xf4

int main(int argc, char **argv)
{
	char *end;
	long v;

	if (argc != 2) {
		fprintf(stderr, "usage: %s EXIT_VALUE\n", argv[0]);
		return 2;
	}
	errno = 0;
	v = strtol(argv[1], &end, 0);
	if (errno || *end || end == argv[1] || v < 0 || v > 255) {
		fprintf(stderr, "%s: bad exit value '%s'\n", argv[0], argv[1]);
		return 2;
	}
	fflush(NULL);
	for (int fd = 0; fd <= 2; fd++)
		if (isatty(fd))
			tcdrain(fd);
	if (ioperm(DEBUG_EXIT_PORT, 4, 1) != 0) {
		fprintf(stderr, "%s: ioperm(0x%x): %s\n", argv[0], DEBUG_EXIT_PORT,
			strerror(errno));
		return 1;
	}
	outb((unsigned char)v, DEBUG_EXIT_PORT);
	/* Only reached without an isa-debug-exit device at that port. */
	fprintf(stderr, "%s: wrote %ld to port 0x%x but the machine is still running\n", argv[0], v,
		DEBUG_EXIT_PORT);
	return 1;
}
