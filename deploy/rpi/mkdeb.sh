#!/bin/sh
# mkdeb.sh builds one sensorcast .deb from a cross-compiled binary.
#
#   mkdeb.sh ARCH BINARY VERSION OUTDIR
#
# ARCH is a Debian architecture (arm64, armhf, armel); VERSION a version such
# as v1.2.3, v1.2.3-4-gabcdef or a bare commit hash (turned into a valid
# Debian version). Needs dpkg-deb only; runs without root.
set -eu

if [ $# -ne 4 ]; then
	echo "usage: $0 ARCH BINARY VERSION OUTDIR" >&2
	exit 2
fi
arch=$1 binary=$2 version=$3 outdir=$4
here=$(cd "$(dirname "$0")" && pwd)

# Debian versions must start with a digit.
case "$version" in
v[0-9]*) debversion=${version#v} ;;
[0-9]*.*) debversion=$version ;;
*) debversion="0.0.0~git$version" ;;
esac
debversion=$(printf '%s' "$debversion" | tr -c 'A-Za-z0-9.+~\n-' '~' | sed 's/-dirty$/~dirty/')

[ -x "$binary" ] || { echo "$0: $binary: no such executable" >&2; exit 1; }

root=$(mktemp -d)
chmod 0755 "$root"
trap 'rm -rf "$root"' EXIT

install -d "$root/DEBIAN" "$root/usr/bin" "$root/lib/systemd/system" "$root/lib/udev/rules.d" \
	"$root/etc/sensorcast" "$root/usr/share/doc/sensorcast/examples"
install -m 0755 "$binary" "$root/usr/bin/sensorcast"
install -m 0644 "$here/sensorcast.service" "$root/lib/systemd/system/sensorcast.service"
install -m 0644 "$here/60-sensorcast.rules" "$root/lib/udev/rules.d/60-sensorcast.rules"
install -m 0644 "$here/default.toml" "$root/etc/sensorcast/sensorcast.toml"
install -m 0644 "$here/sensorcast.toml" "$root/usr/share/doc/sensorcast/examples/sensorcast.toml"
install -m 0644 "$here/README.md" "$root/usr/share/doc/sensorcast/README.md"
for f in postinst prerm postrm; do
	install -m 0755 "$here/debian/$f" "$root/DEBIAN/$f"
done
install -m 0644 "$here/debian/conffiles" "$root/DEBIAN/conffiles"

size=$(du -sk --exclude=DEBIAN "$root" | cut -f1)
sed -e "s/@VERSION@/$debversion/" -e "s/@ARCH@/$arch/" -e "s/@SIZE@/$size/" \
	"$here/debian/control.in" >"$root/DEBIAN/control"

mkdir -p "$outdir"
out="$outdir/sensorcast_${debversion}_${arch}.deb"
dpkg-deb --root-owner-group -Zxz --build "$root" "$out" >/dev/null
echo "$out"
