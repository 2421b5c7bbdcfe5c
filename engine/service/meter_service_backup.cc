// meterd — engine/service/meter_service_backup.cc: BackupRequest (meterctl backup).
#include <spdlog/spdlog.h>

#include "engine/service/data_backup.h"
#include "engine/service/meter_service.h"
#include "engine/service/service_replies.h"
#include "net/protocol/messages.h"

namespace meterd::engine {

void MeterService::RunBackup(uint64_t request_id, const std::string& to,
                             const net::ResponderPtr& r) {
  BackupSources src;
  src.data_dir = parts_.data_dir;
  src.store = parts_.store;
  src.ingest = parts_.ingest;
  src.rollup_clock = parts_.rollup_clock;
  src.billing_db = parts_.billing != nullptr ? parts_.billing->db() : nullptr;
  if (src.data_dir.empty()) {
    ReplyError(r, request_id, Status::NotSupported("backup: this server has no data directory"));
    return;
  }
  Result<BackupReport> rep = BackupDataDir(src, to);
  if (!rep.ok()) {
    spdlog::error("event=backup_failed to=\"{}\" error=\"{}\"", net::LogSafe(to),
                  rep.status().ToString());
    ReplyError(r, request_id, rep.status());
    return;
  }
  spdlog::info("event=backup to=\"{}\" files={} linked={} copied_bytes={} paused_ms={:.1f}",
               net::LogSafe(to), rep->files, rep->linked, rep->copied_bytes,
               static_cast<double>(rep->paused.count()) / 1000.0);
  flatbuffers::FlatBufferBuilder fbb(128);
  Reply(r, net::FinishFrame(fbb, wire::CreateBackupReply(
                                     fbb, request_id, rep->files, rep->linked, rep->copied_bytes,
                                     static_cast<uint64_t>(rep->paused.count()))));
}

}  // namespace meterd::engine
