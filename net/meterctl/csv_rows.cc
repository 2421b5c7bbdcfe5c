// meterd — net/meterctl/csv_rows.cc
#include "net/meterctl/csv_rows.h"

#include <charconv>
#include <cmath>
#include <vector>

#include "engine/catalog.h"
#include "net/meterctl/csv_time.h"
#include "storage/sample_batch.h"

namespace meterd::cli {
namespace {

bool IsHeader(std::string_view line, std::string_view third) {
  std::vector<std::string> f;
  return SplitCsvLine(line, &f) && f.size() == 4 && f[0] == "resource" && f[1] == "metric" &&
         f[2] == third && f[3] == "value";
}

}  // namespace

std::optional<uint64_t> ParseStateName(std::string_view v) {
  for (uint64_t s = 1; s <= 6; ++s) {
    if (v == engine::VmStateName(s)) return s;
  }
  return std::nullopt;
}

bool IsIngestCsvHeader(std::string_view line) { return IsHeader(line, "timestamp"); }
bool IsBackfillCsvHeader(std::string_view line) { return IsHeader(line, "hour"); }

bool ParseIngestCsvRow(std::string_view line, const MetricTypes& types, IngestCsvRow* row,
                       std::string* reason, std::string* detail) {
  std::vector<std::string> f;
  auto bad = [&](std::string r, std::string d) {
    *reason = std::move(r);
    *detail = std::move(d);
    return false;
  };
  if (!SplitCsvLine(line, &f) || f.size() != 4) {
    return bad("malformed row", "expected 4 comma-separated fields");
  }
  auto type = types.find(f[1]);
  if (type == types.end()) {
    return bad("unknown metric", "metric \"" + f[1] + "\" is not in the catalog");
  }
  auto ts = ParseTimestamp(f[2]);
  if (!ts) return bad("bad timestamp", "\"" + f[2] + "\" is neither unix seconds nor RFC 3339");
  uint64_t bits = 0;
  const std::string& v = f[3];
  if (type->second == wire::ValueType::Float) {
    double d = 0;
    auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), d);
    if (ec != std::errc() || p != v.data() + v.size()) {
      return bad("bad value", "\"" + v + "\" is not a number");
    }
    bits = storage::DoubleToBits(d);
  } else {
    std::string why;
    if (auto n = ParseIntegralValue(v, &why)) {
      bits = *n;
    } else if (auto state = f[1] == "vm.state" ? ParseStateName(v) : std::nullopt) {
      bits = *state;
    } else {
      return bad("bad value", "\"" + v + "\" " + why + ": " + f[1] + " takes unsigned integers" +
                                  (f[1] == "vm.state" ? " or VM state names" : ""));
    }
  }
  row->resource = std::move(f[0]);
  row->metric = std::move(f[1]);
  row->ts = *ts;
  row->value = bits;
  return true;
}

bool ParseBackfillCsvRow(std::string_view line, const MetricTypes& types, BackfillCsvRow* row,
                         std::string* why) {
  std::vector<std::string> f;
  auto refuse = [&](std::string w) {
    *why = std::move(w);
    return false;
  };
  if (!SplitCsvLine(line, &f) || f.size() != 4) {
    return refuse("expected 4 comma-separated fields");
  }
  std::string metric = f[1];
  std::string state_text;
  if (auto colon = metric.find(':'); colon != std::string::npos) {
    state_text = metric.substr(colon + 1);
    metric.resize(colon);
  }
  auto type = types.find(metric);
  if (type == types.end()) return refuse("metric \"" + metric + "\" is not in the catalog");
  uint8_t state = 0;
  if (metric == "vm.state") {
    auto code = ParseStateName(state_text);
    if (!code) {
      return refuse("a vm.state row names its state: vm.state:running, vm.state:stopped, ...");
    }
    state = static_cast<uint8_t>(*code);
  } else if (!state_text.empty()) {
    return refuse("only state metrics take \":state\"");
  }
  auto hour = ParseTimestamp(f[2]);
  if (!hour && LacksTimeZone(f[2])) {
    std::string utc = f[2];
    utc[10] = 'T';
    return refuse("hour \"" + f[2] + "\" has no time zone: write \"" + utc +
                  "Z\" for UTC, or give its offset (\"+01:00\")");
  }
  if (!hour) return refuse("hour \"" + f[2] + "\" is neither unix seconds nor RFC 3339");
  if (*hour % 3600 != 0) {
    return refuse("hour \"" + f[2] + "\" is not a whole hour (unix seconds or RFC 3339)");
  }
  uint64_t bits = 0;
  const std::string& v = f[3];
  if (type->second == wire::ValueType::Float) {
    double d = 0;
    auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), d);
    if (ec != std::errc() || p != v.data() + v.size() || !std::isfinite(d) || d < 0) {
      return refuse("value \"" + v + "\" is not a finite non-negative number");
    }
    bits = storage::DoubleToBits(d);
  } else {
    std::string reason;
    auto n = ParseIntegralValue(v, &reason);
    if (!n) {
      return refuse("value \"" + v + "\" " + reason + ": " + metric + " takes unsigned integers");
    }
    bits = *n;
  }
  row->resource = std::move(f[0]);
  row->metric = std::move(metric);
  row->hour = *hour;
  row->state = state;
  row->value = bits;
  return true;
}

}  // namespace meterd::cli
