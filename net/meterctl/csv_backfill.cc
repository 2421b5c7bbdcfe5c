// meterd — net/meterctl/csv_backfill.cc
#include "net/meterctl/csv_backfill.h"

#include <charconv>
#include <cmath>
#include <fstream>
#include <unordered_map>

#include "net/meterctl/csv_ingest.h"
#include "net/meterctl/csv_time.h"
#include "net/protocol/messages.h"
#include "storage/sample_batch.h"

namespace meterd::cli {
namespace {

// Rows per BackfillRequest: ~60 bytes each, so a request stays near 1 MiB.
constexpr size_t kRowsPerRequest = 16384;
constexpr size_t kMaxExamples = 20;

struct Row {
  uint64_t line;
  std::string resource, metric;
  int64_t hour;
  uint8_t state;
  uint64_t value;
};

}  // namespace

Result<BackfillReport> BackfillCsv(net::Client* client, const std::string& path) {
  BackfillReport report;
  std::ifstream in(path);
  if (!in) return Status::NotFound("cannot open " + path);
  METERD_ASSIGN_OR_RETURN(auto types, ListMetricTypes(client));
  std::string line;
  std::vector<std::string> f;
  if (!std::getline(in, line) || !SplitCsvLine(line, &f) || f.size() != 4 || f[0] != "resource" ||
      f[1] != "metric" || f[2] != "hour" || f[3] != "value") {
    return Status::InvalidArgument(path +
                                   ": the first line must be the header "
                                   "\"resource,metric,hour,value\"");
  }
  auto refuse = [&report](uint64_t lineno, const std::string& why) {
    ++report.refused;
    if (report.examples.size() < kMaxExamples) {
      report.examples.push_back("line " + std::to_string(lineno) + ": " + why);
    }
  };
  std::vector<Row> rows;
  std::map<uint64_t, net::SeriesKey> keys;
  uint64_t lineno = 1;
  while (std::getline(in, line)) {
    ++lineno;
    if (line.empty() || line == "\r") continue;
    ++report.rows;
    if (!SplitCsvLine(line, &f) || f.size() != 4) {
      refuse(lineno, "expected 4 comma-separated fields");
      continue;
    }
    std::string metric = f[1];
    std::string state_text;
    if (auto colon = metric.find(':'); colon != std::string::npos) {
      state_text = metric.substr(colon + 1);
      metric.resize(colon);
    }
    auto type = types.find(metric);
    if (type == types.end()) {
      refuse(lineno, "metric \"" + metric + "\" is not in the catalog");
      continue;
    }
    uint8_t state = 0;
    if (metric == "vm.state") {
      auto code = ParseStateName(state_text);
      if (!code) {
        refuse(lineno, "a vm.state row names its state: vm.state:running, vm.state:stopped, ...");
        continue;
      }
      state = static_cast<uint8_t>(*code);
    } else if (!state_text.empty()) {
      refuse(lineno, "only state metrics take \":state\"");
      continue;
    }
    auto hour = ParseTimestamp(f[2]);
    if (!hour || *hour % 3600 != 0) {
      refuse(lineno, "hour \"" + f[2] + "\" is not a whole hour (unix seconds or RFC 3339)");
      continue;
    }
    uint64_t bits = 0;
    const std::string& v = f[3];
    if (type->second == wire::ValueType::Float) {
      double d = 0;
      auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), d);
      if (ec != std::errc() || p != v.data() + v.size() || !std::isfinite(d) || d < 0) {
        refuse(lineno, "value \"" + v + "\" is not a finite non-negative number");
        continue;
      }
      bits = storage::DoubleToBits(d);
    } else {
      std::string why;
      auto n = ParseIntegralValue(v, &why);
      if (!n) {
        refuse(lineno, "value \"" + v + "\" " + why + ": " + metric + " takes unsigned integers");
        continue;
      }
      bits = *n;
    }
    keys.try_emplace(net::SeriesIdOf(f[0], metric), net::SeriesKey{f[0], metric});
    rows.push_back(Row{lineno, f[0], metric, *hour, state, bits});
  }
  METERD_ASSIGN_OR_RETURN(auto refused, DefineAllSeries(client, keys));

  std::vector<const Row*> batch;
  auto send = [&]() -> Status {
    if (batch.empty()) return Status::OK();
    flatbuffers::FlatBufferBuilder fbb(1 << 20);
    std::vector<flatbuffers::Offset<wire::BackfillRow>> list;
    for (const Row* r : batch) {
      list.push_back(wire::CreateBackfillRow(fbb, fbb.CreateString(r->resource),
                                             fbb.CreateString(r->metric), r->hour, r->state,
                                             r->value));
    }
    const uint64_t id = client->NextRequestId();
    auto req = wire::CreateBackfillRequest(fbb, id, fbb.CreateVector(list));
    METERD_ASSIGN_OR_RETURN(auto bytes, client->Call(net::FinishFrame(fbb, req), id));
    const auto* rep = wire::GetEnvelope(bytes.data())->message_as_BackfillReply();
    if (!rep) return Status::Corruption("unexpected answer to BackfillRequest");
    report.imported += rep->imported();
    report.unchanged += rep->unchanged();
    report.refused += rep->refused();
    uint64_t listed = 0;
    if (rep->refusals()) {
      for (const wire::Refusal* r : *rep->refusals()) {
        ++listed;
        const uint64_t at = r->index() < batch.size() ? batch[r->index()]->line : 0;
        if (report.examples.size() < kMaxExamples) {
          report.examples.push_back("line " + std::to_string(at) + ": " +
                                    std::string(net::View(r->message())));
        }
      }
    }
    if (rep->refused() > listed && report.examples.size() < kMaxExamples) {
      report.examples.push_back("(" + std::to_string(rep->refused() - listed) +
                                " more refusals not itemised)");
    }
    batch.clear();
    return Status::OK();
  };
  for (const Row& r : rows) {
    if (auto it = refused.find(net::SeriesIdOf(r.resource, r.metric)); it != refused.end()) {
      refuse(r.line, "series refused: " + it->second);
      continue;
    }
    batch.push_back(&r);
    if (batch.size() >= kRowsPerRequest) METERD_RETURN_IF_ERROR(send());
  }
  METERD_RETURN_IF_ERROR(send());
  return report;
}

}  // namespace meterd::cli
