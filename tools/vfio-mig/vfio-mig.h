/* SPDX-License-Identifier: BSD-3-Clause */
/* The vfio-mig command: one file per subcommand, a tiny dispatcher, shared helpers. */
#ifndef VFIO_MIG_TOOL_H
#define VFIO_MIG_TOOL_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "vfio-mig/engine.h"
#include "vfio-mig/handle.h"

#define EXIT_OK	   0
#define EXIT_FAIL  1
#define EXIT_USAGE 2

extern const char *prog;
extern int verbosity; /* 0 quiet .. 4 trace */
extern volatile sig_atomic_t interrupted;

int fsm_main(int argc, char **argv);
int info_main(int argc, char **argv);
int resume_main(int argc, char **argv);
int save_main(int argc, char **argv);
int load_main(int argc, char **argv);
int inspect_main(int argc, char **argv);
int migrate_main(int argc, char **argv);
int demo_main(int argc, char **argv);
int serve_main(int argc, char **argv);
int receive_main(int argc, char **argv);
int report_main(int argc, char **argv);
int check_main(int argc, char **argv);

/* Prints "error: ..." to stderr and returns EXIT_USAGE. */
int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Prints "error: ..." to stderr and returns EXIT_FAIL. */
int fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The logger that prints to stderr at the current verbosity. */
struct vfm_logger tool_logger(void);
/* Opens a device, printing the reason on failure. */
int open_device(const char *spec, struct vfm_handle **out);
/* Installs SIGINT/SIGTERM handlers that set `interrupted`. */
void install_signals(void);
/* Progress on stderr: a bar on a terminal, a few lines otherwise, nothing when quiet. */
void progress_cb(void *opaque, const struct vfm_progress *p);
struct progress_state {
	bool tty;
	bool quiet;
	double last;
	int last_quarter;
	enum vfm_phase last_phase;
};
void progress_init(struct progress_state *ps, bool quiet);
void progress_end(struct progress_state *ps);
/* -q, -v, -h and unknown options, as every subcommand treats them: -1 to go on, else
 * the exit code (after printing the usage for -h or an unknown option). */
int common_option(int c, bool *quiet, void (*usage)(FILE *f));
/* The engine options every run of the tool shares: logging, progress, cancel on signal. */
void progress_opts(struct vfm_mig_opts *opts, struct progress_state *ps, bool quiet);
/* --buffer-size: 0, or -EINVAL after printing the usage error. */
int parse_buffer_size(const char *cmd, const char *arg, size_t *out);
/* --timeout S: 1 to 86400 seconds, into milliseconds; prints the usage error itself. */
int parse_timeout(const char *cmd, const char *arg, uint32_t *out_ms);
/* Prints "checksum: <hex>" for sample devices; silent for others. */
void print_checksum(struct vfm_handle *h, const char *label);
void fprint_checksum(FILE *f, struct vfm_handle *h, const char *label);
/* "dma checksum: <hex>" of the memory a handle mapped for its device's DMA, if any. */
void print_dma_checksum(struct vfm_handle *h, const char *label);
/* After a failure: each device's state (and checksum) on stderr, for the operator;
 * role is "source" or "destination". */
void report_devices(const char *role, struct vfm_handle *const *devs, size_t n);
/* --json FILE: the run's statistics and timeline (tl may be NULL). 0 or -errno. */
int write_json(const char *path, const char *command, const struct vfm_mig_stats *st,
	       const struct vfm_timeline *tl, int rc);
/* TLS options migrate and receive share: --tls-creds DIR, --tls-psk FILE, and migrate's
 * --tls-hostname NAME and --tls-psk-identity NAME, receive's --tls-authz DN (repeatable). */
enum {
	OPT_TLS_CREDS = 0x200,
	OPT_TLS_PSK,
	OPT_TLS_HOSTNAME,
	OPT_TLS_AUTHZ,
	OPT_TLS_PSK_IDENTITY
};
#define TOOL_TLS_MAX_AUTHZ 64
struct tool_tls {
	struct vfm_tls_opts o;
	const char *authz[TOOL_TLS_MAX_AUTHZ];
};
/* 1 when c is a TLS option (taken), 0 when not, -EINVAL after a usage error. */
int tls_option(int c, const char *arg, struct tool_tls *t, const char *cmd);
/* Checks the TLS options against the channel; *out: the engine's options, NULL in clear.
 * 0 or -EINVAL after a usage error. */
int tls_finish(struct tool_tls *t, const char *cmd, const char *uri,
	       const struct vfm_tls_opts **out);

/* Prints the one-line summary of a finished run. */
void print_stats(const char *what, const struct vfm_mig_stats *st);
void fprint_stats(FILE *f, const char *what, const struct vfm_mig_stats *st);

#endif /* VFIO_MIG_TOOL_H */
