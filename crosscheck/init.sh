#!/bin/busybox sh
# mmsim crosscheck: /init of the guest's busybox initramfs.
# The test comes from a VAR=value word on the kernel command line (MMSIM_TEST=writeback|hungread|
# split), which the kernel hands to init as an environment variable. Results are the driver's
# "MMSIM {json}" lines on the serial console; the guest powers off at the end.
/bin/busybox mkdir -p /proc /sys /dev /run /tmp /mnt/fuse /mnt/thp
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mount -t tmpfs run /run
mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
mount -t tracefs tracefs /sys/kernel/tracing 2>/dev/null
exec </dev/console >/dev/console 2>&1

say() { echo "MMSIM $1"; }
finish() {
	say "{\"event\":\"done\",\"test\":\"$MMSIM_TEST\"}"
	echo "DMESG-BEGIN"
	dmesg | tail -n 60
	echo "DMESG-END"
	sync
	poweroff -f
	sleep 5
}

say "{\"event\":\"boot\",\"release\":\"$(uname -r)\",\"test\":\"$MMSIM_TEST\",\"memTotalKb\":$(awk '/MemTotal/{print $2}' /proc/meminfo)}"

# FUSE as a module (6.1): load fuse.ko and its dependencies in the order run.ts listed them.
if ! grep -qw fuse /proc/filesystems && [ -f /lib/modules/order ]; then
	for m in $(cat /lib/modules/order); do
		insmod "/lib/modules/$m" || say "{\"event\":\"log\",\"msg\":\"insmod $m failed\"}"
	done
fi

CTL=/run/fusectl
start_fuse() {
	mkdir -p $CTL
	MMSIM_CTL=$CTL /bin/fuse_server /mnt/fuse -f -o max_threads=64 &
	FUSE_PID=$!
	i=0
	while ! grep -q " /mnt/fuse " /proc/mounts; do
		i=$((i + 1))
		if [ $i -gt 100 ]; then
			say "{\"event\":\"error\",\"msg\":\"fuse mount did not appear\"}"
			finish
		fi
		sleep 0.1
	done
}
stop_fuse() {
	umount /mnt/fuse || umount -l /mnt/fuse
	kill $FUSE_PID 2>/dev/null
	wait $FUSE_PID 2>/dev/null
}

case "$MMSIM_TEST" in
writeback | hungread)
	if ! grep -qw fuse /proc/filesystems; then
		say "{\"event\":\"error\",\"msg\":\"no fuse filesystem in this kernel\"}"
		finish
	fi
	start_fuse
	/bin/driver "$MMSIM_TEST" /mnt/fuse $CTL || say "{\"event\":\"error\",\"msg\":\"driver exited $?\"}"
	stop_fuse
	;;
split)
	mount -t tmpfs -o huge=always,size=64m thp /mnt/thp
	/bin/driver split /mnt/thp || say "{\"event\":\"error\",\"msg\":\"driver exited $?\"}"
	;;
*)
	say "{\"event\":\"error\",\"msg\":\"unknown MMSIM_TEST\"}"
	;;
esac
finish
