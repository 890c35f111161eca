"""The languages `curate translate` writes (targets) and reads (sources), by code, with the
names its prompt gives them. A new target is one line here."""

TARGETS = {
    "fi": "Finnish",
    "nb": "Norwegian Bokmål",
    "nn": "Norwegian Nynorsk",
    "sv": "Swedish",
    "da": "Danish",
}
SOURCES = {"en": "English", **TARGETS, "de": "German", "is": "Icelandic"}
