// SPDX-License-Identifier: BSD-3-Clause
/* vfio-mig receive: the destination of 'migrate --to CHANNEL'. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "section-name.h"
#include "util.h"
#include "vfio-mig.h"

static void receive_usage(FILE *f)
{
	fprintf(f,
		"usage: %s receive --listen CHANNEL --device DEVICE [--device ...] [options]\n\n"
		"Waits for one 'vfio-mig migrate --to CHANNEL' (tcp:ADDR:PORT or sock:PATH) and\n"
		"loads the incoming state into the devices, in the order the source lists its\n"
		"devices. It confirms the initial pre-copy data, and starts the devices only when\n"
		"the source commits; on any failure, or a lost connection, the devices are reset.\n"
		"A connection refused before the devices are touched (it fails the TLS checks,\n"
		"speaks TLS to a plain destination or in clear to a TLS one, says nothing, or\n"
		"closes) is reported in one warning line and closed, and the wait goes on.\n"
		"file:PATH loads a saved stream instead.\n\n"
		"  -L, --listen CHANNEL   where to wait\n"
		"  -d, --device DEVICE    a destination device (repeatable)\n"
		"  -T, --timeout S        give up when no source connects (and passes the checks)\n"
		"                         in S seconds (default: wait), or when a connected\n"
		"                         source is silent that long (default 60)\n"
		"      --tls-creds DIR    TLS 1.3 with x509: DIR/ca-cert.pem, server-cert.pem,\n"
		"                         server-key.pem (QEMU's layout); a client certificate\n"
		"                         from the CA is required\n"
		"      --tls-authz DN     only this client name may send, e.g. 'CN=src,O=Example'\n"
		"                         (repeatable)\n"
		"      --tls-psk FILE     TLS 1.3 with pre-shared keys (QEMU's keys.psk:\n"
		"                         identity:hexkey per line)\n"
		"  -S, --section IDSTR    the next device's section must be named IDSTR (as the\n"
		"                         source's --section named it); one connection then\n"
		"  -j, --json FILE        write the timings as JSON\n"
		"  -q, --quiet            no progress\n"
		"  -v, --verbose          more messages (repeat for traces)\n",
		prog);
}

/* --section: one connection (or the file), its device sections' names checked on the way. */
static int receive_named(struct vfm_handle **devs, size_t n, int lfd, struct vfm_chan *ch,
			 int timeout_ms, const char *const *names, size_t nn,
			 const struct vfm_mig_opts *opts, struct vfm_mig_stats *st, char *err,
			 size_t errlen)
{
	struct vfm_chan eng;
	struct renamer ren;
	int rc = lfd >= 0 ? vfm_chan_accept_until(lfd, ch, timeout_ms, opts->cancel, err, errlen)
			  : 0;

	if (rc)
		return rc;
	rc = renamer_start(&ren, ch->fd, true, lfd >= 0, names, nn);
	if (rc)
		return vfm_errf(err, errlen, rc, "cannot start checking the sections");
	vfm_chan_init(&eng, ren.sv[1], ch->name);
	rc = lfd >= 0 ? vfm_receive(devs, n, &eng, opts, st, err, errlen)
		      : vfm_load(devs, n, &eng, opts, st, err, errlen);
	if (renamer_end(&ren) && (!rc || ren.rc == -EBADMSG))
		rc = vfm_errf(err, errlen, ren.rc, "%s", ren.err);
	return rc;
}

int receive_main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"listen", required_argument, NULL, 'L'},
		{"device", required_argument, NULL, 'd'},
		{"timeout", required_argument, NULL, 'T'},
		{"json", required_argument, NULL, 'j'},
		{"section", required_argument, NULL, 'S'},
		{"quiet", no_argument, NULL, 'q'},
		{"verbose", no_argument, NULL, 'v'},
		{"help", no_argument, NULL, 'h'},
		{"tls-creds", required_argument, NULL, OPT_TLS_CREDS},
		{"tls-psk", required_argument, NULL, OPT_TLS_PSK},
		{"tls-authz", required_argument, NULL, OPT_TLS_AUTHZ},
		{0},
	};
	const char *specs[VFM_MAX_DEVICES], *names[VFM_MAX_DEVICES], *listen_uri = NULL,
								     *json = NULL;
	size_t nn = 0;
	struct vfm_handle *devs[VFM_MAX_DEVICES] = {0};
	struct vfm_mig_opts opts = {0};
	struct tool_tls tls = {0};
	struct progress_state ps;
	struct vfm_mig_stats st;
	struct vfm_chan ch = {.fd = -1};
	char err[VFM_ERR_LEN];
	size_t n = 0;
	bool quiet = false;
	int c, lfd = -1, rc, timeout_ms = -1, ret = EXIT_FAIL;
	uint64_t v;

	while ((c = getopt_long(argc, argv, "L:d:T:j:S:qvh", longopts, NULL)) != -1) {
		switch (c) {
		case 'L':
			listen_uri = optarg;
			break;
		case 'd':
			if (n == VFM_MAX_DEVICES)
				return usage_error("receive: at most %d devices", VFM_MAX_DEVICES);
			specs[n++] = optarg;
			break;
		case 'T':
			if (vfm_parse_size(optarg, &v) || v == 0 || v > 86400)
				return usage_error("receive: bad timeout '%s'", optarg);
			timeout_ms = (int)v * 1000;
			opts.timeout_ms = (uint32_t)timeout_ms;
			break;
		case 'j':
			json = optarg;
			break;
		case 'S':
			if (nn == VFM_MAX_DEVICES || !optarg[0] || strlen(optarg) > 255)
				return usage_error(
					"receive: --section takes 1..255 bytes, once per device");
			names[nn++] = optarg;
			break;
		default:
			rc = tls_option(c, optarg, &tls, "receive");
			if (rc < 0)
				return EXIT_USAGE;
			if (rc > 0)
				break;
			rc = common_option(c, &quiet, receive_usage);
			if (rc >= 0)
				return rc;
		}
	}
	if (!listen_uri || !n || optind != argc)
		return usage_error("receive: expected --listen CHANNEL and --device DEVICE");
	if (nn > n)
		return usage_error("receive: more --section names than devices");
	if (!vfm_chan_is_uri(listen_uri))
		return usage_error("receive: '%s' is not a channel (tcp:, sock:, file:)",
				   listen_uri);
	if (tls_finish(&tls, "receive", listen_uri, &opts.tls))
		return EXIT_USAGE;
	if (nn && opts.tls)
		return usage_error(
			"receive: --section checks the stream on its socket, not inside TLS");
	if (!opts.tls && !strncmp(listen_uri, "tcp:", 4) && !vfm_chan_uri_is_loopback(listen_uri))
		fprintf(stderr,
			"warning: receive: %s without TLS: whoever reaches this port first can "
			"write a state into the destination devices, and the devices' state crosses "
			"the network in clear (--tls-creds DIR or --tls-psk FILE)\n",
			listen_uri);
	install_signals();
	for (size_t i = 0; i < n; i++) {
		if (open_device(specs[i], &devs[i]))
			goto out;
	}
	if (vfm_chan_listen(listen_uri, &lfd, &ch, err, sizeof(err))) {
		fail("receive: %s", err);
		goto out;
	}
	if (lfd >= 0 && !quiet)
		fprintf(stderr, "receive: waiting on %s\n", listen_uri);
	if (json && !(opts.timeline = calloc(1, sizeof(*opts.timeline)))) {
		fail("receive: out of memory");
		goto out;
	}
	progress_opts(&opts, &ps, quiet);
	if (nn)
		rc = receive_named(devs, n, lfd, &ch, timeout_ms, names, nn, &opts, &st, err,
				   sizeof(err));
	else if (lfd >= 0)
		rc = vfm_receive_listen(devs, n, lfd, timeout_ms, &opts, &st, err, sizeof(err));
	else
		rc = vfm_load(devs, n, &ch, &opts, &st, err, sizeof(err));
	progress_end(&ps);
	if (json && write_json(json, "receive", &st, opts.timeline, rc))
		fprintf(stderr, "warning: cannot write %s\n", json);
	if (rc) {
		fail("receive: %s", err[0] ? err : strerror(-rc));
		report_devices("destination", devs, n);
		goto out;
	}
	if (!quiet)
		print_stats("received", &st);
	for (size_t i = 0; i < n; i++)
		print_checksum(devs[i], n > 1 ? specs[i] : NULL);
	ret = EXIT_OK;
out:
	if (lfd >= 0) {
		close(lfd);
		if (!strncmp(listen_uri, "sock:", 5))
			unlink(listen_uri + 5);
	}
	vfm_chan_close(&ch);
	for (size_t i = 0; i < n; i++)
		vfm_handle_close(devs[i]);
	free(opts.timeline);
	return ret;
}
