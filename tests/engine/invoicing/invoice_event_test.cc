// meterd — tests/engine/invoicing/invoice_event_test.cc: the outbox event of an issued
// document (invoice_issued, credit_note_issued), appended in the issuing transaction, and the
// PDF an email notice attaches for it.
#include "engine/invoicing/invoice_event.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "tests/testing/temp_dir.h"

namespace meterd::engine::invoicing {
namespace invoice_event_test {

constexpr int64_t kEvNov = 1'793'491'200;  // 2026-11-01T00:00:00Z
constexpr int64_t kEvDec = 1'796'083'200;  // 2026-12-01T00:00:00Z

class InvoiceEventTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto db = tenancy::BillingDb::Open(dir_.path() + "/billing.db");
    ASSERT_TRUE(db.ok()) << db.status().ToString();
    db_ = std::move(db).value();
    auto s = InvoiceStore::Open(db_.get());
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    store_ = std::move(s).value();
    auto log = events::EventLog::Open(db_.get());
    ASSERT_TRUE(log.ok()) << log.status().ToString();
    log_ = std::move(log).value();
    store_->set_event_log(log_.get());
  }
  static Invoice Draft(const std::string& account, int64_t start, MicroCredits total) {
    Invoice inv;
    inv.account = account;
    inv.account_name = account;
    inv.period_start = start;
    inv.period_end = start + 30 * 86400;
    inv.currency.code = "GBP";
    inv.currency.per_credit_units = 1'000'000'000;
    inv.currency.minor_digits = 2;
    inv.subtotal = inv.total = inv.amount_due = {total, total / 10000};
    return inv;
  }
  std::vector<events::Event> Events() {
    auto e = log_->ReadAfter(0, 1000);
    EXPECT_TRUE(e.ok()) << e.status().ToString();
    return e.ok() ? *e : std::vector<events::Event>{};
  }
  meterd::testing::TempDir dir_;
  std::unique_ptr<tenancy::BillingDb> db_;
  std::unique_ptr<InvoiceStore> store_;
  std::unique_ptr<events::EventLog> log_;
};

TEST_F(InvoiceEventTest, IssuingAppendsOneEventPerDocumentWithItsNumberAndHowToFetchThePdf) {
  const NumberingOptions n{"*", "INV-", 6, 14 * 86400};
  ASSERT_TRUE(store_->PutDraft(Draft("acme", kEvNov, 120'500'000), Coverage{7, {}}).ok());
  auto s = store_->Issue("acme", kEvNov, n, kEvDec + 60);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  std::vector<events::Event> ev = Events();
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].kind, "invoice_issued");
  EXPECT_EQ(ev[0].account, "acme");
  EXPECT_EQ(ev[0].at, kEvDec + 60);
  // The payload's bytes, keys in the documented order (docs/invoices.md, "Distribution").
  EXPECT_EQ(ev[0].payload,
            R"({"number":"INV-000001","kind":"invoice","period_start":1793491200,)"
            R"("period_end":1796083200,"issued_at":1796083260,"due_at":1797292860,)"
            R"("currency":"GBP","total":"120.5","total_micro":120500000,)"
            R"("amount_due":"120.5","amount_due_micro":120500000,"credit_note_for":"",)"
            R"("pdf":{"op":"Pdf","number":"INV-000001"},)"
            R"("pdf_command":"meterctl invoice pdf INV-000001 -o INV-000001.pdf"})");
  // Refused issues (issued already, no draft) append nothing.
  EXPECT_EQ(store_->Issue("acme", kEvNov, n, kEvDec + 61).status().code(),
            Status::Code::kAlreadyExists);
  EXPECT_EQ(store_->Issue("nobody", kEvNov, n, kEvDec + 61).status().code(),
            Status::Code::kNotFound);
  EXPECT_EQ(Events().size(), 1u);
  // A run's issue: one event per issued document, none for the refused one, in number order.
  for (const char* a : {"b1", "b2"}) {
    ASSERT_TRUE(store_->PutDraft(Draft(a, kEvNov, 1'000'000), Coverage{8, {}}).ok());
  }
  auto many = store_->IssueMany({{"b1", n}, {"missing", n}, {"b2", n}}, kEvNov, kEvDec + 62, {});
  ASSERT_TRUE(many.ok()) << many.status().ToString();
  EXPECT_TRUE((*many)[0].ok() && (*many)[2].ok());
  EXPECT_FALSE((*many)[1].ok());
  ev = Events();
  ASSERT_EQ(ev.size(), 3u);
  EXPECT_EQ(nlohmann::json::parse(ev[1].payload)["number"], "INV-000002");
  EXPECT_EQ(ev[1].account, "b1");
  EXPECT_EQ(nlohmann::json::parse(ev[2].payload)["number"], "INV-000003");
  // A credit note: credit_note_issued, naming the invoice it corrects.
  Invoice note = Draft("acme", kEvNov, 10'000'000);
  note.kind = InvoiceKind::kCreditNote;
  note.credit_note_for = "INV-000001";
  ASSERT_TRUE(store_->IssueCreditNote(note, "INV-000001", {"*", "CN-", 6, 0}, kEvDec + 63).ok());
  ev = Events();
  ASSERT_EQ(ev.size(), 4u);
  EXPECT_EQ(ev[3].kind, "credit_note_issued");
  const auto p = nlohmann::json::parse(ev[3].payload);
  EXPECT_EQ(p["number"], "CN-000001");
  EXPECT_EQ(p["credit_note_for"], "INV-000001");
  EXPECT_EQ(p["total_micro"], 10'000'000);
}

TEST_F(InvoiceEventTest, AnIssueThatRollsBackLeavesNoEvent) {
  // The event is inside the issuing transaction: when a write after it fails (here the
  // document's own event, of a kind invoice_events refuses), the transaction rolls back and
  // neither the invoice nor its outbox event exists.
  ASSERT_TRUE(store_->PutDraft(Draft("acme", kEvNov, 5), Coverage{9, {{kEvNov, 5}}}).ok());
  auto failed =
      store_->IssueMany({{"acme", {"*", "INV-", 6, 0}}}, kEvNov, kEvDec, [](const Invoice&) {
        return std::vector<InvoiceEvent>{{0, "not-a-kind", 0, "", "t", "", kEvDec}};
      });
  EXPECT_FALSE(failed.ok());
  EXPECT_TRUE(Events().empty());
  EXPECT_TRUE(store_->List(ListFilter{})->empty());
  // The draft is still there and issues (with its event) once nothing fails.
  ASSERT_TRUE(store_->Issue("acme", kEvNov, {"*", "INV-", 6, 0}, kEvDec).ok());
  ASSERT_EQ(Events().size(), 1u);
  EXPECT_EQ(nlohmann::json::parse(Events()[0].payload)["number"], "INV-000001");
}

TEST_F(InvoiceEventTest, TheNoticeAttachesTheIssuedDocumentsPdf) {
  ASSERT_TRUE(store_->PutDraft(Draft("acme", kEvNov, 120'500'000), Coverage{7, {}}).ok());
  ASSERT_TRUE(store_->Issue("acme", kEvNov, {"*", "INV-", 6, 0}, kEvDec).ok());
  std::vector<events::Event> ev = Events();
  ASSERT_EQ(ev.size(), 1u);
  auto pdf = IssuedDocumentPdf(*store_, ev[0]);
  ASSERT_TRUE(pdf.ok()) << pdf.status().ToString();
  ASSERT_TRUE(pdf->has_value());
  EXPECT_EQ((*pdf)->filename, "INV-000001.pdf");
  EXPECT_EQ((*pdf)->content_type, "application/pdf");
  EXPECT_EQ((*pdf)->bytes.substr(0, 5), "%PDF-");
  // Other kinds have no attachment; an unknown number is NotFound (the send is retried).
  events::Event other = ev[0];
  other.kind = "low_balance";
  EXPECT_FALSE(IssuedDocumentPdf(*store_, other)->has_value());
  events::Event unknown = ev[0];
  unknown.payload = R"({"number":"INV-999999"})";
  EXPECT_EQ(IssuedDocumentPdf(*store_, unknown).status().code(), Status::Code::kNotFound);
}

}  // namespace invoice_event_test
}  // namespace meterd::engine::invoicing
