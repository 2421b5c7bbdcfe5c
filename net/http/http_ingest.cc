// meterd — net/http/http_ingest.cc
#include "net/http/http_ingest.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <bit>
#include <cctype>
#include <chrono>
#include <cstring>
#include <map>
#include <nlohmann/json.hpp>

#include "net/http/http_internal.h"
#include "net/http/json_format.h"
#include "net/ingest/body_codec.h"
#include "net/ingest/collectd_json.h"
#include "net/ingest/influx_line.h"
#include "net/ingest/remote_write.h"
#include "storage/base/checksum.h"

namespace meterd::net {

namespace {

namespace asio = boost::asio;
// Ingest replies keep nlohmann::json's sorted keys (wire_json.h's Json keeps insertion order).
using PlainJson = nlohmann::json;
using ingest::Format;
using ingest::Refused;
using ingest::Unmapped;

HttpResponse JsonReply(unsigned status, const PlainJson& body) {
  HttpResponse r;
  r.status = status;
  r.body = body.dump(-1, ' ', false, PlainJson::error_handler_t::replace);
  r.body += '\n';
  return r;
}

PlainJson ErrorJson(std::string_view code, std::string_view message) {
  PlainJson body;
  body["error"]["code"] = code;
  body["error"]["message"] = message;
  return body;
}

HttpResponse WireError(wire::ErrorCode code, std::string_view message) {
  const char* name = wire::EnumNameErrorCode(code);
  HttpResponse r = JsonReply(HttpStatusOf(code), ErrorJson(*name ? name : "Internal", message));
  if (r.status == 401) r.headers.emplace_back("WWW-Authenticate", "Bearer realm=\"meterd\"");
  return r;
}

// The verified envelopes of a request's reply frames (each copied to 8-aligned memory).
bool VerifyReplies(const std::vector<std::vector<uint8_t>>& frames,
                   std::vector<std::vector<uint64_t>>* aligned,
                   std::vector<const wire::Envelope*>* out) {
  aligned->reserve(frames.size());
  for (const auto& frame : frames) {
    if (frame.size() < kFrameHeaderBytes) continue;
    const size_t n = frame.size() - kFrameHeaderBytes;
    aligned->emplace_back((n + 7) / 8);
    std::memcpy(aligned->back().data(), frame.data() + kFrameHeaderBytes, n);
    const wire::Envelope* e = nullptr;
    const auto* bytes = reinterpret_cast<const uint8_t*>(aligned->back().data());
    if (!VerifyFrame({bytes, n}, kDefaultMaxFrameBytes, &e).ok()) return false;
    out->push_back(e);
  }
  return true;
}

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

struct HttpIngest::Call : std::enable_shared_from_this<Call> {
  HttpIngest* owner = nullptr;
  Format format = Format::kInflux;
  std::string path;
  std::unordered_map<std::string, std::string> query;
  HttpRequest request;
  Handler* handler = nullptr;
  ApiConnection* conn = nullptr;
  IngestBackend backend;
  HttpReply reply;
  std::string owner_key;  // whose definitions ("hv:<hypervisor>" or "admin")

  ingest::RawBatch raw;
  struct Item {
    uint64_t id;
    int64_t second;
    int64_t ns;
    uint64_t value;
    uint32_t sample;  // index in raw.samples
  };
  std::vector<Item> items;
  // Series not known defined: id -> (resource, metric).
  std::unordered_map<uint64_t, std::pair<std::string, std::string>> fresh;
  // The resources of those series -> the type their rule registers them under (the first
  // rule's, when several name one resource).
  std::map<std::string, std::string> fresh_resources;
  std::array<uint64_t, ingest::kUnmappedReasons> unmapped{};
  std::array<uint64_t, ingest::kRefusedReasons> refused{};
  PlainJson problems = PlainJson::array();
  uint64_t problem_count = 0;

  std::mutex mu;
  size_t pending = 0;                   // GUARDED_BY(mu) acknowledgements still awaited
  uint64_t accepted = 0;                // GUARDED_BY(mu)
  uint64_t rejected = 0;                // GUARDED_BY(mu)
  uint64_t duplicates = 0;              // GUARDED_BY(mu) batches acknowledged as resends
  std::optional<HttpResponse> failure;  // GUARDED_BY(mu) the first error frame's answer

  Counters& counters() { return owner->counters(format); }

  void Problem(uint32_t line, std::string_view name, std::string_view reason,
               std::string_view message, std::string_view text = {}) {
    ++problem_count;
    if (problems.size() >= kMaxReported) return;
    PlainJson p;
    p["line"] = line;
    if (!name.empty()) p["name"] = name;
    p["reason"] = reason;
    p["message"] = message;
    if (!text.empty()) p["text"] = text;
    problems.push_back(std::move(p));
  }
  void Refuse(Refused why, const ingest::RawSample& s, const std::string& message) {
    ++refused[static_cast<size_t>(why)];
    Problem(s.line, s.name, ingest::RefusedName(why), message);
  }

  void Run();
  bool Decode(std::string* body);
  void MapSamples();
  void RegisterThenDefine();
  void DefineThenIngest();
  void IngestBatches();
  void OnAck(const std::vector<std::vector<uint8_t>>& frames, size_t first_item);
  void Finish();
};

// ---- decode, parse, map ----------------------------------------------------------------------

bool HttpIngest::Call::Decode(std::string* body) {
  std::string encoding = request.content_encoding;
  for (char& c : encoding) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  std::string why;
  ingest::DecodeResult r = ingest::DecodeResult::kOk;
  if (format == Format::kPrometheus) {
    if (!encoding.empty() && encoding != "snappy") {
      reply(JsonReply(415, ErrorJson("InvalidArgument",
                                     "remote_write bodies are snappy-compressed "
                                     "(Content-Encoding: snappy), not " +
                                         encoding)));
      return false;
    }
    r = ingest::SnappyUncompress(request.body, kMaxDecodedBytes, body, &why);
  } else if (encoding == "gzip" || encoding == "x-gzip") {
    r = ingest::Gunzip(request.body, kMaxDecodedBytes, body, &why);
  } else if (encoding.empty() || encoding == "identity") {
    *body = std::move(request.body);
  } else {
    reply(JsonReply(415, ErrorJson("InvalidArgument", "Content-Encoding " + encoding +
                                                          " is not served (gzip or none)")));
    return false;
  }
  if (r == ingest::DecodeResult::kTooLarge) {
    reply(WireError(wire::ErrorCode::FrameTooLarge, why));
    return false;
  }
  if (r != ingest::DecodeResult::kOk) {
    reply(WireError(wire::ErrorCode::InvalidArgument, why));
    return false;
  }
  return true;
}

void HttpIngest::Call::Run() {
  counters().requests.fetch_add(1, std::memory_order_relaxed);
  std::string body;
  if (!Decode(&body)) return;
  std::string why;
  bool ok = true;
  switch (format) {
    case Format::kInflux: {
      auto it = query.find("precision");
      const std::optional<int64_t> unit =
          ingest::InfluxPrecision(it == query.end() ? "" : it->second);
      if (!unit) {
        return reply(WireError(wire::ErrorCode::InvalidArgument,
                               "precision must be ns, us, ms, s, m or h (n, u also)"));
      }
      ingest::ParseInfluxLines(body, *unit, NowNs(), &raw);
      break;
    }
    case Format::kCollectd:
      ok = ingest::ParseCollectdJson(body, &raw, &why);
      break;
    case Format::kPrometheus:
      ok = ingest::ParseRemoteWrite(body, &raw, &why);
      break;
    case Format::kCount:
      break;
  }
  if (!ok) return reply(WireError(wire::ErrorCode::InvalidArgument, why));
  counters().samples.fetch_add(raw.samples.size() + raw.stale_markers, std::memory_order_relaxed);
  refused[static_cast<size_t>(Refused::kBadLine)] += raw.bad_lines;
  refused[static_cast<size_t>(Refused::kStaleMarker)] += raw.stale_markers;
  problem_count += raw.bad_lines;
  for (const ingest::ParseIssue& issue : raw.issues) {
    if (problems.size() >= kMaxReported) break;
    PlainJson p;
    p["line"] = issue.line;
    p["reason"] = "bad_line";
    p["message"] = issue.message;
    p["text"] = issue.text;
    problems.push_back(std::move(p));
  }
  MapSamples();
  RegisterThenDefine();
}

void HttpIngest::Call::MapSamples() {
  const ingest::IngestMapping& mapping = *backend.mapping;
  std::unordered_map<std::string, std::optional<ingest::MetricMeta>> metas;
  items.reserve(raw.samples.size());
  std::string why, key;
  std::unordered_set<uint64_t> seen;
  seen.reserve(raw.label_sets.size() * 2);
  for (uint32_t i = 0; i < raw.samples.size(); ++i) {
    const ingest::RawSample& s = raw.samples[i];
    ingest::MapResult m = mapping.Map(format, s.name, raw.label_sets[s.labels]);
    if (m.rule == nullptr) {
      ++unmapped[static_cast<size_t>(m.why)];
      std::string detail = m.why == Unmapped::kMissingLabel ? "label '" + m.missing + "' is absent"
                           : m.why == Unmapped::kBadResource
                               ? "resource '" + m.resource + "' is not a valid resource id"
                           : m.why == Unmapped::kDropped ? "a drop rule matches"
                                                         : "no rule matches the name";
      owner->LogUnmapped(format, s.name, ingest::UnmappedName(m.why), detail);
      Problem(s.line, s.name, ingest::UnmappedName(m.why), detail);
      continue;
    }
    auto meta_it = metas.find(m.rule->metric);
    if (meta_it == metas.end()) {
      meta_it = metas.emplace(m.rule->metric, backend.metric(m.rule->metric)).first;
      // A rule whose kind or unit disagree with the catalog (a metric defined after meterd
      // started) maps nothing: its samples would be billed under another meaning.
      if (meta_it->second && !ingest::IngestMapping::CheckRule(*m.rule, *meta_it->second).ok()) {
        meta_it->second.reset();
      }
    }
    if (!meta_it->second) {
      ++unmapped[static_cast<size_t>(Unmapped::kUnknownMetric)];
      const std::string detail =
          "metric " + m.rule->metric + " is not in the catalog (or differs from the rule)";
      owner->LogUnmapped(format, s.name, "unknown_metric", detail);
      Problem(s.line, s.name, "unknown_metric", detail);
      continue;
    }
    const int64_t second = ingest::FloorSeconds(s.time_ns);
    if (second < 0 || second > int64_t{UINT32_MAX}) {
      Refuse(Refused::kBadTimestamp, s,
             "time " + std::to_string(second) + " is not between 1970 and 2106");
      continue;
    }
    why.clear();
    std::optional<uint64_t> value =
        ingest::ConvertValue(s.value, m.rule->scale, *meta_it->second, &why);
    if (!value) {
      Refuse(Refused::kBadValue, s, why);
      continue;
    }
    key.clear();
    key.append(m.resource).push_back('|');
    key.append(m.rule->metric);
    const uint64_t id = base::Checksum64(key);
    // Each series is looked up once per request (the definitions' set is shared).
    if (seen.insert(id).second && !owner->Defined(owner_key, id)) {
      fresh_resources.emplace(m.resource, m.rule->resource_type);
      fresh.emplace(id, std::make_pair(std::move(m.resource), m.rule->metric));
    }
    items.push_back(Item{id, second, s.time_ns, *value, i});
  }
  // Per (series, second), the sample with the latest time wins (on a tie, the later one in the
  // body); the others are refused as superseded. Most bodies have no such pair: an
  // open-addressing table of item indices finds out in one pass, and only then are the items
  // sorted to resolve them (otherwise they keep the body's order).
  const size_t capacity = std::bit_ceil(std::max<size_t>(16, items.size() * 2));
  std::vector<uint32_t> slots(capacity, UINT32_MAX);
  bool duplicates = false;
  for (uint32_t i = 0; i < items.size() && !duplicates; ++i) {
    uint64_t h = items[i].id ^ (static_cast<uint64_t>(items[i].second) * 0x9e3779b97f4a7c15ull);
    h ^= h >> 29;
    for (size_t at = h & (capacity - 1);; at = (at + 1) & (capacity - 1)) {
      if (slots[at] == UINT32_MAX) {
        slots[at] = i;
        break;
      }
      const Item& other = items[slots[at]];
      if (other.id == items[i].id && other.second == items[i].second) {
        duplicates = true;
        break;
      }
    }
  }
  if (duplicates) {
    std::sort(items.begin(), items.end(), [](const Item& a, const Item& b) {
      if (a.id != b.id) return a.id < b.id;
      if (a.second != b.second) return a.second < b.second;
      if (a.ns != b.ns) return a.ns < b.ns;
      return a.sample < b.sample;  // body order
    });
    size_t kept = 0;
    for (size_t i = 0; i < items.size(); ++i) {
      if (i + 1 < items.size() && items[i + 1].id == items[i].id &&
          items[i + 1].second == items[i].second) {
        const ingest::RawSample& s = raw.samples[items[i].sample];
        Refuse(Refused::kSuperseded, s,
               "a later sample of the same series and second (" + std::to_string(items[i].second) +
                   ") wins");
        continue;
      }
      items[kept++] = items[i];
    }
    items.resize(kept);
  }
  for (size_t r = 0; r < ingest::kUnmappedReasons; ++r) {
    if (unmapped[r]) counters().unmapped[r].fetch_add(unmapped[r], std::memory_order_relaxed);
  }
  for (size_t r = 0; r < ingest::kRefusedReasons; ++r) {
    if (refused[r]) counters().refused[r].fetch_add(refused[r], std::memory_order_relaxed);
  }
}

// ---- through the binary protocol's handler ----------------------------------------------------

// The resources of series this key has not defined yet are registered first, as an agent does
// before it defines their series (docs/protocol.md, "Resources"): they are then listed by
// ListResourceHosts (an agent key's on its hypervisor, an admin's on none). Claim only: samples
// are not a hypervisor's listing of what runs on it, so a resource another hypervisor holds is
// not moved (its series are then refused as today) and a known one keeps its type.
void HttpIngest::Call::RegisterThenDefine() {
  if (items.empty()) return Finish();
  if (fresh_resources.empty()) return DefineThenIngest();
  flatbuffers::FlatBufferBuilder fbb(64 + fresh_resources.size() * 48);
  std::vector<flatbuffers::Offset<wire::Resource>> list;
  list.reserve(fresh_resources.size());
  for (const auto& [id, type] : fresh_resources) {
    list.push_back(wire::CreateResource(fbb, fbb.CreateString(id), fbb.CreateString(type)));
  }
  FinishFrame(fbb, wire::CreateRegisterResources(fbb, 1, fbb.CreateVector(list),
                                                 /*claim_only=*/true));
  auto self = shared_from_this();
  auto responder = std::make_shared<CollectingResponder>(
      kDefaultMaxFrameBytes, [self](std::vector<std::vector<uint8_t>> frames, bool) {
        std::vector<std::vector<uint64_t>> aligned;
        std::vector<const wire::Envelope*> replies;
        if (!VerifyReplies(frames, &aligned, &replies) || replies.empty()) {
          return self->reply(WireError(wire::ErrorCode::Internal,
                                       "a RegisterResources reply failed verification"));
        }
        const wire::Envelope* e = replies.front();
        if (e->message_type() == wire::Message::Error) {
          const wire::Error* err = e->message_as_Error();
          // A server that keeps no resource registry still takes the samples.
          if (err->code() != wire::ErrorCode::NotSupported) {
            return self->reply(WireError(err->code(), View(err->message())));
          }
        }
        // A refused registration (an id the mapping let through) leaves its series to the
        // definition's own check, which refuses them by name.
        asio::post(self->owner->pool(), [self] { self->DefineThenIngest(); });
      });
  handler->Handle(conn->session.get(), *wire::GetEnvelope(fbb.GetBufferPointer()),
                  std::move(responder));
}

void HttpIngest::Call::DefineThenIngest() {
  if (items.empty()) return Finish();
  if (fresh.empty()) return IngestBatches();
  flatbuffers::FlatBufferBuilder fbb(64 + fresh.size() * 64);
  std::vector<flatbuffers::Offset<wire::SeriesDef>> defs;
  std::vector<uint64_t> ids;
  defs.reserve(fresh.size());
  for (const auto& [id, rm] : fresh) {
    defs.push_back(
        wire::CreateSeriesDef(fbb, id, fbb.CreateString(rm.first), fbb.CreateString(rm.second)));
    ids.push_back(id);
  }
  FinishFrame(fbb, wire::CreateDefineSeries(fbb, 1, fbb.CreateVector(defs)));
  auto self = shared_from_this();
  auto responder = std::make_shared<CollectingResponder>(
      kDefaultMaxFrameBytes,
      [self, ids = std::move(ids)](std::vector<std::vector<uint8_t>> frames, bool) mutable {
        std::vector<std::vector<uint64_t>> aligned;
        std::vector<const wire::Envelope*> replies;
        if (!VerifyReplies(frames, &aligned, &replies) || replies.empty()) {
          return self->reply(
              WireError(wire::ErrorCode::Internal, "a DefineSeries reply failed verification"));
        }
        const wire::Envelope* e = replies.front();
        if (e->message_type() == wire::Message::Error) {
          const wire::Error* err = e->message_as_Error();
          return self->reply(WireError(err->code(), View(err->message())));
        }
        const wire::DefineSeriesOk* ok = e->message_as_DefineSeriesOk();
        if (ok == nullptr) {
          return self->reply(WireError(wire::ErrorCode::Internal, "unexpected DefineSeries reply"));
        }
        // Remember what was defined; a refused definition's samples are refused by the ingest
        // pipeline (unknown or foreign series) and reported from its acknowledgement.
        if (ok->refused() == 0) {
          self->owner->MarkDefined(self->owner_key, ids);
        } else if (ok->refusals() && ok->refusals()->size() == ok->refused()) {
          std::vector<bool> bad(ids.size());
          for (const wire::Refusal* r : *ok->refusals()) {
            if (r->index() < bad.size()) bad[r->index()] = true;
          }
          std::vector<uint64_t> good;
          for (size_t i = 0; i < ids.size(); ++i) {
            if (!bad[i]) good.push_back(ids[i]);
          }
          self->owner->MarkDefined(self->owner_key, good);
        }
        asio::post(self->owner->pool(), [self] { self->IngestBatches(); });
      });
  handler->Handle(conn->session.get(), *wire::GetEnvelope(fbb.GetBufferPointer()),
                  std::move(responder));
}

void HttpIngest::Call::IngestBatches() {
  const size_t n = items.size();
  const size_t chunks = (n + kBatchSamples - 1) / kBatchSamples;
  {
    std::lock_guard lock(mu);
    pending = chunks;
  }
  for (size_t c = 0; c < chunks; ++c) {
    const size_t begin = c * kBatchSamples;
    const size_t end = std::min(n, begin + kBatchSamples);
    int64_t base = INT64_MAX;
    for (size_t i = begin; i < end; ++i) base = std::min(base, items[i].second);
    std::vector<uint64_t> series(end - begin), values(end - begin);
    std::vector<uint32_t> offsets(end - begin);
    for (size_t i = begin; i < end; ++i) {
      series[i - begin] = items[i].id;
      offsets[i - begin] = static_cast<uint32_t>(items[i].second - base);
      values[i - begin] = items[i].value;
    }
    // The batch's identity: a hash of its columns, top bit set (the agent's own sequences never
    // reach it), so the same samples resent are a duplicate batch.
    uint64_t seq = base::Checksum64(series.data(), series.size() * 8);
    seq = base::Checksum64(offsets.data(), offsets.size() * 4, seq);
    seq = base::Checksum64(values.data(), values.size() * 8, seq);
    seq = base::Checksum64(&base, sizeof base, seq) | (uint64_t{1} << 63);
    flatbuffers::FlatBufferBuilder fbb(64 + (end - begin) * 24);
    FinishFrame(
        fbb, wire::CreateIngestBatch(fbb, fbb.CreateString(""), seq, base, fbb.CreateVector(series),
                                     fbb.CreateVector(offsets), fbb.CreateVector(values)));
    auto self = shared_from_this();
    auto responder = std::make_shared<CollectingResponder>(
        kDefaultMaxFrameBytes, [self, begin](std::vector<std::vector<uint8_t>> frames, bool) {
          self->OnAck(frames, begin);
        });
    handler->Handle(conn->session.get(), *wire::GetEnvelope(fbb.GetBufferPointer()),
                    std::move(responder));
  }
}

void HttpIngest::Call::OnAck(const std::vector<std::vector<uint8_t>>& frames, size_t first_item) {
  std::vector<std::vector<uint64_t>> aligned;
  std::vector<const wire::Envelope*> replies;
  bool done;
  {
    std::lock_guard lock(mu);
    if (!VerifyReplies(frames, &aligned, &replies) || replies.empty()) {
      if (!failure) failure = WireError(wire::ErrorCode::Internal, "an ack failed verification");
    } else if (const wire::Envelope* e = replies.front();
               e->message_type() == wire::Message::Error) {
      const wire::Error* err = e->message_as_Error();
      if (!failure) failure = WireError(err->code(), View(err->message()));
    } else if (const wire::IngestAck* ack = e->message_as_IngestAck()) {
      accepted += ack->accepted();
      rejected += ack->rejected();
      duplicates += ack->duplicate() ? 1 : 0;
      if (ack->rejections()) {
        for (const wire::Refusal* r : *ack->rejections()) {
          const size_t item = first_item + r->index();
          if (item >= items.size()) continue;
          const ingest::RawSample& s = raw.samples[items[item].sample];
          const char* code = wire::EnumNameErrorCode(r->code());
          Problem(s.line, s.name, std::string("rejected:") + (*code ? code : "?"),
                  View(r->message()));
        }
      }
      if (ack->rejected() > (ack->rejections() ? ack->rejections()->size() : 0)) {
        problem_count += ack->rejected() - (ack->rejections() ? ack->rejections()->size() : 0);
      }
    } else if (!failure) {
      failure = WireError(wire::ErrorCode::Internal, "unexpected reply to an ingest batch");
    }
    done = --pending == 0;
  }
  if (done) Finish();
}

void HttpIngest::Call::Finish() {
  std::lock_guard lock(mu);
  if (failure) return reply(std::move(*failure));
  counters().accepted.fetch_add(accepted, std::memory_order_relaxed);
  uint64_t unmapped_total = 0, refused_total = 0;
  for (uint64_t v : unmapped) unmapped_total += v;
  for (uint64_t v : refused) refused_total += v;
  // A staleness marker is the end of a series, not a problem.
  const uint64_t stale = refused[static_cast<size_t>(Refused::kStaleMarker)];
  if (unmapped_total == 0 && refused_total == stale && rejected == 0) {
    HttpResponse r;
    r.status = 204;
    r.content_type.clear();
    return reply(std::move(r));
  }
  PlainJson body;
  body["accepted"] = accepted;
  body["rejected"] = rejected;
  body["unmapped"] = unmapped_total;
  body["refused"] = refused_total;
  body["duplicate_batches"] = duplicates;
  PlainJson by = PlainJson::object();
  for (size_t r = 0; r < ingest::kUnmappedReasons; ++r) {
    if (unmapped[r]) by[ingest::UnmappedName(static_cast<Unmapped>(r))] = unmapped[r];
  }
  body["unmapped_by_reason"] = by;
  by = PlainJson::object();
  for (size_t r = 0; r < ingest::kRefusedReasons; ++r) {
    if (refused[r]) by[ingest::RefusedName(static_cast<Refused>(r))] = refused[r];
  }
  body["refused_by_reason"] = by;
  body["problems"] = problems;
  body["problems_not_listed"] =
      problem_count > problems.size() ? problem_count - problems.size() : 0;
  if (raw.bad_lines > 0) {
    const ingest::ParseIssue& first = raw.issues.front();
    body["error"]["code"] = "InvalidArgument";
    body["error"]["message"] = "line " + std::to_string(first.line) + ": " + first.message + " (" +
                               std::to_string(raw.bad_lines) +
                               " line(s) refused; the request's other samples were " + "stored)";
    return reply(JsonReply(400, body));
  }
  reply(JsonReply(200, body));
}

// ---- HttpIngest --------------------------------------------------------------------------------

HttpIngest::HttpIngest() = default;
HttpIngest::~HttpIngest() { pool_.join(); }
void HttpIngest::Stop() { pool_.join(); }

std::optional<Format> HttpIngest::RouteOf(std::string_view path) {
  if (path == "/write" || path == "/api/v2/write") return Format::kInflux;
  if (path == "/api/v1/write") return Format::kPrometheus;
  if (path == "/collectd") return Format::kCollectd;
  return std::nullopt;
}

bool HttpIngest::TakesParam(std::string_view path, std::string_view name) {
  if (path == "/write") {
    return name == "db" || name == "rp" || name == "precision" || name == "u" || name == "p" ||
           name == "consistency";
  }
  if (path == "/api/v2/write") {
    return name == "org" || name == "orgID" || name == "bucket" || name == "precision";
  }
  return false;
}

bool HttpIngest::Defined(const std::string& owner, uint64_t id) {
  std::lock_guard lock(defined_mu_);
  auto it = defined_.find(owner);
  return it != defined_.end() && it->second.contains(id);
}

void HttpIngest::MarkDefined(const std::string& owner, const std::vector<uint64_t>& ids) {
  std::lock_guard lock(defined_mu_);
  // Bounded: past a million remembered definitions start afresh (a DefineSeries of a known
  // series costs a lookup and answers "existing").
  if (defined_count_ + ids.size() > (1u << 20)) {
    defined_.clear();
    defined_count_ = 0;
  }
  auto& set = defined_[owner];
  for (uint64_t id : ids) defined_count_ += set.insert(id).second ? 1 : 0;
}

void HttpIngest::LogUnmapped(Format f, const std::string& name, const char* reason,
                             const std::string& detail) {
  {
    std::lock_guard lock(logged_mu_);
    if (logged_.size() >= 10000) return;
    if (!logged_.insert(std::string(ingest::FormatName(f)) + "\n" + name + "\n" + reason).second) {
      return;
    }
  }
  spdlog::warn(
      "event=ingest_unmapped format={} name=\"{}\" reason={} detail=\"{}\" note=\"logged "
      "once per name; counted in meterd_http_ingest_unmapped_samples_total\"",
      ingest::FormatName(f), LogSafe(name), reason, LogSafe(detail));
}

void HttpIngest::Serve(Format format, std::string_view path,
                       std::unordered_map<std::string, std::string> query, HttpRequest request,
                       Handler* handler, ApiConnection* connection, IngestBackend backend,
                       HttpReply reply) {
  if (connection->role == wire::Role::Billing || connection->role == wire::Role::Customer) {
    return reply(WireError(wire::ErrorCode::PermissionDenied,
                           std::string("a ") +
                               (connection->role == wire::Role::Billing ? "billing" : "customer") +
                               " key may not ingest"));
  }
  auto call = std::make_shared<Call>();
  call->owner = this;
  call->format = format;
  call->path = std::string(path);
  call->query = std::move(query);
  call->request = std::move(request);
  call->handler = handler;
  call->conn = connection;
  call->backend = std::move(backend);
  call->reply = std::move(reply);
  call->owner_key =
      connection->role == wire::Role::Agent ? "hv:" + connection->hypervisor : "admin";
  asio::post(pool_, [call] { call->Run(); });
}

std::string HttpIngest::Metrics() const {
  std::string out;
  auto family = [&](const char* name, const char* help) {
    out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " counter\n";
  };
  auto line = [&](const char* name, Format f, const char* reason, uint64_t v) {
    out += name;
    out += "{format=\"";
    out += ingest::FormatName(f);
    out += '"';
    if (reason) {
      out += ",reason=\"";
      out += reason;
      out += '"';
    }
    out += "} " + std::to_string(v) + "\n";
  };
  const Format formats[] = {Format::kInflux, Format::kCollectd, Format::kPrometheus};
  family("meterd_http_ingest_requests_total", "HTTP ingest requests, by format.");
  for (Format f : formats)
    line("meterd_http_ingest_requests_total", f, nullptr,
         counters_[static_cast<size_t>(f)].requests.load());
  family("meterd_http_ingest_samples_total", "Samples read from HTTP ingest bodies.");
  for (Format f : formats)
    line("meterd_http_ingest_samples_total", f, nullptr,
         counters_[static_cast<size_t>(f)].samples.load());
  family("meterd_http_ingest_accepted_samples_total",
         "HTTP ingest samples stored durably (acknowledged by the ingest pipeline).");
  for (Format f : formats)
    line("meterd_http_ingest_accepted_samples_total", f, nullptr,
         counters_[static_cast<size_t>(f)].accepted.load());
  family("meterd_http_ingest_unmapped_samples_total",
         "HTTP ingest samples the mapping file turned into no series, by reason.");
  for (Format f : formats) {
    for (size_t r = 0; r < ingest::kUnmappedReasons; ++r) {
      line("meterd_http_ingest_unmapped_samples_total", f,
           ingest::UnmappedName(static_cast<Unmapped>(r)),
           counters_[static_cast<size_t>(f)].unmapped[r].load());
    }
  }
  family("meterd_http_ingest_refused_samples_total",
         "HTTP ingest samples refused before the ingest pipeline, by reason.");
  for (Format f : formats) {
    for (size_t r = 0; r < ingest::kRefusedReasons; ++r) {
      line("meterd_http_ingest_refused_samples_total", f,
           ingest::RefusedName(static_cast<Refused>(r)),
           counters_[static_cast<size_t>(f)].refused[r].load());
    }
  }
  return out;
}

}  // namespace meterd::net
