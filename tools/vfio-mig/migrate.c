// SPDX-License-Identifier: BSD-3-Clause
/* vfio-mig migrate: live-migrate devices to destination devices or over a channel. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"
#include "section-name.h"
#include "vfio-mig.h"

static void migrate_usage(FILE *f)
{
	fprintf(f,
		"usage: %s migrate --from DEVICE --to DEVICE [--from ... --to ...] [options]\n"
		"       %s migrate --from DEVICE [--from ...] --to CHANNEL [options]\n\n"
		"Live-migrates each --from device to the --to device in the same position, or\n"
		"all of them over CHANNEL (tcp:HOST:PORT, sock:PATH) to a 'vfio-mig receive'.\n"
		"Devices with PRE_COPY keep running while their state moves; the switch-over\n"
		"waits until the estimated downtime fits the limit. The destinations end RUNNING\n"
		"with the sources' state; the sources are left stopped, as QEMU leaves a migrated\n"
		"source. Any failure returns the sources to RUNNING with their state intact and\n"
		"resets the destinations.\n\n"
		"  -f, --from DEVICE          a source device (repeatable)\n"
		"  -t, --to DEVICE|CHANNEL    a destination device (repeatable) or one channel\n"
		"  -l, --downtime-limit MS    the longest pause allowed (default 300)\n"
		"  -m, --max-precopy-time MS  give up pre-copy after this long (default 60000)\n"
		"      --allow-overrun        switch over anyway when the limit cannot be met\n"
		"      --no-precopy           stop the devices at once (no pre-copy)\n"
		"      --allow-no-p2p         allow several devices although one lacks P2P\n"
		"      --no-switchover-ack    do not wait for the destination's confirmation\n"
		"      --single-channel       over a channel, no extra connection per device\n"
		"  -S, --section IDSTR        over a channel, name the next device's section IDSTR\n"
		"                             (default \"vfio\"; e.g. 0000:00:04.0/vfio as QEMU;\n"
		"                             one connection for all devices then)\n"
		"  -b, --buffer-size N        read buffer (default: MIN(1 MiB, stop-copy size))\n"
		"      --tls-creds DIR        TLS 1.3 over tcp: with x509: DIR/ca-cert.pem,\n"
		"                             client-cert.pem, client-key.pem (QEMU's layout)\n"
		"      --tls-hostname NAME    the name the destination's certificate must carry\n"
		"                             (default: the host of tcp:HOST:PORT)\n"
		"      --tls-psk FILE         TLS 1.3 with a pre-shared key (QEMU's keys.psk,\n"
		"                             identity:hexkey per line)\n"
		"      --tls-psk-identity NAME\n"
		"                             the identity whose key is used (default qemu, as\n"
		"                             QEMU's tls-creds-psk username)\n"
		"  -T, --timeout S            give up on a channel's peer silent for S seconds,\n"
		"                             and on each handshake taking longer (default 60)\n"
		"  -j, --json FILE            write every phase, round and timing as JSON\n"
		"  -q, --quiet                no progress\n"
		"  -v, --verbose              more messages (repeat for traces)\n",
		prog, prog);
}

enum {
	OPT_OVERRUN = 256,
	OPT_NO_PRECOPY,
	OPT_NO_P2P,
	OPT_NO_ACK,
	OPT_SINGLE
};

struct migrate_args {
	const char *from[VFM_MAX_DEVICES], *to[VFM_MAX_DEVICES];
	size_t nf, nt;
	const char *names[VFM_MAX_DEVICES];
	size_t nn;
	const char *json;
	bool quiet;
	struct vfm_mig_opts opts;
	struct tool_tls tls;
};

static int parse_ms(const char *text, uint32_t *out)
{
	uint64_t v;

	if (vfm_parse_size(text, &v) || v == 0 || v > 3600000)
		return -EINVAL;
	*out = (uint32_t)v;
	return 0;
}

/* 0 to go on, -1 after --help, or the exit code of a usage error. */
static int parse_args(int argc, char **argv, struct migrate_args *a)
{
	static const struct option longopts[] = {
		{"from", required_argument, NULL, 'f'},
		{"to", required_argument, NULL, 't'},
		{"downtime-limit", required_argument, NULL, 'l'},
		{"max-precopy-time", required_argument, NULL, 'm'},
		{"allow-overrun", no_argument, NULL, OPT_OVERRUN},
		{"no-precopy", no_argument, NULL, OPT_NO_PRECOPY},
		{"allow-no-p2p", no_argument, NULL, OPT_NO_P2P},
		{"no-switchover-ack", no_argument, NULL, OPT_NO_ACK},
		{"single-channel", no_argument, NULL, OPT_SINGLE},
		{"section", required_argument, NULL, 'S'},
		{"buffer-size", required_argument, NULL, 'b'},
		{"timeout", required_argument, NULL, 'T'},
		{"json", required_argument, NULL, 'j'},
		{"quiet", no_argument, NULL, 'q'},
		{"verbose", no_argument, NULL, 'v'},
		{"help", no_argument, NULL, 'h'},
		{"tls-creds", required_argument, NULL, OPT_TLS_CREDS},
		{"tls-psk", required_argument, NULL, OPT_TLS_PSK},
		{"tls-hostname", required_argument, NULL, OPT_TLS_HOSTNAME},
		{"tls-psk-identity", required_argument, NULL, OPT_TLS_PSK_IDENTITY},
		{0},
	};
	int c, rc;

	a->opts.precopy = true;
	while ((c = getopt_long(argc, argv, "f:t:l:m:b:T:j:S:qvh", longopts, NULL)) != -1) {
		switch (c) {
		case 'f':
			if (a->nf == VFM_MAX_DEVICES)
				return usage_error("migrate: at most %d devices", VFM_MAX_DEVICES);
			a->from[a->nf++] = optarg;
			break;
		case 't':
			if (a->nt == VFM_MAX_DEVICES)
				return usage_error("migrate: at most %d devices", VFM_MAX_DEVICES);
			a->to[a->nt++] = optarg;
			break;
		case 'l':
			if (parse_ms(optarg, &a->opts.downtime_limit_ms))
				return usage_error("migrate: bad downtime limit '%s'", optarg);
			break;
		case 'm':
			if (parse_ms(optarg, &a->opts.max_precopy_ms))
				return usage_error("migrate: bad pre-copy time '%s'", optarg);
			break;
		case OPT_OVERRUN:
			a->opts.allow_overrun = true;
			break;
		case OPT_NO_PRECOPY:
			a->opts.precopy = false;
			break;
		case OPT_NO_P2P:
			a->opts.allow_no_p2p = true;
			break;
		case OPT_NO_ACK:
			a->opts.no_switchover_ack = true;
			break;
		case OPT_SINGLE:
			a->opts.single_channel = true;
			break;
		case 'b':
			if (parse_buffer_size("migrate", optarg, &a->opts.buf_size))
				return EXIT_USAGE;
			break;
		case 'T':
			if (parse_timeout("migrate", optarg, &a->opts.timeout_ms))
				return EXIT_USAGE;
			break;
		case 'j':
			a->json = optarg;
			break;
		case 'S':
			if (a->nn == VFM_MAX_DEVICES || !optarg[0] || strlen(optarg) > 255)
				return usage_error(
					"migrate: --section takes 1..255 bytes, once per device");
			a->names[a->nn++] = optarg;
			break;
		default:
			rc = tls_option(c, optarg, &a->tls, "migrate");
			if (rc < 0)
				return EXIT_USAGE;
			if (rc > 0)
				break;
			rc = common_option(c, &a->quiet, migrate_usage);
			if (rc >= 0)
				return rc == EXIT_OK ? -1 : rc;
		}
	}
	if (optind != argc)
		return usage_error("migrate: unexpected argument '%s'", argv[optind]);
	if (!a->nf)
		return usage_error("migrate: expected --from DEVICE");
	if (a->nn > a->nf)
		return usage_error("migrate: more --section names than devices");
	if (a->nt == 1 && vfm_chan_is_uri(a->to[0])) {
		if (tls_finish(&a->tls, "migrate", a->to[0], &a->opts.tls))
			return EXIT_USAGE;
		if (a->nn && a->opts.tls)
			return usage_error("migrate: --section renames the stream on its socket, "
					   "not inside TLS");
		return 0;
	}
	if (a->nn)
		return usage_error(
			"migrate: --section names a stream's sections: only with --to CHANNEL");
	if (tls_finish(&a->tls, "migrate", "", &a->opts.tls))
		return EXIT_USAGE;
	if (a->nf != a->nt)
		return usage_error(
			"migrate: expected as many --to as --from devices, or one channel");
	for (size_t i = 0; i < a->nt; i++) {
		if (vfm_chan_is_uri(a->to[i]))
			return usage_error("migrate: a channel must be the only --to");
	}
	return 0;
}

/* --section: one channel, the stream's device sections renamed on their way into it. */
static int send_named(struct migrate_args *a, struct vfm_handle **src, struct vfm_mig_stats *st,
		      char *err, size_t errlen)
{
	bool file = !strncmp(a->to[0], "file:", 5);
	struct vfm_chan out, eng;
	struct renamer ren;
	int rc = vfm_chan_open_out(a->to[0], &out, err, errlen);

	if (rc)
		return rc;
	rc = renamer_start(&ren, out.fd, false, !file, a->names, a->nn);
	if (rc) {
		vfm_chan_close(&out);
		return vfm_errf(err, errlen, rc, "cannot start renaming the sections");
	}
	vfm_chan_init(&eng, ren.sv[1], a->to[0]);
	rc = file ? vfm_save(src, a->nf, &eng, &a->opts, st, err, errlen)
		  : vfm_send(src, a->nf, &eng, &a->opts, st, err, errlen);
	if (renamer_end(&ren) && !rc)
		rc = vfm_errf(err, errlen, ren.rc, "%s", ren.err);
	vfm_chan_close(&out);
	return rc;
}

static int run_migration(struct migrate_args *a, struct vfm_handle **src, struct vfm_handle **dst,
			 struct vfm_mig_stats *st, char *err, size_t errlen)
{
	if (!dst[0] && a->nn)
		return send_named(a, src, st, err, errlen);
	if (!dst[0])
		return vfm_send_uri(src, a->nf, a->to[0], &a->opts, st, err, errlen);
	return vfm_migrate(src, dst, a->nf, &a->opts, st, err, errlen);
}

int migrate_main(int argc, char **argv)
{
	struct vfm_handle *src[VFM_MAX_DEVICES] = {0}, *dst[VFM_MAX_DEVICES] = {0};
	struct migrate_args a = {0};
	struct progress_state ps;
	struct vfm_mig_stats st;
	char err[VFM_ERR_LEN];
	int rc, ret = EXIT_FAIL;

	rc = parse_args(argc, argv, &a);
	if (rc)
		return rc < 0 ? EXIT_OK : rc; /* -1: the help was asked for and shown */
	install_signals();
	for (size_t i = 0; i < a.nf; i++) {
		if (open_device(a.from[i], &src[i]))
			goto out;
		if (!vfm_chan_is_uri(a.to[0]) && open_device(a.to[i], &dst[i]))
			goto out;
	}
	if (a.json && !(a.opts.timeline = calloc(1, sizeof(*a.opts.timeline)))) {
		fail("migrate: out of memory");
		goto out;
	}
	progress_opts(&a.opts, &ps, a.quiet);
	rc = run_migration(&a, src, dst, &st, err, sizeof(err));
	progress_end(&ps);
	if (a.json && write_json(a.json, "migrate", &st, a.opts.timeline, rc))
		fprintf(stderr, "warning: cannot write %s\n", a.json);
	if (rc) {
		fail("migrate: %s", err[0] ? err : strerror(-rc));
		report_devices("source", src, a.nf);
		if (dst[0])
			report_devices("destination", dst, a.nf);
		goto out;
	}
	if (!a.quiet)
		print_stats("migrated", &st);
	for (size_t i = 0; i < a.nf; i++) {
		print_checksum(src[i], "source ");
		if (dst[i])
			print_checksum(dst[i], "destination ");
	}
	ret = EXIT_OK;
out:
	for (size_t i = 0; i < a.nf; i++) {
		vfm_handle_close(src[i]);
		vfm_handle_close(dst[i]);
	}
	free(a.opts.timeline);
	return ret;
}
