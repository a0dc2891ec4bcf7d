/* vfm-cut: run a command with its stdout on a pipe that is closed after K bytes.
 *
 *   vfm-cut K COMMAND [ARG...]
 *
 * Cuts a stream deterministically at a write boundary, which `cmd | head -c K` cannot
 * (the writer usually finishes before head exits). The pipe is shrunk to one page and
 * filled with 4096 - K bytes before COMMAND starts, so COMMAND's writes land while they
 * fit in the remaining K bytes (a pipe write of at most PIPE_BUF bytes is all or nothing)
 * and the first one that does not fit blocks. Once COMMAND is seen blocked in write() or
 * writev() on fd 1 (/proc/PID/task/TID/syscall, twice in a row with the same pipe level),
 * the read end is closed: the blocked write fails with EPIPE (or SIGPIPE). Nothing is
 * ever read from the pipe.
 *
 * Prints one line: how many bytes got through and how COMMAND ended. Exit status:
 *   0  the cut happened and COMMAND then failed (exit status != 0 or killed)
 *   1  the cut happened but COMMAND exited 0 anyway
 *   3  COMMAND ended before blocking (its whole output fit in K bytes): no cut
 *   2  usage error or failure of the helper itself
 * K is 0..4096. Runs inside the test guest (needs /proc/PID/syscall).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PIPE_PAGE 4096
#define POLL_NS	  2000000L /* 2 ms */
#define MAX_POLLS 10000	   /* 20 s */

static int die(const char *what)
{
	fprintf(stderr, "vfm-cut: %s: %s\n", what, strerror(errno));
	return 2;
}

/* A /proc/PID/task/TID/syscall line of poll() or ppoll() on exactly one descriptor. */
static bool waiting_in_poll(const char *line, long nr)
{
	unsigned long fds, nfds;

	if (nr != SYS_poll && nr != SYS_ppoll)
		return false;
	return sscanf(line, "%*d %lx %lx", &fds, &nfds) == 2 && nfds == 1;
}

/*
 * Is one of pid's threads blocked writing fd 1: in write()/writev() on it, or in a poll()
 * of one descriptor (vfio-mig's channels wait for POLLOUT in short polls instead of
 * blocking in write(); the caller also requires the pipe level to stay put)?
 */
static bool blocked_writing(pid_t pid)
{
	char path[64], line[256];
	struct dirent *de;
	bool blocked = false;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	d = opendir(path);
	if (!d)
		return false;
	while (!blocked && (de = readdir(d))) {
		long nr;
		unsigned long fd;
		FILE *f;

		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/%d/task/%.20s/syscall", (int)pid, de->d_name);
		f = fopen(path, "r");
		if (!f)
			continue;
		if (fgets(line, sizeof(line), f) && sscanf(line, "%ld %lx", &nr, &fd) == 2)
			blocked = ((nr == SYS_write || nr == SYS_writev) && fd == 1) ||
				  waiting_in_poll(line, nr);
		fclose(f);
	}
	closedir(d);
	return blocked;
}

static int fill_level(int rfd)
{
	int n = -1;

	return ioctl(rfd, FIONREAD, &n) ? -1 : n;
}

static int prepare_pipe(int p[2], long k)
{
	static char junk[PIPE_PAGE];
	int size;

	if (pipe2(p, O_CLOEXEC))
		return die("pipe2");
	size = fcntl(p[1], F_SETPIPE_SZ, PIPE_PAGE);
	if (size != PIPE_PAGE) {
		fprintf(stderr, "vfm-cut: F_SETPIPE_SZ(%d) gave %d\n", PIPE_PAGE, size);
		return 2;
	}
	memset(junk, 'J', sizeof(junk));
	if (k < PIPE_PAGE && write(p[1], junk, (size_t)(PIPE_PAGE - k)) != PIPE_PAGE - k)
		return die("filling the pipe");
	return 0;
}

static void nap(void)
{
	struct timespec ts = {0, POLL_NS};

	nanosleep(&ts, NULL);
}

static int report(long k, int level, bool cut, int status)
{
	long passed = level - (PIPE_PAGE - k);

	if (WIFEXITED(status))
		printf("vfm-cut: K=%ld: %s after %ld bytes; command exited %d\n", k,
		       cut ? "cut" : "no cut, the command ended", passed, WEXITSTATUS(status));
	else
		printf("vfm-cut: K=%ld: %s after %ld bytes; command killed by signal %d\n", k,
		       cut ? "cut" : "no cut, the command ended", passed, WTERMSIG(status));
	fflush(stdout);
	if (!cut)
		return 3;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 1 : 0;
}

int main(int argc, char **argv)
{
	int p[2], status, level = -1, last = -2, rc;
	bool cut = false;
	char *end;
	long k;
	pid_t pid;

	if (argc < 3) {
		fprintf(stderr, "usage: %s K COMMAND [ARG...]\n", argv[0]);
		return 2;
	}
	k = strtol(argv[1], &end, 0);
	if (*end || end == argv[1] || k < 0 || k > PIPE_PAGE) {
		fprintf(stderr, "vfm-cut: K must be 0..%d\n", PIPE_PAGE);
		return 2;
	}
	rc = prepare_pipe(p, k);
	if (rc)
		return rc;
	pid = fork();
	if (pid < 0)
		return die("fork");
	if (pid == 0) {
		if (dup2(p[1], STDOUT_FILENO) < 0)
			_exit(127);
		execvp(argv[2], argv + 2);
		fprintf(stderr, "vfm-cut: exec %s: %s\n", argv[2], strerror(errno));
		_exit(127);
	}
	close(p[1]);
	for (int i = 0; i < MAX_POLLS; i++) {
		if (waitpid(pid, &status, WNOHANG) == pid)
			return report(k, fill_level(p[0]), false, status);
		level = fill_level(p[0]);
		if (blocked_writing(pid)) {
			if (level == last) {
				cut = true;
				break;
			}
			last = level;
		} else {
			last = -2;
		}
		nap();
	}
	if (!cut) {
		fprintf(stderr, "vfm-cut: the command neither blocked nor ended; killing it\n");
		kill(pid, SIGKILL);
	}
	close(p[0]);
	if (waitpid(pid, &status, 0) != pid)
		return die("waitpid");
	return cut ? report(k, level, true, status) : 2;
}
