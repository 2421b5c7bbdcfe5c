// meterd — tests/integration/meterd_invoices_test.cc
//
// Invoices end to end on the real meterd and meterctl: per-second samples of last month
// become hourly debits booked by the billing clock, `meterctl invoice run` drafts the month,
// and the draft's subtotal is, to the micro-credit, both what `meterctl charges` rates for the
// month and the sum of the ledger's usage and fee entries of the month. Then: issuing twice
// issues once, numbers have no gaps, late data after the issue appears as an adjustment line on
// the next invoice (never on the issued one), payments are idempotent, a credit note has its
// own number and is booked as a credit, a paid invoice cannot be voided, and a period with open
// hours is refused with their list.
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "storage/base/calendar.h"
#include "storage/base/time_text.h"
#include "tests/integration/meterd_fixture.h"

namespace meterd::testing {
namespace {

using Json = nlohmann::json;

// The tests ingest samples of last month's first days: on the 20th of this month they are
// older than the default raw retention (35 days) and would be refused. 70 days keeps the result
// independent of the day the test runs.
constexpr const char* kRetentionDays = "70";

class MeterdInvoicesTest : public MeterdTest {
 protected:
  Json Run(const std::string& args) {
    CommandResult r = Meterctl(args + " --format json");
    EXPECT_EQ(r.exit_code, 0) << args << "\n" << r.out << r.err;
    return r.exit_code == 0 ? Json::parse(r.out, nullptr, false) : Json();
  }
  void ApplyCatalog() {
    const std::string catalog = std::string(METERD_SOURCE_DIR) + "/docs/examples/catalog.yaml";
    ASSERT_EQ(Meterctl("apply " + catalog).exit_code, 0);
  }
  bool WaitBilledThrough(int64_t hour_end, int seconds = 60) {
    for (int i = 0; i < seconds * 10; ++i) {
      CommandResult st = Meterctl("stats --format json");
      if (st.exit_code == 0) {
        auto j = Json::parse(st.out, nullptr, false);
        if (j.is_object() && j.value("billing_next_hour", int64_t{0}) >= hour_end) return true;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return false;
  }
  std::string RunningSamples(const std::string& vm, int64_t from, int64_t to) {
    std::string csv = "resource,metric,timestamp,value\n";
    for (int64_t t = from; t < to; ++t) csv += vm + ",vm.state," + std::to_string(t) + ",running\n";
    return WriteFile(vm + "-" + std::to_string(from) + ".csv", csv);
  }
  // The ledger's clock entries (usage, fee, adjustment with an hour) of `month`, in micro.
  int64_t LedgerMonth(const std::string& account, int64_t month) {
    auto l = Run("ledger --account " + account);
    int64_t sum = 0;
    for (const auto& e : l["entries"]) {
      if (!e.contains("month") || !e.contains("hour")) continue;
      if (e["month"] != base::FormatRfc3339(month)) continue;
      sum -= e["amount_micro"].get<int64_t>();
    }
    return sum;
  }
  int64_t Charged(const std::string& account, int64_t from, int64_t to) {
    auto c = Run("charges --account " + account + " --from " + std::to_string(from) + " --to " +
                 std::to_string(to));
    if (!c.is_object() || c["totals"].empty()) return 0;
    int64_t sum = 0;
    // Numeric columns are JSON numbers with six decimals: exact once rounded back.
    for (const auto& l : c["lines"]) sum += std::llround(l["credits"].get<double>() * 1e6);
    return sum;
  }
  static int64_t ThisHour() {
    const int64_t now = UnixNow();
    return now - now % 3600;
  }
};

TEST_F(MeterdInvoicesTest, AMonthOfSamplesToAnIssuedInvoiceThatAddsUpToTheLedger) {
  const int64_t this_month = base::MonthStart(UnixNow());
  const int64_t last_month = base::MonthStart(this_month - 1);
  const int64_t h = last_month + 9 * 86400 + 5 * 3600;  // the 10th, 05:00
  server_.Stop();
  StartServer({"--grace", "0", "--no-billing-clock", "--retention-days", kRetentionDays});
  ApplyCatalog();
  // vm-1001 (bu1user1) runs 2.5 hours; vm-1003 (bu1user2) runs one hour.
  ASSERT_EQ(Meterctl("ingest " + RunningSamples("vm-1001", h, h + 9000)).exit_code, 0);
  ASSERT_EQ(Meterctl("ingest " + RunningSamples("vm-1003", h, h + 3600)).exit_code, 0);
  ASSERT_EQ(Meterctl("topup --account bu1user1 --amount 5000 --reference t1").exit_code, 0);
  for (int i = 0; i < 100 && Charged("bu1user1", last_month, this_month) == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  server_.Stop();
  StartServer({"--grace", "0", "--billing-start", std::to_string(last_month), "--retention-days",
               kRetentionDays},
              false);
  ASSERT_TRUE(WaitBilledThrough(ThisHour()));

  // A period with open hours is refused, with them listed; --provisional drafts it.
  CommandResult open = Meterctl("invoice run --period " + std::to_string(this_month));
  EXPECT_NE(open.exit_code, 0);
  EXPECT_NE(open.err.find("has not booked yet"), std::string::npos) << open.err;

  // The draft: its subtotal is the month's rating and the ledger's entries of the month.
  const std::string period = " --period " + std::to_string(last_month);
  auto run = Run("invoice run" + period + " --account bu1user1");
  ASSERT_EQ(run["drafts"], 1) << run.dump(1);
  auto drafts = Run("invoice drafts" + period + " --account bu1user1");
  ASSERT_EQ(drafts["drafts"].size(), 1u) << drafts.dump(1);
  const Json draft = drafts["drafts"][0];
  const int64_t subtotal = draft["subtotal"]["micro"].get<int64_t>();
  EXPECT_GT(subtotal, 0);
  EXPECT_EQ(subtotal, Charged("bu1user1", last_month, this_month)) << draft.dump(1);
  EXPECT_EQ(subtotal, LedgerMonth("bu1user1", last_month)) << draft.dump(1);
  bool running = false;
  for (const auto& l : draft["lines"]) running = running || l["group"] == "Running VM";
  EXPECT_TRUE(running) << draft.dump(1);
  // Prepaid with a large balance: nothing is due.
  EXPECT_EQ(draft["amount_due"]["micro"], 0);

  // Issue the whole period: both accounts with usage, numbered without gaps; twice = once.
  auto all = Run("invoice run" + period);
  EXPECT_EQ(all["drafts"].get<int>() + all["already_issued"].get<int>() +
                all["nothing_to_invoice"].get<int>() + static_cast<int>(all["refused"].size()),
            all["drafts"].get<int>() + all["already_issued"].get<int>() +
                all["nothing_to_invoice"].get<int>() + static_cast<int>(all["refused"].size()));
  auto issued = Run("invoice issue" + period);
  const size_t n = issued["invoices"].size();
  ASSERT_GE(n, 2u) << issued.dump(1);
  std::set<std::string> numbers;
  for (const auto& i : issued["invoices"]) numbers.insert(i["number"].get<std::string>());
  for (size_t k = 1; k <= n; ++k) {
    char want[32];
    std::snprintf(want, sizeof want, "INV-%06zu", k);
    EXPECT_TRUE(numbers.count(want)) << want << " missing: " << issued.dump(1);
  }
  auto again = Run("invoice run" + period);
  EXPECT_EQ(again["drafts"], 0);
  EXPECT_EQ(again["already_issued"].get<size_t>(), n);
  auto list = Run("invoice list --account bu1user1");
  ASSERT_EQ(list["invoices"].size(), 1u) << list.dump(1);
  const std::string number = list["invoices"][0]["number"];
  auto shown = Run("invoice show " + number);
  EXPECT_EQ(shown["subtotal"]["micro"].get<int64_t>(), subtotal);
  EXPECT_EQ(shown["state"], "paid");  // nothing due: paid from the balance at issue

  // Late data for the invoiced month: the clock books an adjustment; the issued invoice does
  // not change, the next invoice carries it as an adjustment line.
  ASSERT_EQ(Meterctl("ingest " + RunningSamples("vm-1001", h + 86400, h + 86400 + 3600)).exit_code,
            0);
  int64_t revised = 0;
  for (int i = 0; i < 150; ++i) {
    revised = LedgerMonth("bu1user1", last_month) - subtotal;
    if (revised != 0) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  ASSERT_GT(revised, 0) << "no adjustment booked";
  EXPECT_EQ(Run("invoice show " + number)["subtotal"]["micro"].get<int64_t>(), subtotal);
  auto next = Run("invoice run --provisional --period " + std::to_string(this_month) +
                  " --account bu1user1");
  ASSERT_EQ(next["drafts"], 1) << next.dump(1);
  auto next_draft = Run("invoice drafts --period " + std::to_string(this_month) +
                        " --account bu1user1")["drafts"][0];
  int64_t adjustment = 0;
  for (const auto& l : next_draft["lines"]) {
    if (l["kind"] == "adjustment") adjustment += l["amount"]["micro"].get<int64_t>();
  }
  EXPECT_EQ(adjustment, revised) << next_draft.dump(1);
  // A provisional draft is never issued.
  auto provisional_issue = Run("invoice issue --period " + std::to_string(this_month));
  EXPECT_EQ(provisional_issue["invoices"].size(), 0u) << provisional_issue.dump(1);

  // Payments, credit notes and voids on bu1user2's invoice.
  auto list2 = Run("invoice list --account bu1user2");
  ASSERT_EQ(list2["invoices"].size(), 1u);
  const std::string number2 = list2["invoices"][0]["number"];
  const int64_t total2 = list2["invoices"][0]["total_micro"];

  // A customer key bound to bu1user1, on the binary port (through meterctl): its own invoices,
  // usage, charges and balance; bu1user2's invoice and anything else is PermissionDenied.
  const std::string customer = CreateKey(wire::Role::Customer, "", "bu1user1");
  ASSERT_FALSE(customer.empty());
  auto as_customer = [&](const std::string& args) {
    return RunMeterctl("--server 127.0.0.1:" + std::to_string(server_.port()) + " --key " +
                       customer + " " + args);
  };
  const std::string month =
      " --from " + std::to_string(last_month) + " --to " + std::to_string(this_month);
  for (const std::string& allowed :
       std::vector<std::string>{"invoice list --account bu1user1", "invoice show " + number,
                                "balance --account bu1user1", "charges --account bu1user1" + month,
                                "usage --account bu1user1" + month, "metrics list"}) {
    CommandResult ok = as_customer(allowed + " --format json");
    EXPECT_EQ(ok.exit_code, 0) << allowed << "\n" << ok.out << ok.err;
  }
  CommandResult own = as_customer("invoice show " + number + " --format json");
  EXPECT_EQ(Json::parse(own.out, nullptr, false)["number"], number) << own.out << own.err;
  for (const std::string& refused : std::vector<std::string>{
           "invoice show " + number2,
           "invoice pdf " + number2 + " --output " + tmp_.path() + "/x.pdf", "invoice list",
           "invoice list --account bu1user2", "invoice run" + period, "balance --account bu1user2",
           "balance", "charges" + month, "charges --account bu1user2" + month, "usage" + month,
           "usage --account bu1user2" + month, "ledger --account bu1user1", "stats", "keys list",
           "topup --account bu1user1 --amount 1 --reference c1"}) {
    CommandResult no = as_customer(refused);
    EXPECT_NE(no.exit_code, 0) << refused << "\n" << no.out;
    EXPECT_NE(no.err.find("ermission"), std::string::npos) << refused << "\n" << no.err;
  }
  auto note = Run("invoice credit-note " + number2 + " --amount 0.1 --reason goodwill");
  EXPECT_EQ(note["kind"], "credit_note");
  EXPECT_EQ(note["number"], "CN-000001");
  EXPECT_EQ(note["credit_note_for"], number2);
  CommandResult too_much =
      Meterctl("invoice credit-note " + number2 + " --amount 999999 --reason x");
  EXPECT_NE(too_much.exit_code, 0);
  auto ledger2 = Run("ledger --account bu1user2");
  bool credit_booked = false;
  for (const auto& e : ledger2["entries"]) {
    credit_booked = credit_booked || (e["kind"] == "credit" && e["amount_micro"] == 100000 &&
                                      e["reference"] == "credit-note:CN-000001");
  }
  EXPECT_TRUE(credit_booked) << ledger2.dump(1);
  const int64_t due2 = Run("invoice show " + number2)["amount_due"]["micro"];
  if (due2 > 0) {
    auto paid = Run("invoice pay " + number2 + " --amount 0.000001 --reference bank-1");
    EXPECT_EQ(paid["paid_micro"], 1);
    auto repeat = Run("invoice pay " + number2 + " --amount 0.000001 --reference bank-1");
    EXPECT_EQ(repeat["paid_micro"], 1);  // the same payment, once
    CommandResult v = Meterctl("invoice void " + number2 + " --reason wrong");
    EXPECT_NE(v.exit_code, 0);
    EXPECT_NE(v.err.find("credit note"), std::string::npos) << v.err;
    auto done = Run("invoice mark-paid " + number2 + " --reference bank-2");
    EXPECT_EQ(done["state"], "paid") << done.dump(1);
  }
  (void)total2;

  // Distribution: one invoice_issued event per issued invoice and one credit_note_issued, each
  // naming its document and how to fetch its PDF; a restart (which completes bookings and
  // re-reads the outbox) appends none again.
  auto issued_events = [&] {
    std::map<std::string, int> out;               // "kind number" -> count
    const Json all = Run("events --limit 1000");  // named: the loop must not outlive it
    for (const auto& e : all["events"]) {
      if (e["kind"] != "invoice_issued" && e["kind"] != "credit_note_issued") continue;
      const Json p = e["payload"];
      EXPECT_EQ(p["pdf"]["op"], "Pdf") << e.dump();
      EXPECT_EQ(p["pdf"]["number"], p["number"]) << e.dump();
      ++out[e["kind"].get<std::string>() + " " + p["number"].get<std::string>()];
    }
    return out;
  };
  std::map<std::string, int> want;
  for (const std::string& num : numbers) want["invoice_issued " + num] = 1;
  want["credit_note_issued CN-000001"] = 1;
  EXPECT_EQ(issued_events(), want);
  const Json ev_bu1 = Run("events --account bu1user1 --limit 1000");
  bool named = false;
  for (const auto& e : ev_bu1["events"]) {
    if (e["kind"] != "invoice_issued") continue;
    named = e["payload"]["number"] == number && e["account"] == "bu1user1" &&
            e["payload"]["total_micro"] == shown["total"]["micro"];
  }
  EXPECT_TRUE(named) << ev_bu1.dump(1);
  server_.Stop();
  StartServer({"--grace", "0", "--billing-start", std::to_string(last_month), "--retention-days",
               kRetentionDays},
              false);
  EXPECT_EQ(issued_events(), want);
  // A billing key reads invoices but cannot issue them.
  const std::string billing = CreateKey(wire::Role::Billing, "");
  const std::string base = std::string(METERCTL_BIN) +
                           " --server 127.0.0.1:" + std::to_string(server_.port()) + " --key " +
                           billing + " invoice ";
  EXPECT_EQ(WEXITSTATUS(std::system((base + "list >/dev/null 2>&1").c_str())), 0);
  EXPECT_NE(WEXITSTATUS(std::system((base + "issue" + period + " >/dev/null 2>&1").c_str())), 0);
}

// The catalog's invoicing sections through the real server: docs/examples/invoicing.yaml (UK
// VAT, a 5 % corporate discount on running VMs, a welcome coupon redeemed in 2017 and long
// expired). bu1user1 is a UK consumer: the discount applies to the Running VM group, then 20 %
// VAT on the discounted base, and issuing books both in the ledger under the invoice's number.
// bu1user2 is a German business with a VAT number: reverse charge, no VAT, the notice printed.
// With tax settings in force, an account without a country is refused by name, not taxed at 0.
TEST_F(MeterdInvoicesTest, DiscountsAndTaxesOfTheCatalogAreOnTheInvoiceAndInTheLedger) {
  const int64_t this_month = base::MonthStart(UnixNow());
  const int64_t last_month = base::MonthStart(this_month - 1);
  const int64_t h = last_month + 2 * 86400;
  server_.Stop();
  StartServer({"--grace", "0", "--no-billing-clock", "--retention-days", kRetentionDays});
  ApplyCatalog();
  ASSERT_EQ(Meterctl("apply " + std::string(METERD_SOURCE_DIR) + "/docs/examples/invoicing.yaml")
                .exit_code,
            0);
  ASSERT_EQ(Meterctl("profiles set --account bu1user1 --country GB").exit_code, 0);
  ASSERT_EQ(Meterctl("ingest " + RunningSamples("vm-1001", h, h + 7200)).exit_code, 0);
  ASSERT_EQ(Meterctl("ingest " + RunningSamples("vm-1003", h, h + 3600)).exit_code, 0);
  for (int i = 0; i < 100 && Charged("bu1user1", last_month, this_month) == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  server_.Stop();
  StartServer({"--grace", "0", "--billing-start", std::to_string(last_month), "--retention-days",
               kRetentionDays},
              false);
  ASSERT_TRUE(WaitBilledThrough(ThisHour()));
  const std::string period = " --period " + std::to_string(last_month);

  // bu1user2 has no country yet: refused by name.
  auto first = Run("invoice run" + period);
  bool refused = false;
  for (const auto& r : first["refused"]) {
    refused = refused || (r["account"] == "bu1user2" &&
                          r["reason"].get<std::string>().find("bu1user2") != std::string::npos);
  }
  EXPECT_TRUE(refused) << first.dump(1);
  ASSERT_EQ(
      Meterctl("profiles set --account bu1user2 --country DE --vat-number DE123456789").exit_code,
      0);
  auto run = Run("invoice run" + period);
  EXPECT_TRUE(run["refused"].empty()) << run.dump(1);

  auto d1 = Run("invoice drafts" + period + " --account bu1user1")["drafts"][0];
  int64_t running = 0;
  for (const auto& l : d1["lines"]) {
    if (l["group"] == "Running VM") running += l["amount"]["micro"].get<int64_t>();
  }
  ASSERT_GT(running, 0) << d1.dump(1);
  ASSERT_EQ(d1["discounts"].size(), 1u) << d1.dump(1);
  EXPECT_EQ(d1["discounts"][0]["id"], "corporate-running");
  const int64_t discount = d1["discounts"][0]["amount"]["micro"];
  EXPECT_LE(std::llabs(discount * 20 - running), 20) << d1.dump(1);  // 5 %, rounded once
  ASSERT_EQ(d1["taxes"].size(), 1u) << d1.dump(1);
  const int64_t base = d1["subtotal"]["micro"].get<int64_t>() - discount;
  EXPECT_EQ(d1["taxes"][0]["base_micro"], base);
  EXPECT_EQ(d1["taxes"][0]["rate_ppm"], 200000);
  const int64_t tax = d1["taxes"][0]["amount"]["micro"];
  EXPECT_LE(std::llabs(tax * 5 - base), 5);
  EXPECT_EQ(d1["total"]["micro"], base + tax);
  EXPECT_EQ(d1["issuer"]["name"], "Example Cloud Ltd");

  auto d2 = Run("invoice drafts" + period + " --account bu1user2")["drafts"][0];
  ASSERT_EQ(d2["taxes"].size(), 1u) << d2.dump(1);
  EXPECT_TRUE(d2["taxes"][0]["reverse_charge"].get<bool>());
  EXPECT_EQ(d2["tax_total"]["micro"], 0);
  EXPECT_NE(d2["notes"].dump().find("everse"), std::string::npos) << d2.dump(1);

  auto issued = Run("invoice issue" + period);
  ASSERT_EQ(issued["invoices"].size(), 2u) << issued.dump(1);
  std::string number;
  for (const auto& i : issued["invoices"]) {
    if (i["account"] == "bu1user1") number = i["number"];
  }
  auto ledger = Run("ledger --account bu1user1");
  int64_t booked_tax = 0, booked_discount = 0;
  for (const auto& e : ledger["entries"]) {
    if (e["reference"] == "invoice:" + number + ":taxes") booked_tax = e["amount_micro"];
    if (e["reference"] == "invoice:" + number + ":discounts") booked_discount = e["amount_micro"];
  }
  EXPECT_EQ(booked_tax, -tax) << ledger.dump(1);
  EXPECT_EQ(booked_discount, discount) << ledger.dump(1);
  // The PDF through the protocol carries the VAT line.
  const std::string pdf = tmp_.path() + "/inv.pdf";
  ASSERT_EQ(Meterctl("invoice pdf " + number + " -o " + pdf).exit_code, 0);
  std::ifstream in(pdf, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), {});
  EXPECT_EQ(bytes.rfind("%PDF-", 0), 0u);
}

// VAT on top-ups (docs/taxes-and-discounts.md, "vat_on_prepaid"): with `vat_on_prepaid: topup`
// a prepaid customer in GB buying 100 credits is charged 20 credits of VAT, kept with the top-up
// (once, whatever the retries) and shown by the statement; a customer without a country cannot
// top up (never taxed at zero).
TEST_F(MeterdInvoicesTest, ATopUpIsTaxedWhenTheSettingsSaySo) {
  ApplyCatalog();
  std::ifstream in(std::string(METERD_SOURCE_DIR) + "/docs/examples/invoicing.yaml");
  std::string yaml((std::istreambuf_iterator<char>(in)), {});
  const std::string usage = "vat_on_prepaid: usage";
  ASSERT_NE(yaml.find(usage), std::string::npos);
  yaml.replace(yaml.find(usage), usage.size(), "vat_on_prepaid: topup");
  ASSERT_EQ(Meterctl("apply " + WriteFile("invoicing-topup.yaml", yaml)).exit_code, 0);
  ASSERT_EQ(Meterctl("profiles set --account bu1user1 --country GB").exit_code, 0);
  for (int i = 0; i < 2; ++i) {  // the same reference books (and taxes) once
    ASSERT_EQ(Meterctl("topup --account bu1user1 --amount 100 --reference vat-1").exit_code, 0);
  }
  auto st = Run("statement --account bu1user1");
  ASSERT_TRUE(st.is_object()) << st.dump(1);
  EXPECT_EQ(st["topup_taxes"]["micro"], 20'000'000) << st.dump(1);
  int taxed = 0;
  for (const auto& e : st["entries"]) {
    if (e["kind"] != "topup") continue;
    EXPECT_EQ(e["amount"]["micro"], 100'000'000);  // the credit bought, not the VAT
    ASSERT_EQ(e["taxes"].size(), 1u) << e.dump(1);
    EXPECT_EQ(e["taxes"][0]["name"], "VAT");
    EXPECT_EQ(e["taxes"][0]["rate"], "20");
    EXPECT_EQ(e["taxes"][0]["amount"]["micro"], 20'000'000);
    ++taxed;
  }
  EXPECT_EQ(taxed, 1);
  CommandResult no_country = Meterctl("topup --account bu1user2 --amount 10 --reference vat-2");
  EXPECT_NE(no_country.exit_code, 0);
  EXPECT_NE((no_country.out + no_country.err).find("bu1user2"), std::string::npos)
      << no_country.out << no_country.err;
}

}  // namespace
}  // namespace meterd::testing
