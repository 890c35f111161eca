from pathlib import Path

import pytest

from curate.sources import detect_schema, normalize_lang, row_to_document

P = Path("/data/no_part_00003.parquet")

NCC = {
    "id": "book_1955_001",
    "doc_type": "book",
    "publish_year": 1955,
    "lang_fyear": "nob",
    "ocr_date": "2016",
    "text": "Fjordene ble formet av is.",
}
HPLT_V1 = {
    "id": "h1",
    "document_lang": "nn",
    "scores": [0.9],
    "langs": ["nn"],
    "text": "Fjordane vart forma av is.",
    "url": "https://e.no",
    "collection": "wide00006",
}
HPLT_V2 = {
    "id": "h2",
    "text": "Fjordarna formades av is.",
    "url": "https://e.se",
    "lang": ["swe_Latn", "nob_Latn", "dan_Latn"],
    "prob": [0.9, 0.05, 0.01],
    "seg_langs": ["swe_Latn"],
    "robotstxt": "allowed",
    "filter": "keep",
    "pii": [],
    "doc_scores": [7.5],
}
CULTURAX = {
    "text": "Fjordene ble formet av is.",
    "timestamp": "2019/03/01 10:00:00",
    "url": "https://e.no/x",
    "source": "mC4",
}
CURATE = {
    "id": "c1",
    "text": "Tekst.",
    "lang": "da",
    "source": "mine",
    "metadata": {"k": 1},
    "extra": "kept",
}


@pytest.mark.parametrize(
    "row,schema",
    [
        (NCC, "ncc"),
        (HPLT_V1, "hplt_v1"),
        (HPLT_V2, "hplt_v2"),
        (CULTURAX, "culturax"),
        (CURATE, "curate"),
    ],
)
def test_schema_is_detected_from_field_names(row, schema):
    assert detect_schema(row) == schema


def test_ncc_row():
    doc = row_to_document(NCC, "auto", P, 7)
    assert (doc.id, doc.lang, doc.source) == ("book_1955_001", "nb", "ncc")
    assert doc.metadata == {
        "doc_type": "book",
        "publish_year": 1955,
        "lang_fyear": "nob",
        "ocr_date": "2016",
    }


def test_hplt_v1_row():
    doc = row_to_document(HPLT_V1, "auto", P, 1)
    assert (doc.id, doc.lang, doc.source) == ("h1", "nn", "hplt")
    assert doc.metadata["url"] == "https://e.no" and doc.metadata["scores"] == [0.9]


def test_hplt_v2_row_takes_the_top_language():
    doc = row_to_document(HPLT_V2, "auto", P, 1)
    assert (doc.id, doc.lang, doc.source) == ("h2", "sv", "hplt")
    assert doc.metadata["doc_scores"] == [7.5]


def test_culturax_row_gets_id_from_file_and_line_and_lang_from_file_name():
    doc = row_to_document(CULTURAX, "auto", P, 42)
    assert (doc.id, doc.lang, doc.source) == ("no_part_00003/42", "no", "culturax")
    assert doc.metadata == {
        "timestamp": "2019/03/01 10:00:00",
        "url": "https://e.no/x",
        "source": "mC4",
    }


def test_curate_row_keeps_unknown_fields_in_metadata():
    doc = row_to_document(CURATE, "auto", P, 1)
    assert (doc.id, doc.lang, doc.source) == ("c1", "da", "mine")
    assert doc.metadata == {"k": 1, "extra": "kept"}


def test_explicit_schema_overrides_detection():
    doc = row_to_document({"text": "x", "timestamp": "t", "url": "u"}, "curate", P, 3)
    assert doc.source is None and doc.id == "no_part_00003/3"


def test_unknown_schema_and_bad_metadata_are_clear_errors():
    with pytest.raises(ValueError, match="unknown source schema 'oscar'"):
        row_to_document(CURATE, "oscar", P, 1)
    with pytest.raises(ValueError, match="metadata is not an object"):
        row_to_document({"id": "x", "text": "t", "metadata": [1]}, "curate", P, 1)


@pytest.mark.parametrize(
    "code,iso",
    [
        ("nob", "nb"),
        ("nno_Latn", "nn"),
        ("SV", "sv"),
        ("dan", "da"),
        ("fin_Latn", "fi"),
        ("en-GB", "en"),
        ("", None),
        (None, None),
        ("xyz", "xyz"),
    ],
)
def test_language_codes_are_normalised(code, iso):
    assert normalize_lang(code) == iso
