// SPDX-License-Identifier: BSD-3-Clause
/* vfio-mig serve: the sample device as a vfio-user server on a UNIX socket. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"
#include "vfio-mig.h"
#include "vfio-mig/testdev.h"
#include "vfio-mig/vfio-user.h"

static void serve_usage(FILE *f)
{
	fprintf(f,
		"usage: %s serve --socket PATH --device testdev,size=256M,seed=1,... [options]\n\n"
		"Serves a sample device over vfio-user until SIGINT or SIGTERM, one client at a\n"
		"time. The socket is mode 0600 and appears only once it accepts connections; it\n"
		"is removed on exit. A client that disconnects, in any migration state, leaves\n"
		"the device RUNNING with its state intact (a cut restore is reset), except a\n"
		"migrated source: it stays STOP for every later client until 'vfio-mig resume',\n"
		"a load or a reset.\n\n"
		"  -s, --socket PATH        the socket (also --socket-path=PATH)\n"
		"      --fd N               serve an already-listening socket instead\n"
		"  -d, --device SPEC        the sample device (see 'info'; \"local:\" optional)\n"
		"      --max-xfer N         largest data transfer offered (default 4M)\n"
		"      --plain              offer none of vfio-mig's protocol extensions\n"
		"  -v, --verbose            more messages (repeat for traces)\n",
		prog);
}

enum {
	OPT_FD = 256,
	OPT_MAX_XFER,
	OPT_PLAIN
};

static int make_device(const char *spec, struct vfm_testdev **td)
{
	struct vfm_testdev_config cfg;
	struct vfm_logger log = tool_logger();
	char err[VFM_ERR_LEN];

	if (!strncmp(spec, "local:", 6))
		spec += 6;
	if (strncmp(spec, "testdev", 7) || (spec[7] && spec[7] != ','))
		return usage_error("serve: the device must be testdev,... (got '%s')", spec);
	vfm_testdev_config_default(&cfg);
	if (vfm_testdev_parse(spec, &cfg, err, sizeof(err)) ||
	    vfm_testdev_create(&cfg, spec, &log, td, err, sizeof(err)))
		return fail("serve: %s", err);
	return EXIT_OK;
}

int serve_main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"socket", required_argument, NULL, 's'},
		{"socket-path", required_argument, NULL, 's'},
		{"fd", required_argument, NULL, OPT_FD},
		{"device", required_argument, NULL, 'd'},
		{"max-xfer", required_argument, NULL, OPT_MAX_XFER},
		{"plain", no_argument, NULL, OPT_PLAIN},
		{"verbose", no_argument, NULL, 'v'},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	struct vfm_vu_server_opts opts = {0};
	const char *path = NULL, *spec = NULL;
	struct vfm_vu_server *srv = NULL;
	struct vfm_testdev *td = NULL;
	char err[VFM_ERR_LEN];
	int c, fd = -1, rc, ret;
	uint64_t v;

	while ((c = getopt_long(argc, argv, "s:d:vh", longopts, NULL)) != -1) {
		switch (c) {
		case 's':
			path = optarg;
			break;
		case OPT_FD:
			if (vfm_parse_size(optarg, &v) || v > 65535)
				return usage_error("serve: bad --fd '%s'", optarg);
			fd = (int)v;
			break;
		case 'd':
			spec = optarg;
			break;
		case OPT_MAX_XFER:
			if (vfm_parse_size(optarg, &v) || v < 4096 || v > UINT32_MAX)
				return usage_error("serve: bad --max-xfer '%s'", optarg);
			opts.max_data_xfer_size = (uint32_t)v;
			break;
		case OPT_PLAIN:
			opts.no_extensions = true;
			break;
		case 'v':
			verbosity++;
			break;
		case 'h':
			serve_usage(stdout);
			return EXIT_OK;
		default:
			serve_usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (!spec || (!path) == (fd < 0) || optind != argc)
		return usage_error(
			"serve: expected --device SPEC and one of --socket PATH, --fd N");
	ret = make_device(spec, &td);
	if (ret)
		return ret;
	opts.log = tool_logger();
	opts.testdev = td;
	opts.dma = vfm_testdev_dma(td);
	ret = EXIT_FAIL;
	if (vfm_vu_server_create(vfm_testdev_device(td), &opts, &srv, err, sizeof(err))) {
		fail("serve: %s", err);
		goto out;
	}
	install_signals();
	rc = path ? vfm_vu_server_listen(srv, path) : vfm_vu_server_listen_fd(srv, fd);
	if (rc) {
		fail("serve: %s", vfm_vu_server_error(srv));
		goto out;
	}
	if (verbosity > 1)
		fprintf(stderr, "serve: %s ready on %s\n", spec, path ? path : "fd");
	rc = vfm_vu_server_run(srv, &interrupted);
	if (rc)
		fail("serve: %s", vfm_vu_server_error(srv));
	else
		ret = EXIT_OK;
out:
	vfm_vu_server_destroy(srv);
	vfm_testdev_destroy(td);
	return ret;
}
