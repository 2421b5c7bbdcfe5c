// meterd — net/meterctl/billing_cmd.cc
#include "net/meterctl/billing_cmd.h"

#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "net/meterctl/common.h"
#include "net/meterctl/csv_time.h"
#include "net/protocol/messages.h"

namespace meterd::cli {
namespace {

// Usage the server could not price is reported by count on stderr (never silently dropped).
void NoteUnrated(uint64_t unattributed, uint64_t unpriced) {
  if (unattributed + unpriced == 0) return;
  std::fprintf(stderr,
               "meterctl: %llu usage entries of unknown resources (unattributed) and %llu "
               "without a product (unpriced) are reported, not charged\n",
               static_cast<unsigned long long>(unattributed),
               static_cast<unsigned long long>(unpriced));
}

// The reasons rating gives usage that no account is billed for (docs/rating.md §1).
bool IsUnattributedReason(std::string_view reason) {
  return reason == "unknown_resource" || reason == "before_first_version" ||
         reason == "after_deletion";
}

}  // namespace

int RunApply(net::Client* client, const std::string& path, bool dry_run, Format format) {
  std::ifstream in(path);
  if (!in) return Fail(Status::NotFound("cannot open " + path));
  std::stringstream text;
  text << in.rdbuf();
  wire::DocFormat doc_format = wire::DocFormat::Auto;
  if (path.ends_with(".json")) doc_format = wire::DocFormat::Json;
  if (path.ends_with(".yaml") || path.ends_with(".yml")) doc_format = wire::DocFormat::Yaml;
  flatbuffers::FlatBufferBuilder fbb(text.str().size() + 256);
  const uint64_t id = client->NextRequestId();
  auto req = wire::CreateApplyCatalog(fbb, id, fbb.CreateString(text.str()), doc_format, dry_run);
  auto bytes = client->Call(net::FinishFrame(fbb, req), id);
  if (!bytes.ok()) return Fail(bytes.status());
  return PrintApplyReply(bytes.value(), path, dry_run, format);
}

int PrintApplyReply(const std::vector<uint8_t>& bytes, const std::string& label, bool dry_run,
                    Format format) {
  const auto* rep = wire::GetEnvelope(bytes.data())->message_as_ApplyCatalogReply();
  if (!rep) return Fail(Status::Corruption("unexpected answer to an apply"));
  if (rep->errors() && rep->errors()->size() > 0) {
    std::fprintf(stderr, "meterctl: %s: refused, nothing changed:\n", label.c_str());
    nlohmann::json errors = nlohmann::json::array();
    for (const auto* e : *rep->errors()) {
      std::fprintf(stderr, "  %s: %s\n", label.c_str(), std::string(net::View(e)).c_str());
      errors.push_back(net::View(e));
    }
    if (format == Format::kJson) {
      nlohmann::json j = {{"applied", false}, {"dry_run", dry_run}, {"errors", errors}};
      std::printf("%s\n", j.dump(2).c_str());
    }
    return 1;
  }
  if (format == Format::kJson) {
    nlohmann::json j = {{"applied", rep->applied()},
                        {"dry_run", dry_run},
                        {"created", rep->created()},
                        {"updated", rep->updated()},
                        {"unchanged", rep->unchanged()}};
    nlohmann::json changes = nlohmann::json::array();
    if (rep->changes()) {
      for (const auto* c : *rep->changes()) {
        changes.push_back({{"entity", net::View(c->entity())},
                           {"id", net::View(c->id())},
                           {"kind", net::View(c->kind())},
                           {"detail", net::View(c->detail())}});
      }
    }
    j["changes"] = changes;
    std::printf("%s\n", j.dump(2).c_str());
    return 0;
  }
  std::printf("%s%s\n", dry_run ? "(dry run) " : "",
              std::string(net::View(rep->summary())).c_str());
  return 0;
}

int RunEstimate(net::Client* client, const EstimateOptions& o, Format format) {
  flatbuffers::FlatBufferBuilder fbb(256);
  const uint64_t id = client->NextRequestId();
  auto req = wire::CreateEstimateRequest(
      fbb, id, fbb.CreateString(o.plan), fbb.CreateString(o.location),
      fbb.CreateString(o.storage_tier), o.hours, o.at, fbb.CreateString(o.currency));
  auto bytes = client->Call(net::FinishFrame(fbb, req), id);
  if (!bytes.ok()) return Fail(bytes.status());
  const auto* rep = wire::GetEnvelope(bytes.value().data())->message_as_EstimateReply();
  if (!rep) return Fail(Status::Corruption("unexpected answer to EstimateRequest"));
  const std::string hours = std::to_string(rep->hours());
  Table t({"product", "metric", "unit", "hourly", "hourly_credits", hours + "h",
           hours + "h_credits", "explanation"});
  for (size_t c : {3, 4, 5, 6}) t.SetNumeric(c);
  if (rep->lines()) {
    for (const auto* l : *rep->lines()) {
      t.Add({std::string(net::View(l->product_name())), std::string(net::View(l->metric())),
             std::string(net::View(l->unit())), std::string(net::View(l->hourly_display())),
             Credits(l->hourly()), std::string(net::View(l->period_display())),
             Credits(l->period()), std::string(net::View(l->explanation()))});
    }
  }
  t.Add({"total", "", "", std::string(net::View(rep->hourly_total_display())),
         Credits(rep->hourly_total()), std::string(net::View(rep->period_total_display())),
         Credits(rep->period_total()), ""});
  if (format == Format::kTable) {
    std::printf("plan %s, price book version %u, %s hours, in %s\n",
                std::string(net::View(rep->plan_name())).c_str(), rep->price_version(),
                hours.c_str(), std::string(net::View(rep->currency())).c_str());
  }
  t.Print(format);
  if (rep->notes()) {
    for (const auto* n : *rep->notes()) {
      std::fprintf(stderr, "meterctl: note: %s\n", std::string(net::View(n)).c_str());
    }
  }
  return 0;
}

int RunCharges(net::Client* client, const ChargesOptions& o, Format format) {
  flatbuffers::FlatBufferBuilder fbb(256);
  const uint64_t id = client->NextRequestId();
  auto req =
      wire::CreateChargesRequest(fbb, id, o.from, o.to, o.scope, fbb.CreateString(o.scope_id),
                                 o.group_by, fbb.CreateString(o.currency), 0);
  Table lines({"group", "product", "account", "resource", "period", "quantity", "unit",
               "unit_price", "cost", "credits", "status"});
  for (size_t c : {5, 7, 8, 9}) lines.SetNumeric(c);
  Table totals({"group_key", "label", "cost", "credits", "status"});
  totals.SetNumeric(2);
  totals.SetNumeric(3);
  std::string total_display;
  int64_t total = 0;
  uint64_t unattributed = 0, unpriced = 0;
  bool provisional = false;
  // Usage rated to no line: every entry in JSON; in a table the unattributed ones (usage nobody
  // is billed for yet), the unpriced ones (metrics the price book does not sell) by count.
  const std::vector<std::string> unrated_columns = {
      "resource", "metric", "reason",       "state",      "account",
      "project",  "hours",  "raw_quantity", "first_hour", "last_hour"};
  Table unrated(unrated_columns), unattributed_rows(unrated_columns);
  unrated.SetNumeric(6);
  unattributed_rows.SetNumeric(6);
  Status st = client->Stream(
      net::FinishFrame(fbb, req), id, [&](const wire::Envelope& env, bool* last) -> Status {
        const auto* chunk = env.message_as_ChargesChunk();
        if (!chunk) return Status::Corruption("unexpected answer to ChargesRequest");
        *last = chunk->last();
        if (chunk->lines()) {
          for (const auto* l : *chunk->lines()) {
            lines.Add({std::string(net::View(l->group())),
                       std::string(net::View(l->product_name())),
                       std::string(net::View(l->account())), std::string(net::View(l->resource())),
                       FormatRfc3339(l->period_start()), std::string(net::View(l->quantity())),
                       std::string(net::View(l->unit())), std::string(net::View(l->unit_price())),
                       std::string(net::View(l->display())), Credits(l->amount()),
                       l->provisional() ? "provisional" : (l->revised() ? "revised" : "final")});
          }
        }
        if (chunk->last()) {
          if (chunk->totals()) {
            for (const auto* t : *chunk->totals()) {
              totals.Add({std::string(net::View(t->key())), std::string(net::View(t->label())),
                          std::string(net::View(t->display())), Credits(t->amount()),
                          t->provisional() ? "provisional" : "final"});
            }
          }
          total = chunk->total();
          total_display = std::string(net::View(chunk->total_display()));
          unattributed = chunk->unattributed();
          unpriced = chunk->unpriced();
          provisional = chunk->provisional();
          if (chunk->unrated()) {
            for (const wire::UnratedInfo* u : *chunk->unrated()) {
              std::vector<std::string> row = {std::string(net::View(u->resource())),
                                              std::string(net::View(u->metric())),
                                              std::string(net::View(u->reason())),
                                              std::to_string(u->state()),
                                              std::string(net::View(u->account())),
                                              std::string(net::View(u->project())),
                                              std::to_string(u->hours()),
                                              std::string(net::View(u->raw_quantity())),
                                              FormatRfc3339(u->first_hour()),
                                              FormatRfc3339(u->last_hour())};
              if (IsUnattributedReason(row[2])) unattributed_rows.Add(row);
              unrated.Add(std::move(row));
            }
          }
        }
        return Status::OK();
      });
  if (!st.ok()) return Fail(st);
  totals.Add({"total", "", total_display, Credits(total), provisional ? "provisional" : "final"});
  NoteUnrated(unattributed, unpriced);
  if (format == Format::kJson) {
    nlohmann::json j = {{"lines", lines.Json()},      {"totals", totals.Json()},
                        {"provisional", provisional}, {"unattributed", unattributed},
                        {"unpriced", unpriced},       {"unrated", unrated.Json()}};
    std::printf("%s\n", j.dump(2).c_str());
    return 0;
  }
  lines.Print(format);
  if (format == Format::kCsv) return 0;  // one CSV: the lines (the totals are their sums)
  std::printf("\ntotals:\n");
  totals.Print(format);
  if (unattributed > 0) {
    std::printf("\nunattributed usage (not charged until the resource is attributed):\n");
    unattributed_rows.Print(format);
  }
  return 0;
}

int RunReRate(net::Client* client, const net::ReRateQuery& q, Format format) {
  Table lines({"group", "product", "account", "project", "resource", "period", "quantity", "unit",
               "actual", "rerated", "difference"});
  for (size_t c : {6, 8, 9, 10}) lines.SetNumeric(c);
  Table totals({"group_key", "label", "actual", "rerated", "difference"});
  for (size_t c : {2, 3, 4}) totals.SetNumeric(c);
  int64_t actual = 0, rerated = 0, difference = 0;
  std::string actual_display, rerated_display;
  uint64_t unattributed = 0, unpriced = 0;
  bool provisional = false;
  uint32_t version = q.version;
  Table booked({"entry", "account", "amount", "reference"});
  booked.SetNumeric(0);
  booked.SetNumeric(2);
  Status st = client->ReRate(q, [&](const wire::ReRateChunk& chunk) {
    if (chunk.booked()) {
      for (const auto* e : *chunk.booked()) {
        booked.Add({std::to_string(e->id()), std::string(net::View(e->account())),
                    Credits(e->amount()), std::string(net::View(e->reference()))});
      }
    }
    if (chunk.lines()) {
      for (const auto* l : *chunk.lines()) {
        std::string product(net::View(l->product_name()));
        if (l->one_time_fee()) product += " (one-time fee)";
        lines.Add({std::string(net::View(l->group())), product,
                   std::string(net::View(l->account())), std::string(net::View(l->project())),
                   std::string(net::View(l->resource())), FormatRfc3339(l->period_start()),
                   std::string(net::View(l->quantity())), std::string(net::View(l->unit())),
                   Credits(l->actual()), Credits(l->rerated()), Credits(l->difference())});
      }
    }
    if (chunk.last()) {
      if (chunk.totals()) {
        for (const auto* t : *chunk.totals()) {
          totals.Add({std::string(net::View(t->key())), std::string(net::View(t->label())),
                      Credits(t->actual()), Credits(t->rerated()), Credits(t->difference())});
        }
      }
      version = chunk.version();
      actual = chunk.actual_total();
      rerated = chunk.rerated_total();
      difference = chunk.difference();
      actual_display = std::string(net::View(chunk.actual_display()));
      rerated_display = std::string(net::View(chunk.rerated_display()));
      unattributed = chunk.unattributed();
      unpriced = chunk.unpriced();
      provisional = chunk.provisional();
    }
  });
  if (!st.ok()) return Fail(st);
  totals.Add({"total", "", Credits(actual), Credits(rerated), Credits(difference)});
  if (format == Format::kJson) {
    nlohmann::json j = {{"version", version},
                        {"lines", lines.Json()},
                        {"totals", totals.Json()},
                        {"actual_display", actual_display},
                        {"rerated_display", rerated_display},
                        {"provisional", provisional},
                        {"unattributed", unattributed},
                        {"unpriced", unpriced}};
    if (q.book) j["booked"] = booked.Json();
    std::printf("%s\n", j.dump(2).c_str());
  } else {
    if (format == Format::kTable) {
      std::printf("re-rate under price book version %u (actual: the versions in force; credits)\n",
                  version);
    }
    lines.Print(format);
    if (format == Format::kCsv) {  // one CSV document: the lines (the totals are their sums)
      if (q.book) {
        std::fprintf(stderr, "meterctl: booked as ledger adjustments:\n");
        booked.Print(Format::kTable, stderr);
      }
    } else {
      std::printf("\ntotals:\n");
      totals.Print(format);
      if (q.book) {
        std::printf(
            "\nbooked as ledger adjustments (an account already booked under this "
            "reference is not booked again):\n");
        booked.Print(format);
      }
    }
  }
  if (format == Format::kTable && !actual_display.empty()) {
    std::printf("\nactual %s, re-rated %s\n", actual_display.c_str(), rerated_display.c_str());
  }
  if (provisional) {
    std::fprintf(stderr, "meterctl: some hours are still open: the amounts are provisional\n");
  }
  NoteUnrated(unattributed, unpriced);
  return 0;
}

}  // namespace meterd::cli
