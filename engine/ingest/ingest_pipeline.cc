// meterd — engine/ingest/ingest_pipeline.cc
#include "engine/ingest/ingest_pipeline.h"

#include <algorithm>
#include <cmath>
#include <ctime>
#include <utility>

#include "storage/base/checksum.h"

namespace meterd::engine {
namespace {

void Reject(IngestOutcome* out, uint32_t index, RejectReason why, Status reason) {
  ++out->rejected;
  ++out->rejected_by_reason[static_cast<size_t>(why)];
  if (out->first_rejections.size() < storage::kMaxReportedRejections) {
    out->first_rejections.push_back(storage::SampleRejection{index, std::move(reason)});
  }
}

}  // namespace

const char* RejectReasonName(RejectReason reason) {
  switch (reason) {
    case RejectReason::kUnknownSeries:
      return "unknown_series";
    case RejectReason::kForeignSeries:
      return "foreign_series";
    case RejectReason::kOutOfRange:
      return "out_of_range";
    case RejectReason::kNotFinite:
      return "not_finite";
    case RejectReason::kBadState:
      return "bad_state";
    case RejectReason::kCounterConflict:
      return "counter_conflict";
    case RejectReason::kStore:
    case RejectReason::kCount:
      break;
  }
  return "store";
}

bool IsFinalIngestRefusal(const Status& status) {
  return status.code() == Status::Code::kPermissionDenied ||
         status.code() == Status::Code::kInvalidArgument;
}

void IngestPipeline::RefreshCache(const Principal& who, const IngestRequest& request,
                                  IngestSessionCache* cache) {
  const uint64_t generation = registry_->generation();
  const uint64_t hash = base::Checksum64(request.series.data(), request.series.size_bytes());
  if (cache->generation == generation && cache->series_hash == hash &&
      cache->series_count == request.series.size()) {
    return;
  }
  cache->generation = generation;
  cache->series_hash = hash;
  cache->series_count = request.series.size();
  cache->owner = registry_->OwnerId(who.key.hypervisor);
  cache->slots.resize(request.series.size());
  registry_->LookupMany(request.series, cache->slots.data());
}

Result<IngestOutcome> IngestPipeline::Ingest(const Principal& who, const IngestRequest& req,
                                             IngestSessionCache* cache) {
  IngestOutcome out;
  const uint32_t n = static_cast<uint32_t>(req.series.size());
  batches_.fetch_add(1, std::memory_order_relaxed);
  if (who.key.role == Role::kBilling || who.key.role == Role::kCustomer) {
    return Status::PermissionDenied(std::string("a ") + RoleName(who.key.role) +
                                    " key may not ingest");
  }
  if (req.offsets.size() != n || req.values.size() != n) {
    return Status::InvalidArgument(
        "ingest batch columns differ in length (series " + std::to_string(n) + ", offsets " +
        std::to_string(req.offsets.size()) + ", values " + std::to_string(req.values.size()) + ")");
  }
  const bool is_agent = who.key.role == Role::kAgent;
  if (is_agent && !req.agent.empty() && req.agent != who.key.hypervisor) {
    return Status::PermissionDenied("agent key for hypervisor \"" + who.key.hypervisor +
                                    "\" may not send as agent \"" + std::string(req.agent) + "\"");
  }
  // Dedup identity: an agent key's hypervisor; else the agent field, else the key itself.
  const std::string agent = is_agent             ? who.key.hypervisor
                            : !req.agent.empty() ? std::string(req.agent)
                                                 : "key:" + who.key.id;

  RefreshCache(who, req, cache);
  const storage::StoreOptions& options = store_->options();
  const int64_t now = options.now ? options.now() : static_cast<int64_t>(std::time(nullptr));
  const int64_t newest = now + options.max_future_seconds;
  const int64_t oldest =
      options.retention_seconds > 0 ? now - options.retention_seconds : INT64_MIN;

  std::lock_guard lock(mu_);
  auto& window = dedup_[agent];
  if (auto it = window.find(req.sequence); it != window.end()) {
    out.duplicate = true;
    out.lsn = it->second.lsn;
    out.accepted = it->second.accepted;
    out.rejected = it->second.rejected;
    duplicates_.fetch_add(1, std::memory_order_relaxed);
    return out;
  }
  if (counters_state_.size() < registry_->size()) counters_state_.resize(registry_->size() + 1024);

  batch_.Clear();
  batch_.Reserve(n);
  batch_rows_.clear();
  counter_checks_.clear();
  for (uint32_t i = 0; i < n; ++i) {
    const SeriesSlot& slot = cache->slots[i];
    const int64_t ts = req.base_time + static_cast<int64_t>(req.offsets[i]);
    const uint64_t v = req.values[i];
    if (slot.index == UINT32_MAX) {
      Reject(&out, i, RejectReason::kUnknownSeries,
             Status::NotFound("series " + std::to_string(req.series[i]) + " is not defined"));
      continue;
    }
    if (is_agent && (slot.owner == 0 || slot.owner != cache->owner)) {
      Reject(&out, i, RejectReason::kForeignSeries,
             Status::PermissionDenied("series " + std::to_string(req.series[i]) +
                                      " belongs to another hypervisor"));
      continue;
    }
    if (ts > newest || ts < oldest) {
      Reject(&out, i, RejectReason::kOutOfRange,
             Status::OutOfRange(
                 "timestamp " + std::to_string(ts) +
                 (ts > newest ? " is too far in the future" : " is older than the raw retention")));
      continue;
    }
    if (slot.type == storage::ValueType::kFloat && !std::isfinite(storage::BitsToDouble(v))) {
      Reject(&out, i, RejectReason::kNotFinite,
             Status::InvalidArgument("value is NaN or infinite"));
      continue;
    }
    if (slot.kind == MetricKind::kState && v >= storage::kStateSlots) {
      // Rollups keep seconds for state codes 0..7 (docs/metrics.md): a larger code would be
      // stored but never billed.
      Reject(&out, i, RejectReason::kBadState,
             Status::InvalidArgument("state code " + std::to_string(v) + " is outside 0..7"));
      continue;
    }
    if (slot.kind == MetricKind::kCounter) {
      // Any value may follow any other (a decrease is a reset); only a second that may already
      // hold a value is looked up (rule 5, CheckCounterSeconds).
      if (slot.index >= counters_state_.size()) counters_state_.resize(slot.index + 1024);
      CounterState& st = counters_state_[slot.index];
      if (st.known && ts > st.newest) {
        st.newest = ts;
      } else {
        counter_checks_.push_back(static_cast<uint32_t>(batch_.size()));
      }
    }
    batch_.Add(req.series[i], ts, v, slot.type);
    batch_rows_.push_back(i);
  }
  if (!counter_checks_.empty()) METERD_RETURN_IF_ERROR(CheckCounterSeconds(*cache, &out));
  if (!batch_.empty()) {
    uint64_t late_id = 0;
    if (downsampler_ != nullptr) {
      // Closed hours are hour-aligned, so "its hour is closed" is ts < closing.
      const int64_t closing = downsampler_->closing_before();
      late_.clear();
      const int64_t* times = batch_.timestamps().data();
      // Offsets are unsigned: no sample of a request is older than its base time, so nearly
      // every batch needs no per-sample look.
      if (req.base_time < closing) {
        for (size_t j = 0; j < batch_.size(); ++j) {
          if (times[j] < closing) late_.push_back(LateSample{batch_.series()[j], times[j]});
        }
      }
      // With no sample refused above, batch rows are request rows: reuse the cached slots.
      if (batch_.size() != n) {
        batch_slots_.resize(batch_.size());
        for (size_t j = 0; j < batch_.size(); ++j) batch_slots_[j] = cache->slots[batch_rows_[j]];
      }
      if (!late_.empty()) {
        CoalesceLate(&late_);  // a pending record holds two entries per series at most
        METERD_ASSIGN_OR_RETURN(late_id, downsampler_->MarkLate(late_));
      }
    }
    METERD_ASSIGN_OR_RETURN(storage::AppendResult appended, store_->Append(batch_));
    if (downsampler_ != nullptr && (appended.accepted > 0 || late_id != 0)) {
      const std::span<const SeriesSlot> slots = batch_.size() == n
                                                    ? std::span<const SeriesSlot>(cache->slots)
                                                    : std::span<const SeriesSlot>(batch_slots_);
      METERD_RETURN_IF_ERROR(
          downsampler_->Apply(batch_, slots, appended.rejected > 0, late_id, appended.lsn));
    }
    out.lsn = appended.lsn;
    out.accepted = appended.accepted;
    for (storage::SampleRejection& r : appended.first_rejections) {
      r.index = batch_rows_[r.index];
      Reject(&out, r.index, RejectReason::kStore, std::move(r.reason));
    }
    const uint32_t unreported =
        appended.rejected - static_cast<uint32_t>(appended.first_rejections.size());
    out.rejected += unreported;
    out.rejected_by_reason[static_cast<size_t>(RejectReason::kStore)] += unreported;
  }
  window.emplace(req.sequence, DedupEntry{out.lsn, out.accepted, out.rejected});
  out.dedup_agent = agent;
  if (window.size() > kDedupWindow) window.erase(window.begin());
  accepted_.fetch_add(out.accepted, std::memory_order_relaxed);
  rejected_.fetch_add(out.rejected, std::memory_order_relaxed);
  for (size_t i = 0; i < kRejectReasons; ++i) {
    if (out.rejected_by_reason[i] != 0) {
      rejected_by_reason_[i].fetch_add(out.rejected_by_reason[i], std::memory_order_relaxed);
    }
  }
  return out;
}

Status IngestPipeline::CheckCounterSeconds(const IngestSessionCache& cache, IngestOutcome* out) {
  using Key = std::pair<uint64_t, int64_t>;  // (series, second)
  const std::vector<uint64_t>& ids = batch_.series();
  const std::vector<int64_t>& times = batch_.timestamps();
  const std::vector<uint64_t>& values = batch_.values();
  // The seconds to look up, and their series.
  std::vector<Key> wanted;
  wanted.reserve(counter_checks_.size());
  for (const uint32_t j : counter_checks_) wanted.emplace_back(ids[j], times[j]);
  std::sort(wanted.begin(), wanted.end());
  wanted.erase(std::unique(wanted.begin(), wanted.end()), wanted.end());
  std::vector<uint64_t> series;
  int64_t from = INT64_MAX;
  for (const Key& k : wanted) {
    if (series.empty() || series.back() != k.first) series.push_back(k.first);
    from = std::min(from, k.second);
  }
  // One scan to the end of time: it finds the stored values of the wanted seconds and each
  // series' newest stored second (a series not yet known since the start may have newer ones).
  std::map<Key, uint64_t> first;  // a second's first value: the store's, else the batch's
  std::map<uint64_t, int64_t> stored_newest;
  storage::ScanRequest scan;
  scan.series = series;
  scan.from = from;
  // A damaged block is reported and quarantined by the scan and never served: its seconds are
  // as good as empty here too.
  METERD_RETURN_IF_ERROR(
      store_->Scan(scan, [&](uint64_t id, storage::ValueType, std::span<const int64_t> ts,
                             std::span<const uint64_t> v) {
        if (ts.empty()) return;
        int64_t& newest = stored_newest.try_emplace(id, INT64_MIN).first->second;
        newest = std::max(newest, ts.back());
        auto it = std::lower_bound(wanted.begin(), wanted.end(), Key{id, ts.front()});
        for (; it != wanted.end() && it->first == id && it->second <= ts.back(); ++it) {
          const auto at = std::lower_bound(ts.begin(), ts.end(), it->second);
          if (at != ts.end() && *at == it->second) first.emplace(*it, v[at - ts.begin()]);
        }
      }));
  // Every row of those series in batch order: the first value of a second stays.
  std::vector<uint32_t> refused;
  for (uint32_t j = 0; j < batch_.size(); ++j) {
    if (!std::binary_search(series.begin(), series.end(), ids[j])) continue;
    CounterState& st = counters_state_[cache.slots[batch_rows_[j]].index];
    if (!st.known) {
      st.known = true;
      if (auto s = stored_newest.find(ids[j]); s != stored_newest.end()) st.newest = s->second;
    }
    st.newest = std::max(st.newest, times[j]);
    const auto [it, inserted] = first.emplace(Key{ids[j], times[j]}, values[j]);
    if (inserted || it->second == values[j]) continue;
    Reject(
        out, batch_rows_[j], RejectReason::kCounterConflict,
        Status::InvalidArgument("counter second " + std::to_string(times[j]) + " already holds " +
                                std::to_string(it->second) + ", not " + std::to_string(values[j]) +
                                " (a counter's stored sample is never replaced)"));
    refused.push_back(j);
  }
  if (refused.empty()) return Status::OK();
  storage::SampleBatch kept;
  std::vector<uint32_t> kept_rows;
  kept.Reserve(batch_.size() - refused.size());
  kept_rows.reserve(batch_.size() - refused.size());
  size_t r = 0;
  for (uint32_t j = 0; j < batch_.size(); ++j) {
    if (r < refused.size() && refused[r] == j) {
      ++r;
      continue;
    }
    kept.Add(batch_.at(j));
    kept_rows.push_back(batch_rows_[j]);
  }
  batch_ = std::move(kept);
  batch_rows_ = std::move(kept_rows);
  return Status::OK();
}

int64_t IngestPipeline::CloseDue() {
  if (downsampler_ == nullptr) return 0;
  std::lock_guard lock(mu_);
  return downsampler_->CloseDue();
}

Status IngestPipeline::WhilePaused(const std::function<Status()>& fn) {
  std::lock_guard lock(mu_);
  return fn();
}

IngestCounters IngestPipeline::counters() const {
  IngestCounters c{accepted_.load(), rejected_.load(), duplicates_.load(), batches_.load(), {}};
  for (size_t i = 0; i < kRejectReasons; ++i)
    c.rejected_by_reason[i] = rejected_by_reason_[i].load();
  return c;
}

void IngestPipeline::Forget(const std::string& agent, uint64_t sequence, uint64_t lsn) {
  std::lock_guard lock(mu_);
  auto window = dedup_.find(agent);
  if (window == dedup_.end()) return;
  auto it = window->second.find(sequence);
  if (it != window->second.end() && it->second.lsn == lsn) window->second.erase(it);
}

}  // namespace meterd::engine
