#!/usr/bin/env bash
# Installs every Debian 12 package meterd needs to build, test and benchmark.
# Idempotent: does nothing when everything is present; runs `apt-get update` at most once.
# Works as root or through sudo.
set -euo pipefail

PACKAGES=(
  build-essential cmake ninja-build pkg-config git clang-format
  mold                                      # linker: the test binaries link in a fraction of ld's time
  libboost-dev libboost-system-dev          # Asio, Beast (server, later issues)
  flatbuffers-compiler libflatbuffers-dev   # wire protocol schema
  libxxhash-dev                             # XXH3 checksums and series ids
  libjemalloc-dev                           # allocator linked into meterd
  liburing-dev                              # WAL and segment I/O
  libgtest-dev libgmock-dev googletest      # tests
  libbenchmark-dev                          # micro-benchmarks
  libfmt-dev libspdlog-dev libcli11-dev nlohmann-json3-dev
  libsqlite3-dev libzstd-dev libssl-dev
  libyaml-cpp-dev                           # price book and tenancy documents (line numbers)
  libcurl4-openssl-dev                      # SMTP client for email notices (engine/events)
  libhowardhinnant-date-dev tzdata          # time zones of billing cycles (engine/cycles): libdate-tz
                                            # reads the system's tz database, /usr/share/zoneinfo
  iso-codes                                 # ISO 3166-1 countries and ISO 4217 currencies of
                                            # billing profiles (engine/tenancy/billing_profile.h)
  python3-aiosmtpd                          # real SMTP relay in the email integration test
  curl openssl                              # the HTTP API's tests (HTTPS with a self-signed
                                            # certificate) and the demo's HTTP step
  libprotobuf-dev protobuf-compiler         # Prometheus remote_write (net/schema/prometheus)
  libsnappy-dev zlib1g-dev                  # remote_write bodies (snappy), gzip ingest bodies
  collectd-core libyajl2                    # the real collectd posting to meterd in
                                            # meterd_http_ingest_test (5 MB; write_http needs yajl)
  prometheus                                # the real Prometheus scraping /metrics and
                                            # remote-writing to meterd (meterd_http_test,
                                            # meterd_http_ingest_test); its service is not started
  libhpdf-dev fonts-dejavu-core             # invoice PDFs (engine/invoicing): libharu and the
                                            # embedded DejaVu Sans font
  poppler-utils                             # invoice tests read PDFs back (pdftotext, pdftoppm,
                                            # pdfinfo)
  libvirt-dev                               # meter-agent --libvirt (virConnectGetAllDomainStats);
                                            # libvirt0 carries the test driver the tests use
)
# `install-deps.sh --fuzz` (make fuzz) adds clang and its libFuzzer/sanitizer runtimes.
if [ "${1:-}" = "--fuzz" ]; then
  PACKAGES+=(clang libclang-rt-14-dev)
fi
# `install-deps.sh --tidy` (make tidy) adds clang-tidy (14 on Debian 12).
if [ "${1:-}" = "--tidy" ]; then
  PACKAGES+=(clang-tidy)
fi

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "install-deps: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
  SUDO="sudo"
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-deps: done"
