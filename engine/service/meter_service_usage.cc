// meterd — engine/service/meter_service_usage.cc: MeterService's usage queries and rollup
// rebuilds (docs/protocol.md, "Usage"). Both run on the query pool.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <unordered_map>

#include "engine/service/meter_service.h"
#include "engine/service/service_replies.h"
#include "net/protocol/messages.h"
#include "query/usage.h"

namespace meterd::engine {

namespace {

using net::ResponderPtr;

// Lines per UsageChunk frame: ~250 bytes each, so a frame stays near 2 MiB, far under the limit.
constexpr size_t kUsageChunkLines = 8192;

query::Granularity FromWire(wire::Granularity g) {
  switch (g) {
    case wire::Granularity::Day:
      return query::Granularity::kDay;
    case wire::Granularity::Month:
      return query::Granularity::kMonth;
    default:
      return query::Granularity::kHour;
  }
}

// Requests name instants; buckets are whole hours: [from, to) grows to the hours it touches.
void RoundOutToHours(int64_t* from, int64_t* to) {
  *from = storage::HourOf(*from);
  *to = storage::HourOf(*to - 1) + storage::kSecondsPerHour;
}

}  // namespace

std::vector<SeriesInfo> MeterService::MatchSeries(
    const std::string& resource, const std::string& project, const std::string& account,
    const std::string& metric, int64_t from, int64_t to, std::vector<HourWindows>* windows) const {
  std::vector<SeriesInfo> series = parts_.series->Matching(resource, metric);
  windows->clear();
  if (project.empty() && account.empty()) return series;
  if (parts_.billing == nullptr) return {};
  // Attribution is the tenancy's, hour by hour (as rating sees it): a resource's series belong
  // to the scope for the hours of its versions in the project / account.
  const std::shared_ptr<const tenancy::Tenancy> t = parts_.billing->Current().tenancy;
  const uint32_t project_index = project.empty() ? tenancy::kNone : t->ProjectIndex(project);
  const uint32_t account_index = account.empty() ? tenancy::kNone : t->AccountIndex(account);
  if ((!project.empty() && project_index == tenancy::kNone) ||
      (!account.empty() && account_index == tenancy::kNone)) {
    return {};
  }
  std::vector<SeriesInfo> out;
  std::string last_resource;
  HourWindows last_windows;
  for (SeriesInfo& s : series) {
    if (s.resource != last_resource || last_resource.empty()) {
      last_resource = s.resource;
      last_windows.clear();
      const uint32_t ri = t->ResourceForSeries(s.resource);
      if (ri != tenancy::kNone) {
        for (const tenancy::ResourceVersion& v : t->resources()[ri].versions) {
          const int64_t a = std::max(v.first_hour, from), b = std::min(v.end_hour, to);
          if (a >= b || v.deleted) continue;
          if ((project_index != tenancy::kNone && v.project_index != project_index) ||
              (account_index != tenancy::kNone && v.account_index != account_index)) {
            continue;
          }
          if (!last_windows.empty() && last_windows.back().second == a) {
            last_windows.back().second = b;  // consecutive versions in scope: one stretch
          } else {
            last_windows.emplace_back(a, b);
          }
        }
      }
    }
    if (last_windows.empty()) continue;
    out.push_back(std::move(s));
    windows->push_back(last_windows);
  }
  return out;
}

void MeterService::RunUsage(const UsageArgs& a, const ResponderPtr& r) {
  if (parts_.downsampler == nullptr) {
    return ReplyError(r, a.request_id, Status::NotSupported("this server keeps no rollups"));
  }
  if (a.from >= a.to) {
    return ReplyError(r, a.request_id, Status::InvalidArgument("usage needs from < to"));
  }
  int64_t from = a.from, to = a.to;
  RoundOutToHours(&from, &to);
  std::vector<HourWindows> windows;
  const std::vector<SeriesInfo> series =
      MatchSeries(a.resource, a.project, a.account, a.metric, from, to, &windows);

  // Series grouped by the hours they are read over: the whole window, or (with a project or
  // account) the stretches the tenancy attributes them there. A stretch is its own bucket: a
  // resource that leaves and re-enters the scope within one period gives a line per stretch.
  std::map<HourWindows, std::vector<query::UsageSeries>> groups;
  std::unordered_map<uint64_t, uint32_t> order;  // series id -> index in `series`
  order.reserve(series.size());
  const HourWindows whole{{from, to}};
  for (uint32_t i = 0; i < series.size(); ++i) {
    groups[windows.empty() ? whole : windows[i]].push_back(query::UsageSeries{
        series[i].id, static_cast<query::SeriesKind>(series[i].kind), series[i].type});
    order.emplace(series[i].id, i);
  }
  std::vector<uint64_t> ids;
  ids.reserve(series.size());
  for (const SeriesInfo& s : series) ids.push_back(s.id);
  std::sort(ids.begin(), ids.end());

  std::vector<query::UsageBucket> buckets;
  query::UsageStats stats;
  query::RollupView view;
  if (!ids.empty()) {
    view = parts_.downsampler->View(ids, from, to);
    for (auto& [hours, list] : groups) {
      query::UsageRequest req;
      req.granularity = FromWire(a.granularity);
      req.series = std::move(list);
      std::sort(
          req.series.begin(), req.series.end(),
          [](const query::UsageSeries& x, const query::UsageSeries& y) { return x.id < y.id; });
      for (const auto& [wa, wb] : hours) {
        req.from = wa;
        req.to = wb;
        if (Status st = query::ScanUsage(view, req, &buckets, &stats); !st.ok()) {
          return ReplyError(r, a.request_id, st);
        }
      }
    }
  } else {
    view.sealed_before = parts_.downsampler->sealed_before();
  }
  for (const std::string& d : stats.damaged) {
    spdlog::warn("event=rollup_damage detail=\"{}\"", d);
  }
  // Output order: resource, metric, period.
  std::sort(buckets.begin(), buckets.end(),
            [&](const query::UsageBucket& x, const query::UsageBucket& y) {
              const uint32_t ox = order[x.series_id], oy = order[y.series_id];
              return ox != oy ? ox < oy : x.start < y.start;
            });

  std::unordered_map<std::string, std::string> units;
  flatbuffers::FlatBufferBuilder fbb(1 << 16);
  std::vector<flatbuffers::Offset<wire::UsageLine>> lines;
  auto flush = [&](bool last) {
    std::vector<flatbuffers::Offset<flatbuffers::String>> dmg;
    if (last) {
      for (const auto& d : stats.damaged) dmg.push_back(fbb.CreateString(d));
    }
    auto chunk =
        wire::CreateUsageChunk(fbb, a.request_id, fbb.CreateVector(lines), last, view.sealed_before,
                               last ? stats.rows_scanned : 0, fbb.CreateVector(dmg));
    r->Send(net::FinishFrame(fbb, chunk));
    fbb.Clear();
    lines.clear();
  };
  for (const query::UsageBucket& b : buckets) {
    const SeriesInfo& info = series[order[b.series_id]];
    auto unit_it = units.find(info.metric);
    if (unit_it == units.end()) {
      auto def = parts_.catalog->Find(info.metric);
      unit_it = units.emplace(info.metric, def.ok() ? def.value().unit : "").first;
    }
    auto res = fbb.CreateString(info.resource);
    auto met = fbb.CreateString(info.metric);
    auto unit = fbb.CreateString(unit_it->second);
    flatbuffers::Offset<flatbuffers::Vector<uint64_t>> states;
    if (info.kind == MetricKind::kState) {
      states = fbb.CreateVector(b.state_seconds.data(), b.state_seconds.size());
    }
    wire::UsageLineBuilder lb(fbb);
    lb.add_resource(res);
    lb.add_metric(met);
    lb.add_unit(unit);
    lb.add_kind(static_cast<wire::MetricKind>(info.kind));
    lb.add_type(static_cast<wire::ValueType>(info.type));
    lb.add_start(b.start);
    lb.add_hours(b.hours);
    lb.add_provisional_hours(b.provisional_hours);
    lb.add_revised_hours(b.revised_hours);
    lb.add_imported_hours(b.imported_hours);
    lb.add_max_revision(b.max_revision);
    lb.add_last_revised_at(b.last_revised_at);
    lb.add_count(b.count);
    lb.add_held_seconds(b.held_seconds);
    lb.add_sum(b.sum);
    lb.add_min(b.min);
    lb.add_max(b.max);
    lb.add_last(b.last);
    lb.add_integral_lo(static_cast<uint64_t>(b.int_integral));
    lb.add_integral_hi(static_cast<uint64_t>(b.int_integral >> 64));
    lb.add_float_integral(b.float_integral);
    lb.add_increase_lo(static_cast<uint64_t>(b.increase));
    lb.add_increase_hi(static_cast<uint64_t>(b.increase >> 64));
    lb.add_resets(b.resets);
    if (!states.IsNull()) lb.add_state_seconds(states);
    lines.push_back(lb.Finish());
    if (lines.size() >= kUsageChunkLines) flush(false);
  }
  flush(true);
  r->Done();
}

void MeterService::RunRebuild(uint64_t request_id, int64_t from, int64_t to,
                              const std::string& resource, const std::string& metric,
                              const ResponderPtr& r) {
  if (parts_.downsampler == nullptr) {
    return ReplyError(r, request_id, Status::NotSupported("this server keeps no rollups"));
  }
  if (from >= to) {
    return ReplyError(r, request_id, Status::InvalidArgument("rebuild needs from < to"));
  }
  RoundOutToHours(&from, &to);
  const auto started = std::chrono::steady_clock::now();
  std::vector<SeriesInfo> series = parts_.series->Matching(resource, metric);
  std::unordered_map<uint64_t, const SeriesInfo*> by_id;
  std::vector<uint64_t> ids;
  for (const SeriesInfo& s : series) {
    ids.push_back(s.id);
    by_id.emplace(s.id, &s);
  }
  if (ids.empty()) {
    return ReplyError(r, request_id, Status::NotFound("no series matches the filters"));
  }
  Result<RebuildReport> rep = parts_.downsampler->Rebuild(from, to, ids);
  if (!rep.ok()) return ReplyError(r, request_id, rep.status());
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  spdlog::info(
      "event=rollup_rebuild from={} to={} series={} hours={} unchanged={} open_replaced={} "
      "revisions={} kept_imported={} kept_without_raw={} seconds={:.3f}",
      from, to, rep->series, rep->hours, rep->unchanged, rep->open_replaced, rep->revisions,
      rep->kept_imported, rep->kept_without_raw, seconds);
  flatbuffers::FlatBufferBuilder fbb(4096);
  std::vector<flatbuffers::Offset<wire::RebuiltBucket>> changes;
  for (const storage::RollupRow& row : rep->first_changes) {
    const SeriesInfo* info = by_id.at(row.series_id);
    changes.push_back(wire::CreateRebuiltBucket(fbb, fbb.CreateString(info->resource),
                                                fbb.CreateString(info->metric), row.hour,
                                                row.col[storage::kColRevision]));
  }
  // Hours where every bucket was unchanged are left out; the cap keeps the reply far below the
  // frame limit (65,536 x 24 bytes = 1.5 MiB, seven years of hours) whatever the range.
  constexpr size_t kMaxReplyHours = 65536;
  std::vector<wire::RebuildHour> by_hour;
  for (const RebuildHourCounts& h : rep->by_hour) {
    if (h.rebuilt == 0 && h.kept_imported == 0 && h.kept_without_raw == 0) continue;
    if (by_hour.size() == kMaxReplyHours) break;
    by_hour.emplace_back(h.hour, h.rebuilt, h.unchanged, h.kept_imported, h.kept_without_raw);
  }
  auto reply = wire::CreateRollupRebuildReply(
      fbb, request_id, rep->series, rep->hours, rep->unchanged, rep->open_replaced, rep->revisions,
      fbb.CreateVector(changes), seconds, rep->kept_imported, rep->kept_without_raw,
      fbb.CreateVectorOfStructs(by_hour));
  r->Send(net::FinishFrame(fbb, reply));
  r->Done();
}

void MeterService::OnBackfill(const wire::BackfillRequest& req, const ResponderPtr& r) {
  if (parts_.downsampler == nullptr) {
    return ReplyError(r, req.request_id(), Status::NotSupported("this server keeps no rollups"));
  }
  if (req.rollback()) {
    if (req.rows() && req.rows()->size() > 0) {
      return ReplyError(r, req.request_id(),
                        Status::InvalidArgument("a rollback request carries no rows"));
    }
    boost::asio::post(queries_, [this, id = req.request_id(), import = req.import_id(),
                                 dry = req.dry_run(), r] { RunRollback(id, import, dry, r); });
    return;
  }
  BackfillArgs args;
  args.request_id = req.request_id();
  args.options = ImportOptions{req.import_id(), req.chunk(), req.dry_run()};
  if (req.rows()) {
    args.rows = req.rows()->size();
    args.quantities.reserve(req.rows()->size());
    for (uint32_t i = 0; i < req.rows()->size(); ++i) {
      const wire::BackfillRow* row = req.rows()->Get(i);
      const std::string_view resource = net::View(row->resource());
      const std::string_view metric = net::View(row->metric());
      const uint64_t id = SeriesRegistry::IdOf(resource, metric);
      SeriesInfo info;
      if (!parts_.series->Lookup(id, &info) || info.resource != resource || info.metric != metric) {
        if (req.dry_run()) {
          // A dry run defines nothing: these rows would define their series first.
          ++args.new_series_rows;
          continue;
        }
        ++args.refused;
        if (args.refusals.size() < 32) {
          args.refusals.emplace_back(i, Status::NotFound("series " + std::string(resource) + "|" +
                                                         std::string(metric) + " is not defined"));
        }
        continue;
      }
      args.quantities.push_back(ImportedQuantity{i, id, row->hour(), row->state(), row->value()});
    }
  }
  // The import syncs the revision log: off the io thread.
  boost::asio::post(
      queries_, [this, args = std::move(args), r]() mutable { RunBackfill(std::move(args), r); });
}

void MeterService::RunBackfill(BackfillArgs args, const ResponderPtr& r) {
  Result<ImportReport> rep = parts_.downsampler->Import(args.quantities, args.options);
  if (!rep.ok()) return ReplyError(r, args.request_id, rep.status());
  auto& refusals = args.refusals;
  for (auto& f : rep->first_refusals) {
    if (refusals.size() < 32) refusals.push_back(std::move(f));
  }
  std::sort(refusals.begin(), refusals.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  // A repeated chunk's refused count is the recorded one, which already includes these.
  const uint64_t refused = rep->repeated ? rep->refused : args.refused + rep->refused;
  spdlog::info(
      "event=backfill import={} chunk={} dry_run={} repeated={} rows={} imported={} unchanged={} "
      "refused={} new_series_rows={}",
      rep->import_id, args.options.chunk, args.options.dry_run, rep->repeated, args.rows,
      rep->imported, rep->unchanged, refused, args.new_series_rows);
  flatbuffers::FlatBufferBuilder fbb(1024);
  std::vector<flatbuffers::Offset<wire::Refusal>> list;
  for (const auto& [index, status] : refusals) {
    list.push_back(wire::CreateRefusal(fbb, index, net::ToWireCode(status),
                                       fbb.CreateString(status.message())));
  }
  auto reply = wire::CreateBackfillReply(fbb, args.request_id, rep->imported, rep->unchanged,
                                         refused, fbb.CreateVector(list), rep->import_id,
                                         rep->repeated, args.new_series_rows);
  r->Send(net::FinishFrame(fbb, reply));
  r->Done();
}

void MeterService::RunRollback(uint64_t request_id, uint64_t import_id, bool dry_run,
                               const ResponderPtr& r) {
  Result<RollbackReport> rep = parts_.downsampler->Rollback(import_id, dry_run);
  if (!rep.ok()) return ReplyError(r, request_id, rep.status());
  spdlog::info("event=backfill_rollback import={} dry_run={} restored={} superseded={} already={}",
               import_id, dry_run, rep->restored, rep->superseded, rep->already);
  flatbuffers::FlatBufferBuilder fbb(256);
  auto reply = wire::CreateBackfillReply(fbb, request_id, rep->restored, 0, 0, 0, import_id, false,
                                         0, rep->superseded, rep->rolled_back_at, rep->already);
  r->Send(net::FinishFrame(fbb, reply));
  r->Done();
}

}  // namespace meterd::engine
