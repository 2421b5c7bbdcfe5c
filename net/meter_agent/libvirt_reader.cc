// meterd — net/meter_agent/libvirt_reader.cc
#include "net/meter_agent/libvirt_reader.h"

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#include <cstdlib>
#include <string_view>

namespace meterd::agent {

namespace {

void IgnoreError(void*, virErrorPtr) {}

std::string LastError() {
  const char* m = virGetLastErrorMessage();
  return m != nullptr ? m : "unknown libvirt error";
}

// A numeric typed parameter by name, whatever its integer type.
std::optional<uint64_t> Number(const virTypedParameterPtr params, int n, std::string_view name) {
  for (int i = 0; i < n; ++i) {
    if (name != params[i].field) continue;
    switch (params[i].type) {
      case VIR_TYPED_PARAM_INT:
        return params[i].value.i < 0
                   ? std::nullopt
                   : std::optional<uint64_t>(static_cast<uint64_t>(params[i].value.i));
      case VIR_TYPED_PARAM_UINT:
        return params[i].value.ui;
      case VIR_TYPED_PARAM_LLONG:
        return params[i].value.l < 0
                   ? std::nullopt
                   : std::optional<uint64_t>(static_cast<uint64_t>(params[i].value.l));
      case VIR_TYPED_PARAM_ULLONG:
        return params[i].value.ul;
      default:
        return std::nullopt;
    }
  }
  return std::nullopt;
}

// Adds `value` into *sum (the sum over a domain's disks or interfaces).
void Accumulate(std::optional<uint64_t>* sum, std::optional<uint64_t> value) {
  if (value) *sum = sum->value_or(0) + *value;
}

// The attribute `attr` of every `<tag ...>` element inside each `<block>...</block>` of `xml`
// (the disks' target devices, the interfaces' MAC addresses). Libvirt writes its XML in one
// canonical form (attributes in single quotes), which is all this needs to read.
std::vector<std::string> Attributes(const std::string& xml, const std::string& block,
                                    const std::string& tag, const std::string& attr) {
  std::vector<std::string> out;
  size_t pos = 0;
  while ((pos = xml.find("<" + block + " ", pos)) != std::string::npos) {
    const size_t end = xml.find("</" + block + ">", pos);
    if (end == std::string::npos) break;
    const std::string_view body(xml.data() + pos, end - pos);
    // Only disks, not cdroms or floppies, count for a VM's disk metrics.
    if (block != "disk" || body.find("device='disk'") != std::string_view::npos) {
      const size_t t = body.find("<" + tag + " ");
      if (t != std::string_view::npos) {
        const size_t close = body.find('>', t);
        const std::string_view element = body.substr(t, close - t);
        for (const char quote : {'\'', '"'}) {
          const std::string key = attr + "=" + quote;
          const size_t a = element.find(key);
          if (a == std::string_view::npos) continue;
          const size_t v = a + key.size();
          const size_t e = element.find(quote, v);
          if (e != std::string_view::npos) out.emplace_back(element.substr(v, e - v));
          break;
        }
      }
    }
    pos = end;
  }
  return out;
}

// What GetAllDomainStats left out, asked of the domain itself.
void FillIn(virDomainPtr dom, bool active, bool has_block, bool has_net, DomainReading* d) {
  virDomainInfo info{};
  if ((!d->vcpus || !d->memory_bytes || (active && !d->cpu_time_ns)) &&
      virDomainGetInfo(dom, &info) == 0) {
    if (!d->vcpus) d->vcpus = info.nrVirtCpu;
    if (!d->memory_bytes) d->memory_bytes = static_cast<uint64_t>(info.memory) * 1024;
    if (active && !d->cpu_time_ns) d->cpu_time_ns = info.cpuTime;
  }
  if (has_block && has_net) return;
  char* xml_c = virDomainGetXMLDesc(dom, 0);
  if (xml_c == nullptr) return;
  const std::string xml(xml_c);
  std::free(xml_c);
  if (!has_block) {
    for (const std::string& dev : Attributes(xml, "disk", "target", "dev")) {
      virDomainBlockInfo bi{};
      if (virDomainGetBlockInfo(dom, dev.c_str(), &bi, 0) == 0)
        Accumulate(&d->disk_size_bytes, bi.capacity);
      if (!active) continue;
      virDomainBlockStatsStruct bs{};
      if (virDomainBlockStats(dom, dev.c_str(), &bs, sizeof(bs)) != 0) continue;
      if (bs.rd_bytes >= 0) Accumulate(&d->disk_read_bytes, static_cast<uint64_t>(bs.rd_bytes));
      if (bs.wr_bytes >= 0) Accumulate(&d->disk_write_bytes, static_cast<uint64_t>(bs.wr_bytes));
      if (bs.rd_req >= 0) Accumulate(&d->disk_read_ops, static_cast<uint64_t>(bs.rd_req));
      if (bs.wr_req >= 0) Accumulate(&d->disk_write_ops, static_cast<uint64_t>(bs.wr_req));
    }
  }
  if (!has_net && active) {
    // By MAC address: every driver accepts it (the test driver has no interface names).
    for (const std::string& mac : Attributes(xml, "interface", "mac", "address")) {
      virDomainInterfaceStatsStruct is{};
      if (virDomainInterfaceStats(dom, mac.c_str(), &is, sizeof(is)) != 0) continue;
      if (is.rx_bytes >= 0) Accumulate(&d->net_rx_bytes, static_cast<uint64_t>(is.rx_bytes));
      if (is.tx_bytes >= 0) Accumulate(&d->net_tx_bytes, static_cast<uint64_t>(is.tx_bytes));
    }
  }
}

}  // namespace

Result<std::unique_ptr<LibvirtReader>> LibvirtReader::Open(const std::string& uri) {
  virSetErrorFunc(nullptr, IgnoreError);
  virConnectPtr conn = virConnectOpenReadOnly(uri.c_str());
  if (conn == nullptr) {
    return Status::Unavailable("libvirt: cannot open " + uri + ": " + LastError());
  }
  return std::unique_ptr<LibvirtReader>(new LibvirtReader(conn));
}

LibvirtReader::~LibvirtReader() { virConnectClose(conn_); }

Result<std::vector<DomainReading>> LibvirtReader::ReadAll() {
  virDomainStatsRecordPtr* records = nullptr;
  const unsigned int groups = VIR_DOMAIN_STATS_STATE | VIR_DOMAIN_STATS_CPU_TOTAL |
                              VIR_DOMAIN_STATS_BALLOON | VIR_DOMAIN_STATS_VCPU |
                              VIR_DOMAIN_STATS_INTERFACE | VIR_DOMAIN_STATS_BLOCK;
  const int n = virConnectGetAllDomainStats(conn_, groups, &records, 0);
  if (n < 0) {
    return Status::Unavailable("libvirt: reading the domains' stats failed: " + LastError());
  }
  std::vector<DomainReading> out;
  out.reserve(static_cast<size_t>(n));
  for (int r = 0; r < n; ++r) {
    const virDomainStatsRecordPtr rec = records[r];
    const virTypedParameterPtr p = rec->params;
    const int np = rec->nparams;
    DomainReading d;
    const char* name = virDomainGetName(rec->dom);
    if (name == nullptr) continue;
    d.name = name;
    d.id = static_cast<int>(virDomainGetID(rec->dom));
    if (d.id == static_cast<int>(static_cast<unsigned int>(-1))) d.id = -1;
    d.state = static_cast<int>(Number(p, np, "state.state").value_or(0));
    const bool active = virDomainIsActive(rec->dom) == 1;
    d.vcpus = Number(p, np, "vcpu.current");
    if (auto kib = Number(p, np, "balloon.current")) d.memory_bytes = *kib * 1024;
    d.cpu_time_ns = Number(p, np, "cpu.time");
    const std::optional<uint64_t> blocks = Number(p, np, "block.count");
    for (uint64_t i = 0; blocks && i < *blocks; ++i) {
      const std::string b = "block." + std::to_string(i) + ".";
      Accumulate(&d.disk_size_bytes, Number(p, np, b + "capacity"));
      Accumulate(&d.disk_read_bytes, Number(p, np, b + "rd.bytes"));
      Accumulate(&d.disk_write_bytes, Number(p, np, b + "wr.bytes"));
      Accumulate(&d.disk_read_ops, Number(p, np, b + "rd.reqs"));
      Accumulate(&d.disk_write_ops, Number(p, np, b + "wr.reqs"));
    }
    const std::optional<uint64_t> nets = Number(p, np, "net.count");
    for (uint64_t i = 0; nets && i < *nets; ++i) {
      const std::string b = "net." + std::to_string(i) + ".";
      Accumulate(&d.net_rx_bytes, Number(p, np, b + "rx.bytes"));
      Accumulate(&d.net_tx_bytes, Number(p, np, b + "tx.bytes"));
    }
    FillIn(rec->dom, active, blocks.has_value(), nets.has_value(), &d);
    if (!active) {  // a shut-off domain counts nothing (its id is -1)
      d.cpu_time_ns.reset();
      d.id = -1;
    }
    out.push_back(std::move(d));
  }
  virDomainStatsRecordListFree(records);
  return out;
}

}  // namespace meterd::agent
