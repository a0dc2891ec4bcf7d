#!/bin/sh
# Guest script of the smoke test (becomes /test.sh in the initramfs; busybox sh).
# Creates two mtty-2 mdevs, then runs /bin/smoke on device A through cdev + iommufd
# and on device B through group + container. Exit status 0 = pass.
set -eu

types=/sys/class/mdev_bus/mtty/mdev_supported_types
type=$types/mtty-2
uuid_a=7a1d0c5e-0000-4000-8000-00000000000a
uuid_b=7a1d0c5e-0000-4000-8000-00000000000b

[ -d "$type" ] || { echo "smoke.sh: no $type (mtty driver missing?)"; ls "$types" 2>&1 || true; exit 1; }
names=""
for t in "$types"/*; do names="$names ${t##*/}"; done
echo "smoke.sh: mtty types:$names; mtty-2 available_instances $(cat "$type/available_instances")"

for u in "$uuid_a" "$uuid_b"; do
	echo "$u" > "$type/create"
done

# cdev name and iommu group of an mdev
cdev_of() { ls "/sys/bus/mdev/devices/$1/vfio-dev"; }
group_of() { basename "$(readlink "/sys/bus/mdev/devices/$1/iommu_group")"; }

cdev_a=$(cdev_of "$uuid_a")
group_b=$(group_of "$uuid_b")
echo "smoke.sh: mdev A $uuid_a -> /dev/vfio/devices/$cdev_a (group $(group_of "$uuid_a"))"
echo "smoke.sh: mdev B $uuid_b -> /dev/vfio/$group_b (cdev $(cdev_of "$uuid_b"))"
echo "smoke.sh: nodes:" /dev/iommu /dev/vfio/* /dev/vfio/devices/*

rc=0
smoke cdev "/dev/vfio/devices/$cdev_a" || rc=1
smoke group "/dev/vfio/$group_b" "$uuid_b" || rc=1

for u in "$uuid_a" "$uuid_b"; do
	echo 1 > "/sys/bus/mdev/devices/$u/remove" || rc=1
done
[ ! -e "/sys/bus/mdev/devices/$uuid_a" ] && [ ! -e "/sys/bus/mdev/devices/$uuid_b" ] || rc=1
echo "smoke.sh: mdevs removed; result $([ $rc -eq 0 ] && echo PASS || echo FAIL)"
exit $rc
