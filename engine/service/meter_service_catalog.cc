// meterd — engine/service/meter_service_catalog.cc: MeterService's ListCatalog (billing and
// admin keys): the catalog read back as the JSON document ApplyCatalog accepts
// (engine/pricebook/catalog_export.h; docs/protocol.md, "Billing catalog and estimates"). It
// runs on the query pool: the document of a large fleet is megabytes of JSON.
#include <spdlog/spdlog.h>

#include "engine/pricebook/catalog_export.h"
#include "engine/service/meter_service.h"
#include "net/protocol/messages.h"

namespace meterd::engine {

namespace {

// Room left in a frame for the envelope around the document.
constexpr size_t kFrameOverhead = 4096;

}  // namespace

void MeterService::RunListCatalog(uint64_t request_id, const std::string& section,
                                  const std::string& id, const net::ResponderPtr& r) {
  auto fail = [&](const Status& status) {
    r->Send(net::ErrorFrame(request_id, net::ToWireCode(status), status.message()));
    r->Done();
  };
  if (parts_.billing == nullptr) {
    return fail(Status::NotSupported("this server keeps no billing catalog"));
  }
  Result<nlohmann::ordered_json> doc =
      pricebook::ExportCatalog(parts_.billing->Current(), {section, id}, parts_.catalog);
  if (!doc.ok()) return fail(doc.status());
  // Names came through YAML or JSON already; a byte that is not UTF-8 is replaced rather than
  // thrown on (dump's default).
  const std::string text =
      doc->dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
  if (text.size() + kFrameOverhead > net::kDefaultMaxFrameBytes) {
    return fail(Status::OutOfRange("the catalog document is " + std::to_string(text.size()) +
                                   " bytes, more than one frame holds: list one section (or one "
                                   "entity) at a time"));
  }
  spdlog::debug("event=catalog_list section=\"{}\" id=\"{}\" bytes={}", net::LogSafe(section),
                net::LogSafe(id), text.size());
  flatbuffers::FlatBufferBuilder fbb(text.size() + 256);
  auto document = fbb.CreateString(text);
  r->Send(net::FinishFrame(fbb, wire::CreateCatalogDocument(fbb, request_id, document)));
  r->Done();
}

}  // namespace meterd::engine
