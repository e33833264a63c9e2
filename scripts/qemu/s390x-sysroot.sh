#!/usr/bin/env bash
# Debian's own s390x QEMU, unmodified: downloads qemu-system-s390x for the s390x architecture
# (with its library dependencies) through a private apt configuration — the host's dpkg and apt
# state are not touched — and unpacks the packages into a sysroot for qemu-user.
#
#   scripts/qemu/s390x-sysroot.sh      prints a directory holding
#       sysroot/      qemu-system-s390x:s390x and its libraries, unpacked (run it with -L sysroot)
#       qemu-s390x    qemu-user of the same suite (amd64, static): bookworm's qemu-user 7.2 loses
#                     a signal that was pending while blocked and is unblocked by ppoll's mask (the
#                     shim's KVM_RUN sleep), so QEMU's vCPU kick is sometimes lost and a pause hangs
#
# Cached in ${KVM_S390_SHIM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kvm-s390-shim}/qemu-s390x-sysroot-<version>.
# QEMU_SUITE (default bookworm-backports) chooses the suite qemu-system-s390x comes from.
set -euo pipefail
suite=${QEMU_SUITE:-bookworm-backports}
cache=${KVM_S390_SHIM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kvm-s390-shim}
aptroot="$cache/apt-s390x"
say() { echo "qemu/s390x-sysroot.sh: $*" >&2; }

mkdir -p "$aptroot"/{lists/partial,cache/archives/partial,parts,prefs}
touch "$aptroot/status"
cat > "$aptroot/sources.list" <<EOS
deb [arch=s390x signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian bookworm main
deb [arch=s390x signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian bookworm-updates main
deb [arch=s390x signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian-security bookworm-security main
deb [arch=s390x signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian $suite main
EOS
apt_opts=(-o "Dir::Etc::SourceList=$aptroot/sources.list" -o "Dir::Etc::SourceParts=$aptroot/parts"
    -o "Dir::Etc::PreferencesParts=$aptroot/prefs" -o "Dir::State::Lists=$aptroot/lists"
    -o "Dir::State::status=$aptroot/status" -o "Dir::Cache=$aptroot/cache"
    -o "APT::Architecture=s390x" -o "APT::Architectures::=s390x" -o "Debug::NoLocking=1"
    -o "APT::Sandbox::User=root")
log="$cache/qemu-s390x-sysroot.log"
if [ ! -f "$aptroot/lists/.updated" ] || [ -n "$(find "$aptroot/lists/.updated" -mtime +1)" ]; then
    apt-get "${apt_opts[@]}" update -qq >"$log" 2>&1 || { cat "$log" >&2; exit 1; }
    touch "$aptroot/lists/.updated"
fi
version=$(apt-cache "${apt_opts[@]}" madison qemu-system-s390x |
    awk -F' *[|] *' -v s=" $suite/" 'index($3, s) > 0 && v == "" { v = $2 } END { print v }')
[ -n "$version" ] || { say "no qemu-system-s390x in $suite"; exit 1; }
base="$cache/qemu-s390x-${version//[:~+]/_}"
sysroot="$base/sysroot"
if [ -x "$sysroot/usr/bin/qemu-system-s390x" ] && [ -x "$base/qemu-s390x" ] && [ -f "$base/.complete" ]; then
    echo "$base"
    exit 0
fi
say "downloading qemu-system-s390x $version (s390x) and its dependencies"
rm -f "$aptroot"/cache/archives/*.deb
apt-get "${apt_opts[@]}" install -qq -y --download-only --no-install-recommends -t "$suite" \
    "qemu-system-s390x=$version" >>"$log" 2>&1 || { tail -n 30 "$log" >&2; exit 1; }
rm -rf "$base"
mkdir -p "$sysroot"
for deb in "$aptroot"/cache/archives/*.deb; do
    dpkg-deb -x "$deb" "$sysroot"
done
# usrmerge: the s390x dynamic loader is looked up at /lib/ld64.so.1
[ -e "$sysroot/lib" ] || ln -s usr/lib "$sysroot/lib"
ls "$aptroot"/cache/archives/*.deb | wc -l | xargs printf 'qemu/s390x-sysroot.sh: %s packages unpacked\n' >&2
# qemu-user from the same suite, for this host (the host's apt, download only).
(cd "$aptroot" && rm -f qemu-user_*.deb && apt-get download -qq "qemu-user/$suite") >>"$log" 2>&1 ||
    { tail -n 20 "$log" >&2; exit 1; }
dpkg-deb --fsys-tarfile "$aptroot"/qemu-user_*.deb | tar -x -O ./usr/bin/qemu-s390x > "$base/qemu-s390x"
chmod +x "$base/qemu-s390x"
rm -f "$aptroot"/qemu-user_*.deb
"$base/qemu-s390x" -version | head -n1 >&2
touch "$base/.complete"
echo "$base"
