"""The clean_lines step: leftovers of a page's menus, buttons and banners go, its prose stays,
every removal is recorded, and a page with nothing left is set aside, never emptied."""

import json

import pytest
from datatrove.executor import LocalPipelineExecutor
from datatrove.pipeline.writers import JsonlWriter

from curate.documents import Document, DocumentWriter, read_documents
from curate.pipeline.line_clean import NOTHING_LEFT, LineCleaner
from curate.pipeline.steps import CurateReader
from curate.reference import ReferenceMissing, is_prose, load_reference
from curate.web import WebMissing, hplt_verdict, load_web

PROSE = (
    "Kommunestyret vedtok i går å bygge en ny skole på Nordby. Skolen skal stå ferdig i 2027 "
    "og får plass til 400 elever.\n"
    "Rådmannen mener at det nye bygget vil løse plassproblemene i sentrum for mange år framover."
)
MENU_PAGE = (
    "Hjem\nNyheter\nSport\nKultur\nLogg inn\n"
    + PROSE
    + "... Les mer »\n"
    + "12. mars 2021 kl. 14:05\n"
    + "Vi bruker informasjonskapsler for å gi deg en bedre opplevelse. Godta\n"
    + "Del på Facebook\n| | |\nKontakt oss\nPersonvern\nOm oss"
)


def test_a_page_of_prose_inside_a_menu_comes_out_as_its_prose_with_the_removal_recorded(tmp_path):
    data = tmp_path / "in"
    data.mkdir()
    with DocumentWriter(data / "pages.jsonl") as writer:
        writer.write(Document(id="menu", text=MENU_PAGE, lang="nb"))
        writer.write(Document(id="clean", text=PROSE, lang="nb"))
        writer.write(Document(id="only-menu", text="Hjem\nLogg inn\nKontakt oss\n»", lang="nb"))
    pipeline = [
        CurateReader(str(data)),
        LineCleaner(exclusion_writer=JsonlWriter(str(tmp_path / "excluded"))),
        JsonlWriter(str(tmp_path / "kept")),
    ]
    LocalPipelineExecutor(pipeline, tasks=1, logging_dir=str(tmp_path / "logs")).run()
    kept = {d.id: d for d in read_documents([tmp_path / "kept"])}
    excluded = {d.id: d for d in read_documents([tmp_path / "excluded"])}

    assert kept["menu"].text == PROSE  # the prose, whole, and nothing else
    assert kept["menu"].metadata["lines_removed"] == 12
    assert kept["menu"].metadata["chars_removed"] == len(MENU_PAGE) - len(PROSE) - 12  # newlines
    assert set(kept["menu"].metadata["clean_rules"]) == {
        "edge",
        "ui",
        "trailer",
        "date",
        "cookie",
        "symbols",
    }
    assert kept["clean"].text == PROSE and "lines_removed" not in kept["clean"].metadata
    # a page that would be emptied is set aside with its reason and its text as it came
    assert set(excluded) == {"only-menu"}
    assert excluded["only-menu"].metadata["filter_reason"] == NOTHING_LEFT
    assert excluded["only-menu"].text.startswith("Hjem\nLogg inn")

    stats = json.loads((tmp_path / "logs" / "stats.json").read_text())
    step = next(s["stats"] for s in stats if "clean lines" in s["name"])
    value = lambda key: step[key]["total"] if isinstance(step[key], dict) else step[key]  # noqa: E731
    assert value("lines_removed") == 12 + 4
    assert value("dropped") == 1 and value("forwarded") == 2


def test_statute_lists_headings_and_sentences_are_not_leftovers():
    statute = (
        "§ 1. Formål\nLoven skal sikre at\n- skattefastsetting,\n- rettskraftige dommer,\n"
        "Kapittel 2. Virkeområde\n§ 2\nLoven gjelder for hele landet.\n- skattefastsetting,\n"
        "Forordning (EF) nr. 37/2005\n- Skriftlig eksamen\n- Muntlig eksamen\n- Hjemmeeksamen"
    )
    kept, removed = LineCleaner().clean(statute.split("\n"))
    assert removed == [] and "\n".join(kept) == statute


def test_unknown_language_list_is_an_error_naming_the_lists():
    with pytest.raises(ValueError, match="no leftover word list for \\['xx'\\]"):
        LineCleaner(languages=["nb", "xx"])


def test_real_text_prose_keeps_its_lines_and_flagged_web_pages_lose_leftovers():
    try:
        prose = [d for d in load_reference() if is_prose(d)]
        web = [d for d in load_web() if d.metadata["release"] == "v3.0"]
    except (ReferenceMissing, WebMissing) as err:
        pytest.skip(f"real text absent: {err}")
    cleaner = LineCleaner()

    def removed_share(docs):
        removed = sum(sum(len(t) for _, t in cleaner.clean(d.text.split("\n"))[1]) for d in docs)
        return removed / sum(len(d.text) for d in docs)

    assert removed_share(prose) < 0.002  # edited prose: statutes' headings and lists stay
    flagged = [d for d in web if hplt_verdict(d) == "artifacts"]
    cleaned = [d for d in flagged if cleaner.clean(d.text.split("\n"))[1]]
    assert len(cleaned) >= len(flagged) // 2  # HPLT's "leftover menus": most lose some lines
