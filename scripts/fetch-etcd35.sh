#!/usr/bin/env bash
# A second, newer etcd for the upgrade tests (3.4 -> 3.5): Debian trixie's
# etcd-server, downloaded and unpacked without touching the machine's own apt
# configuration or installing anything (see LAB.md). Cached under ~/.cache.
set -euo pipefail

cache="${XDG_CACHE_HOME:-$HOME/.cache}/k8sboot/etcd-3.5"
if [[ -x "$cache/bin/etcd" ]]; then
  echo "etcd 3.5: cached in $cache/bin"
  exit 0
fi

apt_dir="$cache/apt"
rm -rf "$apt_dir" && mkdir -p "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial" "$apt_dir/parts"
cat > "$apt_dir/parts/trixie.sources" <<'EOF'
Types: deb
URIs: http://deb.debian.org/debian
Suites: trixie
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
apt_opts=(-o Dir::Etc::SourceList=/dev/null -o "Dir::Etc::SourceParts=$apt_dir/parts"
          -o "Dir::State::Lists=$apt_dir/lists" -o "Dir::Cache=$apt_dir/cache"
          -o APT::Sandbox::User=root -qq)
apt-get "${apt_opts[@]}" update
(cd "$apt_dir" && apt-get "${apt_opts[@]}" download etcd-server)
deb=$(ls "$apt_dir"/etcd-server_*.deb | head -n1)
rm -rf "$cache/root" && mkdir -p "$cache/root"
dpkg-deb -x "$deb" "$cache/root"
mkdir -p "$cache/bin.tmp"
cp "$cache/root/usr/bin/etcd" "$cache/bin.tmp/etcd"
rm -rf "$cache/bin" && mv "$cache/bin.tmp" "$cache/bin"
rm -rf "$apt_dir" "$cache/root"
"$cache/bin/etcd" --version | head -n1
