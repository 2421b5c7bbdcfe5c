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
  if (!std::getline(in, line) || !IsBackfillCsvHeader(line)) {
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
  BackfillCsvRow row;
  std::string why;
  while (std::getline(in, line)) {
    ++lineno;
    if (line.empty() || line == "\r") continue;
    ++report.rows;
    if (!ParseBackfillCsvRow(line, types, &row, &why)) {
      refuse(lineno, why);
      continue;
    }
    keys.try_emplace(net::SeriesIdOf(row.resource, row.metric),
                     net::SeriesKey{row.resource, row.metric});
    rows.push_back(Row{lineno, row.resource, row.metric, row.hour, row.state, row.value});
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
