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
  auto refuse = [&](std::string w) {
    *why = std::move(w);
    return false;
  };
  // The fields as views into the line, without allocating (a backfill parses tens of millions
  // of lines); a line with a quote goes through SplitCsvLine, which unquotes.
  std::string_view f[4];
  std::vector<std::string> unquoted;
  if (line.find('"') == std::string_view::npos) {
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    size_t n = 0, start = 0;
    for (;;) {
      const size_t comma = line.find(',', start);
      if (n == 4) return refuse("expected 4 comma-separated fields");
      f[n++] = line.substr(start, comma == std::string_view::npos ? comma : comma - start);
      if (comma == std::string_view::npos) break;
      start = comma + 1;
    }
    if (n != 4) return refuse("expected 4 comma-separated fields");
  } else {
    if (!SplitCsvLine(line, &unquoted) || unquoted.size() != 4) {
      return refuse("expected 4 comma-separated fields");
    }
    for (size_t i = 0; i < 4; ++i) f[i] = unquoted[i];
  }
  std::string_view metric = f[1];
  std::string_view state_text;
  if (auto colon = metric.find(':'); colon != std::string_view::npos) {
    state_text = metric.substr(colon + 1);
    metric = metric.substr(0, colon);
  }
  // The metric's name in a buffer kept from row to row (the map is keyed by std::string).
  thread_local std::string metric_key;
  metric_key.assign(metric);
  auto type = types.find(metric_key);
  if (type == types.end()) return refuse("metric \"" + metric_key + "\" is not in the catalog");
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
  const std::string_view h = f[2];
  auto hour = ParseTimestamp(h);
  if (!hour && LacksTimeZone(h)) {
    std::string utc(h);
    utc[10] = 'T';
    return refuse("hour \"" + std::string(h) + "\" has no time zone: write \"" + utc +
                  "Z\" for UTC, or give its offset (\"+01:00\")");
  }
  if (!hour) return refuse("hour \"" + std::string(h) + "\" is neither unix seconds nor RFC 3339");
  if (*hour % 3600 != 0) {
    return refuse("hour \"" + std::string(h) + "\" is not a whole hour (unix seconds or RFC 3339)");
  }
  uint64_t bits = 0;
  const std::string_view v = f[3];
  if (type->second == wire::ValueType::Float) {
    double d = 0;
    auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), d);
    if (ec != std::errc() || p != v.data() + v.size() || !std::isfinite(d) || d < 0) {
      return refuse("value \"" + std::string(v) + "\" is not a finite non-negative number");
    }
    bits = storage::DoubleToBits(d);
  } else {
    std::string reason;
    auto n = ParseIntegralValue(v, &reason);
    if (!n) {
      return refuse("value \"" + std::string(v) + "\" " + reason + ": " + metric_key +
                    " takes unsigned integers");
    }
    bits = *n;
  }
  // Assigned, not moved: the row's strings keep their capacity from batch to batch.
  row->resource.assign(f[0]);
  row->metric.assign(metric);
  row->hour = *hour;
  row->state = state;
  row->value = bits;
  return true;
}

}  // namespace meterd::cli
