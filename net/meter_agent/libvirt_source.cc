// meterd — net/meter_agent/libvirt_source.cc
#include "net/meter_agent/libvirt_source.h"

#include <algorithm>
#include <chrono>

namespace meterd::agent {

LibvirtSource::LibvirtSource(std::string uri, std::function<int64_t()> now)
    : uri_(std::move(uri)), now_(std::move(now)) {
  if (!now_) {
    now_ = [] {
      return std::chrono::duration_cast<std::chrono::seconds>(
                 std::chrono::system_clock::now().time_since_epoch())
          .count();
    };
  }
  next_ = now_();
}

int64_t LibvirtSource::next() const { return next_; }

Status LibvirtSource::Collect(storage::SampleBatch* batch, NewEntities* added) {
  const int64_t ts = std::max(next_, now_());
  next_ = ts + 1;
  if (!reader_) {
    auto r = LibvirtReader::Open(uri_);
    if (!r.ok()) return r.status();
    reader_ = std::move(r).value();
    ++opens_;
  }
  auto readings = reader_->ReadAll();
  if (!readings.ok()) {
    reader_.reset();
    return readings.status();
  }
  tracker_.Apply(ts, readings.value(), batch, added);
  return Status::OK();
}

}  // namespace meterd::agent
