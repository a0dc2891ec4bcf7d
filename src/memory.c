// SPDX-License-Identifier: BSD-3-Clause
/* Host memory: how much this process may still use; guarded copies (see memory.h). */
#include <errno.h>
#include <limits.h>
#include <mntent.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "memory.h"
#include "util.h"

#define UNLIMITED (1ull << 62) /* cgroup v1 writes "no limit" as a number near 2^63 */

struct room {
	bool known;
	uint64_t bytes;
	char what[PATH_MAX + 64];
};

static void consider(struct room *r, uint64_t bytes, const char *what)
{
	if (r->known && bytes >= r->bytes)
		return;
	r->known = true;
	r->bytes = bytes;
	snprintf(r->what, sizeof(r->what), "%s", what);
}

/* The first token of a small file: a number, or "max" (*v = UNLIMITED). 0 or -errno. */
static int read_value(const char *path, uint64_t *v)
{
	char buf[64];
	FILE *f = fopen(path, "re");
	char *end;

	if (!f)
		return -errno;
	if (!fgets(buf, sizeof(buf), f)) {
		fclose(f);
		return -EIO;
	}
	fclose(f);
	if (!strncmp(buf, "max", 3)) {
		*v = UNLIMITED;
		return 0;
	}
	errno = 0;
	*v = strtoull(buf, &end, 10);
	return errno || end == buf ? -EINVAL : 0;
}

static void system_room(struct room *r)
{
	char line[128];
	unsigned long long kb;
	FILE *f = fopen("/proc/meminfo", "re");

	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "MemAvailable: %llu kB", &kb) == 1) {
			consider(r, (uint64_t)kb * 1024, "MemAvailable of the system");
			break;
		}
	}
	fclose(f);
}

/* Where the cgroup v2 hierarchy and the v1 memory hierarchy are mounted ("" if not). */
static void cgroup_mounts(char *v2, char *v1, size_t len)
{
	struct mntent m;
	char buf[4096];
	FILE *f = setmntent("/proc/self/mounts", "re");

	v2[0] = v1[0] = '\0';
	if (!f)
		return;
	while (getmntent_r(f, &m, buf, sizeof(buf))) {
		if (!strcmp(m.mnt_type, "cgroup2") && !v2[0])
			snprintf(v2, len, "%s", m.mnt_dir);
		else if (!strcmp(m.mnt_type, "cgroup") && hasmntopt(&m, "memory") && !v1[0])
			snprintf(v1, len, "%s", m.mnt_dir);
	}
	endmntent(f);
}

/* A comma-separated list holds name. */
static bool has_item(const char *list, const char *name)
{
	size_t n = strlen(name);

	for (const char *p = list; p; p = strchr(p, ',') ? strchr(p, ',') + 1 : NULL) {
		if (!strncmp(p, name, n) && (p[n] == ',' || p[n] == '\0'))
			return true;
	}
	return false;
}

/* This process's cgroup in the v2 hierarchy ("0::PATH") or the v1 memory one. */
static bool self_cgroup(bool v2, char *path, size_t len)
{
	char line[PATH_MAX + 64];
	FILE *f = fopen("/proc/self/cgroup", "re");
	bool found = false;

	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f)) {
		char *ctl = strchr(line, ':'), *rel = ctl ? strchr(ctl + 1, ':') : NULL;

		if (!rel)
			continue;
		*ctl++ = '\0';
		*rel++ = '\0';
		rel[strcspn(rel, "\n")] = '\0';
		if (v2 ? !strcmp(line, "0") && !ctl[0] : has_item(ctl, "memory")) {
			snprintf(path, len, "%s", rel);
			found = true;
		}
	}
	fclose(f);
	return found;
}

/* Every level from the process's cgroup up to the root: its limit minus its usage. */
static void cgroup_room(struct room *r, const char *mnt, const char *rel, const char *limit_name,
			const char *usage_name)
{
	char dir[PATH_MAX], file[PATH_MAX + 32], what[PATH_MAX + 64];
	size_t root = strlen(mnt);

	if (!mnt[0])
		return;
	snprintf(dir, sizeof(dir), "%s%s", mnt, strcmp(rel, "/") ? rel : "");
	for (;;) {
		uint64_t limit, usage;
		char *slash;

		snprintf(file, sizeof(file), "%s/%s", dir, limit_name);
		if (read_value(file, &limit) == 0 && limit < UNLIMITED) {
			snprintf(file, sizeof(file), "%s/%s", dir, usage_name);
			if (read_value(file, &usage))
				usage = 0;
			snprintf(what, sizeof(what), "the memory cgroup %s limit", dir);
			consider(r, limit > usage ? limit - usage : 0, what);
		}
		slash = strrchr(dir, '/');
		if (strlen(dir) <= root || !slash || (size_t)(slash - dir) < root)
			break;
		*slash = '\0';
	}
}

int vfm_mem_fit(uint64_t need, char *why, size_t whylen)
{
	struct room r = {0};
	char v2[PATH_MAX], v1[PATH_MAX], rel[PATH_MAX], a[32], b[32];

	system_room(&r);
	cgroup_mounts(v2, v1, sizeof(v2));
	if (self_cgroup(true, rel, sizeof(rel)))
		cgroup_room(&r, v2, rel, "memory.max", "memory.current");
	if (self_cgroup(false, rel, sizeof(rel)))
		cgroup_room(&r, v1, rel, "memory.limit_in_bytes", "memory.usage_in_bytes");
	if (!r.known || need <= r.bytes)
		return 0;
	vfm_format_size(need, a, sizeof(a));
	vfm_format_size(r.bytes, b, sizeof(b));
	return vfm_errf(why, whylen, -ENOMEM, "%s needed, %s available (%s)", a, b, r.what);
}

/* ---- copies that survive a shrunk mapping ------------------------------------------- */

/* Set while this thread copies under the guard; volatile: the stores around memcpy() must
 * stay where they are. */
static __thread sigjmp_buf *volatile guard_env;
static struct sigaction prev_bus;
static pthread_once_t guard_once = PTHREAD_ONCE_INIT;

static void on_sigbus(int sig, siginfo_t *si, void *ctx)
{
	sigjmp_buf *env = guard_env;

	if (env && si->si_code > 0) { /* a fault inside a guarded copy */
		guard_env = NULL;
		siglongjmp(*env, 1);
	}
	if ((prev_bus.sa_flags & SA_SIGINFO) && prev_bus.sa_sigaction) {
		prev_bus.sa_sigaction(sig, si, ctx);
	} else if (prev_bus.sa_handler != SIG_DFL && prev_bus.sa_handler != SIG_IGN) {
		prev_bus.sa_handler(sig);
	} else {
		/* The default action: a fault repeats when this returns, a kill is raised. */
		signal(SIGBUS, SIG_DFL);
		if (si->si_code <= 0)
			raise(SIGBUS);
	}
}

static void guard_install(void)
{
	struct sigaction sa = {.sa_sigaction = on_sigbus, .sa_flags = SA_SIGINFO | SA_NODEFER};

	sigemptyset(&sa.sa_mask);
	sigaction(SIGBUS, &sa, &prev_bus);
}

int vfm_copy_guarded(void *dst, const void *src, size_t len)
{
	sigjmp_buf env;

	pthread_once(&guard_once, guard_install);
	/* SA_NODEFER: SIGBUS is never blocked in the handler, so no mask to restore. */
	if (sigsetjmp(env, 0)) {
		guard_env = NULL;
		return -EFAULT;
	}
	guard_env = &env;
	memcpy(dst, src, len);
	guard_env = NULL;
	return 0;
}
