#!/bin/sh
# build.sh — build the Pi in a box: a Debian arm64 kernel, the emulation
# modules it lacks, and an initramfs around the real sensorcast binary.
#
#   build.sh OUTDIR BINARY CONFIG
#
# Downloads (through apt, into OUTDIR/<kernel version>/, so a second run
# downloads nothing) the arm64 kernel that linux-image-arm64:arm64 points to,
# its headers and kbuild tools, the kernel source (for four files) and
# busybox; builds i2c-stub and gpio-sim out of tree with our patches and the
# box's own tools (pulsegen.c); takes the kernel's IIO BME280 driver from
# the package; and writes OUTDIR/vmlinuz and
# OUTDIR/initrd.gz. Needs: qemu-system-arm (for the
# run), gcc-aarch64-linux-gnu, cpio, patch, make, and dpkg's arm64
# architecture enabled (dpkg --add-architecture arm64 && apt-get update).
set -eu

if [ $# -ne 3 ]; then
	echo "usage: $0 OUTDIR BINARY CONFIG" >&2
	exit 2
fi
out=$1 binary=$2 config=$3
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$out"
out=$(cd "$out" && pwd)

die() { echo "pi-in-a-box: $*" >&2; exit 1; }
for tool in aarch64-linux-gnu-gcc cpio patch make apt-get dpkg-deb gzip; do
	command -v "$tool" >/dev/null 2>&1 || die "$tool is missing (apt-get install gcc-aarch64-linux-gnu cpio patch make)"
done
[ -f "$binary" ] || die "$binary: no such file (make arm64)"
[ -f "$config" ] || die "$config: no such file"

# The kernel the arm64 metapackage depends on today, e.g. linux-image-6.1.0-56-arm64.
kpkg=$(apt-cache depends linux-image-arm64:arm64 2>/dev/null | sed -n 's/^ *Depends: \(linux-image-[0-9][^:]*\).*/\1/p' | head -n 1)
[ -n "$kpkg" ] || die "no arm64 kernel package known to apt: run dpkg --add-architecture arm64 && apt-get update"
kabi=${kpkg#linux-image-}                                  # 6.1.0-56-arm64
kver=$(apt-cache show --no-all-versions "$kpkg:arm64" | sed -n 's/^Version: //p' | head -n 1) # 6.1.192-2
series=$(echo "$kabi" | cut -d. -f1,2)                       # 6.1
common=linux-headers-${kabi%-arm64}-common
cache=$out/$kabi-$kver

if [ ! -f "$cache/.fetched" ]; then
	echo "pi-in-a-box: fetching $kpkg $kver"
	rm -rf "$cache"
	mkdir -p "$cache/dl" "$cache/root"
	# apt-get download writes to the current folder.
	(cd "$cache/dl" && apt-get download -q "$kpkg:arm64" "linux-headers-$kabi:arm64" "$common" \
		"linux-kbuild-$series" "linux-source-$series" busybox-static:arm64)
	for deb in "$cache"/dl/*.deb; do
		dpkg-deb -x "$deb" "$cache/root"
	done
	[ -f "$cache/root/boot/vmlinuz-$kabi" ] || die "download failed: no vmlinuz-$kabi"
	touch "$cache/.fetched"
fi
root=$cache/root

mod=$cache/mod
# Rebuilt when the patches or the Kbuild file change.
stamp=$(cat "$here"/patches/*.patch "$here/Kbuild" | cksum)
if [ ! -f "$mod/i2c-stub.ko" ] || [ ! -f "$mod/gpio-sim-pibox.ko" ] || [ "$(cat "$mod/.stamp" 2>/dev/null)" != "$stamp" ]; then
	echo "pi-in-a-box: building i2c-stub and gpio-sim for $kabi"
	rm -rf "$mod" "$cache/src"
	mkdir -p "$mod" "$cache/src"
	tar -xJf "$root/usr/src/linux-source-$series.tar.xz" -C "$cache/src" \
		"linux-source-$series/drivers/i2c/i2c-stub.c" "linux-source-$series/drivers/gpio/gpio-sim.c" \
		"linux-source-$series/drivers/gpio/gpiolib.h" "linux-source-$series/kernel/irq/irq_sim.c"
	(cd "$cache/src/linux-source-$series" && for p in "$here"/patches/*.patch; do patch -s -p1 <"$p"; done)
	cp "$cache/src/linux-source-$series/drivers/i2c/i2c-stub.c" \
		"$cache/src/linux-source-$series/drivers/gpio/gpio-sim.c" \
		"$cache/src/linux-source-$series/drivers/gpio/gpiolib.h" \
		"$cache/src/linux-source-$series/kernel/irq/irq_sim.c" "$here/Kbuild" "$mod/"
	# The headers' Makefile includes the common headers by absolute path.
	hdr=$root/usr/src/linux-headers-$kabi
	sed -i "s#^include /usr/src/#include $root/usr/src/#" "$hdr/Makefile"
	make -s -C "$hdr" M="$mod" ARCH=arm64 CROSS_COMPILE=aarch64-linux-gnu- modules
	echo "$stamp" >"$mod/.stamp"
fi

echo "pi-in-a-box: initramfs with $(basename "$binary")"
initrd=$out/initrd
rm -rf "$initrd"
mkdir -p "$initrd/bin" "$initrd/lib/modules" "$initrd/proc" "$initrd/sys" "$initrd/dev" "$initrd/tmp" "$initrd/etc/sensorcast"
cp "$root/bin/busybox" "$initrd/bin/busybox"
for m in failover net_failover virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci virtio_net configfs i2c-dev; do
	ko=$(find "$root/lib/modules/$kabi" -name "$m.ko" | head -n 1)
	[ -n "$ko" ] || die "module $m not found in $kpkg"
	cp "$ko" "$initrd/lib/modules/"
done
# The kernel's own BME280 driver, an IIO device on the emulated chip for
# the iio driver's test; the host test loads them.
for m in industrialio bmp280 bmp280-i2c; do
	ko=$(find "$root/lib/modules/$kabi" -name "$m.ko" | head -n 1)
	[ -n "$ko" ] || die "module $m not found in $kpkg"
	cp "$ko" "$initrd/lib/modules/"
done
cp "$mod/i2c-stub.ko" "$mod/gpio-sim-pibox.ko" "$initrd/lib/modules/"
# The box's tools: static, without a C library (the cross compiler has none).
aarch64-linux-gnu-gcc -static -nostdlib -ffreestanding -fno-builtin -fno-stack-protector -fno-pie -no-pie \
	-O2 -Wall -Wextra -Werror -o "$initrd/bin/pulsegen" "$here/pulsegen.c"
install -m 0755 "$here/init" "$initrd/init"
install -m 0755 "$binary" "$initrd/bin/sensorcast"
cp "$config" "$initrd/etc/sensorcast/sensorcast.toml"
(cd "$initrd" && find . | cpio -o -H newc --quiet | gzip -1) >"$out/initrd.gz"
cp "$root/boot/vmlinuz-$kabi" "$out/vmlinuz"
echo "pi-in-a-box: $out/vmlinuz $out/initrd.gz ready"
