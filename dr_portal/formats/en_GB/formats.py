"""One date and time format on every page, report and letter (issue 13): "15 Jan 2026" and
"15 Jan 2026 14:05" (24-hour clock). Input formats stay Django's en_GB ones (day/month/year)."""

DATE_FORMAT = "j M Y"
DATETIME_FORMAT = "j M Y H:i"
SHORT_DATE_FORMAT = "j M Y"
SHORT_DATETIME_FORMAT = "j M Y H:i"
TIME_FORMAT = "H:i"
