// meterd — net/meterctl/main.cc: the command-line client of meterd.
//
//   meterctl CMD [SUBCMD] [OPTIONS] [--server HOST:PORT] [--key KEY | --key-file FILE]
//            [--format table|csv|json]
//
// Commands: ingest, export, usage, backfill, rollup rebuild, apply, estimate, charges, rerate,
// stats, keys create|list|revoke, metrics list|define, completion bash|zsh. The global options
// (--server, --key, --key-file, --format) go anywhere on the line and every --help lists them;
// `--format json` prints exactly one JSON document on stdout (notes go to stderr). The
// conventions live in cli_conventions.h; a new file of commands follows common.h. Exit codes:
// 0 success; 1 failure (connection, refusal, bad input); 2 usage (an unknown command, no
// command, a bad or missing option); 3 `ingest` or `backfill` finished but not every row was
// accepted.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <functional>
#include <nlohmann/json.hpp>
#include <random>

#include "engine/catalog.h"
#include "net/client/client.h"
#include "net/meterctl/billing_cmd.h"
#include "net/meterctl/catalog_cmd.h"
#include "net/meterctl/cli_conventions.h"
#include "net/meterctl/common.h"
#include "net/meterctl/csv_backfill.h"
#include "net/meterctl/csv_ingest.h"
#include "net/meterctl/csv_time.h"
#include "net/meterctl/invoice_cmd.h"
#include "net/meterctl/ledger_cmd.h"
#include "net/meterctl/profiles_cmd.h"
#include "net/meterctl/resources_cmd.h"
#include "net/meterctl/table.h"
#include "net/meterctl/usage_cmd.h"
#include "net/protocol/messages.h"
#include "storage/sample_batch.h"

namespace {

using namespace meterd;
using cli::Common;
using cli::Connect;
using cli::Fail;
using cli::Format;
using cli::Table;

const char* RoleText(wire::Role r) {
  switch (r) {
    case wire::Role::Agent:
      return "agent";
    case wire::Role::Billing:
      return "billing";
    case wire::Role::Admin:
      return "admin";
    case wire::Role::Customer:
      return "customer";
    default:
      return "none";
  }
}

std::string Human(double v, const char* unit) {
  const char* prefixes[] = {"", "K", "M", "G", "T"};
  int i = 0;
  while (v >= 1000 && i < 4) {
    v /= 1000;
    ++i;
  }
  char buf[64];
  std::snprintf(buf, sizeof(buf), i ? "%.2f %s%s" : "%.0f %s%s", v, prefixes[i], unit);
  return buf;
}

std::string Bytes(uint64_t b) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(b);
  int i = 0;
  while (v >= 1024 && i < 4) {
    v /= 1024;
    ++i;
  }
  char buf[64];
  std::snprintf(buf, sizeof(buf), i ? "%.1f %s" : "%.0f %s", v, units[i]);
  return buf;
}

int CmdIngest(const Common& c, const std::string& file, size_t batch) {
  auto client = Connect(c);
  if (!client.ok()) return Fail(client.status());
  // An admin key's batches are deduplicated by agent name: one per run.
  std::string agent;
  if (client.value()->role() != wire::Role::Agent) {
    agent = "meterctl-" + std::to_string(getpid()) + "-" +
            std::to_string(std::chrono::system_clock::now().time_since_epoch().count());
  }
  auto r = cli::IngestCsv(client.value().get(), file, batch, agent);
  if (!r.ok()) return Fail(r.status());
  const cli::CsvIngestReport& rep = r.value();
  if (c.fmt() == Format::kJson) {
    nlohmann::json j = {{"file", file},
                        {"rows", rep.rows},
                        {"sent", rep.sent},
                        {"accepted", rep.accepted},
                        {"rejected", rep.rejected},
                        {"unacknowledged", rep.unacknowledged},
                        {"seconds", rep.seconds},
                        {"reasons", rep.reasons},
                        {"examples", rep.examples}};
    std::printf("%s\n", j.dump(2).c_str());
  } else {
    Table t({"file", "rows", "accepted", "rejected", "seconds"});
    for (size_t i = 1; i <= 4; ++i) t.SetNumeric(i);
    char secs[32];
    std::snprintf(secs, sizeof(secs), "%.3f", rep.seconds);
    t.Add({file, std::to_string(rep.rows), std::to_string(rep.accepted),
           std::to_string(rep.rejected), secs});
    t.Print(c.fmt());
    if (!rep.reasons.empty()) {
      std::printf("\nrejected, by reason:\n");
      for (const auto& [reason, n] : rep.reasons)
        std::printf("  %-22s %llu\n", reason.c_str(), static_cast<unsigned long long>(n));
      std::printf("first rejections:\n");
      for (const auto& e : rep.examples) std::printf("  %s\n", e.c_str());
    }
  }
  return rep.accepted == rep.rows && rep.unacknowledged == 0 ? 0 : 3;
}

int CmdExport(const Common& c, const std::string& from_s, const std::string& to_s,
              const std::string& resource, const std::string& metric, bool rfc3339) {
  auto from = cli::ParseTimestamp(from_s);
  auto to = cli::ParseTimestamp(to_s);
  if (!from || !to)
    return Fail(Status::InvalidArgument("--from and --to take unix seconds or RFC 3339"));
  auto client = Connect(c);
  if (!client.ok()) return Fail(client.status());
  const Format fmt = c.format == "table" ? Format::kCsv : c.fmt();  // export defaults to CSV
  nlohmann::json rows = nlohmann::json::array();
  uint64_t samples = 0;
  std::vector<std::string> damaged;
  if (fmt == Format::kCsv) std::printf("resource,metric,timestamp,value\n");
  Status st =
      client.value()->Export(*from, *to, resource, metric, [&](const wire::ExportChunk& chunk) {
        if (chunk.damaged_blocks()) {
          for (const auto* d : *chunk.damaged_blocks()) damaged.emplace_back(net::View(d));
        }
        if (!chunk.series()) return;
        for (const wire::ExportSeries* s : *chunk.series()) {
          const std::string res = cli::CsvField(net::View(s->resource()));
          const std::string met = cli::CsvField(net::View(s->metric()));
          const bool is_float = s->type() == wire::ValueType::Float;
          const auto* ts = s->timestamps();
          const auto* vs = s->values();
          if (!ts || !vs) continue;
          for (size_t i = 0; i < ts->size() && i < vs->size(); ++i) {
            const uint64_t v = vs->Get(i);
            const std::string value =
                is_float ? cli::FormatDouble(storage::BitsToDouble(v)) : std::to_string(v);
            const std::string t =
                rfc3339 ? cli::FormatRfc3339(ts->Get(i)) : std::to_string(ts->Get(i));
            ++samples;
            if (fmt == Format::kJson) {
              nlohmann::json row = {{"resource", net::View(s->resource())},
                                    {"metric", net::View(s->metric())}};
              row["timestamp"] = rfc3339 ? nlohmann::json(t) : nlohmann::json(ts->Get(i));
              if (is_float) {
                row["value"] = storage::BitsToDouble(v);
              } else {
                row["value"] = v;
              }
              rows.push_back(std::move(row));
            } else {
              std::printf("%s,%s,%s,%s\n", res.c_str(), met.c_str(), t.c_str(), value.c_str());
            }
          }
        }
      });
  if (fmt == Format::kJson) std::printf("%s\n", rows.dump(2).c_str());
  for (const auto& d : damaged) {
    std::fprintf(stderr, "meterctl: damaged block not served: %s\n", d.c_str());
  }
  if (!st.ok()) return Fail(st);
  std::fprintf(stderr, "meterctl: exported %llu samples\n",
               static_cast<unsigned long long>(samples));
  return damaged.empty() ? 0 : 1;
}

// A consistent online backup of the server's data directory into `to`, a new directory on
// the server's machine (admin; docs/architecture.md, "Backup").
int CmdBackup(const Common& c, const std::string& to) {
  auto client = Connect(c);
  if (!client.ok()) return Fail(client.status());
  flatbuffers::FlatBufferBuilder fbb(128);
  const uint64_t id = client.value()->NextRequestId();
  auto bytes = client.value()->Call(
      net::FinishFrame(fbb, wire::CreateBackupRequest(fbb, id, fbb.CreateString(to))), id);
  if (!bytes.ok()) return Fail(bytes.status());
  const auto* b = wire::GetEnvelope(bytes.value().data())->message_as_BackupReply();
  if (!b) return Fail(Status::Corruption("unexpected answer to BackupRequest"));
  std::printf(
      "backup in %s: %llu files (%llu hard links), %llu bytes copied, ingest paused %.1f ms\n",
      to.c_str(), static_cast<unsigned long long>(b->files()),
      static_cast<unsigned long long>(b->linked()),
      static_cast<unsigned long long>(b->copied_bytes()),
      static_cast<double>(b->paused_micros()) / 1000.0);
  return 0;
}

int CmdStats(const Common& c) {
  auto client = Connect(c);
  if (!client.ok()) return Fail(client.status());
  flatbuffers::FlatBufferBuilder fbb(64);
  const uint64_t id = client.value()->NextRequestId();
  auto bytes = client.value()->Call(net::FinishFrame(fbb, wire::CreateStatsRequest(fbb, id)), id);
  if (!bytes.ok()) return Fail(bytes.status());
  const auto* s = wire::GetEnvelope(bytes.value().data())->message_as_StatsReply();
  if (!s) return Fail(Status::Corruption("unexpected answer to StatsRequest"));
  const double per_sample =
      s->samples_stored() ? static_cast<double>(s->segment_bytes()) /
                                static_cast<double>(s->samples_stored() - s->head_samples() + 0.0)
                          : 0;
  if (c.fmt() == Format::kJson) {
    nlohmann::json j = {{"series", s->series()},
                        {"resources", s->resources()},
                        {"samples_stored", s->samples_stored()},
                        {"segments", s->segments()},
                        {"segment_bytes", s->segment_bytes()},
                        {"head_samples", s->head_samples()},
                        {"head_memory_bytes", s->head_memory_bytes()},
                        {"wal_bytes", s->wal_bytes()},
                        {"accepted_samples", s->accepted_samples()},
                        {"rejected_samples", s->rejected_samples()},
                        {"duplicate_batches", s->duplicate_batches()},
                        {"connections", s->connections()},
                        {"ingest_samples_per_s", s->ingest_samples_per_s()},
                        {"uptime_s", s->uptime_s()},
                        {"rss_bytes", s->rss_bytes()},
                        {"io_backend", net::View(s->io_backend())},
                        {"quarantined_blocks", s->quarantined_blocks()},
                        {"rollup_sealed_before", s->rollup_sealed_before()},
                        {"rollup_open_buckets", s->rollup_open_buckets()},
                        {"rollup_revisions", s->rollup_revisions()},
                        {"rollup_late_samples", s->rollup_late_samples()},
                        {"rollup_files", s->rollup_files()},
                        {"rollup_bytes", s->rollup_bytes()},
                        {"rollup_rows", s->rollup_rows()},
                        {"billing_next_hour", s->billing_next_hour()},
                        {"billing_hours_booked", s->billing_hours_booked()},
                        {"billing_error", net::View(s->billing_error())},
                        {"events_last_id", s->events_last_id()},
                        {"email_on", s->email_on()},
                        {"email_delivered", s->email_delivered()},
                        {"email_failed_attempts", s->email_failed_attempts()}};
    std::printf("%s\n", j.dump(2).c_str());
    return 0;
  }
  Table t({"stat", "value"});
  auto n = [](uint64_t v) { return std::to_string(v); };
  t.Add({"series", n(s->series())});
  t.Add({"resources reported (agents, admins)", n(s->resources())});
  t.Add({"samples stored", n(s->samples_stored())});
  t.Add({"  in segments", n(s->samples_stored() - s->head_samples())});
  t.Add({"  in the head (memory)", n(s->head_samples())});
  t.Add({"segments", n(s->segments())});
  t.Add({"bytes on disk (segments)", Bytes(s->segment_bytes())});
  if (s->samples_stored() > s->head_samples()) {
    char b[32];
    std::snprintf(b, sizeof(b), "%.3f", per_sample);
    t.Add({"bytes per sample (segments)", b});
  }
  t.Add({"head memory", Bytes(s->head_memory_bytes())});
  t.Add({"write-ahead log", Bytes(s->wal_bytes())});
  t.Add({"accepted samples (since start)", n(s->accepted_samples())});
  t.Add({"rejected samples (since start)", n(s->rejected_samples())});
  t.Add({"duplicate batches (since start)", n(s->duplicate_batches())});
  t.Add({"connections", n(s->connections())});
  t.Add({"ingest rate", Human(s->ingest_samples_per_s(), "samples/s")});
  char up[32];
  std::snprintf(up, sizeof(up), "%.1f s", s->uptime_s());
  t.Add({"uptime", up});
  t.Add({"server memory (RSS)", Bytes(s->rss_bytes())});
  t.Add({"WAL I/O", std::string(net::View(s->io_backend()))});
  t.Add({"quarantined blocks", n(s->quarantined_blocks())});
  t.Add({"rollups sealed before", cli::FormatRfc3339(s->rollup_sealed_before())});
  t.Add({"open hourly buckets (memory)", n(s->rollup_open_buckets())});
  t.Add({"sealed hourly buckets (files)", n(s->rollup_rows())});
  t.Add({"rollup files", n(s->rollup_files()) + " (" + Bytes(s->rollup_bytes()) + ")"});
  t.Add({"late samples (since start)", n(s->rollup_late_samples())});
  t.Add({"rollup revisions", n(s->rollup_revisions())});
  t.Add({"billing clock: debited through",
         s->billing_next_hour() > 0 ? cli::FormatRfc3339(s->billing_next_hour()) : "-"});
  t.Add({"billing clock: hours booked (since start)", n(s->billing_hours_booked())});
  if (s->billing_error() && s->billing_error()->size() > 0) {
    t.Add({"billing clock: waiting", std::string(net::View(s->billing_error()))});
  }
  t.Add({"billing events (last id)", std::to_string(s->events_last_id())});
  if (s->email_on()) {
    t.Add({"email notices delivered (since start)", n(s->email_delivered())});
    t.Add({"email sends failed, retried (since start)", n(s->email_failed_attempts())});
  } else {
    t.Add({"email notices", "off (no --smtp-url)"});
  }
  t.Print(c.fmt());
  return 0;
}

std::vector<std::string> KeyRow(const wire::KeyInfo* k) {
  return {std::string(net::View(k->id())),         RoleText(k->role()),
          std::string(net::View(k->hypervisor())), std::string(net::View(k->name())),
          cli::FormatRfc3339(k->created()),        k->revoked() ? "revoked" : "active",
          std::string(net::View(k->account()))};
}

int CmdKeys(const Common& c, const std::string& action, const std::string& role,
            const std::string& hypervisor, const std::string& account, const std::string& name,
            const std::string& id) {
  auto client = Connect(c);
  if (!client.ok()) return Fail(client.status());
  net::Client& cl = *client.value();
  flatbuffers::FlatBufferBuilder fbb(256);
  const uint64_t rid = cl.NextRequestId();
  Table t({"id", "role", "hypervisor", "name", "created", "state", "account"});
  if (action == "create") {
    wire::Role r = role == "agent"      ? wire::Role::Agent
                   : role == "billing"  ? wire::Role::Billing
                   : role == "admin"    ? wire::Role::Admin
                   : role == "customer" ? wire::Role::Customer
                                        : wire::Role::None;
    auto frame = net::FinishFrame(
        fbb, wire::CreateCreateKey(fbb, rid, r, fbb.CreateString(hypervisor),
                                   fbb.CreateString(name), fbb.CreateString(account)));
    auto bytes = cl.Call(std::move(frame), rid);
    if (!bytes.ok()) return Fail(bytes.status());
    const auto* k = wire::GetEnvelope(bytes.value().data())->message_as_KeyCreated();
    if (!k) return Fail(Status::Corruption("unexpected answer to CreateKey"));
    if (c.fmt() == Format::kJson) {
      nlohmann::json j = {{"key", net::View(k->key())},
                          {"id", net::View(k->info()->id())},
                          {"role", RoleText(k->info()->role())},
                          {"hypervisor", net::View(k->info()->hypervisor())},
                          {"account", net::View(k->info()->account())}};
      std::printf("%s\n", j.dump(2).c_str());
    } else {
      std::printf("%s\n", std::string(net::View(k->key())).c_str());
      std::fprintf(stderr, "meterctl: created %s key %s; the secret above is shown once, keep it\n",
                   RoleText(k->info()->role()), std::string(net::View(k->info()->id())).c_str());
    }
    return 0;
  }
  if (action == "list") {
    auto bytes = cl.Call(net::FinishFrame(fbb, wire::CreateListKeys(fbb, rid)), rid);
    if (!bytes.ok()) return Fail(bytes.status());
    const auto* list = wire::GetEnvelope(bytes.value().data())->message_as_KeyList();
    if (!list) return Fail(Status::Corruption("unexpected answer to ListKeys"));
    if (list->keys()) {
      for (const auto* k : *list->keys()) t.Add(KeyRow(k));
    }
    t.Print(c.fmt());
    return 0;
  }
  auto bytes =
      cl.Call(net::FinishFrame(fbb, wire::CreateRevokeKey(fbb, rid, fbb.CreateString(id))), rid);
  if (!bytes.ok()) return Fail(bytes.status());
  if (c.fmt() == Format::kJson) {
    std::printf("%s\n", nlohmann::json({{"revoked", id}}).dump(2).c_str());
  } else {
    std::fprintf(stderr, "meterctl: key %s revoked\n", id.c_str());
  }
  return 0;
}

int CmdMetrics(const Common& c, const std::string& action, const std::string& name,
               const std::string& kind, const std::string& unit, const std::string& type,
               const std::string& description) {
  auto client = Connect(c);
  if (!client.ok()) return Fail(client.status());
  net::Client& cl = *client.value();
  flatbuffers::FlatBufferBuilder fbb(256);
  const uint64_t rid = cl.NextRequestId();
  if (action == "define") {
    const wire::MetricKind k = kind == "gauge"     ? wire::MetricKind::Gauge
                               : kind == "counter" ? wire::MetricKind::Counter
                               : kind == "state"   ? wire::MetricKind::State
                                                   : wire::MetricKind::Unknown;
    const wire::ValueType vt = type == "float" ? wire::ValueType::Float : wire::ValueType::Int;
    auto info = wire::CreateMetricInfo(fbb, fbb.CreateString(name), k, fbb.CreateString(unit), vt,
                                       fbb.CreateString(description), false);
    auto bytes = cl.Call(net::FinishFrame(fbb, wire::CreateDefineMetric(fbb, rid, info)), rid);
    if (!bytes.ok()) return Fail(bytes.status());
    if (c.fmt() == Format::kJson) {
      std::printf("%s\n", nlohmann::json({{"defined", name}}).dump(2).c_str());
    } else {
      std::fprintf(stderr, "meterctl: metric %s defined\n", name.c_str());
    }
    return 0;
  }
  auto bytes = cl.Call(net::FinishFrame(fbb, wire::CreateListMetrics(fbb, rid)), rid);
  if (!bytes.ok()) return Fail(bytes.status());
  const auto* list = wire::GetEnvelope(bytes.value().data())->message_as_MetricList();
  if (!list) return Fail(Status::Corruption("unexpected answer to ListMetrics"));
  Table t({"metric", "kind", "unit", "type", "builtin", "description"});
  if (list->metrics()) {
    for (const auto* m : *list->metrics()) {
      t.Add({std::string(net::View(m->name())), wire::EnumNameMetricKind(m->kind()),
             std::string(net::View(m->unit())), wire::EnumNameValueType(m->type()),
             m->builtin() ? "yes" : "no", std::string(net::View(m->description()))});
    }
  }
  t.Print(c.fmt());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Common c;
  CLI::App app{"meterctl: the command-line client of meterd", "meterctl"};

  std::string file;
  size_t batch = 10000;
  auto* ingest = app.add_subcommand("ingest",
                                    "send samples from a CSV file "
                                    "(resource,metric,timestamp,value)");
  ingest->add_option("file", file, "CSV file with a header line")->required();
  ingest->add_option("--batch", batch, "samples per batch")->capture_default_str();

  std::string from, to, resource, metric;
  bool rfc3339 = false;
  auto* exp = app.add_subcommand("export", "raw samples of [from, to) as CSV (or JSON)");
  exp->add_option("--from", from, "start, inclusive (unix seconds or RFC 3339)")->required();
  exp->add_option("--to", to, "end, exclusive")->required();
  exp->add_option("--resource", resource, "only this resource");
  exp->add_option("--metric", metric, "only this metric");
  exp->add_flag("--rfc3339", rfc3339, "print timestamps as RFC 3339 instead of unix seconds");

  std::string project, account, granularity = "hour";
  auto* usage = app.add_subcommand("usage", "hourly, daily or monthly usage from the rollups");
  usage->add_option("--from", from, "start (unix seconds or RFC 3339; rounded down to the hour)")
      ->required();
  usage->add_option("--to", to, "end, exclusive (rounded up to the hour)")->required();
  usage->add_option("--resource", resource, "only this resource");
  usage->add_option("--project", project,
                    "only this project's resources, in the hours the tenancy puts them there");
  usage->add_option("--account", account,
                    "only this account's resources, in the hours the tenancy puts them there");
  usage->add_option("--metric", metric, "only this metric");
  usage->add_option("--granularity", granularity, "period of each line")
      ->check(CLI::IsMember({"hour", "day", "month"}))
      ->capture_default_str();

  std::string backfill_file;
  cli::BackfillOptions backfill_opts;
  uint64_t rollback_import = 0;
  auto* backfill = app.add_subcommand(
      "backfill", "import hourly usage from another system (resource,metric,hour,value)");
  auto* backfill_file_opt = backfill->add_option(
      "file", backfill_file, "CSV file with a header line (plain, gzip or zstd)");
  backfill->add_flag("--dry-run", backfill_opts.dry_run,
                     "report what the import (or rollback) would change; change nothing");
  backfill->add_flag("--resume", backfill_opts.resume,
                     "continue the interrupted import of this file from its checkpoint");
  backfill->add_option("--checkpoint", backfill_opts.checkpoint,
                       "checkpoint file (default: FILE.backfill-checkpoint)");
  backfill
      ->add_option("--rollback", rollback_import,
                   "roll back import ID: its buckets get back their content from before it")
      ->excludes(backfill_file_opt);

  std::string apply_file;
  bool dry_run = false;
  auto* apply = app.add_subcommand(
      "apply", "apply a billing catalog: tenancy, price book versions, subscriptions (admin)");
  apply->add_option("file", apply_file, "YAML or JSON document (docs/rating.md)")->required();
  apply->add_flag("--dry-run", dry_run, "validate and report, change nothing");

  cli::EstimateOptions est;
  auto* estimate = app.add_subcommand("estimate", "the price of a plan before a VM is created");
  estimate->add_option("--plan", est.plan, "plan id")->required();
  estimate->add_option("--location", est.location, "location id")->required();
  estimate->add_option("--storage-tier", est.storage_tier, "root disk storage tier");
  estimate->add_option("--hours", est.hours, "hours estimated (730: an average month)")
      ->capture_default_str();
  estimate->add_option("--currency", est.currency, "display currency (default: the book's)");

  std::string domain, group_by = "product", currency;
  auto* charges = app.add_subcommand("charges", "rated charges of [from, to) from the rollups");
  charges->add_option("--from", from, "start (unix seconds or RFC 3339)")->required();
  charges->add_option("--to", to, "end, exclusive")->required();
  charges->add_option("--domain", domain, "only this domain (reseller)");
  charges->add_option("--account", account, "only this account");
  charges->add_option("--project", project, "only this project");
  charges->add_option("--resource", resource, "only this resource");
  charges->add_option("--group-by", group_by, "totals per")
      ->check(CLI::IsMember({"product", "resource", "project", "account", "hour", "day", "month"}))
      ->capture_default_str();
  charges->add_option("--currency", currency, "display currency (default: each account's)");

  uint32_t rerate_version = 0;
  auto* rerate = app.add_subcommand(
      "rerate", "[from, to) re-rated under a price book version: the difference per line");
  rerate->add_option("--from", from, "start (unix seconds or RFC 3339)")->required();
  rerate->add_option("--to", to, "end, exclusive")->required();
  rerate->add_option("--version", rerate_version, "the price book version to re-rate under")
      ->required()
      ->check(CLI::PositiveNumber);
  rerate->add_option("--domain", domain, "only this domain (reseller)");
  rerate->add_option("--account", account, "only this account");
  rerate->add_option("--project", project, "only this project");
  rerate->add_option("--resource", resource, "only this resource");
  rerate->add_option("--group-by", group_by, "totals per")
      ->check(CLI::IsMember({"product", "resource", "project", "account", "hour", "day", "month"}))
      ->capture_default_str();
  rerate->add_option("--currency", currency,
                     "display currency of the totals (default: the book's)");
  bool rerate_book = false;
  std::string rerate_reason, rerate_reference;
  rerate->add_flag("--book", rerate_book,
                   "book each account's difference as a ledger adjustment (admin)");
  rerate->add_option("--reference", rerate_reference,
                     "with --book: idempotency key (each account is booked once under it)");
  rerate->add_option("--reason", rerate_reason, "with --book: why (recorded on the entries)");

  auto* rollup = app.add_subcommand("rollup", "hourly rollups (admin)");
  auto* rebuild = rollup->add_subcommand(
      "rebuild", "recompute hourly buckets of [from, to) from raw samples; report the changes");
  rebuild->add_option("--from", from, "start (unix seconds or RFC 3339)")->required();
  rebuild->add_option("--to", to, "end, exclusive")->required();
  rebuild->add_option("--resource", resource, "only this resource");
  rebuild->add_option("--metric", metric, "only this metric");

  auto* stats = app.add_subcommand("stats", "series, samples, bytes on disk, connections, rate");
  std::string backup_to;
  auto* backup = app.add_subcommand(
      "backup", "consistent online backup of the server's data directory (admin)");
  backup->add_option("--to", backup_to, "a new directory on the server's machine")->required();

  std::string role, hypervisor, key_account, name, id;
  auto* keys = app.add_subcommand("keys", "API keys (admin)");
  auto* kc = keys->add_subcommand("create", "create a key; prints the secret once");
  kc->add_option("--role", role, "agent, billing, admin or customer")
      ->required()
      ->check(CLI::IsMember({"agent", "billing", "admin", "customer"}));
  kc->add_option("--hypervisor", hypervisor, "the hypervisor an agent key is bound to");
  kc->add_option("--account", key_account, "the account a customer key is bound to");
  kc->add_option("--name", name, "a label for listings");
  auto* kl = keys->add_subcommand("list", "list keys (never their secrets)");
  auto* kr = keys->add_subcommand("revoke", "revoke a key; open connections lose it too");
  kr->add_option("id", id, "the key id (16 hex digits)")->required();

  std::string kind, unit, type = "int", description;
  auto* metrics = app.add_subcommand("metrics", "the metric catalog");
  auto* ml = metrics->add_subcommand("list", "built-in and custom metrics");
  auto* md = metrics->add_subcommand("define", "define a custom metric (admin)");
  md->add_option("--name", name, "e.g. gpu.seconds")->required();
  md->add_option("--kind", kind, "gauge, counter or state")
      ->required()
      ->check(CLI::IsMember({"gauge", "counter", "state"}));
  md->add_option("--unit", unit, "e.g. s, bytes, ops")->required();
  md->add_option("--type", type, "int or float")
      ->check(CLI::IsMember({"int", "float"}))
      ->capture_default_str();
  md->add_option("--description", description, "free text");

  c.OnRun(ingest, [&] { return CmdIngest(c, file, batch); });
  c.OnRun(exp, [&] { return CmdExport(c, from, to, resource, metric, rfc3339); });
  // The narrowest scope given wins.
  auto charge_scope = [&](wire::ChargeScope* scope, std::string* scope_id) {
    *scope = wire::ChargeScope::All;
    if (!resource.empty()) {
      *scope = wire::ChargeScope::Resource, *scope_id = resource;
    } else if (!project.empty()) {
      *scope = wire::ChargeScope::Project, *scope_id = project;
    } else if (!account.empty()) {
      *scope = wire::ChargeScope::Account, *scope_id = account;
    } else if (!domain.empty()) {
      *scope = wire::ChargeScope::Domain, *scope_id = domain;
    }
  };
  auto charge_group = [&] {
    const char* names[] = {"product", "resource", "project", "account", "hour", "day", "month"};
    for (int g = 0; g < 7; ++g) {
      if (group_by == names[g]) return static_cast<wire::ChargeGroupBy>(g);
    }
    return wire::ChargeGroupBy::Product;
  };
  auto with_range = [&](const std::function<int(net::Client*, int64_t, int64_t)>& run) {
    auto f = cli::ParseTimestamp(from);
    auto t = cli::ParseTimestamp(to);
    if (!f || !t)
      return Fail(Status::InvalidArgument("--from and --to take unix seconds or RFC 3339"));
    auto client = Connect(c);
    if (!client.ok()) return Fail(client.status());
    return run(client.value().get(), *f, *t);
  };
  c.OnRun(charges, [&] {
    return with_range([&](net::Client* client, int64_t f, int64_t t) {
      cli::ChargesOptions co;
      co.from = f;
      co.to = t;
      co.currency = currency;
      charge_scope(&co.scope, &co.scope_id);
      co.group_by = charge_group();
      return cli::RunCharges(client, co, c.fmt());
    });
  });
  c.OnRun(rerate, [&] {
    return with_range([&](net::Client* client, int64_t f, int64_t t) {
      net::ReRateQuery q;
      q.from = f;
      q.to = t;
      charge_scope(&q.scope, &q.scope_id);
      q.group_by = charge_group();
      q.currency = currency;
      q.version = rerate_version;
      q.book = rerate_book;
      q.reason = rerate_reason;
      q.reference = rerate_reference;
      return cli::RunReRate(client, q, c.fmt());
    });
  });
  auto with_client = [&](const std::function<int(net::Client*)>& run) {
    auto client = Connect(c);
    if (!client.ok()) return Fail(client.status());
    return run(client.value().get());
  };
  c.OnRun(apply, [&] {
    return with_client(
        [&](net::Client* client) { return cli::RunApply(client, apply_file, dry_run, c.fmt()); });
  });
  c.OnRun(estimate, [&] {
    return with_client([&](net::Client* client) { return cli::RunEstimate(client, est, c.fmt()); });
  });
  c.OnRun(backfill, [&] {
    if (rollback_import == 0 && backfill_file.empty()) {
      return Fail(Status::InvalidArgument("backfill: give a FILE, or --rollback ID"));
    }
    return with_client([&](net::Client* client) {
      if (rollback_import != 0) {
        auto rep = cli::RollbackImport(client, rollback_import, backfill_opts.dry_run);
        if (!rep.ok()) return Fail(rep.status());
        Table t({"import", "restored buckets", "superseded", "state"});
        for (size_t i = 0; i < 3; ++i) t.SetNumeric(i);
        t.Add({std::to_string(rollback_import), std::to_string(rep->restored),
               std::to_string(rep->superseded),
               backfill_opts.dry_run ? "dry run: nothing changed"
               : rep->already        ? "rolled back before, at " + cli::Time(rep->rolled_back_at)
                                     : "rolled back"});
        t.Print(c.fmt());
        return 0;
      }
      auto rep = cli::BackfillCsv(client, backfill_file, backfill_opts);
      if (!rep.ok()) return Fail(rep.status());
      std::vector<std::string> head = {"import", "rows", "imported buckets", "unchanged", "refused",
                                       "series", "hours"};
      std::vector<std::string> row = {
          backfill_opts.dry_run ? "dry run" : std::to_string(rep->import_id),
          std::to_string(rep->rows),
          std::to_string(rep->imported),
          std::to_string(rep->unchanged),
          std::to_string(rep->refused),
          std::to_string(rep->series),
          std::to_string(rep->hours)};
      if (backfill_opts.dry_run) {
        head.push_back("rows of new series");
        row.push_back(std::to_string(rep->new_series_rows));
      }
      Table t(head);
      for (size_t i = 1; i < head.size(); ++i) t.SetNumeric(i);
      t.Add(row);
      t.Print(c.fmt());
      if (rep->resumed_after_line != 0) {
        std::fprintf(stderr,
                     "meterctl: resumed after line %llu; %llu requests had been applied already\n",
                     static_cast<unsigned long long>(rep->resumed_after_line),
                     static_cast<unsigned long long>(rep->repeated_chunks));
      }
      for (const auto& e : rep->examples) std::fprintf(stderr, "meterctl: %s\n", e.c_str());
      return rep->refused == 0 ? 0 : 3;
    });
  });
  c.OnRun(rebuild, [&] {
    return with_range([&](net::Client* client, int64_t f, int64_t t) {
      return cli::RunRollupRebuild(client, f, t, resource, metric, c.fmt());
    });
  });
  c.OnRun(usage, [&] {
    return with_range([&](net::Client* client, int64_t f, int64_t t) {
      net::UsageQuery q;
      q.from = f;
      q.to = t;
      q.resource = resource;
      q.project = project;
      q.account = account;
      q.metric = metric;
      q.granularity = granularity == "day"     ? wire::Granularity::Day
                      : granularity == "month" ? wire::Granularity::Month
                                               : wire::Granularity::Hour;
      return cli::RunUsage(client, q, c.fmt());
    });
  });
  c.OnRun(stats, [&] { return CmdStats(c); });
  c.OnRun(backup, [&] { return CmdBackup(c, backup_to); });
  c.OnRun(kc, [&] { return CmdKeys(c, "create", role, hypervisor, key_account, name, id); });
  c.OnRun(kl, [&] { return CmdKeys(c, "list", role, hypervisor, key_account, name, id); });
  c.OnRun(kr, [&] { return CmdKeys(c, "revoke", role, hypervisor, key_account, name, id); });
  c.OnRun(ml, [&] { return CmdMetrics(c, "list", name, kind, unit, type, description); });
  c.OnRun(md, [&] { return CmdMetrics(c, "define", name, kind, unit, type, description); });

  // The ledger and prepaid billing: topup, balance, ledger, settings, events, webhooks, ...
  cli::RegisterLedgerCommands(app, c);
  cli::RegisterCatalogCommands(app, c);
  cli::RegisterResourceCommands(app, c);  // create|update|delete|hosts in `resources`
  cli::RegisterProfileCommands(app, c);
  cli::RegisterInvoiceCommands(app, c);

  // Global options, unknown commands, help and `completion` for every command above.
  return cli::RunCommandLine(app, c, argc, argv);
}
