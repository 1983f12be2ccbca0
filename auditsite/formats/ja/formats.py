"""Japanese date formats: Django's, with seconds and the time zone named (e.g. "JST")."""

DATETIME_FORMAT = "Y年n月j日 G:i:s T"
SHORT_DATETIME_FORMAT = "Y/m/d G:i T"
