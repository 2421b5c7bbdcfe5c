// meterd — bench/meter_bench/catalog_apply.cc
#include "bench/meter_bench/catalog_apply.h"

#include <algorithm>

#include "net/protocol/messages.h"

namespace meterd::bench {

Status ApplyCatalogDocuments(net::Client* client, const std::vector<std::string>& docs,
                             CatalogApplyTotals* totals) {
  for (size_t i = 0; i < docs.size(); ++i) {
    flatbuffers::FlatBufferBuilder fbb(docs[i].size() + 256);
    const uint64_t id = client->NextRequestId();
    auto req =
        wire::CreateApplyCatalog(fbb, id, fbb.CreateString(docs[i]), wire::DocFormat::Json, false);
    METERD_ASSIGN_OR_RETURN(auto bytes, client->Call(net::FinishFrame(fbb, req), id));
    const auto* rep = wire::GetEnvelope(bytes.data())->message_as_ApplyCatalogReply();
    if (rep == nullptr) return Status::Corruption("ApplyCatalog was not answered with its reply");
    if (rep->errors() != nullptr && rep->errors()->size() > 0) {
      std::string what = "ApplyCatalog refused catalog document " + std::to_string(i) + ":";
      for (uint32_t e = 0; e < std::min<uint32_t>(5, rep->errors()->size()); ++e) {
        what += "\n  " + std::string(net::View(rep->errors()->Get(e)));
      }
      return Status::InvalidArgument(what);
    }
    totals->created += rep->created();
    totals->updated += rep->updated();
    totals->unchanged += rep->unchanged();
    totals->document_bytes += docs[i].size();
    ++totals->documents;
  }
  return Status::OK();
}

}  // namespace meterd::bench
