// SPDX-License-Identifier: BSD-3-Clause
/* --json FILE: a run's statistics and timeline, through json-c. */
#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>

#include "vfio-mig.h"

static json_object *span(double a, double b)
{
	json_object *arr = json_object_new_array();

	json_object_array_add(arr, json_object_new_double(a));
	json_object_array_add(arr, json_object_new_double(b));
	return arr;
}

static json_object *device_json(const struct vfm_tl_device *d, double t_end)
{
	json_object *o = json_object_new_object(), *ph = json_object_new_object();
	double stop = d->t_stop ? d->t_stop : t_end;

	json_object_object_add(o, "name", json_object_new_string(d->name));
	json_object_object_add(o, "precopy", json_object_new_boolean(d->precopy));
	json_object_object_add(o, "precopy_bytes",
			       json_object_new_int64((int64_t)d->precopy_bytes));
	json_object_object_add(o, "stop_copy_bytes",
			       json_object_new_int64((int64_t)d->stop_copy_bytes));
	json_object_object_add(o, "precopy_v2", json_object_new_boolean(d->precopy_v2));
	json_object_object_add(o, "reinits", json_object_new_int((int32_t)d->reinits));
	if (d->t_precopy)
		json_object_object_add(ph, "pre-copy", span(d->t_precopy, stop));
	if (d->t_init_done)
		json_object_object_add(ph, "initial-data-sent",
				       json_object_new_double(d->t_init_done));
	if (d->t_acked)
		json_object_object_add(ph, "initial-data-acked",
				       json_object_new_double(d->t_acked));
	if (d->reinits) {
		json_object *re = json_object_new_array();

		for (uint32_t i = 0; i < d->reinits && i < VFM_TL_MAX_REINITS; i++)
			json_object_array_add(re, json_object_new_double(d->t_reinit[i]));
		json_object_object_add(ph, "reinit", re);
	}
	if (d->t_stop_copy)
		json_object_object_add(ph, "stop-copy", span(d->t_stop_copy, d->t_stop_copy_end));
	if (d->t_stop)
		json_object_object_add(ph, "stopped",
				       span(d->t_stop, d->t_running ? d->t_running : t_end));
	if (d->t_running)
		json_object_object_add(ph, "running", json_object_new_double(d->t_running));
	json_object_object_add(o, "phases", ph);
	return o;
}

static json_object *timeline_json(json_object *o, const struct vfm_timeline *tl)
{
	json_object *devs = json_object_new_array(), *rounds = json_object_new_array(),
		    *samples = json_object_new_array();

	for (size_t i = 0; i < tl->nr_devices; i++)
		json_object_array_add(devs, device_json(&tl->dev[i], tl->t_total));
	for (size_t i = 0; i < tl->nr_rounds; i++) {
		const struct vfm_tl_round *r = &tl->rounds[i];
		json_object *jr = json_object_new_object();

		json_object_object_add(jr, "t", json_object_new_double(r->t));
		json_object_object_add(jr, "bytes", json_object_new_int64((int64_t)r->bytes));
		json_object_object_add(jr, "pending", json_object_new_int64((int64_t)r->pending));
		json_object_object_add(jr, "bandwidth", json_object_new_double(r->bandwidth));
		json_object_object_add(
			jr, "est_downtime_ms",
			json_object_new_double(r->est_downtime_ms < 1e9 ? r->est_downtime_ms : -1));
		json_object_array_add(rounds, jr);
	}
	for (size_t i = 0; i < tl->nr_samples; i++) {
		json_object *s = json_object_new_array();

		json_object_array_add(s, json_object_new_double(tl->samples[i].t));
		json_object_array_add(s, json_object_new_int64((int64_t)tl->samples[i].bytes));
		json_object_array_add(samples, s);
	}
	json_object_object_add(o, "devices", devs);
	json_object_object_add(o, "rounds", rounds);
	json_object_object_add(o, "samples", samples);
	if (tl->t_downtime_end > 0)
		json_object_object_add(o, "downtime_window",
				       span(tl->t_downtime_begin, tl->t_downtime_end));
	json_object_object_add(o, "downtime_limit_ms",
			       json_object_new_double(tl->downtime_limit_ms));
	return o;
}

int write_json(const char *path, const char *command, const struct vfm_mig_stats *st,
	       const struct vfm_timeline *tl, int rc)
{
	json_object *o = json_object_new_object();
	int ret;

	json_object_object_add(o, "command", json_object_new_string(command));
	json_object_object_add(o, "ok", json_object_new_boolean(rc == 0));
	json_object_object_add(o, "result",
			       json_object_new_string(tl && tl->result[0] ? tl->result
						      : rc		  ? "failed"
									  : "ok"));
	json_object_object_add(o, "total_s", json_object_new_double(st->total_s));
	json_object_object_add(o, "downtime_ms", json_object_new_double(st->downtime_s * 1e3));
	json_object_object_add(o, "bytes", json_object_new_int64((int64_t)st->bytes));
	json_object_object_add(o, "buffer_size", json_object_new_int64((int64_t)st->buf_size));
	json_object_object_add(o, "precopy_s", json_object_new_double(st->precopy_s));
	json_object_object_add(o, "precopy_bytes",
			       json_object_new_int64((int64_t)st->precopy_bytes));
	json_object_object_add(o, "precopy_rounds", json_object_new_int((int32_t)st->rounds));
	json_object_object_add(o, "est_downtime_ms", json_object_new_double(st->est_downtime_ms));
	json_object_object_add(o, "precopy_reinits", json_object_new_int((int32_t)st->reinits));
	json_object_object_add(o, "stop_copy_s", json_object_new_double(st->stop_copy_s));
	if (tl)
		timeline_json(o, tl);
	ret = json_object_to_file_ext(path, o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED);
	json_object_put(o);
	return ret ? -EIO : 0;
}
