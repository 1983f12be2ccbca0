"""English date formats: Django's, with seconds and the time zone named (e.g. "JST")."""

DATETIME_FORMAT = "N j, Y, H:i:s T"
SHORT_DATETIME_FORMAT = "Y-m-d H:i T"
