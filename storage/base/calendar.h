// meterd — storage/base/calendar.h
//
// The one calendar module of meterd: proleptic Gregorian civil dates <-> day numbers (days
// since 1970-01-01, negative before it), weekdays, and the UTC calendar periods (day, week,
// month, quarter, year) that rollup files, usage periods, rating months, subscription fees and
// the billing clock are cut on. Month boundaries decide caps and fees, so every module uses
// these functions instead of its own copy. Time zones are not here: engine/cycles maps a zone's
// local civil days onto UTC instants with the system's tz database, using these day numbers.
//
// Algorithms: Howard Hinnant's days_from_civil / civil_from_days / weekday_from_days
// ("chrono-Compatible Low-Level Date Algorithms"), exact for every day number whose year fits
// in int64 without overflow of era * 146097 (|day| < 2^62 is ample; unix seconds give |day| <
// 1.1e14). tests/storage/base/calendar_test.cc checks them day by day over 1970-2400 against
// std::chrono::year_month_day.
//
// Thread-safety: constexpr pure functions. Seconds-level functions return day * 86400 and
// REQUIRE that product to fit in int64 (callers near the ends of time clamp on day numbers).
#pragma once

#include <cstdint>

namespace meterd::base {

constexpr int64_t kSecondsPerDay = 86400;
constexpr int64_t kSecondsPerHour = 3600;

// Floor division (rounds towards negative infinity). REQUIRES: b > 0.
constexpr int64_t FloorDiv(int64_t a, int64_t b) {
  const int64_t q = a / b;
  return q - ((a % b) < 0 ? 1 : 0);
}

struct CivilDate {
  int64_t year = 1970;
  unsigned month = 1;  // 1..12
  unsigned day = 1;    // 1..DaysInMonth(year, month)

  constexpr bool operator==(const CivilDate&) const = default;
};

struct YearMonth {
  int64_t year = 1970;
  unsigned month = 1;  // 1..12

  constexpr bool operator==(const YearMonth&) const = default;
};

constexpr bool IsLeapYear(int64_t y) { return y % 4 == 0 && (y % 100 != 0 || y % 400 == 0); }

// REQUIRES: 1 <= m <= 12.
constexpr unsigned DaysInMonth(int64_t y, unsigned m) {
  constexpr unsigned kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && IsLeapYear(y) ? 29u : kDays[m - 1];
}

// Whether y-m-d is a date of the calendar.
constexpr bool IsValidCivil(int64_t y, int64_t m, int64_t d) {
  return m >= 1 && m <= 12 && d >= 1 && d <= DaysInMonth(y, static_cast<unsigned>(m));
}

// Days since 1970-01-01 of the civil date y-m-d. REQUIRES: 1 <= m <= 12, 1 <= d <= 31 (a day
// past the month's end counts on into the next month, as the formula does).
constexpr int64_t DaysFromCivil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2 ? 1 : 0;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);                 // [0, 399]
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;  // [0, 365]
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;            // [0, 146096]
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}
constexpr int64_t DaysFromCivil(const CivilDate& c) {
  return DaysFromCivil(c.year, c.month, c.day);
}

// The civil date of day `z` (days since 1970-01-01).
constexpr CivilDate CivilFromDays(int64_t z) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const auto doe = static_cast<unsigned>(z - era * 146097);                    // [0, 146096]
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;  // [0, 399]
  const int64_t y = static_cast<int64_t>(yoe) + era * 400;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);  // [0, 365]
  const unsigned mp = (5 * doy + 2) / 153;                       // [0, 11]
  const unsigned d = doy - (153 * mp + 2) / 5 + 1;               // [1, 31]
  const unsigned m = mp < 10 ? mp + 3 : mp - 9;                  // [1, 12]
  return CivilDate{y + (m <= 2 ? 1 : 0), m, d};
}

// Day of the week of day `z`: 0 = Sunday ... 6 = Saturday (std::chrono::weekday's C encoding;
// 1970-01-01 was a Thursday, 4).
constexpr unsigned WeekdayFromDays(int64_t z) {
  return static_cast<unsigned>(z >= -4 ? (z + 4) % 7 : (z + 5) % 7 + 6);
}

// The month `n` months after (n < 0: before) `ym`.
constexpr YearMonth AddMonths(YearMonth ym, int64_t n) {
  const int64_t index = ym.year * 12 + static_cast<int64_t>(ym.month) - 1 + n;
  const int64_t year = index >= 0 ? index / 12 : -((-index + 11) / 12);
  return YearMonth{year, static_cast<unsigned>(index - year * 12) + 1};
}

// ---- UTC calendar periods on day numbers ----

enum class CalendarUnit : uint8_t { kDay, kWeek, kMonth, kQuarter, kYear };

// The first day of the month containing day `z`, and of the month after it.
constexpr int64_t MonthStartDay(int64_t z) {
  const CivilDate c = CivilFromDays(z);
  return DaysFromCivil(c.year, c.month, 1);
}
constexpr int64_t NextMonthStartDay(int64_t z) {
  const CivilDate c = CivilFromDays(z);
  return c.month == 12 ? DaysFromCivil(c.year + 1, 1, 1) : DaysFromCivil(c.year, c.month + 1, 1);
}

// The first day of the `unit` containing day `z`. Weeks start on `week_start` (0 = Sunday ...
// 6 = Saturday; ignored by the other units); quarters start in January, April, July, October.
constexpr int64_t PeriodStartDay(CalendarUnit unit, int64_t z, unsigned week_start = 1) {
  switch (unit) {
    case CalendarUnit::kDay:
      return z;
    case CalendarUnit::kWeek:
      return z - static_cast<int64_t>((WeekdayFromDays(z) + 7 - week_start % 7) % 7);
    case CalendarUnit::kMonth:
      return MonthStartDay(z);
    case CalendarUnit::kQuarter: {
      const CivilDate c = CivilFromDays(z);
      return DaysFromCivil(c.year, (c.month - 1) / 3 * 3 + 1, 1);
    }
    case CalendarUnit::kYear:
      return DaysFromCivil(CivilFromDays(z).year, 1, 1);
  }
  return z;  // not reached: every unit is handled above
}

// The first day of the `unit` after the one containing day `z` (the end of its period).
constexpr int64_t NextPeriodStartDay(CalendarUnit unit, int64_t z, unsigned week_start = 1) {
  switch (unit) {
    case CalendarUnit::kDay:
      return z + 1;
    case CalendarUnit::kWeek:
      return PeriodStartDay(unit, z, week_start) + 7;
    case CalendarUnit::kMonth:
      return NextMonthStartDay(z);
    case CalendarUnit::kQuarter: {
      const CivilDate c = CivilFromDays(z);
      const YearMonth next = AddMonths(YearMonth{c.year, (c.month - 1) / 3 * 3 + 1}, 3);
      return DaysFromCivil(next.year, next.month, 1);
    }
    case CalendarUnit::kYear:
      return DaysFromCivil(CivilFromDays(z).year + 1, 1, 1);
  }
  return z + 1;  // not reached
}

// ---- UTC seconds ----

// The day number of unix second `t`.
constexpr int64_t DayOf(int64_t t) { return FloorDiv(t, kSecondsPerDay); }

// The first second of the UTC calendar month containing `t`, and of the month after it.
// REQUIRES: the result fits in int64.
constexpr int64_t MonthStart(int64_t t) { return MonthStartDay(DayOf(t)) * kSecondsPerDay; }
constexpr int64_t NextMonthStart(int64_t t) { return NextMonthStartDay(DayOf(t)) * kSecondsPerDay; }

// YYYYMM of the UTC month containing `t`, e.g. 202601.
constexpr int64_t MonthNumber(int64_t t) {
  const CivilDate c = CivilFromDays(DayOf(t));
  return c.year * 100 + c.month;
}

}  // namespace meterd::base
