// meterd — engine/catalog/metric_catalog.cc
#include "engine/catalog.h"

namespace meterd::engine {
namespace {

using storage::ValueType;

// Metric names and units are bounded so that series keys stay short and printable.
constexpr size_t kMaxNameLength = 64;
constexpr size_t kMaxUnitLength = 32;

}  // namespace

const char* MetricKindName(MetricKind kind) {
  switch (kind) {
    case MetricKind::kGauge:
      return "gauge";
    case MetricKind::kCounter:
      return "counter";
    case MetricKind::kState:
      return "state";
  }
  return "unknown";
}

std::optional<MetricKind> ParseMetricKind(std::string_view name) {
  if (name == "gauge") return MetricKind::kGauge;
  if (name == "counter") return MetricKind::kCounter;
  if (name == "state") return MetricKind::kState;
  return std::nullopt;
}

const char* VmStateName(uint64_t state) {
  switch (static_cast<VmState>(state)) {
    case VmState::kRunning:
      return "running";
    case VmState::kStopped:
      return "stopped";
    case VmState::kAllocated:
      return "allocated";
    case VmState::kPaused:
      return "paused";
    case VmState::kSuspended:
      return "suspended";
    case VmState::kDeleted:
      return "deleted";
  }
  return "unknown";
}

const std::vector<MetricDef>& MetricCatalog::Builtins() {
  static const std::vector<MetricDef> builtins = {
      {"vm.state", MetricKind::kState, "state", ValueType::kInt,
       "VM lifecycle state: 1 running, 2 stopped, 3 allocated, 4 paused, 5 suspended, 6 deleted",
       true},
      {"vm.vcpus", MetricKind::kGauge, "vcpus", ValueType::kInt, "virtual CPUs assigned", true},
      {"vm.memory_bytes", MetricKind::kGauge, "bytes", ValueType::kInt, "memory assigned", true},
      {"vm.cpu_time_ns", MetricKind::kCounter, "ns", ValueType::kInt,
       "CPU time consumed by all vCPUs", true},
      {"disk.size_bytes", MetricKind::kGauge, "bytes", ValueType::kInt,
       "provisioned size of a volume", true},
      {"disk.read_bytes", MetricKind::kCounter, "bytes", ValueType::kInt, "bytes read", true},
      {"disk.write_bytes", MetricKind::kCounter, "bytes", ValueType::kInt, "bytes written", true},
      {"disk.read_ops", MetricKind::kCounter, "ops", ValueType::kInt, "read operations", true},
      {"disk.write_ops", MetricKind::kCounter, "ops", ValueType::kInt, "write operations", true},
      {"net.rx_bytes", MetricKind::kCounter, "bytes", ValueType::kInt, "bytes received", true},
      {"net.tx_bytes", MetricKind::kCounter, "bytes", ValueType::kInt, "bytes sent", true},
      {"ip.count", MetricKind::kGauge, "ips", ValueType::kInt, "public IP addresses held", true},
      {"snapshot.size_bytes", MetricKind::kGauge, "bytes", ValueType::kInt, "size of a snapshot",
       true},
      {"vm.cpu_utilisation", MetricKind::kGauge, "ratio", ValueType::kFloat,
       "CPU utilisation, 0..1 per vCPU-second (informational)", true},
  };
  return builtins;
}

MetricCatalog::MetricCatalog() {
  for (const MetricDef& def : Builtins()) metrics_.emplace(def.name, def);
}

Status MetricCatalog::ValidateName(std::string_view name) {
  if (name.empty() || name.size() > kMaxNameLength) {
    return Status::InvalidArgument("metric name must have 1 to 64 characters");
  }
  if (name.front() < 'a' || name.front() > 'z') {
    return Status::InvalidArgument("metric name '" + std::string(name) +
                                   "' must start with a lower-case letter");
  }
  char prev = 0;
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.';
    if (!ok) {
      return Status::InvalidArgument("metric name '" + std::string(name) +
                                     "' may hold only a-z, 0-9, '_' and '.'");
    }
    if (c == '.' && prev == '.') {
      return Status::InvalidArgument("metric name '" + std::string(name) + "' has an empty part");
    }
    prev = c;
  }
  if (prev == '.') {
    return Status::InvalidArgument("metric name '" + std::string(name) + "' ends with '.'");
  }
  return Status::OK();
}

Status MetricCatalog::Define(const MetricDef& def) {
  METERD_RETURN_IF_ERROR(ValidateName(def.name));
  if (def.unit.empty() || def.unit.size() > kMaxUnitLength) {
    return Status::InvalidArgument("metric '" + def.name + "': unit must have 1 to 32 characters");
  }
  if (def.kind == MetricKind::kState && def.type != ValueType::kInt) {
    return Status::InvalidArgument("metric '" + def.name + "': a state metric holds integers");
  }
  if (def.kind == MetricKind::kCounter && def.type != ValueType::kInt) {
    return Status::InvalidArgument("metric '" + def.name +
                                   "': a counter holds exact integers, not floats");
  }
  std::lock_guard<std::mutex> lock(mu_);
  auto it = metrics_.find(def.name);
  if (it != metrics_.end()) {
    if (it->second.SameMeaning(def)) return Status::OK();
    return Status::AlreadyExists("metric '" + def.name + "' is already defined as " +
                                 MetricKindName(it->second.kind) + " in " + it->second.unit);
  }
  MetricDef copy = def;
  copy.builtin = false;
  metrics_.emplace(copy.name, std::move(copy));
  return Status::OK();
}

Result<MetricDef> MetricCatalog::Find(std::string_view name) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = metrics_.find(name);
  if (it == metrics_.end()) return Status::NotFound("no metric '" + std::string(name) + "'");
  return it->second;
}

std::vector<MetricDef> MetricCatalog::List() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<MetricDef> out;
  for (const auto& [name, def] : metrics_) out.push_back(def);
  return out;
}

}  // namespace meterd::engine
