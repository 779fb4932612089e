#!/usr/bin/env bash
# Builds the six Kubernetes components (plus kubectl for the tests) from
# Debian's `kubernetes` source package, cached under ~/.cache/k8sboot.
# The lab's stand-in for "the user's own build": see LAB.md.
set -euo pipefail

cache="${XDG_CACHE_HOME:-$HOME/.cache}/k8sboot/kubernetes"
out="$cache/bin"
components=(kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kubectl)

have_all=1
for c in "${components[@]}"; do [[ -x "$out/$c" ]] || have_all=0; done
if [[ $have_all == 1 ]]; then
  echo "kubernetes binaries: cached in $out"
  exit 0
fi

mkdir -p "$cache"
cd "$cache"
# deb-src entries: the machine's sources are deb822 only
if [[ ! -f /etc/apt/sources.list.d/k8sboot-src.sources ]]; then
  sed 's/^Types: deb$/Types: deb-src/' /etc/apt/sources.list.d/debian.sources \
    > /etc/apt/sources.list.d/k8sboot-src.sources
  apt-get update -qq
fi
if [[ ! -d src ]]; then
  rm -rf dl && mkdir dl && (cd dl && apt-get source --download-only -qq kubernetes)
  orig=$(ls dl/kubernetes_*.orig.tar.* | head -n1)
  mkdir -p src.tmp && tar -xf "$orig" -C src.tmp --strip-components=1
  # Go 1.19 + vendored reflect2 v1.0.1 crash on YAML/pretty output: swap in v1.0.2
  r2=src.tmp/vendor/github.com/modern-go/reflect2
  rm -f "$r2"/*.go "$r2"/*.s
  cp /usr/share/gocode/src/github.com/modern-go/reflect2/*.go "$r2"/
  cp /usr/share/gocode/src/github.com/modern-go/reflect2/*.s "$r2"/ 2>/dev/null || true
  rm -f "$r2"/*_test.go
  mv src.tmp src
fi

gopath="$cache/gopath"
mkdir -p "$gopath/src/k8s.io"
ln -sfn "$cache/src" "$gopath/src/k8s.io/kubernetes"
cd "$gopath/src/k8s.io/kubernetes"
export GOPATH="$gopath" CGO_ENABLED=0 GOCACHE="$cache/gocache"
what=""
for c in "${components[@]}"; do what+=" cmd/$c"; done
echo "kubernetes binaries: building${what} (about 6-7 min on 2 cores)"
make WHAT="${what# }" >"$cache/build.log" 2>&1 || { tail -n 40 "$cache/build.log"; exit 1; }
mkdir -p "$out.tmp"
for c in "${components[@]}"; do cp "_output/bin/$c" "$out.tmp/"; done
rm -rf "$out" && mv "$out.tmp" "$out"
"$out/kube-apiserver" --version
