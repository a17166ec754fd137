#!/bin/sh
# install.sh — install sensorcast as a hardened systemd service, without the .deb.
#
#   sudo ./install.sh [--binary FILE] [--root DIR] [--no-start]
#   sudo ./install.sh --uninstall [--purge] [--root DIR]
#
# It picks the binary for this machine (sensorcast-linux-arm64, -armv7 or
# -armv6, looked for next to this script only) unless --binary names one,
# checks it against the SHA256SUMS file beside it (refusing a binary that is
# not listed or does not match), then installs:
#   /usr/local/bin/sensorcast
#   /etc/systemd/system/sensorcast.service   (ExecStart pointed at /usr/local/bin)
#   /etc/udev/rules.d/60-sensorcast.rules
#   /etc/sensorcast/sensorcast.toml          (only if absent: your edits are kept)
# creates the i2c, spi and gpio groups and the sensorcast user, and enables and
# starts the service. Running it again upgrades in place.
#
# --root DIR installs into DIR instead of / and touches no users, groups or
# services: a dry run. --uninstall removes what install put there but keeps
# the configuration and state, unless --purge is given too.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
root=""
binary=""
start=yes
action=install
purge=no

die() { echo "install.sh: $*" >&2; exit 1; }
say() { echo "install.sh: $*"; }

while [ $# -gt 0 ]; do
	case "$1" in
	--binary) [ $# -ge 2 ] || die "--binary needs a file"; binary=$2; shift ;;
	--root) [ $# -ge 2 ] || die "--root needs a directory"; root=${2%/}; shift ;;
	--no-start) start=no ;;
	--uninstall) action=uninstall ;;
	--purge) purge=yes ;;
	-h|--help) sed -n '2,20p' "$0"; exit 0 ;;
	*) die "unknown argument: $1 (see --help)" ;;
	esac
	shift
done

live=no
if [ -z "$root" ]; then
	live=yes
	[ "$(id -u)" -eq 0 ] || die "run as root (sudo), or use --root DIR for a dry run"
fi

bin_path=$root/usr/local/bin/sensorcast
unit_path=$root/etc/systemd/system/sensorcast.service
rule_path=$root/etc/udev/rules.d/60-sensorcast.rules
conf_dir=$root/etc/sensorcast
state_dir=$root/var/lib/sensorcast

has_systemd() { [ "$live" = yes ] && [ -d /run/systemd/system ]; }

pick_binary() {
	case "$(uname -m)" in
	aarch64|arm64) name=sensorcast-linux-arm64 ;;
	armv7l|armv8l) name=sensorcast-linux-armv7 ;;
	armv6l) name=sensorcast-linux-armv6 ;;
	*) die "no sensorcast build for $(uname -m); pass --binary FILE" ;;
	esac
	[ -f "$here/$name" ] || die "$name not found next to install.sh; put the release's binaries and SHA256SUMS here ('make dist' writes them to dist/) or pass --binary FILE"
	echo "$here/$name"
}

# check_sum refuses a binary that the SHA256SUMS file in its directory does
# not list with its hash.
check_sum() {
	dir=$(cd "$(dirname "$1")" && pwd)
	base=$(basename "$1")
	[ -f "$dir/SHA256SUMS" ] || die "$dir/SHA256SUMS not found: refusing to install an unchecked binary (it comes with the release; 'make dist' writes it)"
	want=$(awk -v f="$base" '$2 == f || $2 == "*" f { print $1; exit }' "$dir/SHA256SUMS")
	[ -n "$want" ] || die "$base is not listed in $dir/SHA256SUMS"
	got=$(sha256sum "$1" | cut -d' ' -f1)
	[ "$got" = "$want" ] || die "$1 does not match its line in $dir/SHA256SUMS: a damaged or replaced file; download it again"
}

# print_url waits (up to 10 s) for the token the service creates at its
# first start and prints the dashboard's URL with it.
print_url() {
	i=0
	while [ ! -s "$state_dir/token" ] && [ "$i" -lt 50 ]; do
		sleep 0.2
		i=$((i + 1))
	done
	if url=$("$bin_path" token -url -state "$state_dir" -config "$conf_dir/sensorcast.toml" 2>/dev/null); then
		say "open the dashboard at $url"
		say "(it sets a cookie; print the URL again with: sudo sensorcast token -url)"
	else
		say "the access token is not there yet: print the URL later with: sudo sensorcast token -url"
	fi
}

install_it() {
	[ -n "$binary" ] || binary=$(pick_binary)
	[ -f "$binary" ] || die "$binary: no such file"
	check_sum "$binary"
	# A binary for another architecture fails here rather than in the service.
	if [ "$live" = yes ]; then
		"$binary" -version >/dev/null 2>&1 || die "$binary does not run on this machine ($(uname -m)): wrong build?"
	fi

	install -d "$root/usr/local/bin" "$root/etc/systemd/system" "$root/etc/udev/rules.d" "$conf_dir"
	install -m 0755 "$binary" "$bin_path.new"
	mv -f "$bin_path.new" "$bin_path"
	sed 's#^ExecStart=/usr/bin/sensorcast#ExecStart=/usr/local/bin/sensorcast#' \
		"$here/sensorcast.service" >"$unit_path"
	chmod 0644 "$unit_path"
	install -m 0644 "$here/60-sensorcast.rules" "$rule_path"
	if [ -e "$conf_dir/sensorcast.toml" ]; then
		say "keeping $conf_dir/sensorcast.toml"
	else
		install -m 0644 "$here/default.toml" "$conf_dir/sensorcast.toml"
	fi
	say "installed $("$binary" -version 2>/dev/null || echo sensorcast) to $bin_path"

	if [ "$live" = no ]; then
		say "dry run into $root: no users, groups or services changed"
		return
	fi
	for group in i2c gpio dialout; do
		getent group "$group" >/dev/null || groupadd --system "$group"
	done
	if ! getent passwd sensorcast >/dev/null; then
		useradd --system --user-group --home-dir /var/lib/sensorcast --no-create-home \
			--shell /usr/sbin/nologin --comment "sensorcast service" sensorcast
	fi
	usermod -a -G i2c,gpio,dialout sensorcast
	if command -v udevadm >/dev/null 2>&1; then
		udevadm control --reload-rules || true
		udevadm trigger --subsystem-match=i2c-dev --subsystem-match=gpio || true
	fi
	if has_systemd; then
		systemctl daemon-reload
		systemctl enable sensorcast.service
		if [ "$start" = yes ]; then
			systemctl restart sensorcast.service
			say "started; logs: journalctl -u sensorcast -f"
			print_url
		fi
	else
		say "systemd is not running: start /usr/local/bin/sensorcast yourself"
	fi
}

uninstall_it() {
	if has_systemd; then
		systemctl disable --now sensorcast.service 2>/dev/null || true
	fi
	rm -f "$bin_path" "$unit_path" "$rule_path"
	if has_systemd; then
		systemctl daemon-reload
	fi
	if [ "$purge" = yes ]; then
		rm -rf "$conf_dir" "$state_dir"
		if [ "$live" = yes ] && getent passwd sensorcast >/dev/null; then
			userdel sensorcast || true
		fi
		say "removed sensorcast, its configuration, state and user"
	else
		say "removed sensorcast; kept $conf_dir and $state_dir (add --purge to remove them)"
	fi
}

case "$action" in
install) install_it ;;
uninstall) uninstall_it ;;
esac
