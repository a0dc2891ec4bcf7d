// SPDX-License-Identifier: BSD-3-Clause
/*
 * vfio-mig inspect: every record of a stream, ours or a whole QEMU one, with its offset;
 * VFIO sections decoded in full, other sections stepped over and listed; --json for
 * machines. For a stream that lacks what a whole QEMU stream has, says what.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <json-c/json.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "vfio-mig.h"
#include "vfio-mig/qemu-stream.h"
#include "vfio-mig/uapi.h"

#define MIG_CMD_SWITCHOVER_START 11

static void inspect_usage(FILE *f)
{
	fprintf(f,
		"usage: %s inspect [--summary] [--json] FILE\n\n"
		"Lists every record of a migration stream ('-' for stdin) with its offset and\n"
		"checks the whole stream: vfio-mig's own streams and QEMU's (8.0 to 11.1: the\n"
		"configuration, commands, RAM and other devices' sections stepped over, VFIO\n"
		"sections decoded in full with the vfio-pci config state, the vmdesc trailer).\n"
		"A malformed stream is rejected with the byte offset and what was expected there.\n\n"
		"  -s, --summary   only the per-section totals\n"
		"  -j, --json      the records and totals as JSON on stdout\n",
		prog);
}

struct insp {
	bool summary, json;
	struct vfm_qs_reader *rd;
	json_object *records, *cur; /* --json: the list, the current section */
	bool switchover_start, vmdesc;
	uint64_t vmdesc_devices;
};

/* ---- the vfio-pci config state, readably ---------------------------------------------- */

static uint16_t le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static const char *cap_name(uint8_t id)
{
	switch (id) {
	case 0x01:
		return "power management";
	case 0x05:
		return "MSI";
	case 0x09:
		return "vendor";
	case 0x10:
		return "PCI Express";
	case 0x11:
		return "MSI-X";
	case 0x12:
		return "SATA";
	case 0x13:
		return "advanced features";
	default:
		return "?";
	}
}

static void text_msi(const uint8_t *c, unsigned int at)
{
	uint16_t ctl = le16(c + at + 2);
	bool is64 = ctl & 0x80;

	printf("%14s MSI at 0x%02x: %s, %u of %u vectors, %s address 0x%08x%08x, data 0x%04x\n", "",
	       at, ctl & 1 ? "enabled" : "disabled", 1u << ((ctl >> 4) & 7), 1u << ((ctl >> 1) & 7),
	       is64 ? "64-bit" : "32-bit", is64 ? le32(c + at + 8) : 0, le32(c + at + 4),
	       le16(c + at + (is64 ? 12 : 8)));
}

static void text_caps(const uint8_t *c)
{
	unsigned int steps = 0;

	if (!(c[0x06] & 0x10)) {
		printf("%14s capabilities: none\n", "");
		return;
	}
	for (unsigned int p = c[0x34] & 0xfc; p >= 0x40 && p < 0xfc && steps < 48; steps++) {
		uint16_t ctl = le16(c + p + 2);

		if (c[p] == 0x05)
			text_msi(c, p);
		else if (c[p] == 0x11)
			printf("%14s MSI-X at 0x%02x: %s%s, %u entries, table BAR %u + 0x%x, PBA BAR "
			       "%u + 0x%x\n",
			       "", p, ctl & 0x8000 ? "enabled" : "disabled",
			       ctl & 0x4000 ? " (function masked)" : "", (ctl & 0x7ff) + 1u,
			       le32(c + p + 4) & 7, le32(c + p + 4) & ~7u, le32(c + p + 8) & 7,
			       le32(c + p + 8) & ~7u);
		else
			printf("%14s capability 0x%02x (%s) at 0x%02x\n", "", c[p], cap_name(c[p]),
			       p);
		p = c[p + 1] & 0xfc;
	}
}

static void text_ext_caps(const uint8_t *c, uint32_t size)
{
	unsigned int steps = 0;

	for (unsigned int p = 0x100; size > 0x100 && p >= 0x100 && p + 4 <= size && steps < 96;
	     steps++) {
		uint32_t h = le32(c + p);

		if (h == 0 || h == 0xffffffff)
			break;
		printf("%14s extended capability 0x%04x version %u at 0x%03x\n", "", h & 0xffff,
		       (h >> 16) & 0xf, p);
		p = (h >> 20) & 0xffc;
		if (!p)
			break;
	}
}

static void text_pci(const struct vfm_qs_pci_config *pc, uint64_t off, uint64_t size)
{
	const uint8_t *c = pc->config;

	printf("%10llu    vfio-pci config state, %llu bytes: PCIDevice version %u, %u bytes of "
	       "config space%s\n",
	       (unsigned long long)off, (unsigned long long)size, pc->pcidev_version,
	       pc->config_size, pc->display ? ", ramfb display" : "");
	printf("%14s vendor 0x%04x device 0x%04x subsystem 0x%04x:0x%04x revision 0x%02x class "
	       "0x%02x%02x%02x header type 0x%02x\n",
	       "", le16(c), le16(c + 2), le16(c + 0x2c), le16(c + 0x2e), c[8], c[11], c[10], c[9],
	       c[0x0e]);
	printf("%14s command 0x%04x status 0x%04x interrupt line %u pin %u\n", "", le16(c + 4),
	       le16(c + 6), c[0x3c], c[0x3d]);
	for (int i = 0; i < 6; i++) {
		uint32_t bar = le32(c + 0x10 + 4 * i);

		if (bar)
			printf("%14s BAR%d 0x%08x (%s)\n", "", i, bar, bar & 1 ? "I/O" : "memory");
	}
	text_caps(c);
	text_ext_caps(c, pc->config_size);
	printf("%14s INTx levels %u %u %u %u\n", "", pc->irq_state[0], pc->irq_state[1],
	       pc->irq_state[2], pc->irq_state[3]);
	if (!pc->msix_entries)
		printf("%14s MSI-X state: none\n", "");
	for (uint32_t i = 0; i < pc->msix_entries; i++) {
		const uint8_t *e = pc->msix_table + 16 * i;

		printf("%14s MSI-X %u: address 0x%08x%08x data 0x%08x %s%s\n", "", i, le32(e + 4),
		       le32(e), le32(e + 8), le32(e + 12) & 1 ? "masked" : "unmasked",
		       pc->msix_pba[i / 8] & (1u << (i % 8)) ? ", pending" : "");
	}
	if (pc->display)
		printf("%14s ramfb: address 0x%llx fourcc 0x%08x flags 0x%x %ux%u stride %u\n", "",
		       (unsigned long long)pc->ramfb_addr, pc->ramfb_fourcc, pc->ramfb_flags,
		       pc->ramfb_width, pc->ramfb_height, pc->ramfb_stride);
}

static json_object *jhex(const uint8_t *p, size_t n)
{
	char *s = malloc(2 * n + 1);
	json_object *o;

	if (!s)
		return NULL;
	for (size_t i = 0; i < n; i++)
		sprintf(s + 2 * i, "%02x", p[i]);
	s[2 * n] = '\0';
	o = json_object_new_string(s);
	free(s);
	return o;
}

static json_object *json_pci(const struct vfm_qs_pci_config *pc)
{
	json_object *o = json_object_new_object(), *irq = json_object_new_array();
	const uint8_t *c = pc->config;

	json_object_object_add(o, "pcidev_version",
			       json_object_new_int((int32_t)pc->pcidev_version));
	json_object_object_add(o, "config_size", json_object_new_int((int32_t)pc->config_size));
	json_object_object_add(o, "vendor_id", json_object_new_int(le16(c)));
	json_object_object_add(o, "device_id", json_object_new_int(le16(c + 2)));
	json_object_object_add(o, "command", json_object_new_int(le16(c + 4)));
	json_object_object_add(o, "status", json_object_new_int(le16(c + 6)));
	json_object_object_add(o, "class", json_object_new_int(c[11] << 16 | c[10] << 8 | c[9]));
	json_object_object_add(o, "config", jhex(c, pc->config_size));
	for (int i = 0; i < 4; i++)
		json_object_array_add(irq, json_object_new_int((int32_t)pc->irq_state[i]));
	json_object_object_add(o, "irq_state", irq);
	json_object_object_add(o, "msix_entries", json_object_new_int((int32_t)pc->msix_entries));
	if (pc->msix_entries) {
		json_object_object_add(o, "msix_table",
				       jhex(pc->msix_table, 16 * pc->msix_entries));
		json_object_object_add(o, "msix_pba",
				       jhex(pc->msix_pba, (pc->msix_entries + 7) / 8));
	}
	json_object_object_add(o, "ramfb_display", json_object_new_boolean(pc->display));
	return o;
}

/* ---- records ---------------------------------------------------------------------------- */

static const char *how_name(enum vfm_qs_how how)
{
	switch (how) {
	case VFM_QS_HOW_RAM:
		return "RAM page records";
	case VFM_QS_HOW_DIRTY_BITMAP:
		return "dirty-bitmap chunks";
	case VFM_QS_HOW_VMDESC:
		return "vmdesc size";
	default:
		return "footer scan";
	}
}

static json_object *jrec(json_object *arr, const char *type, uint64_t off)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "type", json_object_new_string(type));
	json_object_object_add(o, "offset", json_object_new_int64((int64_t)off));
	json_object_array_add(arr, o);
	return o;
}

static void jadd_u64(json_object *o, const char *k, uint64_t v)
{
	json_object_object_add(o, k, json_object_new_int64((int64_t)v));
}

static void on_config(struct insp *in, const struct vfm_qs_ev *ev)
{
	const struct vfm_qs_config *c = vfm_qs_config(in->rd);
	json_object *o, *caps;

	if (!in->json) {
		if (in->summary)
			return;
		printf("%10llu  CONFIGURATION machine \"%s\"", (unsigned long long)ev->offset,
		       c->machine);
		for (uint32_t i = 0; i < c->nr_caps; i++)
			printf("%s%s", i ? ", " : ", capabilities ", c->caps[i]);
		if (c->has_page_bits)
			printf(", target page bits %u", c->page_bits);
		if (c->has_uuid)
			printf(", uuid %02x%02x%02x%02x-...", c->uuid[0], c->uuid[1], c->uuid[2],
			       c->uuid[3]);
		printf("\n");
		return;
	}
	o = jrec(in->records, "configuration", ev->offset);
	json_object_object_add(o, "machine", json_object_new_string(c->machine));
	caps = json_object_new_array();
	for (uint32_t i = 0; i < c->nr_caps; i++)
		json_object_array_add(caps, json_object_new_string(c->caps[i]));
	json_object_object_add(o, "capabilities", caps);
	if (c->has_page_bits)
		jadd_u64(o, "target_page_bits", c->page_bits);
	if (c->has_uuid)
		json_object_object_add(o, "uuid", jhex(c->uuid, 16));
}

static void on_command(struct insp *in, const struct vfm_qs_ev *ev)
{
	json_object *o;

	if (ev->cmd == MIG_CMD_SWITCHOVER_START)
		in->switchover_start = true;
	if (in->json) {
		o = jrec(in->records, "command", ev->offset);
		json_object_object_add(o, "name",
				       json_object_new_string(vfm_qs_command_name(ev->cmd)));
		jadd_u64(o, "length", ev->size);
		if (ev->value)
			jadd_u64(o, "value", ev->value);
		return;
	}
	if (in->summary)
		return;
	printf("%10llu  %sCOMMAND %s", (unsigned long long)ev->offset,
	       ev->in_package ? "(package) " : "", vfm_qs_command_name(ev->cmd));
	if (ev->value)
		printf(" %llu", (unsigned long long)ev->value);
	printf(ev->size ? " (%llu-byte payload)\n" : "\n", (unsigned long long)ev->size);
}

static void on_section(struct insp *in, const struct vfm_qs_ev *ev)
{
	const struct vfm_qs_section *s = ev->sec;
	bool header = ev->section_type == VFM_QEMU_VM_SECTION_START ||
		      ev->section_type == VFM_QEMU_VM_SECTION_FULL;

	if (in->json) {
		in->cur = jrec(in->records, "section", ev->offset);
		json_object_object_add(
			in->cur, "section_type",
			json_object_new_string(vfm_qs_section_type_name(ev->section_type)));
		jadd_u64(in->cur, "id", s->id);
		json_object_object_add(in->cur, "idstr", json_object_new_string(s->idstr));
		jadd_u64(in->cur, "instance_id", s->instance_id);
		jadd_u64(in->cur, "version_id", s->version_id);
		json_object_object_add(in->cur, "kind",
				       json_object_new_string(vfm_qs_kind_name(s->kind)));
		json_object_object_add(in->cur, "body", json_object_new_array());
		return;
	}
	if (in->summary)
		return;
	if (header)
		printf("%10llu  section %s id %u \"%s\" instance %u version %u\n",
		       (unsigned long long)ev->offset, vfm_qs_section_type_name(ev->section_type),
		       s->id, s->idstr, s->instance_id, s->version_id);
	else
		printf("%10llu  section %s id %u (\"%s\" instance %u)\n",
		       (unsigned long long)ev->offset, vfm_qs_section_type_name(ev->section_type),
		       s->id, s->idstr, s->instance_id);
}

static json_object *jbody(struct insp *in, const char *type, uint64_t off)
{
	json_object *body = NULL;

	json_object_object_get_ex(in->cur, "body", &body);
	return jrec(body, type, off);
}

static void on_body(struct insp *in, const struct vfm_qs_ev *ev)
{
	const struct vfm_qs_ram *r = &ev->ram;
	json_object *o;

	if (in->json) {
		o = jbody(in, "state", ev->offset);
		jadd_u64(o, "bytes", ev->size);
		json_object_object_add(o, "stepped_over_by",
				       json_object_new_string(how_name(ev->how)));
		if (ev->how == VFM_QS_HOW_RAM || ev->how == VFM_QS_HOW_DIRTY_BITMAP) {
			jadd_u64(o, "records", r->records);
			jadd_u64(o, "pages", r->pages);
			jadd_u64(o, "zero_pages", r->zero_pages);
			jadd_u64(o, "xbzrle_pages", r->xbzrle_pages);
			jadd_u64(o, "multifd_flushes", r->flushes);
			if (r->blocks) {
				jadd_u64(o, "ram_blocks", r->blocks);
				jadd_u64(o, "ram_bytes", r->mem_size);
			}
		}
		return;
	}
	if (in->summary)
		return;
	printf("%10llu    %llu bytes stepped over (%s)", (unsigned long long)ev->offset,
	       (unsigned long long)ev->size, how_name(ev->how));
	if (ev->how == VFM_QS_HOW_RAM) {
		if (r->blocks)
			printf(": %u RAM blocks, %llu bytes of RAM", r->blocks,
			       (unsigned long long)r->mem_size);
		printf(": %llu pages, %llu zero pages", (unsigned long long)r->pages,
		       (unsigned long long)r->zero_pages);
		if (r->xbzrle_pages)
			printf(", %llu XBZRLE pages", (unsigned long long)r->xbzrle_pages);
		if (r->flushes)
			printf(", %llu multifd flushes", (unsigned long long)r->flushes);
	} else if (ev->how == VFM_QS_HOW_DIRTY_BITMAP) {
		printf(": %llu chunks", (unsigned long long)r->records);
	}
	printf("\n");
}

static void on_vfio(struct insp *in, const struct vfm_qs_ev *ev)
{
	json_object *o;

	if (in->json) {
		if (ev->type == VFM_QS_EV_DATA) {
			o = jbody(in, "DEV_DATA_STATE", ev->offset);
			jadd_u64(o, "bytes", ev->size);
		} else if (ev->type == VFM_QS_EV_PCI_CONFIG) {
			o = jbody(in, "vfio-pci config", ev->offset);
			jadd_u64(o, "bytes", ev->size);
			json_object_object_add(o, "config", json_pci(vfm_qs_pci_config(in->rd)));
		} else {
			jbody(in, vfm_qs_marker_name(ev->marker), ev->offset);
		}
		return;
	}
	if (in->summary)
		return;
	if (ev->type == VFM_QS_EV_DATA)
		printf("%10llu    DEV_DATA_STATE %llu bytes\n", (unsigned long long)ev->offset,
		       (unsigned long long)ev->size);
	else if (ev->type == VFM_QS_EV_PCI_CONFIG)
		text_pci(vfm_qs_pci_config(in->rd), ev->offset, ev->size);
	else
		printf("%10llu    %s\n", (unsigned long long)ev->offset,
		       vfm_qs_marker_name(ev->marker));
}

static void on_event(struct insp *in, const struct vfm_qs_ev *ev)
{
	switch (ev->type) {
	case VFM_QS_EV_CONFIG:
		on_config(in, ev);
		break;
	case VFM_QS_EV_COMMAND:
		on_command(in, ev);
		break;
	case VFM_QS_EV_SECTION:
		on_section(in, ev);
		break;
	case VFM_QS_EV_BODY:
		on_body(in, ev);
		break;
	case VFM_QS_EV_MARKER:
	case VFM_QS_EV_DATA:
	case VFM_QS_EV_PCI_CONFIG:
		on_vfio(in, ev);
		break;
	case VFM_QS_EV_FOOTER:
		if (in->json)
			jbody(in, "footer", ev->offset);
		else if (!in->summary)
			printf("%10llu    footer of section %u\n", (unsigned long long)ev->offset,
			       ev->sec->id);
		break;
	case VFM_QS_EV_EOF:
		if (in->json)
			jrec(in->records, "EOF", ev->offset);
		else if (!in->summary)
			printf("%10llu  EOF\n", (unsigned long long)ev->offset);
		break;
	case VFM_QS_EV_VMDESC:
		in->vmdesc = true;
		in->vmdesc_devices = ev->value;
		if (in->json)
			jadd_u64(jrec(in->records, "vmdesc", ev->offset), "bytes", ev->size);
		else if (!in->summary)
			printf("%10llu  vmdesc trailer: %llu bytes of JSON, %llu device entries\n",
			       (unsigned long long)ev->offset, (unsigned long long)ev->size,
			       (unsigned long long)ev->value);
		break;
	}
}

/* ---- totals and what a whole QEMU stream has besides ---------------------------------- */

static bool is_vfio(const struct vfm_qs_section *s)
{
	return s->kind == VFM_QS_KIND_VFIO || s->kind == VFM_QS_KIND_VFM;
}

/* What this stream lacks compared with a whole QEMU 11.1 stream of a VM with a VFIO
 * device (one line each), in `lines`. */
static size_t missing(const struct insp *in, const char **lines, size_t max)
{
	struct vfm_qs_reader *rd = in->rd;
	bool ram = false, pathless = false, no_full = false, own = false;
	size_t n = 0;

	for (size_t i = 0; i < vfm_qs_nr_sections(rd); i++) {
		const struct vfm_qs_section *s = vfm_qs_section(rd, i);

		ram |= s->kind == VFM_QS_KIND_RAM;
		own |= s->kind == VFM_QS_KIND_VFM;
		pathless |= s->kind == VFM_QS_KIND_VFIO && !strchr(s->idstr, '/');
		no_full |= s->kind == VFM_QS_KIND_VFIO && !s->full;
	}
	if (!vfm_qs_config(rd) && n < max)
		lines[n++] = "the CONFIGURATION record (machine type): a QEMU destination refuses "
			     "the stream (\"Configuration section missing\")";
	if (!ram && n < max)
		lines[n++] = "the VM's RAM and the state of its other devices (CPUs, timers, "
			     "buses): QEMU loads a whole VM, not one device";
	if (no_full && n < max)
		lines[n++] = "the VFIO device's FULL section (vfio-pci's emulated config space, "
			     "MSI/MSI-X): QEMU would not restore them";
	if (!in->switchover_start && n < max)
		lines[n++] = "the SWITCHOVER_START command (machine types >= 10.0 send it)";
	if (!in->vmdesc && n < max)
		lines[n++] = "the vmdesc trailer (QEMU itself ignores it)";
	if (pathless && n < max)
		lines[n++] =
			"device paths in the VFIO idstrs: QEMU's vfio-pci names its section "
			"\"<PCI address>/vfio\" (e.g. 0000:00:04.0/vfio), this stream \"vfio\" "
			"(name it with --section)";
	if (own && n < max)
		lines[n++] =
			"only QEMU's own sections: the vfio-mig-... sections (DMA memory, side "
			"channels) are unknown to QEMU (\"Unknown savevm section\")";
	return n;
}

static int print_text_totals(struct insp *in, uint64_t bytes)
{
	struct vfm_qs_reader *rd = in->rd;
	const struct vfm_qs_config *c = vfm_qs_config(rd);
	const char *lines[8];
	size_t devs = 0, others = 0, nm;

	for (size_t i = 0; i < vfm_qs_nr_sections(rd); i++) {
		const struct vfm_qs_section *s = vfm_qs_section(rd, i);

		if (!is_vfio(s)) {
			others++;
			continue;
		}
		printf("device %zu: \"%s\" instance %u: %u sections, %llu data blocks, %llu bytes%s\n",
		       devs++, s->idstr, s->instance_id, s->records, (unsigned long long)s->blocks,
		       (unsigned long long)s->data_bytes, s->full ? ", config state" : "");
	}
	if (others)
		printf("other sections: %zu (%s), stepped over\n", others,
		       vfm_qs_vmdesc_first(rd) ? "FULL ones by the vmdesc sizes"
					       : "FULL ones by footer scans");
	nm = missing(in, lines, 8);
	if (nm) {
		printf("compared with a whole QEMU stream, this one has no:\n");
		for (size_t i = 0; i < nm; i++)
			printf("  - %s\n", lines[i]);
	}
	printf("stream: %llu bytes, %s%s%s, %zu device(s), well-formed\n",
	       (unsigned long long)bytes, c ? "QEMU stream of " : "vfio-mig stream",
	       c ? c->machine : "", vfm_qs_footers(rd) ? "" : " without footers", devs);
	return EXIT_OK;
}

static int print_json(struct insp *in, const char *path, int rc, uint64_t bytes)
{
	json_object *o = json_object_new_object(), *secs = json_object_new_array(),
		    *miss = json_object_new_array();
	struct vfm_qs_reader *rd = in->rd;
	const char *lines[8];
	size_t nm = rd ? missing(in, lines, 8) : 0;

	json_object_object_add(o, "file", json_object_new_string(path));
	json_object_object_add(o, "well_formed", json_object_new_boolean(rc == 0));
	if (rc)
		json_object_object_add(o, "error",
				       json_object_new_string(rd ? vfm_qs_error(rd) : ""));
	jadd_u64(o, "bytes", bytes);
	if (rd) {
		json_object_object_add(o, "qemu",
				       json_object_new_boolean(vfm_qs_config(rd) != NULL));
		json_object_object_add(o, "footers", json_object_new_boolean(vfm_qs_footers(rd)));
		jadd_u64(o, "page_size", vfm_qs_page_size(rd));
		for (size_t i = 0; i < vfm_qs_nr_sections(rd); i++) {
			const struct vfm_qs_section *s = vfm_qs_section(rd, i);
			json_object *j = json_object_new_object();

			jadd_u64(j, "id", s->id);
			json_object_object_add(j, "idstr", json_object_new_string(s->idstr));
			jadd_u64(j, "instance_id", s->instance_id);
			json_object_object_add(j, "kind",
					       json_object_new_string(vfm_qs_kind_name(s->kind)));
			jadd_u64(j, "records", s->records);
			jadd_u64(j, "parts", s->parts);
			jadd_u64(j, "data_blocks", s->blocks);
			jadd_u64(j, "data_bytes", s->data_bytes);
			jadd_u64(j, "body_bytes", s->body_bytes);
			json_object_object_add(j, "full", json_object_new_boolean(s->full));
			json_object_array_add(secs, j);
		}
	}
	for (size_t i = 0; i < nm; i++)
		json_object_array_add(miss, json_object_new_string(lines[i]));
	json_object_object_add(o, "sections", secs);
	json_object_object_add(o, "missing_beside_qemu", miss);
	json_object_object_add(o, "records", in->records);
	in->records = NULL;
	printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY |
								 JSON_C_TO_STRING_SPACED));
	json_object_put(o);
	return rc ? EXIT_FAIL : EXIT_OK;
}

static int walk(struct insp *in)
{
	struct vfm_qs_ev ev;
	int rc;

	while ((rc = vfm_qs_next(in->rd, &ev)) == 0)
		on_event(in, &ev);
	return rc == -ENODATA ? 0 : rc;
}

int inspect_main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"summary", no_argument, NULL, 's'},
		{"json", no_argument, NULL, 'j'},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	struct insp in = {0};
	char err[VFM_QS_ERR_LEN];
	const char *path;
	int c, fd, rc;
	uint64_t bytes;

	while ((c = getopt_long(argc, argv, "sjh", longopts, NULL)) != -1) {
		switch (c) {
		case 's':
			in.summary = true;
			break;
		case 'j':
			in.json = true;
			break;
		case 'h':
			inspect_usage(stdout);
			return EXIT_OK;
		default:
			inspect_usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (argc - optind != 1)
		return usage_error("inspect: expected one FILE");
	path = argv[optind];
	fd = strcmp(path, "-") ? open(path, O_RDONLY | O_CLOEXEC) : STDIN_FILENO;
	if (fd < 0)
		return fail("inspect: cannot open %s: %s", path, strerror(errno));
	if (in.json)
		in.records = json_object_new_array();
	rc = vfm_qs_open(&in.rd, fd, err, sizeof(err));
	if (!rc && !in.json && !in.summary)
		printf("%10d  file header QEVM version 3\n", 0);
	if (!rc)
		rc = walk(&in);
	bytes = in.rd ? vfm_qs_offset(in.rd) : 0;
	if (fd != STDIN_FILENO)
		close(fd);
	if (in.json) {
		if (rc && !in.rd)
			fprintf(stderr, "error: inspect: %s: %s\n", path, err);
		else if (rc)
			fprintf(stderr, "error: inspect: %s: %s\n", path, vfm_qs_error(in.rd));
		c = print_json(&in, path, rc, bytes);
	} else if (rc) {
		c = fail("inspect: %s: %s", path,
			 in.rd	  ? vfm_qs_error(in.rd)
			 : err[0] ? err
				  : strerror(-rc));
	} else {
		c = print_text_totals(&in, bytes);
	}
	json_object_put(in.records);
	vfm_qs_close(in.rd);
	return c;
}
