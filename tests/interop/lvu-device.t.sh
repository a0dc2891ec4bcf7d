#!/bin/bash
# Our libvfio-user test device answers vfio-mig's client: it starts, `info` sees a
# migratable device, and it serves one client after another.
# interop-needs: lvu-device
# shellcheck source=lib.sh
. "$VFM_INTEROP_LIB"

t_check "our libvfio-user device starts" vfm_start_lvu a --size 4K --seed 3
t_check "info on it" "$VFIO_MIG" info "unix:$VFM_OUT/a.sock"
t_is "it offers STOP_COPY and PRE_COPY" "$(sed -n 's/^flags: //p' "$VFM_OUT/last.out")" "STOP_COPY|PRE_COPY (0x5)"
t_check "a second client after the first left" "$VFIO_MIG" info "unix:$VFM_OUT/a.sock"
t_is "it reports its state" "$(lvu_state a)" "4096 3"
t_done
