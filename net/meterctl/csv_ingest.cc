// meterd — net/meterctl/csv_ingest.cc
#include "net/meterctl/csv_ingest.h"

#include <charconv>
#include <chrono>
#include <cmath>
#include <fstream>
#include <functional>
#include <optional>
#include <set>
#include <unordered_map>

#include "engine/catalog.h"
#include "net/meterctl/csv_time.h"
#include "net/protocol/messages.h"
#include "storage/sample_batch.h"

namespace meterd::cli {
namespace {

constexpr size_t kMaxIngestExamples = 10;

struct Row {
  uint64_t line;
  uint64_t series;
  int64_t ts;
  uint64_t value;
};

void Note(CsvIngestReport* r, const std::string& reason, const std::string& example) {
  ++r->reasons[reason];
  if (r->examples.size() < kMaxIngestExamples) r->examples.push_back(example);
}

}  // namespace

Result<std::unordered_map<std::string, wire::ValueType>> ListMetricTypes(net::Client* c) {
  flatbuffers::FlatBufferBuilder fbb(64);
  const uint64_t id = c->NextRequestId();
  METERD_ASSIGN_OR_RETURN(auto bytes,
                          c->Call(net::FinishFrame(fbb, wire::CreateListMetrics(fbb, id)), id));
  const auto* list = wire::GetEnvelope(bytes.data())->message_as_MetricList();
  if (!list) return Status::Corruption("unexpected answer to ListMetrics");
  std::unordered_map<std::string, wire::ValueType> out;
  if (list->metrics()) {
    for (const wire::MetricInfo* m : *list->metrics())
      out[std::string(net::View(m->name()))] = m->type();
  }
  return out;
}

Result<std::unordered_map<uint64_t, std::string>> DefineAllSeries(
    net::Client* client, const std::map<uint64_t, net::SeriesKey>& keys) {
  std::unordered_map<uint64_t, std::string> refused;
  // A reply itemises at most 8 refusals: a chunk with more is defined again in eights
  // (definitions are idempotent) so that every refused series is known.
  std::function<Status(size_t, size_t)> define;
  std::vector<net::SeriesKey> all_keys;
  std::vector<uint64_t> all_ids;
  for (const auto& [id, key] : keys) {
    all_keys.push_back(key);
    all_ids.push_back(id);
  }
  define = [&](size_t begin, size_t end) -> Status {
    std::vector<net::SeriesKey> chunk(all_keys.begin() + begin, all_keys.begin() + end);
    METERD_ASSIGN_OR_RETURN(net::DefineResult d, client->DefineSeries(chunk));
    if (d.refused > d.refusals.size() && end - begin > 8) {
      for (size_t b = begin; b < end; b += 8) {
        METERD_RETURN_IF_ERROR(define(b, std::min(end, b + 8)));
      }
      return Status::OK();
    }
    for (const auto& r : d.refusals) refused[all_ids[begin + r.index]] = r.message;
    return Status::OK();
  };
  for (size_t b = 0; b < all_keys.size(); b += 1024) {
    METERD_RETURN_IF_ERROR(define(b, std::min(all_keys.size(), b + 1024)));
  }
  return refused;
}

Result<CsvIngestReport> IngestCsv(net::Client* client, const std::string& path,
                                  size_t batch_samples, const std::string& agent) {
  const auto t0 = std::chrono::steady_clock::now();
  CsvIngestReport report;
  std::ifstream in(path);
  if (!in) return Status::NotFound("cannot open " + path);
  METERD_ASSIGN_OR_RETURN(auto types, ListMetricTypes(client));

  std::string line;
  if (!std::getline(in, line) || !IsIngestCsvHeader(line)) {
    return Status::InvalidArgument(path +
                                   ": the first line must be the header "
                                   "\"resource,metric,timestamp,value\"");
  }
  std::vector<Row> rows;
  std::map<uint64_t, net::SeriesKey> keys;
  uint64_t lineno = 1;
  IngestCsvRow row;
  std::string reason, detail;
  while (std::getline(in, line)) {
    ++lineno;
    if (line.empty() || line == "\r") continue;
    ++report.rows;
    if (!ParseIngestCsvRow(line, types, &row, &reason, &detail)) {
      ++report.rejected;
      Note(&report, reason, "line " + std::to_string(lineno) + ": " + detail);
      continue;
    }
    const uint64_t id = net::SeriesIdOf(row.resource, row.metric);
    keys.try_emplace(id, net::SeriesKey{row.resource, row.metric});
    rows.push_back(Row{lineno, id, row.ts, row.value});
  }

  // Define every series met (idempotent); rows of refused series are rejected here.
  METERD_ASSIGN_OR_RETURN(auto refused, DefineAllSeries(client, keys));

  std::unordered_map<uint64_t, std::vector<uint64_t>> batch_lines;  // sequence -> line numbers
  client->set_ack_callback([&](const net::IngestAckInfo& ack) {
    report.accepted += ack.accepted;
    report.rejected += ack.rejected;
    auto& lines = batch_lines[ack.sequence];
    uint64_t listed = 0;
    for (const auto& r : ack.rejections) {
      ++listed;
      const uint64_t at = r.index < lines.size() ? lines[r.index] : 0;
      Note(&report, std::string(wire::EnumNameErrorCode(r.code)),
           "line " + std::to_string(at) + ": " + r.message);
    }
    if (ack.rejected > listed) report.reasons["(not itemised)"] += ack.rejected - listed;
    batch_lines.erase(ack.sequence);
  });

  net::IngestBatchData batch;
  batch.agent = agent;
  std::vector<uint64_t> lines;
  uint64_t sequence = 0;
  auto send = [&]() -> Status {
    if (batch.series.empty()) return Status::OK();
    int64_t base = INT64_MAX;
    for (size_t i = 0; i < lines.size(); ++i) base = std::min(base, rows[lines[i]].ts);
    batch.base_time = base;
    batch.offsets.clear();
    std::vector<uint64_t> line_numbers;
    for (uint64_t r : lines) {
      batch.offsets.push_back(static_cast<uint32_t>(rows[r].ts - base));
      line_numbers.push_back(rows[r].line);
    }
    batch.sequence = ++sequence;
    report.sent += batch.series.size();
    batch_lines[batch.sequence] = std::move(line_numbers);
    Status st = client->SendBatch(batch.sequence, net::BuildIngestFrame(batch));
    batch.series.clear();
    batch.values.clear();
    lines.clear();
    return st;
  };
  int64_t lo = INT64_MAX, hi = INT64_MIN;
  for (size_t i = 0; i < rows.size(); ++i) {
    const Row& r = rows[i];
    if (auto it = refused.find(r.series); it != refused.end()) {
      ++report.rejected;
      Note(&report, "series refused", "line " + std::to_string(r.line) + ": " + it->second);
      continue;
    }
    // Offsets are u32 seconds from the batch's base: start a new batch before they overflow.
    const int64_t nlo = std::min(lo, r.ts), nhi = std::max(hi, r.ts);
    if (batch.series.size() >= batch_samples || (nhi - nlo) > int64_t{UINT32_MAX}) {
      METERD_RETURN_IF_ERROR(send());
      lo = r.ts;
      hi = r.ts;
    } else {
      lo = nlo;
      hi = nhi;
    }
    batch.series.push_back(r.series);
    batch.values.push_back(r.value);
    lines.push_back(i);
  }
  METERD_RETURN_IF_ERROR(send());
  Status drained = client->Drain();
  report.unacknowledged = client->unacknowledged();
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (!drained.ok()) return drained;
  return report;
}

}  // namespace meterd::cli
