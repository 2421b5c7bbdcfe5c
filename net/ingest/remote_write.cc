// meterd — net/ingest/remote_write.cc
#include "net/ingest/remote_write.h"

#include <algorithm>
#include <cstring>

#include <google/protobuf/stubs/logging.h>

#include "net/schema/prometheus/remote.pb.h"

namespace meterd::net::ingest {

bool ParseRemoteWrite(std::string_view protobuf, RawBatch* out, std::string* why) {
  // libprotobuf logs every string field that is not UTF-8 to stderr: a client's bad body would
  // write meterd's log. The answer says why a body is refused; the log handler drops them.
  static const bool quiet = [] {
    google::protobuf::SetLogHandler(nullptr);
    return true;
  }();
  (void)quiet;
  prometheus::WriteRequest request;
  if (!request.ParseFromArray(protobuf.data(), static_cast<int>(protobuf.size()))) {
    *why = "the body is not a protobuf prometheus.WriteRequest (or a label is not UTF-8)";
    return false;
  }
  uint32_t number = 0;
  for (const prometheus::TimeSeries& ts : request.timeseries()) {
    ++number;
    std::string name;
    Labels labels;
    labels.reserve(ts.labels_size());
    for (const prometheus::Label& l : ts.labels()) {
      if (l.name() == "__name__") {
        name = l.value();
      } else {
        labels.emplace_back(l.name(), l.value());
      }
    }
    auto describe = [&] {
      std::string text = name + "{";
      for (size_t i = 0; i < labels.size(); ++i) {
        text += (i ? "," : "") + labels[i].first + "=\"" + labels[i].second + "\"";
      }
      return text + "}";
    };
    if (name.empty()) {
      out->AddIssue(number, "time series " + std::to_string(number) + " has no __name__ label",
                    describe());
      continue;
    }
    std::sort(labels.begin(), labels.end());
    bool twice = false;
    for (size_t i = 1; i < labels.size(); ++i) twice |= labels[i].first == labels[i - 1].first;
    if (twice) {
      out->AddIssue(number, "time series " + std::to_string(number) + " repeats a label name",
                    describe());
      continue;
    }
    const auto label_index = static_cast<uint32_t>(out->label_sets.size());
    out->label_sets.push_back(std::move(labels));
    for (const prometheus::Sample& s : ts.samples()) {
      uint64_t bits;
      const double v = s.value();
      std::memcpy(&bits, &v, sizeof bits);
      if (bits == kStaleNaNBits) {
        ++out->stale_markers;
        continue;
      }
      RawSample r;
      r.name = name;
      r.labels = label_index;
      int64_t ns;
      if (__builtin_mul_overflow(s.timestamp(), int64_t{1000000}, &ns)) {
        out->AddIssue(number, "timestamp " + std::to_string(s.timestamp()) + " ms is out of range",
                      describe());
        continue;
      }
      r.time_ns = ns;
      r.value.type = RawValue::Type::kFloat;
      r.value.f = v;
      r.line = number;
      out->samples.push_back(std::move(r));
    }
  }
  return true;
}

}  // namespace meterd::net::ingest
